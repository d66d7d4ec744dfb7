#include "util/file.h"

#include <sys/stat.h>

#include <filesystem>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace rotor {
namespace {

using ::rotor::testing::FileMode;
using ::rotor::testing::StatusIs;
using ::rotor::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    names.push_back(e.path().filename().string());
  }
  return names;
}

TEST(FileTest, WriteAtomicallyCreatesFileWithExactMode) {
  TempDir dir;
  ::umask(077);
  ASSERT_OK(WriteFileAtomically(dir.Path("a.pem"), "hello", 0644));
  EXPECT_EQ(FileMode(dir.Path("a.pem")), 0644);
  ASSERT_OK_AND_ASSIGN(std::string data, ReadFile(dir.Path("a.pem")));
  EXPECT_EQ(data, "hello");
  ::umask(022);
  ASSERT_OK(WriteFileAtomically(dir.Path("k.pem"), "secret", 0600));
  EXPECT_EQ(FileMode(dir.Path("k.pem")), 0600);
}

TEST(FileTest, WriteAtomicallyReplacesAndLeavesNoTempFiles) {
  TempDir dir;
  ASSERT_OK(WriteFileAtomically(dir.Path("f"), "one", 0644));
  ASSERT_OK(WriteFileAtomically(dir.Path("f"), "two", 0600));
  ASSERT_OK_AND_ASSIGN(std::string data, ReadFile(dir.Path("f")));
  EXPECT_EQ(data, "two");
  EXPECT_EQ(FileMode(dir.Path("f")), 0600);
  EXPECT_THAT(ListDir(dir.path()), ::testing::ElementsAre("f"));
}

TEST(FileTest, CreateOnlyRefusesExistingFileAndKeepsIt) {
  TempDir dir;
  ASSERT_OK(WriteFileAtomically(dir.Path("f"), "original", 0644));
  EXPECT_THAT(WriteFileAtomically(dir.Path("f"), "new", 0644,
                                  WriteMode::kCreateOnly),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       HasSubstr("refusing to overwrite")));
  ASSERT_OK_AND_ASSIGN(std::string data, ReadFile(dir.Path("f")));
  EXPECT_EQ(data, "original");
  EXPECT_THAT(ListDir(dir.path()), ::testing::ElementsAre("f"));
}

TEST(FileTest, WriteIntoMissingFolderFailsNamingIt) {
  TempDir dir;
  EXPECT_THAT(WriteFileAtomically(dir.Path("missing/f"), "x", 0644),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr(dir.Path("missing"))));
  EXPECT_THAT(ListDir(dir.path()), IsEmpty());
}

TEST(FileTest, ReadFileErrors) {
  TempDir dir;
  EXPECT_THAT(ReadFile(dir.Path("nope")),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("cannot open " + dir.Path("nope"))));
  ASSERT_OK(WriteFileAtomically(dir.Path("big"), std::string(100, 'x'), 0644));
  EXPECT_THAT(ReadFile(dir.Path("big"), 10),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("larger than 10 bytes")));
}

TEST(FileTest, MakeDirectoriesIsIdempotentAndSetsMode) {
  TempDir dir;
  ::umask(077);
  ASSERT_OK(MakeDirectories(dir.Path("a/b/c"), 0755));
  EXPECT_EQ(FileMode(dir.Path("a/b/c")), 0755);
  ASSERT_OK(MakeDirectories(dir.Path("a/b/c"), 0700));
  EXPECT_EQ(FileMode(dir.Path("a/b/c")), 0755);
  ::umask(022);
  EXPECT_THAT(MakeDirectory(dir.Path("a"), 0700),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("already exists")));
}

TEST(FileTest, MakeDirectoriesRefusesAFileInTheWay) {
  TempDir dir;
  ASSERT_OK(WriteFileAtomically(dir.Path("f"), "x", 0644));
  EXPECT_THAT(MakeDirectories(dir.Path("f"), 0700),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("is not a folder")));
}

TEST(FileTest, PosixErrorMapsCodes) {
  EXPECT_THAT(PosixError(ENOSPC, "cannot write x"),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("cannot write x: No space left on device")));
  EXPECT_THAT(PosixError(EACCES, "w"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("w: ")));
  EXPECT_THAT(PosixError(EIO, "w"),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("w: ")));
}

TEST(FileTest, PathHelpers) {
  EXPECT_EQ(DirName("/a/b/c"), "/a/b");
  EXPECT_EQ(DirName("c"), ".");
  EXPECT_EQ(DirName("/c"), "/");
  EXPECT_EQ(JoinPath("a", "b"), "a/b");
  EXPECT_EQ(JoinPath("a/", "b"), "a/b");
  EXPECT_EQ(JoinPath("", "b"), "b");
}

}  // namespace
}  // namespace rotor
