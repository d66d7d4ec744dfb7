#include "store/redo_log.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/store/test_records.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "util/file.h"

namespace rotor::store {
namespace {

using ::rotor::store::testing::IsOkAndHolds;
using ::rotor::testing::StatusIs;
using ::rotor::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

struct Change {
  RedoBatch::Op op;
  int table;
  std::string key;
  std::string value;
  bool operator==(const Change&) const = default;
};

std::vector<Change> Changes(absl::string_view payload) {
  std::vector<Change> out;
  absl::Status status = RedoBatch::ForEach(
      payload, "test",
      [&](RedoBatch::Op op, uint8_t table, absl::string_view key,
          absl::string_view value) {
        out.push_back(
            Change{op, table, std::string(key), std::string(value)});
        return absl::OkStatus();
      });
  EXPECT_OK(status);
  return out;
}

std::string Payload(absl::string_view key, absl::string_view value) {
  RedoBatch batch;
  batch.Put(0, key, value);
  return batch.bytes();
}

const std::string kStoreId = "0123456789abcdef";

std::vector<uint64_t> Seqs(const RedoLogContents& log) {
  std::vector<uint64_t> seqs;
  for (const RedoRecord& r : log.records) seqs.push_back(r.seq);
  return seqs;
}

TEST(Crc32cTest, MatchesTheStandardCheckValue) {
  EXPECT_EQ(Crc32c("123456789"), 0xe3069283u);
  EXPECT_EQ(Crc32c(""), 0u);
  // Continuing a CRC gives the CRC of the concatenation.
  EXPECT_EQ(Crc32c("6789", Crc32c("12345")), 0xe3069283u);
}

TEST(RedoBatchTest, ChangesComeBackInOrder) {
  RedoBatch batch;
  batch.Put(0, "serial", "record");
  batch.Delete(6, "entry");
  batch.Put(8, std::string("k\0y", 3), "");
  EXPECT_THAT(Changes(batch.bytes()),
              ElementsAre(Change{RedoBatch::Op::kPut, 0, "serial", "record"},
                          Change{RedoBatch::Op::kDelete, 6, "entry", ""},
                          Change{RedoBatch::Op::kPut, 8,
                                 std::string("k\0y", 3), ""}));
}

TEST(RedoBatchTest, TruncateDropsWhatCameAfterTheMark) {
  RedoBatch batch;
  batch.Put(1, "a", "1");
  const size_t mark = batch.size();
  batch.Put(1, "b", "2");
  batch.Truncate(mark);
  EXPECT_THAT(Changes(batch.bytes()),
              ElementsAre(Change{RedoBatch::Op::kPut, 1, "a", "1"}));
}

TEST(RedoBatchTest, AMalformedPayloadIsDataLossNamingWhere) {
  RedoBatch batch;
  batch.Put(1, "key", "value");
  std::string cut = batch.bytes().substr(0, batch.size() - 2);
  int calls = 0;
  auto count = [&](RedoBatch::Op, uint8_t, absl::string_view,
                   absl::string_view) {
    ++calls;
    return absl::OkStatus();
  };
  EXPECT_THAT(RedoBatch::ForEach(cut, "/x/redo.log", count),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("redo log record in /x/redo.log is "
                                 "malformed at byte 0")));
  EXPECT_THAT(RedoBatch::ForEach(std::string("\x07\x00\x00\x00\x00\x00", 6),
                                 "f", count),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("malformed")));
  EXPECT_EQ(calls, 0);
}

class RedoLogTest : public ::testing::Test {
 protected:
  TempDir dir_;
  std::string path_ = dir_.Path("redo.log");

  std::unique_ptr<RedoLog> Open(uint64_t next_seq) {
    absl::StatusOr<std::unique_ptr<RedoLog>> log =
        RedoLog::Open(path_, kStoreId, next_seq);
    EXPECT_OK(log.status());
    return log.ok() ? *std::move(log) : nullptr;
  }
  RedoLogContents Read() {
    absl::StatusOr<RedoLogContents> log = ReadRedoLog(path_);
    EXPECT_OK(log.status());
    return log.ok() ? *log : RedoLogContents{};
  }
  std::string Contents() { return ReadFile(path_).value_or(""); }
};

TEST_F(RedoLogTest, AMissingLogReadsAsEmpty) {
  EXPECT_THAT(Read().records, IsEmpty());
  EXPECT_EQ(Read().store_id, "");
}

TEST_F(RedoLogTest, TheHeaderNamesTheStore) {
  std::unique_ptr<RedoLog> log = Open(1);
  EXPECT_EQ(Read().store_id, kStoreId);
  EXPECT_EQ(Contents().size(), kRedoLogHeaderBytes);
  EXPECT_EQ(Contents().substr(0, 8), "ROTORLOG");
  // A file whose header is not ours holds nothing.
  std::string other = Contents();
  other[0] = 'X';
  EXPECT_EQ(ParseRedoLog(other).store_id, "");
  EXPECT_THAT(RedoLog::Open(path_, "short", 1),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("a store id is 16 bytes, got 5")));
}

TEST_F(RedoLogTest, RecordsReadBackInOrderWithTheirNumbers) {
  std::unique_ptr<RedoLog> log = Open(7);
  EXPECT_THAT(log->Append(Payload("a", "1")), IsOkAndHolds(7));
  EXPECT_THAT(log->Append(Payload("b", "2")), IsOkAndHolds(8));
  EXPECT_EQ(log->last_seq(), 8u);
  RedoLogContents read = Read();
  ASSERT_THAT(Seqs(read), ElementsAre(7, 8));
  EXPECT_EQ(read.records[0].payload, Payload("a", "1"));
  EXPECT_EQ(read.records[1].payload, Payload("b", "2"));
  // The file is created 0600.
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(RedoLogTest, ReadingStopsAtATornRecord) {
  std::unique_ptr<RedoLog> log = Open(1);
  ASSERT_OK(log->Append(Payload("a", "1")).status());
  ASSERT_OK(log->Append(Payload("b", std::string(100, 'v'))).status());
  const std::string whole = Contents();
  // Cut the last record anywhere: only the first one is read.
  for (size_t cut : {whole.size() - 1, whole.size() - 50, whole.size() - 110}) {
    EXPECT_THAT(Seqs(ParseRedoLog(absl::string_view(whole).substr(0, cut))),
                ElementsAre(1))
        << cut;
  }
  // A flipped byte in the second record's payload fails its CRC.
  std::string flipped = whole;
  flipped[whole.size() - 3] ^= 0x40;
  EXPECT_THAT(Seqs(ParseRedoLog(flipped)), ElementsAre(1));
  // A flipped byte in the first record's header stops everything.
  flipped = whole;
  flipped[kRedoLogHeaderBytes + 9] ^= 0x01;  // its sequence number
  EXPECT_THAT(ParseRedoLog(flipped).records, IsEmpty());
}

TEST_F(RedoLogTest, AfterARestartOlderRecordsLeftBehindAreNotRead) {
  std::unique_ptr<RedoLog> log = Open(1);
  for (int i = 0; i < 5; ++i) {
    ASSERT_OK(log->Append(Payload("old", std::string(50, 'o'))).status());
  }
  log->Restart();
  EXPECT_EQ(log->bytes(), 0u);
  EXPECT_THAT(Seqs(Read()), ElementsAre(1, 2, 3, 4, 5));  // until overwritten
  // A shorter record over the first old one: old records 2..5 stay in the
  // file behind it but are out of sequence.
  EXPECT_THAT(log->Append(Payload("new", "n")), IsOkAndHolds(6));
  EXPECT_THAT(Seqs(Read()), ElementsAre(6));
  EXPECT_THAT(log->Append(Payload("new", "m")), IsOkAndHolds(7));
  EXPECT_THAT(Seqs(Read()), ElementsAre(6, 7));
  // Reopened (after recovery) it goes on from the number it is given.
  log.reset();
  log = Open(8);
  EXPECT_THAT(log->Append(Payload("x", "y")), IsOkAndHolds(8));
  EXPECT_THAT(Seqs(Read()), ElementsAre(8));
}

TEST(RedoLogFailureTest, AFailedAppendIsUnavailableAndDoesNotCount) {
  TempDir dir;
  const std::string path = dir.Path("redo.log");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<RedoLog> log,
                       RedoLog::Open(path, kStoreId, 3));
  // A file size limit just past the header: the record cannot be written
  // (EFBIG; SIGXFSZ ignored for the test).
  struct rlimit old_limit;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  sighandler_t old_handler = signal(SIGXFSZ, SIG_IGN);
  struct rlimit limit = old_limit;
  limit.rlim_cur = kRedoLogHeaderBytes + 8;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
  absl::StatusOr<uint64_t> appended = log->Append(Payload("a", "1"));
  setrlimit(RLIMIT_FSIZE, &old_limit);
  signal(SIGXFSZ, old_handler);
  EXPECT_THAT(appended, StatusIs(absl::StatusCode::kUnavailable,
                                 HasSubstr(absl::StrCat(
                                     "cannot write the store's redo log ",
                                     path, ": File too large"))));
  EXPECT_EQ(log->last_seq(), 2u);
  EXPECT_EQ(log->bytes(), 0u);
  // Nothing of it reads back, and the next append takes its place.
  ASSERT_OK_AND_ASSIGN(RedoLogContents read, ReadRedoLog(path));
  EXPECT_THAT(read.records, IsEmpty());
  EXPECT_THAT(log->Append(Payload("b", "2")), IsOkAndHolds(3));
  ASSERT_OK_AND_ASSIGN(read, ReadRedoLog(path));
  EXPECT_THAT(Seqs(read), ElementsAre(3));
}

TEST(RedoLogFailureTest, AnUnopenableLogNamesThePath) {
  TempDir dir;
  EXPECT_THAT(RedoLog::Open(dir.Path("missing/redo.log"), kStoreId, 1),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr(dir.Path("missing/redo.log"))));
}

}  // namespace
}  // namespace rotor::store
