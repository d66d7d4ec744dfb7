// The embedded certificate store: one LMDB environment in a folder
// (DATA_DIR/store/), one named database per table and per secondary index:
//
//   certificates               serial -> CertificateRecord
//   certificates_by_node       sha256(node_name) | serial -> ""
//   certificates_by_spiffe_id  sha256(spiffe_id) | serial -> ""
//   certificates_by_not_after  not_after (8 bytes, big-endian) | serial -> ""
//   revoked                    serial -> ""
//   join_tokens                token hash -> JoinTokenRecord
//   entries                    id -> RegistrationEntryRecord
//   audit                      sequence (8 bytes, big-endian) -> AuditRecord
//   meta                       "schema_version", "crl_number" -> MetaCounter
//
// Values are the versioned protobuf messages of proto/rotor/v1/store.proto.
// Names are hashed in index keys so that any length fits LMDB's 511-byte key
// limit; listing checks the record itself, so a hash collision could never
// return a wrong record.
//
// Writes are durable before they return. With group commit (the default)
// they go through one writer thread that applies everything pending as one
// batch. With the redo log (the default with group commit) a batch is
// applied in a transaction nested in a long-lived write transaction, its
// changes are appended to DIR/redo.log and fsynced (store/redo_log.h), and
// only then are its writers answered; the long transaction is committed (a
// checkpoint, which records the last batch it holds) every few thousand
// writes, when writes pause, before a backup and on close. Opening a store
// replays the batches the log holds beyond the last checkpoint, so a crash
// loses nothing that was acknowledged. Without the redo log every batch is
// its own durable LMDB commit.
//
// Reads that could see a change not yet checkpointed (a certificate whose
// serial a pending batch wrote, or any table it changed) run on the writer
// thread inside the open transaction; every other read uses its own
// read-only transaction, so a read always sees every acknowledged write. Every write checks before it changes anything, so one that
// is refused (a duplicate serial, a used token) fails alone and the others
// commit; should a write fail after changing something, the transaction is
// dropped and the batch runs again without it. (A nested transaction per
// write would isolate writes too, at about the same cost in our benchmark;
// this way allocates nothing per write, and a batch whose writes were all
// refused commits nothing and skips the fsync.) Reads use short read-only
// transactions, never held across calls.
//
// When a write finds the memory map full, the store doubles the map (up to
// max_map_size) and retries; at the limit the write fails with
// ResourceExhausted naming the limit, and nothing of it is stored.
//
// Thread-safety: all methods are safe from any thread. The destructor
// finishes writes already queued; REQUIRES: no call is in progress when it
// runs. Do not open the same folder twice in one process (LMDB's locks are
// per process); BackupStore() in backup.h is for other processes, Backup()
// below for this one.
#ifndef ROTOR_STORE_LMDB_STORE_H_
#define ROTOR_STORE_LMDB_STORE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "store/group_commit.h"
#include "store/lmdb_txn.h"
#include "store/redo_log.h"
#include "store/store.h"

namespace rotor::store {

// The layout version this binary reads and writes (the meta table's
// "schema_version"). Opening a store with a newer one fails; an older one is
// migrated when opened.
inline constexpr uint32_t kSchemaVersion = 2;

struct LmdbStoreOptions {
  // Size of the memory map when a store is first opened; it grows by
  // doubling as needed. LMDB rounds it to whole pages.
  size_t initial_map_size = size_t{64} << 20;
  // The map never grows past this (ca.yaml store.max_size_mb).
  size_t max_map_size = size_t{16} << 30;
  // Commit concurrent writes together (one fsync per batch). Off: every
  // write is its own transaction and fsync.
  bool group_commit = true;
  // Most writes in one group commit.
  size_t max_batch_size = 1024;
  // With group commit: log batches to DIR/redo.log and commit LMDB only at
  // checkpoints (above). Off: one durable LMDB commit per batch.
  bool redo_log = true;
  // A checkpoint is made once this many batches' writes, or this many bytes
  // of log, have accumulated since the last one, and after writes have
  // paused for checkpoint_idle. The open transaction keeps the pages it
  // changed in memory until then.
  size_t checkpoint_writes = 4096;
  size_t checkpoint_log_bytes = size_t{16} << 20;
  absl::Duration checkpoint_idle = absl::Milliseconds(20);
  // After a checkpoint fails (LMDB cannot write data.mdb: disk full, an I/O
  // error), the writes stay durable in the log and the periodic checkpoints
  // (the counts above, a pause) are not tried again for this long, doubling
  // with each failure up to checkpoint_retry_max. Flush() and closing the
  // store always try.
  absl::Duration checkpoint_retry = absl::Seconds(1);
  absl::Duration checkpoint_retry_max = absl::Minutes(1);
  // Called on the writer thread after each checkpoint that fails (with its
  // error and the failures in a row) and after the first one that succeeds
  // after failures (OK, with how many failed before it). For logging: it
  // must not call into the store.
  std::function<void(const absl::Status& status, uint64_t failures)>
      on_checkpoint_failure;
  // Read transactions that may be open at once, across all threads.
  unsigned max_readers = 1024;
};

class LmdbStore final : public CertificateStore {
 public:
  // Opens the store in `dir`, creating the folder (0700) and an empty store
  // if there is none. A store with a schema version newer than
  // kSchemaVersion gives FailedPrecondition ("store schema version 3 is newer
  // than this rotor-ca supports (1); upgrade rotor-ca") and is left
  // untouched; an older one is migrated in one transaction. InvalidArgument
  // for inconsistent options; otherwise the LMDB or file error with the path.
  static absl::StatusOr<std::unique_ptr<LmdbStore>> Open(
      const std::string& dir, const LmdbStoreOptions& options = {});

  ~LmdbStore() override;
  LmdbStore(const LmdbStore&) = delete;
  LmdbStore& operator=(const LmdbStore&) = delete;

  absl::Status PutCertificate(const CertificateRecord& record) override;
  absl::StatusOr<std::optional<CertificateRecord>> GetCertificate(
      absl::string_view serial) override;
  absl::StatusOr<CertificatePage> ListCertificates(
      const CertificateFilter& filter, absl::string_view cursor,
      int limit) override;
  absl::StatusOr<CertificateRecord> RevokeCertificate(
      absl::string_view serial, pki::RevocationReason reason, absl::Time time,
      absl::string_view actor) override;
  absl::StatusOr<std::vector<pki::RevokedCertificate>> ListRevoked(
      absl::Time not_after_after) override;
  absl::StatusOr<uint64_t> NextCrlNumber() override;
  absl::Status CreateJoinToken(absl::string_view token_hash,
                               absl::string_view node_name,
                               absl::Time created_at, absl::Time expires_at,
                               absl::string_view actor) override;
  absl::StatusOr<std::string> ConsumeJoinToken(absl::string_view token_hash,
                                               absl::Time now) override;
  absl::StatusOr<uint64_t> PurgeExpiredJoinTokens(
      absl::Time expired_before, absl::Time time,
      absl::string_view actor) override;
  absl::Status CreateEntry(const RegistrationEntry& entry) override;
  absl::StatusOr<std::vector<RegistrationEntry>> ListEntries() override;
  absl::Status DeleteEntry(absl::string_view id, absl::Time time,
                           absl::string_view actor) override;
  absl::StatusOr<std::vector<RegistrationEntry>> MatchEntries(
      absl::string_view node_name) override;
  absl::StatusOr<uint64_t> AppendAudit(const AuditRecord& record) override;
  absl::StatusOr<AuditPage> ListAudit(uint64_t after_sequence,
                                      int limit) override;
  absl::StatusOr<StoreStats> GetStats() override;

  // Writes a consistent, compacted copy of the store to `out_file` while
  // the store stays in use (one read transaction; writers go on). Contains
  // every write acknowledged before the call. AlreadyExists if `out_file`
  // exists; the file is created 0600 and appears only once complete. While
  // it runs the map cannot grow: a write that needs a bigger map waits.
  absl::Status Backup(const std::string& out_file);

  // Commits every acknowledged write to LMDB (a checkpoint). Writes are
  // durable without it; backups and tests of the layout use it.
  absl::Status Flush();

  // Entry counts of every secondary index, for consistency checks: each of
  // by_node, by_spiffe_id and by_not_after must equal the certificate count.
  struct IndexCounts {
    uint64_t certificates = 0;
    uint64_t by_node = 0;
    uint64_t by_spiffe_id = 0;
    uint64_t by_not_after = 0;
    uint64_t revoked = 0;
  };
  absl::StatusOr<IndexCounts> GetIndexCounts();

  // The schema version the store had when it was opened (before migration).
  uint32_t opened_schema_version() const { return opened_schema_version_; }
  // The current size of the memory map in bytes.
  size_t map_size() const;
  // Group-commit counters (all zero without group commit).
  GroupCommitter::Stats commit_stats() const;

  // Counters of the redo log (all zero without it).
  struct RedoStats {
    uint64_t checkpoints = 0;
    uint64_t checkpoint_failures = 0;  // LMDB could not commit a checkpoint
    // Time writes waited on successful checkpoints (their LMDB commits).
    absl::Duration checkpoint_time;
    absl::Duration longest_checkpoint;
    uint64_t logged_batches = 0;
    uint64_t replayed_batches = 0;  // when the store was opened
    uint64_t fresh_reads = 0;       // reads run inside the open transaction
  };
  RedoStats redo_stats() const;

  // The named databases; public so backup.cc and tests can read the layout.
  struct Tables {
    MDB_dbi certificates = 0;
    MDB_dbi by_node = 0;
    MDB_dbi by_spiffe_id = 0;
    MDB_dbi by_not_after = 0;
    MDB_dbi revoked = 0;
    MDB_dbi join_tokens = 0;
    MDB_dbi entries = 0;
    MDB_dbi audit = 0;
    MDB_dbi meta = 0;
  };
  static constexpr const char* kMetaTable = "meta";
  static constexpr const char* kSchemaVersionKey = "schema_version";
  // The sequence number of the last redo log batch LMDB holds.
  static constexpr const char* kRedoSeqKey = "redo_seq";
  // The redo log's file name in the store's folder.
  static constexpr const char* kRedoLogName = "redo.log";
  // 16 random bytes made when the store is created; its redo log carries
  // them.
  static constexpr const char* kStoreIdKey = "store_id";

  // Opens every table in `txn`; with MDB_CREATE in `flags`, creates the
  // missing ones.
  static absl::StatusOr<Tables> OpenTables(LmdbTxn& txn, unsigned flags);

  // Replays onto `txn` (a write transaction of a store's environment whose
  // tables are `tables`) the records of `log` that follow the batch the
  // environment last recorded, and records the new last batch. Returns the
  // number of batches replayed. FailedPrecondition, changing nothing, if
  // the log belongs to another store; DataLoss if it is missing batches
  // that follow the store's last one while holding later ones.
  static absl::StatusOr<uint64_t> ReplayRedoLog(LmdbTxn& txn,
                                                const Tables& tables,
                                                const RedoLogContents& log,
                                                absl::string_view where);

  // The schema version recorded in the environment `txn` reads, or
  // std::nullopt if it has none (a new store). Opens no table for writing.
  static absl::StatusOr<std::optional<uint32_t>> ReadSchemaVersion(
      const LmdbTxn& txn);
  // FailedPrecondition ("store schema version 3 is newer than this rotor-ca
  // supports (1); upgrade rotor-ca (<where>)") if `version` is too new.
  static absl::Status CheckSchemaVersion(uint32_t version,
                                         absl::string_view where);

 private:
  friend class LmdbStorePeer;  // tests: drives Write() with custom writes

  LmdbStore(std::string dir, LmdbStoreOptions options, LmdbEnvPtr env);

  absl::Status Initialize();
  absl::Status InitializeOnce();

  // Runs `apply` in a write transaction (through the group committer when
  // enabled) and returns once it is durable or has failed.
  absl::Status Write(absl::FunctionRef<absl::Status(LmdbTxn&)> apply);
  // Applies and commits a batch, growing the map and retrying when full.
  void RunBatch(absl::Span<PendingWrite* const> writes)
      ABSL_LOCKS_EXCLUDED(write_mu_);
  // One attempt at the writes not yet settled. True once committed; false
  // if a write failed after writing (it is now settled) and the rest must be
  // run again; an error if the whole transaction failed (map full, commit).
  absl::StatusOr<bool> TryBatch(absl::Span<PendingWrite* const> writes,
                                std::vector<bool>& settled)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Doubles the map up to max_map_size. ResourceExhausted at the limit.
  // `for_acknowledged`: the room is for writes already acknowledged (in the
  // redo log), which must reach LMDB: the map may then go past the limit by
  // a reserve of an eighth of it (at least 1 MiB), once.
  absl::Status GrowMap(bool for_acknowledged = false)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  // Runs `read` in a fresh read-only transaction.
  template <typename T>
  absl::StatusOr<T> Read(absl::FunctionRef<absl::StatusOr<T>(LmdbTxn&)> read)
      ABSL_LOCKS_EXCLUDED(map_mu_);
  // Runs `read` so that it sees every acknowledged write: on the writer
  // thread inside the open transaction if a write not yet checkpointed
  // touched one of `tables` (a mask of TableBit()s) or the certificate
  // `serial`, otherwise as Read() does.
  template <typename T>
  absl::StatusOr<T> ReadFresh(uint32_t tables, absl::string_view serial,
                              absl::FunctionRef<absl::StatusOr<T>(LmdbTxn&)> read);

  // --- The redo log (writer thread, under write_mu_) ---

  // Replays what the log holds beyond the last checkpoint and commits it;
  // then opens the log for appending. Runs once, from Open().
  absl::Status RecoverFromRedoLog() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // One attempt at a batch, as TryBatch, inside the open transaction and
  // logged before it returns true.
  absl::StatusOr<bool> TryLoggedBatch(absl::Span<PendingWrite* const> writes,
                                      std::vector<bool>& settled)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Commits the open transaction, if any. On failure it is gone: its
  // batches are only in the log, and RebuildFromRedoLog() must follow.
  absl::Status Checkpoint() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Checkpoint(); if the map is too small for the commit, grows it (into
  // the reserve: these writes are acknowledged) and tries again. On any
  // other failure the open transaction is rebuilt from the log, and a later
  // checkpoint tries again.
  // Counts the outcome for NoteCheckpoint().
  absl::Status CheckpointOrRebuild() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  absl::Status CheckpointOrRebuildOnce()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Whether a periodic checkpoint may be tried: none failed lately.
  bool CheckpointDue() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Counts a failed checkpoint and puts off the periodic ones; reports
  // failures, and the first success after them, to on_checkpoint_failure.
  void NoteCheckpoint(const absl::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // A new open transaction holding every logged batch not yet checkpointed
  // (growing the map into the reserve if they need it).
  absl::Status RebuildFromRedoLog() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // GrowMap() for a batch that found the map full: checkpoints first (the
  // map cannot be resized under the open transaction).
  absl::Status GrowMapForBatch() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Notes the tables and certificates a logged batch changed.
  void MarkDirty(absl::string_view redo_payload);
  void ClearDirty();
  bool IsDirty(uint32_t tables, absl::string_view serial) const;

  // Appends an audit record within `txn`; returns its sequence.
  absl::StatusOr<uint64_t> AppendAuditInTxn(LmdbTxn& txn, AuditRecord record);

  const std::string dir_;
  const LmdbStoreOptions options_;
  LmdbEnvPtr env_;
  Tables tables_;
  uint32_t opened_schema_version_ = 0;

  // Serializes write transactions in this process, so the map is never
  // resized under one.
  absl::Mutex write_mu_;
  // Held shared by every read transaction and exclusively while the map is
  // resized: a resize moves the map under any open reader.
  mutable absl::Mutex map_mu_;

  // The redo log and the long-lived transaction (see the top of the file).
  std::unique_ptr<RedoLog> redo_log_;
  std::optional<LmdbTxn> open_txn_ ABSL_GUARDED_BY(write_mu_);
  uint64_t open_writes_ ABSL_GUARDED_BY(write_mu_) = 0;
  bool checkpoint_requested_ ABSL_GUARDED_BY(write_mu_) = false;
  absl::Status last_checkpoint_ ABSL_GUARDED_BY(write_mu_);
  // Checkpoints that failed in a row, and when periodic ones may try again.
  uint64_t checkpoint_failures_ ABSL_GUARDED_BY(write_mu_) = 0;
  absl::Time checkpoint_retry_at_ ABSL_GUARDED_BY(write_mu_) =
      absl::InfinitePast();
  RedoBatch redo_ ABSL_GUARDED_BY(write_mu_);
  // Every table, in the order the redo log numbers them.
  std::vector<MDB_dbi> table_list_;
  std::string store_id_;  // kStoreIdKey

  // What writes not yet checkpointed changed: a mask of TableBit()s and
  // the serials of the certificates.
  mutable absl::Mutex dirty_mu_;
  uint32_t dirty_tables_ ABSL_GUARDED_BY(dirty_mu_) = 0;
  absl::flat_hash_set<std::string> dirty_serials_ ABSL_GUARDED_BY(dirty_mu_);

  mutable absl::Mutex stats_mu_;
  RedoStats redo_stats_ ABSL_GUARDED_BY(stats_mu_);

  std::unique_ptr<GroupCommitter> committer_;
};

}  // namespace rotor::store

#endif  // ROTOR_STORE_LMDB_STORE_H_
