#include "agent/atomic_writer.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/filesystem.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pki/certificate.h"
#include "pki/certificate_builder.h"
#include "pki/key.h"
#include "tests/testing/fakes.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_ca.h"
#include "util/file.h"

namespace rotor::agent {
namespace {

using ::rotor::testing::FakeClock;
using ::rotor::testing::FakeRandom;
using ::rotor::testing::FileMode;
using ::rotor::testing::StatusIs;
using ::rotor::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;
using ::testing::UnorderedElementsAreArray;

const absl::Time kNow = absl::FromUnixSeconds(1800000000);

// A certificate set like the agent writes: a fresh key, a leaf for it signed
// by the test intermediate, the chain, the root and a CRL-shaped text.
FileSet MakeSet(const testing::TestCa& ca, int n) {
  absl::StatusOr<pki::PrivateKey> key =
      pki::PrivateKey::Generate(pki::KeyType::kEcP256);
  EXPECT_OK(key);
  pki::LeafTemplate leaf;
  leaf.public_key_der = *key->PublicKeyDer();
  leaf.spiffe_id = "spiffe://example.org/web";
  leaf.dns_names = {"web.internal"};
  absl::StatusOr<pki::Certificate> cert = pki::BuildLeafCertificate(
      leaf, ca.signer(), kNow, *pki::SystemRandom());
  EXPECT_OK(cert);
  FileSet set;
  set.cert_pem = pki::ChainToPem({*cert, ca.intermediate});
  set.key_pem = std::move(*key->ToPem());
  set.bundle_pem = ca.root.ToPem();
  set.crl_pem = absl::StrCat("crl number ", n, "\n");
  return set;
}

std::string Read(const std::string& path) {
  absl::StatusOr<std::string> data = ReadFile(path);
  return data.ok() ? *data : absl::StrCat("<", data.status().ToString(), ">");
}

// The files a reader sees through the top-level names.
void ExpectVisible(const std::string& dir, const FileSet& set) {
  EXPECT_EQ(Read(JoinPath(dir, "cert.pem")), set.cert_pem);
  EXPECT_EQ(Read(JoinPath(dir, "key.pem")), set.key_pem.view());
  EXPECT_EQ(Read(JoinPath(dir, "bundle.pem")), set.bundle_pem);
  EXPECT_EQ(Read(JoinPath(dir, "crl.pem")), set.crl_pem);
}

std::vector<std::string> Entries(const std::string& dir) {
  absl::StatusOr<std::vector<std::string>> names =
      RealFilesystem()->ListDirectory(dir);
  return names.ok() ? *names : std::vector<std::string>{};
}

class AtomicWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<testing::TestCa> ca =
        testing::MakeTestCa(pki::KeyType::kEcP256, kNow - absl::Hours(1));
    ASSERT_OK(ca);
    ca_ = std::make_unique<testing::TestCa>(std::move(*ca));
  }

  std::unique_ptr<testing::TestCa> ca_;
  TempDir tmp_;
  FakeClock clock_{kNow};
  FakeRandom random_;
};

TEST_F(AtomicWriterTest, WritesTheProjectedVolumeLayout) {
  AtomicWriter writer(RealFilesystem(), &clock_, &random_);
  const std::string dir = tmp_.Path("certs/web");
  FileSet set = MakeSet(*ca_, 1);
  WriteOptions options;
  options.key_mode = 0640;
  ASSERT_OK(writer.Write(dir, set, options));

  ASSERT_OK_AND_ASSIGN(std::string data, writer.CurrentDataDir(dir));
  EXPECT_TRUE(absl::StartsWith(data, "..2027_01_15_08_00_00.000000000-"))
      << data;
  for (const char* file : {"cert.pem", "key.pem", "bundle.pem", "crl.pem"}) {
    ASSERT_OK_AND_ASSIGN(std::string target,
                         RealFilesystem()->ReadLink(JoinPath(dir, file)));
    EXPECT_EQ(target, absl::StrCat("..data/", file));
  }
  EXPECT_THAT(Entries(dir),
              UnorderedElementsAre("..data", data, "cert.pem", "key.pem",
                                   "bundle.pem", "crl.pem"));
  EXPECT_THAT(Entries(JoinPath(dir, data)),
              UnorderedElementsAre("cert.pem", "key.pem", "bundle.pem",
                                   "crl.pem"));
  ExpectVisible(dir, set);
  EXPECT_EQ(FileMode(JoinPath(dir, data + "/key.pem")), 0640);
  EXPECT_EQ(FileMode(JoinPath(dir, data + "/cert.pem")), 0644);
  EXPECT_EQ(FileMode(JoinPath(dir, data + "/bundle.pem")), 0644);
  EXPECT_EQ(FileMode(JoinPath(dir, data + "/crl.pem")), 0644);

  ASSERT_OK_AND_ASSIGN(FileSet read, ReadFileSet(*RealFilesystem(), dir));
  EXPECT_EQ(read.cert_pem, set.cert_pem);
  EXPECT_EQ(read.key_pem.view(), set.key_pem.view());
}

TEST_F(AtomicWriterTest, ModesIgnoreTheUmask) {
  AtomicWriter writer(RealFilesystem(), &clock_, &random_);
  const mode_t old_umask = ::umask(0077);
  absl::Status status = writer.Write(tmp_.Path("a"), MakeSet(*ca_, 1), {});
  ::umask(0);
  absl::Status status2 = writer.Write(tmp_.Path("b"), MakeSet(*ca_, 1), {});
  ::umask(old_umask);
  ASSERT_OK(status);
  ASSERT_OK(status2);
  for (const char* d : {"a", "b"}) {
    ASSERT_OK_AND_ASSIGN(std::string data,
                         writer.CurrentDataDir(tmp_.Path(d)));
    const std::string folder = JoinPath(tmp_.Path(d), data);
    EXPECT_EQ(FileMode(JoinPath(folder, "key.pem")), 0600) << d;
    EXPECT_EQ(FileMode(JoinPath(folder, "cert.pem")), 0644) << d;
  }
}

TEST_F(AtomicWriterTest, RotationReplacesTheSetAndRemovesTheOldFolder) {
  AtomicWriter writer(RealFilesystem(), &clock_, &random_);
  const std::string dir = tmp_.Path("web");
  FileSet a = MakeSet(*ca_, 1);
  FileSet b = MakeSet(*ca_, 2);
  ASSERT_OK(writer.Write(dir, a, {}));
  ASSERT_OK_AND_ASSIGN(std::string first, writer.CurrentDataDir(dir));
  ASSERT_OK(writer.Write(dir, b, {}));
  ASSERT_OK_AND_ASSIGN(std::string second, writer.CurrentDataDir(dir));
  EXPECT_NE(first, second);
  ExpectVisible(dir, b);
  EXPECT_FALSE(PathExists(JoinPath(dir, first)));
  EXPECT_THAT(Entries(dir),
              UnorderedElementsAre("..data", second, "cert.pem", "key.pem",
                                   "bundle.pem", "crl.pem"));
}

TEST_F(AtomicWriterTest, ReplacesPlainFilesLeftByAnotherTool) {
  AtomicWriter writer(RealFilesystem(), &clock_, &random_);
  const std::string dir = tmp_.Path("web");
  ASSERT_OK(MakeDirectories(dir, 0755));
  ASSERT_OK(WriteFileAtomically(JoinPath(dir, "cert.pem"), "old", 0644));
  ASSERT_OK(WriteFileAtomically(JoinPath(dir, "unrelated.txt"), "keep", 0644));
  FileSet set = MakeSet(*ca_, 1);
  ASSERT_OK(writer.Write(dir, set, {}));
  ExpectVisible(dir, set);
  EXPECT_EQ(Read(JoinPath(dir, "unrelated.txt")), "keep");
}

TEST_F(AtomicWriterTest, ChownsEveryFileAndTheFolderWhenAsked) {
  FaultInjectingFilesystem fs(RealFilesystem());
  AtomicWriter writer(&fs, &clock_, &random_);
  WriteOptions options;
  options.uid = ::getuid();
  options.gid = ::getgid();
  ASSERT_OK(writer.Write(tmp_.Path("web"), MakeSet(*ca_, 1), options));
  int chowns = 0;
  for (const std::string& call : fs.calls()) {
    if (absl::StartsWith(call, "Chown ")) ++chowns;
  }
  EXPECT_EQ(chowns, 5);

  fs.Reset();
  ASSERT_OK(writer.Write(tmp_.Path("web2"), MakeSet(*ca_, 1), {}));
  for (const std::string& call : fs.calls()) {
    EXPECT_FALSE(absl::StartsWith(call, "Chown ")) << call;
  }
}

// Fails the i-th mutating file operation of a rotation from set A to set B,
// for every i, and checks what a reader sees afterwards.
TEST_F(AtomicWriterTest, FailureAtEveryStepLeavesACompleteSet) {
  FaultInjectingFilesystem fs(RealFilesystem());
  AtomicWriter writer(&fs, &clock_, &random_);
  FileSet a = MakeSet(*ca_, 1);
  FileSet b = MakeSet(*ca_, 2);
  FileSet c = MakeSet(*ca_, 3);

  // A dry run counts the steps and finds the swap.
  {
    TempDir scratch;
    ASSERT_OK(writer.Write(scratch.Path("d"), a, {}));
    fs.Reset();
    ASSERT_OK(writer.Write(scratch.Path("d"), b, {}));
  }
  const std::vector<std::string> steps = fs.calls();
  int swap = -1;
  for (size_t i = 0; i < steps.size(); ++i) {
    if (absl::StartsWith(steps[i], "Rename ") &&
        absl::EndsWith(steps[i], "/..data")) {
      swap = static_cast<int>(i);
    }
  }
  ASSERT_GE(swap, 0);
  ASSERT_GE(steps.size(), 15u) << "mkdir, 4x(write, fsync), fsync, link, "
                                  "rename, fsync, remove";

  for (int i = 0; i < static_cast<int>(steps.size()); ++i) {
    SCOPED_TRACE(absl::StrCat("failing step ", i, ": ", steps[i]));
    TempDir t;
    const std::string dir = t.Path("d");
    fs.Reset();
    ASSERT_OK(writer.Write(dir, a, {}));
    ASSERT_OK_AND_ASSIGN(const std::string a_folder, writer.CurrentDataDir(dir));
    fs.Reset();
    fs.FailAt(i, absl::ResourceExhaustedError("injected: disk full"));
    absl::Status status = writer.Write(dir, b, {});
    fs.Reset();
    ASSERT_OK_AND_ASSIGN(const std::string folder, writer.CurrentDataDir(dir));
    if (i <= swap) {
      EXPECT_THAT(status, StatusIs(absl::StatusCode::kResourceExhausted,
                                   HasSubstr("injected: disk full")));
      ExpectVisible(dir, a);
      EXPECT_EQ(folder, a_folder);
      // The partial folder and the temporary link are gone.
      EXPECT_THAT(Entries(dir),
                  UnorderedElementsAre("..data", a_folder, "cert.pem",
                                       "key.pem", "bundle.pem", "crl.pem"));
    } else {
      // After the swap the new set is complete and visible; only cleanup
      // may have failed.
      ExpectVisible(dir, b);
      EXPECT_NE(folder, a_folder);
    }
    // The next rotation works and removes any leftover.
    ASSERT_OK(writer.Write(dir, c, {}));
    ExpectVisible(dir, c);
    ASSERT_OK_AND_ASSIGN(const std::string c_folder, writer.CurrentDataDir(dir));
    EXPECT_THAT(Entries(dir),
                UnorderedElementsAre("..data", c_folder, "cert.pem", "key.pem",
                                     "bundle.pem", "crl.pem"));
  }
}

TEST_F(AtomicWriterTest, FirstWriteFailureAtEveryStepPublishesNothingPartial) {
  FaultInjectingFilesystem fs(RealFilesystem());
  AtomicWriter writer(&fs, &clock_, &random_);
  FileSet a = MakeSet(*ca_, 1);
  {
    TempDir scratch;
    ASSERT_OK(writer.Write(scratch.Path("d"), a, {}));
  }
  const int steps = fs.mutating_calls();
  for (int i = 0; i < steps; ++i) {
    SCOPED_TRACE(absl::StrCat("failing step ", i));
    TempDir t;
    const std::string dir = t.Path("d");
    fs.Reset();
    fs.FailAt(i, absl::PermissionDeniedError("injected: read-only"));
    absl::Status status = writer.Write(dir, a, {});
    fs.Reset();
    if (writer.CurrentDataDir(dir).ok()) {
      // Published: every file reachable through ..data is complete.
      for (const char* file : {"cert.pem", "key.pem", "bundle.pem", "crl.pem"}) {
        EXPECT_EQ(Read(JoinPath(dir, absl::StrCat("..data/", file))),
                  file == std::string("key.pem")
                      ? std::string(a.key_pem.view())
                      : file == std::string("cert.pem")   ? a.cert_pem
                        : file == std::string("bundle.pem") ? a.bundle_pem
                                                            : a.crl_pem);
      }
    } else {
      EXPECT_THAT(status, StatusIs(absl::StatusCode::kPermissionDenied,
                                   HasSubstr("injected")));
      for (const std::string& name : Entries(dir)) {
        EXPECT_FALSE(absl::StartsWith(name, "..")) << name << " left behind";
      }
    }
    ASSERT_OK(writer.Write(dir, a, {}));
    ExpectVisible(dir, a);
  }
}

TEST_F(AtomicWriterTest, ConcurrentReaderNeverSeesAMismatchedOrPartialPair) {
  AtomicWriter writer(RealFilesystem(), &clock_, pki::SystemRandom());
  const std::string dir = tmp_.Path("web");
  std::vector<FileSet> sets;
  for (int i = 0; i < 4; ++i) sets.push_back(MakeSet(*ca_, i));
  ASSERT_OK(writer.Write(dir, sets[0], {}));

  constexpr int kRotations = 300;
  constexpr int kMinReads = 3000;
  std::atomic<bool> done{false};
  std::atomic<int> consistent_reads{0};
  std::atomic<int> retries{0};
  std::atomic<int> failures{0};

  std::thread reader([&] {
    Filesystem* fs = RealFilesystem();
    while (!done.load() || consistent_reads.load() < kMinReads) {
      absl::StatusOr<std::string> before = fs->ReadLink(JoinPath(dir, "..data"));
      absl::StatusOr<std::string> cert_pem = fs->ReadFile(JoinPath(dir, "cert.pem"));
      absl::StatusOr<std::string> key_pem = fs->ReadFile(JoinPath(dir, "key.pem"));
      absl::StatusOr<std::string> after = fs->ReadLink(JoinPath(dir, "..data"));
      if (!before.ok() || !after.ok()) {
        ++failures;
        continue;
      }
      if (!cert_pem.ok() || !key_pem.ok()) {
        // The folder the link pointed to was removed between resolving and
        // opening: the reader retries. Never allowed while the link stayed.
        if (*before == *after) ++failures;
        ++retries;
        continue;
      }
      // Whatever was read is complete.
      absl::StatusOr<std::vector<pki::Certificate>> chain =
          pki::Certificate::ChainFromPem(*cert_pem);
      absl::StatusOr<pki::PrivateKey> key = pki::PrivateKey::FromPem(*key_pem);
      if (!chain.ok() || chain->size() != 2 || !key.ok()) {
        ++failures;
        continue;
      }
      if (*before != *after) {
        ++retries;  // a rotation happened between the two opens
        continue;
      }
      if (!key->Matches(chain->front().PublicKey())) {
        ++failures;
        continue;
      }
      ++consistent_reads;
    }
  });

  for (int i = 1; i <= kRotations; ++i) {
    clock_.Advance(absl::Milliseconds(1));
    ASSERT_OK(writer.Write(dir, sets[i % sets.size()], {}));
  }
  done = true;
  reader.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GE(consistent_reads.load(), kMinReads);
  ExpectVisible(dir, sets[kRotations % sets.size()]);
  ASSERT_OK_AND_ASSIGN(std::string folder, writer.CurrentDataDir(dir));
  EXPECT_THAT(Entries(dir),
              UnorderedElementsAre("..data", folder, "cert.pem", "key.pem",
                                   "bundle.pem", "crl.pem"));
  RecordProperty("retries", retries.load());
}

}  // namespace
}  // namespace rotor::agent
