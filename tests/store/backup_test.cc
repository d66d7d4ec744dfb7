#include "store/backup.h"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/lmdb_store.h"
#include "tests/store/raw_store.h"
#include "tests/store/test_records.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "util/file.h"

namespace rotor::store {
namespace {

using ::rotor::store::testing::IsOkAndHolds;
using ::rotor::store::testing::MakeRecord;
using ::rotor::store::testing::RawStore;
using ::rotor::store::testing::SerialFor;
using ::rotor::testing::FileMode;
using ::rotor::testing::StatusIs;
using ::rotor::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::Optional;

// Threads that put records until stopped and remember every acknowledged
// serial.
class Writers {
 public:
  Writers(CertificateStore* store, int threads) {
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this, store, t] {
        for (uint64_t i = 0; !stop_; ++i) {
          std::string serial = SerialFor(uint64_t(t) << 32 | i);
          absl::Status status = store->PutCertificate(MakeRecord(serial));
          EXPECT_OK(status);
          absl::MutexLock lock(&mu_);
          if (!status.ok()) {
            failed_ = true;  // so that WaitForAcked does not wait forever
            return;
          }
          acked_.insert(serial);
        }
      });
    }
  }
  ~Writers() { Stop(); }

  void WaitForAcked(size_t n) {
    absl::MutexLock lock(&mu_);
    want_ = n;
    mu_.Await(absl::Condition(this, &Writers::HasWanted));
  }
  std::set<std::string> Acked() {
    absl::MutexLock lock(&mu_);
    return acked_;
  }
  void Stop() {
    stop_ = true;
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  bool HasWanted() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return acked_.size() >= want_ || failed_;
  }

  std::atomic<bool> stop_{false};
  mutable absl::Mutex mu_;
  std::set<std::string> acked_ ABSL_GUARDED_BY(mu_);
  size_t want_ ABSL_GUARDED_BY(mu_) = 0;
  bool failed_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

// Restores `backup` into a fresh folder and checks that every serial in
// `expected` is there, intact, and that the indexes agree.
void ExpectBackupHolds(const std::string& backup,
                       const std::set<std::string>& expected) {
  TempDir restored;
  ASSERT_OK(RestoreStore(backup, restored.Path("store")));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                       LmdbStore::Open(restored.Path("store")));
  for (const std::string& serial : expected) {
    ASSERT_THAT(store->GetCertificate(serial),
                IsOkAndHolds(Optional(MakeRecord(serial))))
        << serial;
  }
  ASSERT_OK_AND_ASSIGN(LmdbStore::IndexCounts counts,
                       store->GetIndexCounts());
  EXPECT_GE(counts.certificates, expected.size());
  EXPECT_EQ(counts.by_node, counts.certificates);
  EXPECT_EQ(counts.by_spiffe_id, counts.certificates);
  EXPECT_EQ(counts.by_not_after, counts.certificates);
}

TEST(BackupTest, BackupWhileWritersRunHoldsEveryAcknowledgedRecord) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                       LmdbStore::Open(dir.Path("store")));
  Writers writers(store.get(), 8);
  writers.WaitForAcked(500);
  const std::set<std::string> before = writers.Acked();
  ASSERT_OK(store->Backup(dir.Path("backup.mdb")));
  writers.WaitForAcked(before.size() + 200);  // writers went on meanwhile
  writers.Stop();
  EXPECT_EQ(FileMode(dir.Path("backup.mdb")), 0600);
  ExpectBackupHolds(dir.Path("backup.mdb"), before);
}

TEST(BackupTest, BackupStoreFromAnotherProcessWhileWritersRun) {
  TempDir dir;
  const std::string store_dir = dir.Path("store");
  const std::string backup = dir.Path("backup.mdb");
  // Fork before any thread exists; the child waits for the signal to back up.
  int go[2];
  ASSERT_EQ(pipe(go), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(go[1]);
    char c;
    if (read(go[0], &c, 1) != 1) _exit(10);
    absl::Status status = BackupStore(store_dir, backup);
    if (!status.ok()) {
      std::fprintf(stderr, "child: %s\n", status.ToString().c_str());
      _exit(1);
    }
    _exit(0);
  }
  close(go[0]);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                       LmdbStore::Open(store_dir));
  Writers writers(store.get(), 8);
  writers.WaitForAcked(500);
  const std::set<std::string> before = writers.Acked();
  ASSERT_EQ(write(go[1], "g", 1), 1);
  close(go[1]);
  int wstatus = 0;
  ASSERT_EQ(waitpid(pid, &wstatus, 0), pid);
  writers.Stop();
  ASSERT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) << wstatus;
  ExpectBackupHolds(backup, before);
}

TEST(BackupTest, RefusesToOverwriteAnExistingFile) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                       LmdbStore::Open(dir.Path("store")));
  ASSERT_OK(WriteFileAtomically(dir.Path("out"), "keep", 0600));
  EXPECT_THAT(store->Backup(dir.Path("out")),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       HasSubstr("out already exists; refusing to "
                                 "overwrite it")));
  store.reset();
  EXPECT_THAT(BackupStore(dir.Path("store"), dir.Path("out")),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       HasSubstr("refusing to overwrite it")));
  EXPECT_THAT(ReadFile(dir.Path("out")), IsOkAndHolds(std::string("keep")));
  // No temporary file is left behind.
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 2);  // store/ and out
}

TEST(BackupTest, BackupStoreOfAMissingStoreIsNotFound) {
  TempDir dir;
  EXPECT_THAT(BackupStore(dir.Path("store"), dir.Path("out")),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("no store in " + dir.Path("store"))));
  EXPECT_FALSE(PathExists(dir.Path("out")));
}

class RestoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                         LmdbStore::Open(dir_.Path("a")));
    ASSERT_OK(store->PutCertificate(MakeRecord("1")));
    ASSERT_OK(store->Backup(backup_));
  }
  TempDir dir_;
  const std::string backup_ = dir_.Path("backup.mdb");
};

TEST_F(RestoreTest, RestoresIntoANewFolder) {
  ASSERT_OK(RestoreStore(backup_, dir_.Path("new/store")));
  EXPECT_EQ(FileMode(dir_.Path("new/store")), 0700);
  EXPECT_EQ(FileMode(dir_.Path("new/store/data.mdb")), 0600);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                       LmdbStore::Open(dir_.Path("new/store")));
  EXPECT_THAT(store->GetCertificate("1"),
              IsOkAndHolds(Optional(MakeRecord("1"))));
}

TEST_F(RestoreTest, RefusesToReplaceAStoreUnlessTold) {
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                         LmdbStore::Open(dir_.Path("b")));
    ASSERT_OK(store->PutCertificate(MakeRecord("2")));
  }
  EXPECT_THAT(RestoreStore(backup_, dir_.Path("b")),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       HasSubstr("a store already exists in " +
                                 dir_.Path("b") +
                                 "; stop rotor-ca and restore with --force")));
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                         LmdbStore::Open(dir_.Path("b")));
    EXPECT_THAT(store->GetCertificate("2"),
                IsOkAndHolds(Optional(MakeRecord("2"))));
  }
  ASSERT_OK(RestoreStore(backup_, dir_.Path("b"), {.overwrite = true}));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                       LmdbStore::Open(dir_.Path("b")));
  EXPECT_THAT(store->GetCertificate("1"),
              IsOkAndHolds(Optional(MakeRecord("1"))));
  EXPECT_THAT(store->GetCertificate("2"), IsOkAndHolds(std::nullopt));
}

TEST_F(RestoreTest, RefusesAFileThatIsNotABackup) {
  ASSERT_OK(WriteFileAtomically(dir_.Path("junk"), std::string(8192, 'j'),
                                0600));
  EXPECT_THAT(RestoreStore(dir_.Path("junk"), dir_.Path("c")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("junk is not a rotor store backup")));
  EXPECT_FALSE(PathExists(dir_.Path("c")));
  EXPECT_THAT(RestoreStore(dir_.Path("missing"), dir_.Path("c")),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("missing does not exist")));
}

TEST_F(RestoreTest, RefusesABackupFromANewerRelease) {
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                         LmdbStore::Open(dir_.Path("future")));
  }
  RawStore(dir_.Path("future")).SetSchemaVersion(kSchemaVersion + 1);
  ASSERT_OK(BackupStore(dir_.Path("future"), dir_.Path("future.mdb")));
  EXPECT_THAT(RestoreStore(dir_.Path("future.mdb"), dir_.Path("c")),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr(absl::StrCat(
                           "store schema version ", kSchemaVersion + 1,
                           " is newer than this rotor-ca supports (",
                           kSchemaVersion, ")"))));
  EXPECT_FALSE(PathExists(dir_.Path("c")));
}

}  // namespace
}  // namespace rotor::store
