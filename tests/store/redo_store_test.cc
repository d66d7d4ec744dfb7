// The store with its redo log: writes are durable once logged, reads see
// them before any checkpoint, a crash before a checkpoint loses nothing,
// and backups and restores take the log into account. (A full map with
// the redo log: lmdb_store_test.cc.)
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/backup.h"
#include "store/lmdb_store.h"
#include "store/redo_log.h"
#include "tests/store/test_records.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "util/file.h"

namespace rotor::store {
namespace {

using ::rotor::store::testing::IsOkAndHolds;
using ::rotor::store::testing::kT0;
using ::rotor::store::testing::MakeRecord;
using ::rotor::store::testing::SerialFor;
using ::rotor::testing::StatusIs;
using ::rotor::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::Optional;
using ::testing::SizeIs;

// Options under which nothing is checkpointed until Flush() or close.
LmdbStoreOptions NoCheckpoints() {
  LmdbStoreOptions options;
  options.checkpoint_writes = size_t{1} << 40;
  options.checkpoint_log_bytes = size_t{1} << 40;
  options.checkpoint_idle = absl::Hours(24);
  return options;
}

RegistrationEntry MakeEntry(const std::string& id) {
  RegistrationEntry entry;
  entry.id = id;
  entry.node_glob = "node-*";
  entry.spiffe_id = "spiffe://example.org/web";
  entry.created_at = kT0;
  entry.created_by = "spiffe://example.org/rotor/admin";
  return entry;
}

// Writes `count` certificates (from 8 threads, so in several batches),
// revokes the first, and creates an entry and a join token.
void WriteSome(LmdbStore& store, int count) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < count; i += 8) {
        EXPECT_OK(store.PutCertificate(MakeRecord(SerialFor(i))));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_OK(store.RevokeCertificate(SerialFor(0),
                                    pki::RevocationReason::kKeyCompromise,
                                    kT0, "spiffe://example.org/rotor/admin")
                .status());
  EXPECT_OK(store.CreateEntry(MakeEntry("web")));
  EXPECT_OK(store.CreateJoinToken("token-hash", "node-7", kT0,
                                  kT0 + absl::Hours(1),
                                  "spiffe://example.org/rotor/admin"));
}

// Checks what WriteSome(count) left.
void ExpectWritten(LmdbStore& store, int count) {
  for (int i = 0; i < count; ++i) {
    ASSERT_OK_AND_ASSIGN(std::optional<CertificateRecord> record,
                         store.GetCertificate(SerialFor(i)));
    ASSERT_TRUE(record.has_value()) << SerialFor(i);
    EXPECT_EQ(record->der, MakeRecord(SerialFor(i)).der);
    EXPECT_EQ(record->revoked, i == 0);
  }
  EXPECT_THAT(store.ListRevoked(absl::InfinitePast()), IsOkAndHolds(SizeIs(1)));
  EXPECT_THAT(store.ListEntries(), IsOkAndHolds(SizeIs(1)));
  EXPECT_THAT(store.ConsumeJoinToken("token-hash", kT0 + absl::Minutes(1)),
              IsOkAndHolds("node-7"));
  ASSERT_OK_AND_ASSIGN(LmdbStore::IndexCounts counts, store.GetIndexCounts());
  EXPECT_EQ(counts.certificates, static_cast<uint64_t>(count));
  EXPECT_EQ(counts.by_node, counts.certificates);
  EXPECT_EQ(counts.by_spiffe_id, counts.certificates);
  EXPECT_EQ(counts.by_not_after, counts.certificates);
  EXPECT_EQ(counts.revoked, 1u);
}

// Runs `body` in a child process that then ends with _exit(0). A body that
// opens the store leaks it (Crash() below): no destructor runs, so nothing
// is checkpointed at close, as after a crash.
LmdbStore& Crash(absl::StatusOr<std::unique_ptr<LmdbStore>> store) {
  if (!store.ok()) {
    ADD_FAILURE() << store.status();
    _exit(1);
  }
  return *store->release();
}

template <typename Body>
void InChildThatCrashes(Body body) {
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    body();
    _exit(::testing::Test::HasFailure() ? 1 : 0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "child failed: " << status;
}

TEST(RedoStoreTest, ReadsSeeWritesBeforeAnyCheckpoint) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                       LmdbStore::Open(dir.Path("store"), NoCheckpoints()));
  WriteSome(*store, 40);
  EXPECT_EQ(store->redo_stats().checkpoints, 0u);
  EXPECT_GE(store->redo_stats().logged_batches, 4u);
  ExpectWritten(*store, 40);
  ASSERT_OK_AND_ASSIGN(CertificatePage page,
                       store->ListCertificates({.node_name = "node-1"}, "", 100));
  EXPECT_THAT(page.records, SizeIs(40));
  EXPECT_GT(store->redo_stats().fresh_reads, 0u);

  // A certificate no pending write touched is read the usual way.
  const uint64_t fresh = store->redo_stats().fresh_reads;
  EXPECT_THAT(store->GetCertificate(SerialFor(999)),
              IsOkAndHolds(std::nullopt));
  EXPECT_EQ(store->redo_stats().fresh_reads, fresh);

  // After a checkpoint nothing needs the writer.
  EXPECT_EQ(store->redo_stats().checkpoint_time, absl::ZeroDuration());
  ASSERT_OK(store->Flush());
  EXPECT_EQ(store->redo_stats().checkpoints, 1u);
  EXPECT_GT(store->redo_stats().checkpoint_time, absl::ZeroDuration());
  EXPECT_EQ(store->redo_stats().longest_checkpoint,
            store->redo_stats().checkpoint_time);
  EXPECT_THAT(store->GetCertificate(SerialFor(3)),
              IsOkAndHolds(Optional(MakeRecord(SerialFor(3)))));
  EXPECT_OK(store->GetStats().status());
  EXPECT_EQ(store->redo_stats().fresh_reads, fresh);
}

TEST(RedoStoreTest, ACrashBeforeAnyCheckpointLosesNothing) {
  TempDir dir;
  InChildThatCrashes([&] {
    LmdbStore& store =
        Crash(LmdbStore::Open(dir.Path("store"), NoCheckpoints()));
    WriteSome(store, 100);
    EXPECT_EQ(store.redo_stats().checkpoints, 0u);
  });
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                       LmdbStore::Open(dir.Path("store"), NoCheckpoints()));
  EXPECT_GE(store->redo_stats().replayed_batches, 4u);
  ExpectWritten(*store, 100);
  // Recovery checkpointed: a second reopen has nothing to replay, and the
  // audit log has each admin action once.
  store.reset();
  ASSERT_OK_AND_ASSIGN(store, LmdbStore::Open(dir.Path("store")));
  EXPECT_EQ(store->redo_stats().replayed_batches, 0u);
  ASSERT_OK_AND_ASSIGN(AuditPage audit, store->ListAudit(0, 100));
  EXPECT_THAT(audit.records, SizeIs(3));  // revoke, entry, token
}

TEST(RedoStoreTest, CloseCheckpointsSoReopeningReplaysNothing) {
  TempDir dir;
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                         LmdbStore::Open(dir.Path("store"), NoCheckpoints()));
    WriteSome(*store, 20);
  }
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                       LmdbStore::Open(dir.Path("store"), NoCheckpoints()));
  EXPECT_EQ(store->redo_stats().replayed_batches, 0u);
  ExpectWritten(*store, 20);
}

TEST(RedoStoreTest, ATornRecordAtTheEndOfTheLogIsIgnored) {
  TempDir dir;
  InChildThatCrashes([&] {
    WriteSome(Crash(LmdbStore::Open(dir.Path("store"), NoCheckpoints())), 30);
  });
  // Half a record after the last one: a write that was never acknowledged.
  const std::string log = dir.Path("store/redo.log");
  ASSERT_OK_AND_ASSIGN(std::string contents, ReadFile(log));
  // The first record's header and a bit of its payload, numbered later.
  std::string torn = contents.substr(kRedoLogHeaderBytes, 24 + 10);
  torn[8] = static_cast<char>(torn[8] + 100);
  ASSERT_OK(WriteFileAtomically(log, contents + torn, 0600));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                       LmdbStore::Open(dir.Path("store"), NoCheckpoints()));
  ExpectWritten(*store, 30);
}

TEST(RedoStoreTest, ALogLeftBesideAnotherStoreIsRefusedNotReplayed) {
  TempDir dir;
  InChildThatCrashes([&] {
    WriteSome(Crash(LmdbStore::Open(dir.Path("a"), NoCheckpoints())), 10);
  });
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> b,
                         LmdbStore::Open(dir.Path("b")));
    ASSERT_OK(b->PutCertificate(MakeRecord(SerialFor(500))));
  }
  // As if someone copied a data.mdb in by hand beside an old log.
  ASSERT_OK_AND_ASSIGN(std::string a_log, ReadFile(dir.Path("a/redo.log")));
  ASSERT_OK(WriteFileAtomically(dir.Path("b/redo.log"), a_log, 0600));
  EXPECT_THAT(LmdbStore::Open(dir.Path("b")),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("belongs to another store")));
  // B is as it was: with the stray log moved away it opens with its one
  // certificate, and A's writes are nowhere in it.
  ASSERT_EQ(unlink(dir.Path("b/redo.log").c_str()), 0);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> b,
                       LmdbStore::Open(dir.Path("b")));
  ASSERT_OK_AND_ASSIGN(StoreStats stats, b->GetStats());
  EXPECT_EQ(stats.certificates, 1u);
}

TEST(RedoStoreTest, CheckpointsComeEveryCheckpointWrites) {
  TempDir dir;
  LmdbStoreOptions options = NoCheckpoints();
  options.checkpoint_writes = 10;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                       LmdbStore::Open(dir.Path("store"), options));
  for (int i = 0; i < 25; ++i) {
    ASSERT_OK(store->PutCertificate(MakeRecord(SerialFor(i))));
  }
  EXPECT_EQ(store->redo_stats().checkpoints, 2u);
  EXPECT_EQ(store->redo_stats().logged_batches, 25u);
}

TEST(RedoStoreTest, RefusedWritesAreNotLogged) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                       LmdbStore::Open(dir.Path("store"), NoCheckpoints()));
  ASSERT_OK(store->PutCertificate(MakeRecord(SerialFor(1))));
  const uint64_t logged = store->redo_stats().logged_batches;
  EXPECT_THAT(store->PutCertificate(MakeRecord(SerialFor(1))),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       HasSubstr("already exists")));
  EXPECT_THAT(store->RevokeCertificate(SerialFor(2),
                                       pki::RevocationReason::kUnspecified,
                                       kT0, "spiffe://example.org/rotor/admin"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("not found")));
  EXPECT_EQ(store->redo_stats().logged_batches, logged);
}

TEST(RedoStoreTest, BackupFromAnotherProcessHoldsWritesOnlyInTheLog) {
  TempDir dir;
  int ready[2];
  int hold[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(hold), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The "CA": writes, never checkpoints, keeps the store open.
    absl::StatusOr<std::unique_ptr<LmdbStore>> store =
        LmdbStore::Open(dir.Path("store"), NoCheckpoints());
    if (!store.ok()) _exit(2);
    WriteSome(**store, 50);
    if ((*store)->redo_stats().checkpoints != 0) _exit(3);
    if (write(ready[1], "r", 1) != 1) _exit(4);
    char c;
    (void)!read(hold[0], &c, 1);  // until the parent is done
    _exit(0);
  }
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  absl::Status backup = BackupStore(dir.Path("store"), dir.Path("b.mdb"));
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  ASSERT_OK(backup);

  TempDir restored;
  ASSERT_OK(RestoreStore(dir.Path("b.mdb"), restored.Path("store")));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                       LmdbStore::Open(restored.Path("store")));
  EXPECT_EQ(store->redo_stats().replayed_batches, 0u);
  ExpectWritten(*store, 50);
}

TEST(RedoStoreTest, RestoreDropsTheLogOfTheStoreItReplaces) {
  TempDir dir;
  // Store A crashed with 40 writes only in its log.
  InChildThatCrashes([&] {
    WriteSome(Crash(LmdbStore::Open(dir.Path("a"), NoCheckpoints())), 40);
  });
  ASSERT_TRUE(PathExists(dir.Path("a/redo.log")));
  // A backup of store B, with other certificates.
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> b,
                         LmdbStore::Open(dir.Path("b")));
    ASSERT_OK(b->PutCertificate(MakeRecord(SerialFor(500))));
    ASSERT_OK(b->Backup(dir.Path("b.mdb")));
  }
  ASSERT_OK(RestoreStore(dir.Path("b.mdb"), dir.Path("a"),
                         RestoreOptions{.overwrite = true}));
  EXPECT_FALSE(PathExists(dir.Path("a/redo.log")));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                       LmdbStore::Open(dir.Path("a")));
  EXPECT_EQ(store->redo_stats().replayed_batches, 0u);
  ASSERT_OK_AND_ASSIGN(StoreStats stats, store->GetStats());
  EXPECT_EQ(stats.certificates, 1u);
  EXPECT_THAT(store->GetCertificate(SerialFor(500)),
              IsOkAndHolds(Optional(MakeRecord(SerialFor(500)))));
}

TEST(RedoStoreTest, APurgeOfJoinTokensOnlyInTheLogSurvivesACrash) {
  TempDir dir;
  InChildThatCrashes([&] {
    LmdbStore& store =
        Crash(LmdbStore::Open(dir.Path("store"), NoCheckpoints()));
    EXPECT_OK(store.CreateJoinToken("old", "node-1", kT0,
                                    kT0 + absl::Hours(1), "admin"));
    EXPECT_OK(store.CreateJoinToken("new", "node-2", kT0,
                                    kT0 + absl::Hours(48), "admin"));
    EXPECT_THAT(store.PurgeExpiredJoinTokens(kT0 + absl::Hours(25),
                                             kT0 + absl::Hours(49),
                                             "rotor-ca"),
                IsOkAndHolds(1u));
    EXPECT_EQ(store.redo_stats().checkpoints, 0u);
  });
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                       LmdbStore::Open(dir.Path("store"), NoCheckpoints()));
  EXPECT_GE(store->redo_stats().replayed_batches, 3u);
  EXPECT_THAT(store->ConsumeJoinToken("old", kT0),
              StatusIs(absl::StatusCode::kNotFound, "unknown join token"));
  EXPECT_THAT(store->ConsumeJoinToken("new", kT0), IsOkAndHolds("node-2"));
  ASSERT_OK_AND_ASSIGN(AuditPage audit, store->ListAudit(0, 100));
  ASSERT_THAT(audit.records, SizeIs(3));  // two tokens, one purge
  EXPECT_EQ(audit.records[2].action, kAuditPurgeJoinTokens);
}

// --- Checkpoints that fail ---

// Puts certificates [from, to) from 8 threads (several batches).
void PutRange(LmdbStore& store, int from, int to) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = from + t; i < to; i += 8) {
        EXPECT_OK(store.PutCertificate(MakeRecord(SerialFor(i))));
      }
    });
  }
  for (std::thread& t : threads) t.join();
}

// Checks that certificates [0, count) are all there, each once in every
// index.
void ExpectCertificates(LmdbStore& store, int count) {
  for (int i = 0; i < count; ++i) {
    ASSERT_OK_AND_ASSIGN(std::optional<CertificateRecord> record,
                         store.GetCertificate(SerialFor(i)));
    ASSERT_TRUE(record.has_value()) << SerialFor(i);
    EXPECT_EQ(record->der, MakeRecord(SerialFor(i)).der);
  }
  ASSERT_OK_AND_ASSIGN(LmdbStore::IndexCounts counts, store.GetIndexCounts());
  EXPECT_EQ(counts.certificates, static_cast<uint64_t>(count));
  EXPECT_EQ(counts.by_node, counts.certificates);
  EXPECT_EQ(counts.by_spiffe_id, counts.certificates);
  EXPECT_EQ(counts.by_not_after, counts.certificates);
}

off_t FileSize(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return -1;
  return st.st_size;
}

// A process file size limit at data.mdb's present size: a checkpoint that
// must grow the file fails in LMDB's commit (EFBIG; SIGXFSZ ignored), while
// the redo log, shorter than data.mdb, can still take `log_room` more bytes.
// Only for a child process: the limit is never lifted by this.
void LimitFileSizeToTheDataFile(const std::string& store_dir,
                                off_t log_room = off_t{64} << 10) {
  const off_t data = FileSize(store_dir + "/data.mdb");
  const off_t log = FileSize(store_dir + "/redo.log");
  ASSERT_GT(data, 0);
  ASSERT_LT(log + log_room, data);
  signal(SIGXFSZ, SIG_IGN);
  struct rlimit limit;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &limit), 0);
  limit.rlim_cur = static_cast<rlim_t>(data);
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
}

// How a checkpoint the limit stops fails: EFBIG, or EIO when LMDB's write
// was cut short at the limit.
constexpr char kCannotCommit[] =
    "the store cannot be written: cannot commit to the store: ";

void LiftFileSizeLimit() {
  struct rlimit limit;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &limit), 0);
  limit.rlim_cur = limit.rlim_max;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
}

// Opens the store at `path` and puts certificates [0, 1000), checkpointed;
// null (with a failure) if that fails.
std::unique_ptr<LmdbStore> OpenWith1000(const std::string& path,
                                        const LmdbStoreOptions& options) {
  absl::StatusOr<std::unique_ptr<LmdbStore>> store =
      LmdbStore::Open(path, options);
  if (!store.ok()) {
    ADD_FAILURE() << store.status();
    return nullptr;
  }
  PutRange(**store, 0, 1000);
  absl::Status flushed = (*store)->Flush();
  if (!flushed.ok()) {
    ADD_FAILURE() << flushed;
    return nullptr;
  }
  return *std::move(store);
}

TEST(RedoStoreTest, AFailedCheckpointLosesNothingAndWritesGoOn) {
  TempDir dir;
  const std::string path = dir.Path("store");
  // In a child: the file size limit is the child's alone.
  InChildThatCrashes([&] {
    LmdbStoreOptions options = NoCheckpoints();
    absl::Mutex mu;
    std::vector<std::pair<absl::Status, uint64_t>> reported;
    options.on_checkpoint_failure = [&](const absl::Status& status,
                                        uint64_t failures) {
      absl::MutexLock lock(&mu);
      reported.emplace_back(status, failures);
    };
    std::unique_ptr<LmdbStore> opened = OpenWith1000(path, options);
    ASSERT_NE(opened, nullptr);
    LmdbStore& store = *opened;
    ASSERT_EQ(store.redo_stats().checkpoints, 1u);
    LimitFileSizeToTheDataFile(path);
    if (::testing::Test::HasFatalFailure()) return;

    // Acknowledged: they are in the log.
    PutRange(store, 1000, 1040);
    // The checkpoint cannot write data.mdb: the open transaction is lost in
    // LMDB's failed commit and rebuilt from the log.
    EXPECT_THAT(store.Flush(),
                StatusIs(absl::StatusCode::kUnavailable,
                         HasSubstr("the store cannot be written: ")));
    EXPECT_EQ(store.redo_stats().checkpoints, 1u);
    EXPECT_EQ(store.redo_stats().checkpoint_failures, 1u);
    {
      absl::MutexLock lock(&mu);
      ASSERT_THAT(reported, SizeIs(1));
      EXPECT_THAT(reported[0].first, StatusIs(absl::StatusCode::kUnavailable,
                                              HasSubstr(kCannotCommit)));
      EXPECT_EQ(reported[0].second, 1u);
    }
    // Reads still see every acknowledged write, and writes go on.
    ExpectCertificates(store, 1040);
    PutRange(store, 1040, 1060);
    EXPECT_OK(store.RevokeCertificate(SerialFor(1050),
                                      pki::RevocationReason::kKeyCompromise,
                                      kT0, "spiffe://example.org/rotor/admin")
                  .status());
    EXPECT_THAT(store.Flush(),
                StatusIs(absl::StatusCode::kUnavailable,
                         HasSubstr(kCannotCommit)));
    EXPECT_EQ(store.redo_stats().checkpoint_failures, 2u);

    // Once the disk takes writes again, the next checkpoint holds them all.
    LiftFileSizeLimit();
    EXPECT_OK(store.Flush());
    EXPECT_EQ(store.redo_stats().checkpoints, 2u);
    ExpectCertificates(store, 1060);
    {
      absl::MutexLock lock(&mu);
      ASSERT_THAT(reported, SizeIs(3));
      EXPECT_OK(reported[2].first);
      EXPECT_EQ(reported[2].second, 2u);  // the success after two failures
    }
    opened.reset();  // a clean close
  });
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                       LmdbStore::Open(path, NoCheckpoints()));
  EXPECT_EQ(store->redo_stats().replayed_batches, 0u);
  ExpectCertificates(*store, 1060);
  EXPECT_THAT(store->ListRevoked(absl::InfinitePast()), IsOkAndHolds(SizeIs(1)));
}

TEST(RedoStoreTest, AfterAFailedCheckpointPeriodicOnesWait) {
  TempDir dir;
  const std::string path = dir.Path("store");
  InChildThatCrashes([&] {
    LmdbStoreOptions options = NoCheckpoints();
    options.checkpoint_writes = 100;
    options.checkpoint_retry = absl::Hours(1);
    std::unique_ptr<LmdbStore> opened = OpenWith1000(path, options);
    ASSERT_NE(opened, nullptr);
    LmdbStore& store = *opened;
    ASSERT_GE(store.redo_stats().checkpoints, 5u);
    // Room in the log for the next 1,000 certificates (about 530 KB).
    LimitFileSizeToTheDataFile(path, /*log_room=*/off_t{600} << 10);
    if (::testing::Test::HasFatalFailure()) return;

    // Doubling the store must grow data.mdb, so a checkpoint fails on the
    // way; after it none is tried for an hour, however many writes come
    // (without the wait: one try, and one rebuild, per 100 writes).
    PutRange(store, 1000, 2000);
    EXPECT_EQ(store.redo_stats().checkpoint_failures, 1u);
    EXPECT_THAT(store.Flush(), StatusIs(absl::StatusCode::kUnavailable,
                                        HasSubstr(kCannotCommit)));
    EXPECT_EQ(store.redo_stats().checkpoint_failures, 2u);
    LiftFileSizeLimit();
    EXPECT_OK(store.Flush());
    ExpectCertificates(store, 2000);
  });
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                       LmdbStore::Open(path, NoCheckpoints()));
  ExpectCertificates(*store, 2000);
}

TEST(RedoStoreTest, ACrashWhileCheckpointsFailLosesNothing) {
  TempDir dir;
  const std::string path = dir.Path("store");
  InChildThatCrashes([&] {
    LmdbStore& store = Crash(LmdbStore::Open(path, NoCheckpoints()));
    PutRange(store, 0, 1000);
    ASSERT_OK(store.Flush());
    LimitFileSizeToTheDataFile(path);
    if (::testing::Test::HasFatalFailure()) return;
    PutRange(store, 1000, 1040);
    EXPECT_THAT(store.Flush(), StatusIs(absl::StatusCode::kUnavailable,
                                        HasSubstr(kCannotCommit)));
    PutRange(store, 1040, 1060);
    EXPECT_THAT(store.Flush(), StatusIs(absl::StatusCode::kUnavailable,
                                        HasSubstr(kCannotCommit)));
    EXPECT_EQ(store.redo_stats().checkpoints, 1u);
  });
  // Every write acknowledged before the crash is replayed from the log.
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                       LmdbStore::Open(path, NoCheckpoints()));
  EXPECT_GE(store->redo_stats().replayed_batches, 2u);
  ExpectCertificates(*store, 1060);
}

}  // namespace
}  // namespace rotor::store
