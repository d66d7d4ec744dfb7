#include "store/lmdb_store.h"

#include <fnmatch.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "store/backup.h"
#include "store/record_codec.h"
#include "util/file.h"
#include "util/status_macros.h"

namespace rotor::store {
namespace {

constexpr unsigned kMaxDbs = 16;
constexpr size_t kHashBytes = SHA256_DIGEST_LENGTH;
constexpr size_t kTimeKeyBytes = 8;
constexpr size_t kMaxTokenHashBytes = 64;
constexpr size_t kMaxEntryIdBytes = 256;
constexpr absl::string_view kCrlNumberKey = "crl_number";

// The tables as the redo log numbers them (LmdbStore::Tables order), and
// their bits in the masks that say what a pending write changed.
enum TableNumber : uint8_t {
  kCertificatesTable = 0,
  kByNodeTable,
  kBySpiffeIdTable,
  kByNotAfterTable,
  kRevokedTable,
  kJoinTokensTable,
  kEntriesTable,
  kAuditTable,
  kMetaTable,
  kTableCount,
};
constexpr uint32_t TableBit(TableNumber table) { return uint32_t{1} << table; }
constexpr uint32_t kCertificateTables =
    TableBit(kCertificatesTable) | TableBit(kByNodeTable) |
    TableBit(kBySpiffeIdTable) | TableBit(kByNotAfterTable);
constexpr uint32_t kAllTables = (uint32_t{1} << kTableCount) - 1;

std::vector<MDB_dbi> TableList(const LmdbStore::Tables& t) {
  return {t.certificates, t.by_node, t.by_spiffe_id, t.by_not_after,
          t.revoked,      t.join_tokens, t.entries,   t.audit,
          t.meta};
}

// --- Keys ---

std::string Sha256(absl::string_view data) {
  std::string out(kHashBytes, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(),
         reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

std::string BigEndian64(uint64_t value) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
  return out;
}

uint64_t FromBigEndian64(absl::string_view bytes) {
  uint64_t value = 0;
  for (size_t i = 0; i < 8 && i < bytes.size(); ++i) {
    value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  }
  return value;
}

// Microseconds since the epoch with the sign bit flipped, big-endian, so
// that byte order is time order (infinite times saturate).
std::string TimeKey(absl::Time time) {
  uint64_t micros = static_cast<uint64_t>(absl::ToUnixMicros(time));
  return BigEndian64(micros ^ (uint64_t{1} << 63));
}

std::string NameKey(absl::string_view name, absl::string_view serial) {
  return absl::StrCat(Sha256(name), serial);
}

// --- Validation ---

absl::Status ValidateActor(absl::string_view actor) {
  if (actor.empty()) {
    return absl::InvalidArgumentError(
        "actor is empty: admin actions must name who did them");
  }
  return absl::OkStatus();
}

absl::Status ValidateOptions(const LmdbStoreOptions& options) {
  if (options.initial_map_size == 0) {
    return absl::InvalidArgumentError("store initial_map_size must be > 0");
  }
  if (options.max_map_size < options.initial_map_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "store max_map_size (", options.max_map_size,
        " bytes) is smaller than initial_map_size (",
        options.initial_map_size, " bytes)"));
  }
  if (options.max_batch_size == 0) {
    return absl::InvalidArgumentError("store max_batch_size must be >= 1");
  }
  if (options.max_readers == 0) {
    return absl::InvalidArgumentError("store max_readers must be >= 1");
  }
  return absl::OkStatus();
}

absl::StatusOr<int> PageLimit(int limit) {
  if (limit < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit must not be negative, got ", limit));
  }
  if (limit == 0) return kDefaultListLimit;
  return std::min(limit, kMaxListLimit);
}

std::string TimeText(absl::Time time) {
  return absl::FormatTime(absl::RFC3339_full, time, absl::UTCTimeZone());
}

// A transaction that could not begin or commit (an I/O error, a full or
// read-only disk): Unavailable, so the CA answers "try again" rather than
// blaming the request. DataLoss (a corrupt page) stays what it is.
absl::Status NotWritable(const absl::Status& status) {
  if (absl::IsDataLoss(status)) return status;
  return absl::UnavailableError(
      absl::StrCat("the store cannot be written: ", status.message()));
}

// Applies to `txn` the writes not yet settled, counting in `applied` those
// that changed something. A write that refuses before changing anything (a
// duplicate serial, a used token) is settled with its status and the others
// go on. One that fails after writing, or breaks the transaction, would
// leave part of itself behind: it is settled and the result is false, so
// the caller drops the transaction and runs the batch again without it. A
// full map is an error: grow it, then run everything again.
absl::StatusOr<bool> ApplyWrites(LmdbTxn& txn,
                                 absl::Span<PendingWrite* const> writes,
                                 std::vector<bool>& settled, size_t& applied) {
  for (size_t i = 0; i < writes.size(); ++i) {
    if (settled[i]) continue;
    const uint64_t writes_before = txn.write_count();
    absl::Status status = writes[i]->apply(txn);
    if (status.ok()) {
      if (txn.write_count() != writes_before) ++applied;
      continue;
    }
    if (IsMapFull(status)) return status;
    writes[i]->status = status;
    settled[i] = true;
    if (txn.write_count() != writes_before || txn.failed()) return false;
  }
  return true;
}

// --- Listing plans ---

// How ListCertificates walks the store for a filter: which table, where to
// start and where to stop. The cursor is the last key returned, tagged with
// the plan so a cursor from another filter is refused.
struct ListPlan {
  char tag = 'a';
  MDB_dbi dbi = 0;
  // Keys of the walk start with this (node / SPIFFE ID hash).
  std::string prefix;
  // Expiry walks start here and stop past `end`.
  std::string start;
  std::string end;
  // True for the certificates table itself (the value is the record).
  bool primary = false;
};

ListPlan ChoosePlan(const CertificateFilter& filter,
                    const LmdbStore::Tables& tables) {
  ListPlan plan;
  if (!filter.node_name.empty()) {
    plan.tag = 'n';
    plan.dbi = tables.by_node;
    plan.prefix = Sha256(filter.node_name);
    plan.start = plan.prefix;
  } else if (!filter.spiffe_id.empty()) {
    plan.tag = 's';
    plan.dbi = tables.by_spiffe_id;
    plan.prefix = Sha256(filter.spiffe_id);
    plan.start = plan.prefix;
  } else if (filter.not_after_from != absl::InfinitePast() ||
             filter.not_after_to != absl::InfiniteFuture()) {
    plan.tag = 'e';
    plan.dbi = tables.by_not_after;
    plan.start = TimeKey(filter.not_after_from);
    plan.end = TimeKey(filter.not_after_to);
  } else if (filter.revoked_only) {
    plan.tag = 'r';
    plan.dbi = tables.revoked;
  } else {
    plan.tag = 'a';
    plan.dbi = tables.certificates;
    plan.primary = true;
  }
  return plan;
}

// True while `key` is inside the plan's range.
bool InRange(const ListPlan& plan, absl::string_view key) {
  if (!plan.prefix.empty()) return absl::StartsWith(key, plan.prefix);
  if (!plan.end.empty()) {
    return key.substr(0, kTimeKeyBytes) <= absl::string_view(plan.end);
  }
  return true;
}

absl::string_view SerialOf(const ListPlan& plan, absl::string_view key) {
  if (!plan.prefix.empty()) return key.substr(plan.prefix.size());
  if (plan.tag == 'e') return key.substr(kTimeKeyBytes);
  return key;
}

bool Matches(const CertificateFilter& filter, const CertificateRecord& r) {
  if (!filter.node_name.empty() && r.node_name != filter.node_name) {
    return false;
  }
  if (!filter.spiffe_id.empty() && r.spiffe_id != filter.spiffe_id) {
    return false;
  }
  if (r.not_after < filter.not_after_from ||
      r.not_after >= filter.not_after_to) {
    return false;
  }
  if (filter.revoked_only && !r.revoked) return false;
  return true;
}

std::string EncodeCursor(char tag, absl::string_view key) {
  return absl::WebSafeBase64Escape(absl::StrCat(std::string(1, tag), key));
}

// The key to continue after, or InvalidArgument.
absl::StatusOr<std::string> DecodeCursor(const ListPlan& plan,
                                         absl::string_view cursor) {
  std::string raw;
  if (!absl::WebSafeBase64Unescape(cursor, &raw) || raw.size() < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("page cursor \"", cursor, "\" is malformed"));
  }
  absl::string_view key = absl::string_view(raw).substr(1);
  if (raw[0] != plan.tag || !absl::StartsWith(key, plan.prefix)) {
    return absl::InvalidArgumentError(
        "page cursor does not match this filter: pass the same filter as "
        "the call that returned it");
  }
  return std::string(key);
}

}  // namespace

// --- Opening ---

LmdbStore::LmdbStore(std::string dir, LmdbStoreOptions options,
                     LmdbEnvPtr env)
    : dir_(std::move(dir)), options_(options), env_(std::move(env)) {}

absl::StatusOr<std::unique_ptr<LmdbStore>> LmdbStore::Open(
    const std::string& dir, const LmdbStoreOptions& options) {
  ROTOR_RETURN_IF_ERROR(ValidateOptions(options));
  ROTOR_RETURN_IF_ERROR(MakeDirectories(dir, 0700));
  // MDB_NOTLS: read transactions are not tied to a thread, so any thread can
  // read and the reader-slot count is about transactions, not threads.
  ROTOR_ASSIGN_OR_RETURN(
      LmdbEnvPtr env, OpenLmdbEnv(dir, MDB_NOTLS, options.initial_map_size,
                                  kMaxDbs, options.max_readers));
  // Reader slots left behind by a process that died (a crash, SIGKILL).
  int dead = 0;
  int rc = mdb_reader_check(env.get(), &dead);
  if (rc != MDB_SUCCESS) {
    return LmdbError(rc, absl::StrCat("cannot check readers of ", dir));
  }
  std::unique_ptr<LmdbStore> store(
      new LmdbStore(dir, options, std::move(env)));
  ROTOR_RETURN_IF_ERROR(store->Initialize());
  if (options.group_commit) {
    LmdbStore* self = store.get();
    std::function<void()> idle;
    if (options.redo_log) {
      absl::MutexLock lock(&store->write_mu_);
      ROTOR_RETURN_IF_ERROR(store->RecoverFromRedoLog());
      // When writes pause, and before the writer thread ends: checkpoint
      // (unless one failed lately; the destructor tries once more).
      idle = [self] {
        absl::MutexLock writer(&self->write_mu_);
        if (self->CheckpointDue()) {
          self->last_checkpoint_ = self->CheckpointOrRebuild();
        }
      };
    }
    store->committer_ = std::make_unique<GroupCommitter>(
        [self](absl::Span<PendingWrite* const> writes) {
          self->RunBatch(writes);
        },
        options.max_batch_size, std::move(idle), options.checkpoint_idle);
  }
  return store;
}

LmdbStore::~LmdbStore() {
  if (committer_ != nullptr) committer_->Stop();
  if (redo_log_ != nullptr) {
    // The writer thread has ended. Whatever a failed checkpoint left is in
    // the log, and is replayed at the next open should this fail too.
    absl::MutexLock lock(&write_mu_);
    last_checkpoint_ = CheckpointOrRebuild();
  }
}

absl::Status LmdbStore::Initialize() {
  absl::MutexLock lock(&write_mu_);
  while (true) {
    absl::Status status = InitializeOnce();
    if (!IsMapFull(status)) return status;
    ROTOR_RETURN_IF_ERROR(GrowMap());
  }
}

namespace {

// One step of the schema: from version `from` to from + 1, inside the
// opening transaction. Steps run in order; a failed step aborts them all.
struct Migration {
  uint32_t from;
  absl::Status (*apply)(LmdbTxn& txn, const LmdbStore::Tables& tables);
};

// Version 0 is the layout before versions were recorded; it has the same
// tables as version 1, so there is nothing to convert.
absl::Status MigrateV0ToV1(LmdbTxn&, const LmdbStore::Tables&) {
  return absl::OkStatus();
}

// Version 2 adds the redo log (DIR/redo.log and meta "redo_seq"). Nothing
// to convert: the bump makes an older rotor-ca, which would not replay the
// log, refuse the store instead of losing writes the log holds.
absl::Status MigrateV1ToV2(LmdbTxn&, const LmdbStore::Tables&) {
  return absl::OkStatus();
}

constexpr Migration kMigrations[] = {
    {0, &MigrateV0ToV1},
    {1, &MigrateV1ToV2},
};
static_assert(std::size(kMigrations) == kSchemaVersion,
              "every schema version needs a migration from the one before");
static_assert(
    [] {
      for (uint32_t v = 0; v < std::size(kMigrations); ++v) {
        if (kMigrations[v].from != v) return false;
      }
      return true;
    }(),
    "kMigrations[v] must migrate from version v");

}  // namespace

absl::StatusOr<std::optional<uint32_t>> LmdbStore::ReadSchemaVersion(
    const LmdbTxn& txn) {
  MDB_dbi meta = 0;
  int rc = mdb_dbi_open(txn.get(), kMetaTable, 0, &meta);
  if (rc == MDB_NOTFOUND) return std::nullopt;
  if (rc != MDB_SUCCESS) return LmdbError(rc, "cannot open the meta table");
  ROTOR_ASSIGN_OR_RETURN(std::optional<absl::string_view> value,
                         txn.Get(meta, kSchemaVersionKey));
  if (!value.has_value()) return std::nullopt;
  ROTOR_ASSIGN_OR_RETURN(uint64_t version,
                         DecodeCounter(*value, "schema version"));
  return static_cast<uint32_t>(std::min<uint64_t>(version, UINT32_MAX));
}

absl::Status LmdbStore::CheckSchemaVersion(uint32_t version,
                                           absl::string_view where) {
  if (version > kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "store schema version ", version,
        " is newer than this rotor-ca supports (", kSchemaVersion,
        "); upgrade rotor-ca (", where, ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<LmdbStore::Tables> LmdbStore::OpenTables(LmdbTxn& txn,
                                                       unsigned flags) {
  Tables t;
  ROTOR_ASSIGN_OR_RETURN(t.certificates, txn.OpenDb("certificates", flags));
  ROTOR_ASSIGN_OR_RETURN(t.by_node, txn.OpenDb("certificates_by_node", flags));
  ROTOR_ASSIGN_OR_RETURN(t.by_spiffe_id,
                         txn.OpenDb("certificates_by_spiffe_id", flags));
  ROTOR_ASSIGN_OR_RETURN(t.by_not_after,
                         txn.OpenDb("certificates_by_not_after", flags));
  ROTOR_ASSIGN_OR_RETURN(t.revoked, txn.OpenDb("revoked", flags));
  ROTOR_ASSIGN_OR_RETURN(t.join_tokens, txn.OpenDb("join_tokens", flags));
  ROTOR_ASSIGN_OR_RETURN(t.entries, txn.OpenDb("entries", flags));
  ROTOR_ASSIGN_OR_RETURN(t.audit, txn.OpenDb("audit", flags));
  ROTOR_ASSIGN_OR_RETURN(t.meta, txn.OpenDb(kMetaTable, flags));
  return t;
}

absl::Status LmdbStore::InitializeOnce() {
  ROTOR_ASSIGN_OR_RETURN(LmdbTxn txn, LmdbTxn::BeginWrite(env_.get()));
  // Read the version before creating anything, so a newer store is left
  // exactly as it was.
  ROTOR_ASSIGN_OR_RETURN(std::optional<uint32_t> version,
                         ReadSchemaVersion(txn));
  if (version.has_value()) {
    ROTOR_RETURN_IF_ERROR(
        CheckSchemaVersion(*version, absl::StrCat("store at ", dir_)));
  }

  ROTOR_ASSIGN_OR_RETURN(tables_, OpenTables(txn, MDB_CREATE));
  table_list_ = TableList(tables_);

  // A store without a version is new: it starts at the current layout.
  opened_schema_version_ = version.value_or(kSchemaVersion);
  for (uint32_t v = opened_schema_version_; v < kSchemaVersion; ++v) {
    absl::Status status = kMigrations[v].apply(txn, tables_);
    if (!status.ok()) {
      return absl::Status(
          status.code(),
          absl::StrCat("cannot migrate the store at ", dir_,
                       " from schema version ", v, " to ", v + 1, ": ",
                       status.message()));
    }
  }
  if (version != kSchemaVersion) {
    ROTOR_RETURN_IF_ERROR(txn.Put(tables_.meta, kSchemaVersionKey,
                                  EncodeCounter(kSchemaVersion)));
  }
  ROTOR_ASSIGN_OR_RETURN(std::optional<absl::string_view> id,
                         txn.Get(tables_.meta, kStoreIdKey));
  if (id.has_value()) {
    store_id_ = std::string(*id);
  } else {
    store_id_.assign(16, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(store_id_.data()),
                   static_cast<int>(store_id_.size())) != 1) {
      return absl::InternalError("cannot draw a store id from the CSPRNG");
    }
    ROTOR_RETURN_IF_ERROR(txn.Put(tables_.meta, kStoreIdKey, store_id_));
  }
  return txn.Commit();
}

// --- Reads and writes ---

template <typename T>
absl::StatusOr<T> LmdbStore::Read(
    absl::FunctionRef<absl::StatusOr<T>(LmdbTxn&)> read) {
  absl::ReaderMutexLock lock(&map_mu_);
  ROTOR_ASSIGN_OR_RETURN(LmdbTxn txn, LmdbTxn::BeginRead(env_.get()));
  return read(txn);
}

template <typename T>
absl::StatusOr<T> LmdbStore::ReadFresh(
    uint32_t tables, absl::string_view serial,
    absl::FunctionRef<absl::StatusOr<T>(LmdbTxn&)> read) {
  if (redo_log_ == nullptr || !IsDirty(tables, serial)) return Read<T>(read);
  {
    absl::MutexLock lock(&stats_mu_);
    ++redo_stats_.fresh_reads;
  }
  // A "write" that only reads: it runs inside the open transaction, changes
  // nothing, and is not logged.
  absl::StatusOr<T> result = absl::InternalError("the read did not run");
  ROTOR_RETURN_IF_ERROR(committer_->Submit([&](LmdbTxn& txn) -> absl::Status {
    result = read(txn);
    return absl::OkStatus();
  }));
  return result;
}

absl::Status LmdbStore::Write(
    absl::FunctionRef<absl::Status(LmdbTxn&)> apply) {
  if (committer_ != nullptr) return committer_->Submit(apply);
  PendingWrite write(apply);
  PendingWrite* writes[] = {&write};
  RunBatch(writes);
  return write.status;
}

void LmdbStore::RunBatch(absl::Span<PendingWrite* const> writes) {
  absl::MutexLock lock(&write_mu_);
  // settled[i]: writes[i] failed on its own and is out of the batch.
  std::vector<bool> settled(writes.size(), false);
  for (PendingWrite* write : writes) write->status = absl::OkStatus();
  absl::Status status;
  while (true) {
    absl::StatusOr<bool> done = redo_log_ != nullptr
                                    ? TryLoggedBatch(writes, settled)
                                    : TryBatch(writes, settled);
    if (done.ok() && *done) {
      if (redo_log_ != nullptr &&
          (checkpoint_requested_ ||
           (CheckpointDue() &&
            (open_writes_ >= options_.checkpoint_writes ||
             redo_log_->bytes() >= options_.checkpoint_log_bytes)))) {
        // The batch is durable in the log whatever this gives; a Flush()
        // caller reads last_checkpoint_.
        checkpoint_requested_ = false;
        last_checkpoint_ = CheckpointOrRebuild();
      }
      return;
    }
    if (done.ok()) continue;  // a write failed after writing: run without it
    status = done.status();
    if (!IsMapFull(status)) {
      status = NotWritable(status);
      break;
    }
    // ResourceExhausted naming the limit at the top.
    status = redo_log_ != nullptr ? GrowMapForBatch() : GrowMap();
    if (!status.ok()) break;
  }
  // The transaction failed as a whole: nothing of it was stored. A write
  // that had failed on its own keeps its own reason.
  for (size_t i = 0; i < writes.size(); ++i) {
    if (!settled[i]) writes[i]->status = status;
  }
}

absl::StatusOr<bool> LmdbStore::TryBatch(
    absl::Span<PendingWrite* const> writes, std::vector<bool>& settled) {
  ROTOR_ASSIGN_OR_RETURN(LmdbTxn txn, LmdbTxn::BeginWrite(env_.get()));
  size_t applied = 0;
  ROTOR_ASSIGN_OR_RETURN(bool whole, ApplyWrites(txn, writes, settled, applied));
  if (!whole) return false;
  // Nothing to make durable (every write refused): no commit, no fsync.
  if (txn.write_count() == 0) return true;
  ROTOR_RETURN_IF_ERROR(txn.Commit());
  return true;
}

// --- The redo log ---

namespace {

// The last redo log batch the store `txn` reads holds (0: none).
absl::StatusOr<uint64_t> ReadRedoSeq(const LmdbTxn& txn,
                                     const LmdbStore::Tables& tables) {
  ROTOR_ASSIGN_OR_RETURN(std::optional<absl::string_view> value,
                         txn.Get(tables.meta, LmdbStore::kRedoSeqKey));
  if (!value.has_value()) return 0;
  return DecodeCounter(*value, "redo log sequence");
}

}  // namespace

absl::StatusOr<uint64_t> LmdbStore::ReplayRedoLog(LmdbTxn& txn,
                                                  const Tables& tables,
                                                  const RedoLogContents& log,
                                                  absl::string_view where) {
  if (log.records.empty()) return 0;
  ROTOR_ASSIGN_OR_RETURN(std::optional<absl::string_view> id,
                         txn.Get(tables.meta, kStoreIdKey));
  if (!id.has_value() || *id != log.store_id) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the redo log in ", where, " belongs to another store (id ",
        absl::BytesToHexString(log.store_id), ", this store's is ",
        id.has_value() ? absl::BytesToHexString(*id) : "none",
        "): it was left beside a data.mdb it does not belong to; move ",
        kRedoLogName, " away if this data.mdb is the store you want"));
  }
  ROTOR_ASSIGN_OR_RETURN(uint64_t last, ReadRedoSeq(txn, tables));
  const std::vector<MDB_dbi> list = TableList(tables);
  uint64_t replayed = 0;
  for (const RedoRecord& record : log.records) {
    if (record.seq <= last) continue;
    if (record.seq != last + 1) {
      return absl::DataLossError(absl::StrCat(
          "the redo log of ", where, " holds batch ", record.seq,
          " but the store ends at batch ", last, ": batches ", last + 1,
          " to ", record.seq - 1, " are missing"));
    }
    ROTOR_RETURN_IF_ERROR(RedoBatch::ForEach(
        record.payload, where,
        [&](RedoBatch::Op op, uint8_t table, absl::string_view key,
            absl::string_view data) -> absl::Status {
          if (table >= list.size()) {
            return absl::DataLossError(absl::StrCat(
                "the redo log of ", where, " names table ", table,
                ", which this rotor-ca does not have"));
          }
          if (op == RedoBatch::Op::kPut) return txn.Put(list[table], key, data);
          return txn.Delete(list[table], key).status();
        }));
    last = record.seq;
    ++replayed;
  }
  if (replayed > 0) {
    ROTOR_RETURN_IF_ERROR(txn.Put(tables.meta, kRedoSeqKey, EncodeCounter(last)));
  }
  return replayed;
}

absl::Status LmdbStore::RecoverFromRedoLog() {
  const std::string path = JoinPath(dir_, kRedoLogName);
  ROTOR_ASSIGN_OR_RETURN(RedoLogContents log, ReadRedoLog(path));
  uint64_t replayed = 0;
  uint64_t last = 0;
  while (true) {
    absl::Status status = [&]() -> absl::Status {
      ROTOR_ASSIGN_OR_RETURN(LmdbTxn txn, LmdbTxn::BeginWrite(env_.get()));
      ROTOR_ASSIGN_OR_RETURN(replayed,
                             ReplayRedoLog(txn, tables_, log, dir_));
      ROTOR_ASSIGN_OR_RETURN(last, ReadRedoSeq(txn, tables_));
      if (replayed == 0) return absl::OkStatus();  // nothing to commit
      return txn.Commit();
    }();
    if (status.ok()) break;
    if (!IsMapFull(status)) {
      return absl::Status(status.code(),
                          absl::StrCat("cannot replay the redo log of ", dir_,
                                       ": ", status.message()));
    }
    ROTOR_RETURN_IF_ERROR(GrowMap(/*for_acknowledged=*/true));
  }
  {
    absl::MutexLock lock(&stats_mu_);
    redo_stats_.replayed_batches = replayed;
  }
  // Everything the log held is in LMDB now: it starts again.
  ROTOR_ASSIGN_OR_RETURN(redo_log_, RedoLog::Open(path, store_id_, last + 1));
  return absl::OkStatus();
}

absl::StatusOr<bool> LmdbStore::TryLoggedBatch(
    absl::Span<PendingWrite* const> writes, std::vector<bool>& settled) {
  if (!open_txn_.has_value()) {
    if (redo_log_->bytes() > 0) {
      // Batches logged since the last checkpoint whose transaction was lost
      // (a failed checkpoint or rebuild): they come first.
      ROTOR_RETURN_IF_ERROR(RebuildFromRedoLog());
    } else {
      ROTOR_ASSIGN_OR_RETURN(LmdbTxn txn, LmdbTxn::BeginWrite(env_.get()));
      open_txn_.emplace(std::move(txn));
      open_writes_ = 0;
    }
  }
  ROTOR_ASSIGN_OR_RETURN(LmdbTxn txn, LmdbTxn::BeginNested(*open_txn_));
  redo_.Clear();
  txn.RecordInto(&redo_, table_list_);
  size_t applied = 0;
  // A false means a write failed after writing: the nested transaction is
  // dropped (the open one is as it was) and the batch runs again.
  ROTOR_ASSIGN_OR_RETURN(bool whole, ApplyWrites(txn, writes, settled, applied));
  if (!whole) return false;
  // Only reads, or every write refused: nothing to log or keep.
  if (txn.write_count() == 0) return true;
  // Durable first: if the log cannot be written the nested transaction is
  // dropped and the batch fails as a whole, changing nothing.
  ROTOR_RETURN_IF_ERROR(redo_log_->Append(redo_.bytes()).status());
  absl::Status merged = txn.Commit();
  if (!merged.ok()) {
    // The batch is logged, so it is durable: rebuild the open transaction
    // from the log rather than fail writes that will be replayed anyway.
    open_txn_.reset();
    ROTOR_RETURN_IF_ERROR(RebuildFromRedoLog());
  }
  MarkDirty(redo_.bytes());
  open_writes_ += applied;
  {
    absl::MutexLock lock(&stats_mu_);
    ++redo_stats_.logged_batches;
  }
  return true;
}

absl::Status LmdbStore::Checkpoint() {
  if (!open_txn_.has_value()) {
    if (redo_log_->bytes() == 0) return absl::OkStatus();  // nothing pending
    // Logged batches whose transaction was lost: rebuild it first.
    ROTOR_RETURN_IF_ERROR(RebuildFromRedoLog());
  }
  const absl::Time start = absl::Now();
  LmdbTxn txn = *std::move(open_txn_);
  open_txn_.reset();
  absl::Status status =
      txn.Put(tables_.meta, kRedoSeqKey, EncodeCounter(redo_log_->last_seq()));
  if (status.ok()) status = txn.Commit();
  if (!status.ok()) return status;
  const absl::Duration took = absl::Now() - start;
  // Every logged batch is in LMDB: the log starts again, and reads need
  // not go through the writer.
  redo_log_->Restart();
  open_writes_ = 0;
  ClearDirty();
  absl::MutexLock lock(&stats_mu_);
  ++redo_stats_.checkpoints;
  redo_stats_.checkpoint_time += took;
  redo_stats_.longest_checkpoint = std::max(redo_stats_.longest_checkpoint, took);
  return absl::OkStatus();
}

absl::Status LmdbStore::CheckpointOrRebuild() {
  absl::Status status = CheckpointOrRebuildOnce();
  NoteCheckpoint(status);
  return status;
}

absl::Status LmdbStore::CheckpointOrRebuildOnce() {
  while (true) {
    absl::Status status = Checkpoint();
    if (status.ok()) return status;
    // The open transaction is gone; its batches are in the log.
    const bool map_full = IsMapFull(status);
    absl::Status grown = map_full ? GrowMap(/*for_acknowledged=*/true)
                                  : absl::OkStatus();
    ROTOR_RETURN_IF_ERROR(RebuildFromRedoLog());
    if (!grown.ok()) return grown;
    if (!map_full) return NotWritable(status);
  }
}

bool LmdbStore::CheckpointDue() const {
  return checkpoint_failures_ == 0 || absl::Now() >= checkpoint_retry_at_;
}

void LmdbStore::NoteCheckpoint(const absl::Status& status) {
  if (status.ok()) {
    if (checkpoint_failures_ > 0 && options_.on_checkpoint_failure) {
      options_.on_checkpoint_failure(status, checkpoint_failures_);
    }
    checkpoint_failures_ = 0;
    return;
  }
  ++checkpoint_failures_;
  {
    absl::MutexLock lock(&stats_mu_);
    ++redo_stats_.checkpoint_failures;
  }
  // retry, 2 × retry, 4 × retry, … up to retry_max.
  absl::Duration wait = options_.checkpoint_retry;
  for (uint64_t i = 1;
       i < checkpoint_failures_ && wait < options_.checkpoint_retry_max; ++i) {
    wait *= 2;
  }
  checkpoint_retry_at_ =
      absl::Now() + std::min(wait, options_.checkpoint_retry_max);
  if (options_.on_checkpoint_failure) {
    options_.on_checkpoint_failure(status, checkpoint_failures_);
  }
}

absl::Status LmdbStore::RebuildFromRedoLog() {
  open_txn_.reset();
  ROTOR_ASSIGN_OR_RETURN(RedoLogContents log, ReadRedoLog(redo_log_->path()));
  while (true) {
    absl::StatusOr<LmdbTxn> rebuilt = [&]() -> absl::StatusOr<LmdbTxn> {
      ROTOR_ASSIGN_OR_RETURN(LmdbTxn txn, LmdbTxn::BeginWrite(env_.get()));
      ROTOR_RETURN_IF_ERROR(ReplayRedoLog(txn, tables_, log, dir_).status());
      ROTOR_ASSIGN_OR_RETURN(uint64_t last, ReadRedoSeq(txn, tables_));
      if (last != redo_log_->last_seq()) {
        return absl::DataLossError(absl::StrCat(
            "the redo log of ", dir_, " ends at batch ", last, " but batch ",
            redo_log_->last_seq(), " was logged; restart rotor-ca to recover"));
      }
      return txn;
    }();
    if (rebuilt.ok()) {
      for (const RedoRecord& record : log.records) MarkDirty(record.payload);
      open_txn_.emplace(*std::move(rebuilt));
      return absl::OkStatus();
    }
    if (!IsMapFull(rebuilt.status())) return rebuilt.status();
    ROTOR_RETURN_IF_ERROR(GrowMap(/*for_acknowledged=*/true));
  }
}

absl::Status LmdbStore::GrowMapForBatch() {
  // The map cannot be resized under a transaction: commit the open one
  // (whose writes are acknowledged) first.
  ROTOR_RETURN_IF_ERROR(CheckpointOrRebuild());
  return GrowMap();
}

void LmdbStore::MarkDirty(absl::string_view redo_payload) {
  absl::MutexLock lock(&dirty_mu_);
  absl::Status status = RedoBatch::ForEach(
      redo_payload, dir_,
      [&](RedoBatch::Op, uint8_t table, absl::string_view key,
          absl::string_view) -> absl::Status {
        dirty_tables_ |= uint32_t{1} << table;
        if (table == kCertificatesTable) dirty_serials_.emplace(key);
        return absl::OkStatus();
      });
  // The payload was made by this process: it always parses. Should it not,
  // every read goes through the writer.
  if (!status.ok()) dirty_tables_ = kAllTables;
}

void LmdbStore::ClearDirty() {
  absl::MutexLock lock(&dirty_mu_);
  dirty_tables_ = 0;
  dirty_serials_.clear();
}

bool LmdbStore::IsDirty(uint32_t tables, absl::string_view serial) const {
  absl::MutexLock lock(&dirty_mu_);
  if ((dirty_tables_ & tables) != 0) return true;
  return !serial.empty() && dirty_serials_.contains(serial);
}

absl::Status LmdbStore::Flush() {
  if (redo_log_ == nullptr) return absl::OkStatus();
  ROTOR_RETURN_IF_ERROR(committer_->Submit([&](LmdbTxn&) -> absl::Status {
    checkpoint_requested_ = true;  // the writer thread holds write_mu_
    return absl::OkStatus();
  }));
  absl::MutexLock lock(&write_mu_);
  return last_checkpoint_;
}

LmdbStore::RedoStats LmdbStore::redo_stats() const {
  absl::MutexLock lock(&stats_mu_);
  return redo_stats_;
}

absl::Status LmdbStore::GrowMap(bool for_acknowledged) {
  // Waits for every reader: resizing moves the map under them.
  absl::WriterMutexLock lock(&map_mu_);
  MDB_envinfo info;
  int rc = mdb_env_info(env_.get(), &info);
  if (rc != MDB_SUCCESS) return LmdbError(rc, "cannot read the map size");
  const size_t current = info.me_mapsize;
  const size_t limit = options_.max_map_size;
  size_t next = 0;
  if (current < limit) {
    next = current > limit / 2 ? limit : current * 2;
  } else if (for_acknowledged &&
             current < limit + std::max(limit / 8, size_t{1} << 20)) {
    next = limit + std::max(limit / 8, size_t{1} << 20);
  } else {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the store at ", dir_, " is full: it reached its size limit of ",
        limit >> 20, " MiB (", limit,
        " bytes; store.max_size_mb in ca.yaml)"));
  }
  rc = mdb_env_set_mapsize(env_.get(), next);
  if (rc != MDB_SUCCESS) {
    return LmdbError(rc, absl::StrCat("cannot grow the store map to ", next,
                                      " bytes"));
  }
  return absl::OkStatus();
}

size_t LmdbStore::map_size() const {
  absl::ReaderMutexLock lock(&map_mu_);
  MDB_envinfo info;
  if (mdb_env_info(env_.get(), &info) != MDB_SUCCESS) return 0;
  return info.me_mapsize;
}

GroupCommitter::Stats LmdbStore::commit_stats() const {
  if (committer_ == nullptr) return {};
  return committer_->stats();
}

absl::StatusOr<uint64_t> LmdbStore::AppendAuditInTxn(LmdbTxn& txn,
                                                     AuditRecord record) {
  ROTOR_ASSIGN_OR_RETURN(LmdbCursor cursor,
                         LmdbCursor::Open(txn, tables_.audit));
  ROTOR_ASSIGN_OR_RETURN(bool any, cursor.Last());
  record.sequence = any ? FromBigEndian64(cursor.key()) + 1 : 1;
  ROTOR_RETURN_IF_ERROR(txn.Put(tables_.audit, BigEndian64(record.sequence),
                                EncodeAudit(record), MDB_APPEND));
  return record.sequence;
}

// --- Certificates ---

absl::Status LmdbStore::PutCertificate(const CertificateRecord& record) {
  ROTOR_RETURN_IF_ERROR(ValidateSerial(record.serial));
  if (record.revoked) {
    return absl::InvalidArgumentError(absl::StrCat(
        "certificate ", record.serial,
        " is marked revoked: store it unrevoked, then RevokeCertificate"));
  }
  // Encode outside the write transaction, on the caller's thread.
  const std::string value = EncodeCertificate(record);
  const std::string node_key = NameKey(record.node_name, record.serial);
  const std::string spiffe_key = NameKey(record.spiffe_id, record.serial);
  const std::string expiry_key =
      absl::StrCat(TimeKey(record.not_after), record.serial);
  return Write([&](LmdbTxn& txn) -> absl::Status {
    absl::Status status =
        txn.Put(tables_.certificates, record.serial, value, MDB_NOOVERWRITE);
    if (absl::IsAlreadyExists(status)) {
      return absl::AlreadyExistsError(absl::StrCat(
          "certificate ", record.serial, " already exists"));
    }
    ROTOR_RETURN_IF_ERROR(status);
    ROTOR_RETURN_IF_ERROR(txn.Put(tables_.by_node, node_key, ""));
    ROTOR_RETURN_IF_ERROR(txn.Put(tables_.by_spiffe_id, spiffe_key, ""));
    return txn.Put(tables_.by_not_after, expiry_key, "");
  });
}

absl::StatusOr<std::optional<CertificateRecord>> LmdbStore::GetCertificate(
    absl::string_view serial) {
  ROTOR_RETURN_IF_ERROR(ValidateSerial(serial));
  return ReadFresh<std::optional<CertificateRecord>>(
      0, serial,
      [&](LmdbTxn& txn) -> absl::StatusOr<std::optional<CertificateRecord>> {
        ROTOR_ASSIGN_OR_RETURN(std::optional<absl::string_view> value,
                               txn.Get(tables_.certificates, serial));
        if (!value.has_value()) return std::nullopt;
        return DecodeCertificate(*value);
      });
}

absl::StatusOr<CertificatePage> LmdbStore::ListCertificates(
    const CertificateFilter& filter, absl::string_view cursor, int limit) {
  ROTOR_ASSIGN_OR_RETURN(const int page_limit, PageLimit(limit));
  const ListPlan plan = ChoosePlan(filter, tables_);
  std::string start = plan.start;
  bool skip_start = false;
  if (!cursor.empty()) {
    ROTOR_ASSIGN_OR_RETURN(start, DecodeCursor(plan, cursor));
    skip_start = true;
  }
  return ReadFresh<CertificatePage>(
      kCertificateTables, "",
      [&](LmdbTxn& txn) -> absl::StatusOr<CertificatePage> {
        CertificatePage page;
        ROTOR_ASSIGN_OR_RETURN(LmdbCursor it, LmdbCursor::Open(txn, plan.dbi));
        ROTOR_ASSIGN_OR_RETURN(bool found, start.empty() ? it.First()
                                                         : it.Seek(start));
        if (found && skip_start && it.key() == start) {
          ROTOR_ASSIGN_OR_RETURN(found, it.Next());
        }
        std::string last_key;
        while (found && InRange(plan, it.key())) {
          absl::string_view serial = SerialOf(plan, it.key());
          absl::string_view value = it.value();
          if (!plan.primary) {
            ROTOR_ASSIGN_OR_RETURN(std::optional<absl::string_view> stored,
                                   txn.Get(tables_.certificates, serial));
            if (!stored.has_value()) {
              return absl::DataLossError(absl::StrCat(
                  "an index of the store names certificate ", serial,
                  ", which is not stored"));
            }
            value = *stored;
          }
          ROTOR_ASSIGN_OR_RETURN(CertificateRecord record,
                                 DecodeCertificate(value));
          if (Matches(filter, record)) {
            if (page.records.size() == static_cast<size_t>(page_limit)) {
              // One more match exists: the caller needs another page.
              page.next_cursor = EncodeCursor(plan.tag, last_key);
              break;
            }
            page.records.push_back(std::move(record));
            last_key = std::string(it.key());
          }
          ROTOR_ASSIGN_OR_RETURN(found, it.Next());
        }
        return page;
      });
}

absl::StatusOr<CertificateRecord> LmdbStore::RevokeCertificate(
    absl::string_view serial, pki::RevocationReason reason, absl::Time time,
    absl::string_view actor) {
  ROTOR_RETURN_IF_ERROR(ValidateSerial(serial));
  ROTOR_RETURN_IF_ERROR(ValidateActor(actor));
  int code = static_cast<int>(reason);
  if (reason == pki::RevocationReason::kRemoveFromCrl || code < 0 ||
      code > 10 || code == 7) {
    return absl::InvalidArgumentError(absl::StrCat(
        "revocation reason ", code, " is not a reason to revoke"));
  }
  CertificateRecord result;
  absl::Status status = Write([&](LmdbTxn& txn) -> absl::Status {
    ROTOR_ASSIGN_OR_RETURN(std::optional<absl::string_view> value,
                           txn.Get(tables_.certificates, serial));
    if (!value.has_value()) {
      return absl::NotFoundError(
          absl::StrCat("certificate ", serial, " not found"));
    }
    ROTOR_ASSIGN_OR_RETURN(CertificateRecord record, DecodeCertificate(*value));
    if (record.revoked) {
      return absl::FailedPreconditionError(absl::StrCat(
          "certificate ", serial, " is already revoked (at ",
          TimeText(record.revoked_at), " by ", record.revoked_by,
          ", reason ", static_cast<int>(record.revocation_reason), ")"));
    }
    record.revoked = true;
    record.revoked_at = time;
    record.revocation_reason = reason;
    record.revoked_by = std::string(actor);
    ROTOR_RETURN_IF_ERROR(
        txn.Put(tables_.certificates, serial, EncodeCertificate(record)));
    ROTOR_RETURN_IF_ERROR(txn.Put(tables_.revoked, serial, ""));
    AuditRecord audit;
    audit.time = time;
    audit.actor = std::string(actor);
    audit.action = std::string(kAuditRevokeCertificate);
    audit.target = absl::StrCat("certificate ", serial);
    audit.outcome = "ok";
    audit.detail = absl::StrCat("reason ", code, "; node ", record.node_name,
                                "; ", record.spiffe_id);
    ROTOR_RETURN_IF_ERROR(AppendAuditInTxn(txn, std::move(audit)).status());
    result = std::move(record);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return result;
}

absl::StatusOr<std::vector<pki::RevokedCertificate>> LmdbStore::ListRevoked(
    absl::Time not_after_after) {
  using Result = std::vector<pki::RevokedCertificate>;
  return ReadFresh<Result>(
      TableBit(kRevokedTable), "",
      [&](LmdbTxn& txn) -> absl::StatusOr<Result> {
    Result result;
    ROTOR_ASSIGN_OR_RETURN(LmdbCursor it,
                           LmdbCursor::Open(txn, tables_.revoked));
    ROTOR_ASSIGN_OR_RETURN(bool found, it.First());
    while (found) {
      ROTOR_ASSIGN_OR_RETURN(std::optional<absl::string_view> value,
                             txn.Get(tables_.certificates, it.key()));
      if (!value.has_value()) {
        return absl::DataLossError(absl::StrCat(
            "the revoked index names certificate ", it.key(),
            ", which is not stored"));
      }
      ROTOR_ASSIGN_OR_RETURN(CertificateRecord record,
                             DecodeCertificate(*value));
      if (record.revoked && record.not_after > not_after_after) {
        result.push_back(pki::RevokedCertificate{
            record.serial, record.revoked_at, record.revocation_reason,
            record.not_after});
      }
      ROTOR_ASSIGN_OR_RETURN(found, it.Next());
    }
    return result;
  });
}

// --- CRL numbers ---

absl::StatusOr<uint64_t> LmdbStore::NextCrlNumber() {
  uint64_t number = 0;
  absl::Status status = Write([&](LmdbTxn& txn) -> absl::Status {
    ROTOR_ASSIGN_OR_RETURN(std::optional<absl::string_view> value,
                           txn.Get(tables_.meta, kCrlNumberKey));
    uint64_t last = 0;
    if (value.has_value()) {
      ROTOR_ASSIGN_OR_RETURN(last, DecodeCounter(*value, "CRL number"));
    }
    number = last + 1;
    return txn.Put(tables_.meta, kCrlNumberKey, EncodeCounter(number));
  });
  if (!status.ok()) return status;
  return number;
}

// --- Join tokens ---

absl::Status LmdbStore::CreateJoinToken(absl::string_view token_hash,
                                        absl::string_view node_name,
                                        absl::Time created_at,
                                        absl::Time expires_at,
                                        absl::string_view actor) {
  if (token_hash.empty() || token_hash.size() > kMaxTokenHashBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "join token hash must be 1 to ", kMaxTokenHashBytes, " bytes, got ",
        token_hash.size()));
  }
  if (node_name.empty()) {
    return absl::InvalidArgumentError("join token node name is empty");
  }
  if (expires_at <= created_at) {
    return absl::InvalidArgumentError(absl::StrCat(
        "join token expiry ", TimeText(expires_at),
        " is not after its creation ", TimeText(created_at)));
  }
  ROTOR_RETURN_IF_ERROR(ValidateActor(actor));
  v1::JoinTokenRecord token;
  token.set_token_hash(std::string(token_hash));
  token.set_node_name(std::string(node_name));
  TimeToProto(created_at, token.mutable_created_at());
  TimeToProto(expires_at, token.mutable_expires_at());
  token.set_created_by(std::string(actor));
  const std::string value = EncodeJoinToken(token);
  return Write([&](LmdbTxn& txn) -> absl::Status {
    absl::Status status =
        txn.Put(tables_.join_tokens, token_hash, value, MDB_NOOVERWRITE);
    if (absl::IsAlreadyExists(status)) {
      return absl::AlreadyExistsError(
          "a join token with this hash already exists");
    }
    ROTOR_RETURN_IF_ERROR(status);
    AuditRecord audit;
    audit.time = created_at;
    audit.actor = std::string(actor);
    audit.action = std::string(kAuditCreateJoinToken);
    audit.target = absl::StrCat("node ", node_name);
    audit.outcome = "ok";
    audit.detail = absl::StrCat("expires ", TimeText(expires_at));
    return AppendAuditInTxn(txn, std::move(audit)).status();
  });
}

absl::StatusOr<std::string> LmdbStore::ConsumeJoinToken(
    absl::string_view token_hash, absl::Time now) {
  if (token_hash.empty() || token_hash.size() > kMaxTokenHashBytes) {
    return absl::NotFoundError("unknown join token");
  }
  std::string node_name;
  absl::Status status = Write([&](LmdbTxn& txn) -> absl::Status {
    ROTOR_ASSIGN_OR_RETURN(std::optional<absl::string_view> value,
                           txn.Get(tables_.join_tokens, token_hash));
    if (!value.has_value()) return absl::NotFoundError("unknown join token");
    ROTOR_ASSIGN_OR_RETURN(v1::JoinTokenRecord token, DecodeJoinToken(*value));
    if (token.used()) {
      return absl::FailedPreconditionError("join token already used");
    }
    if (now >= TimeFromProto(token.expires_at())) {
      return absl::FailedPreconditionError("join token expired");
    }
    token.set_used(true);
    TimeToProto(now, token.mutable_used_at());
    ROTOR_RETURN_IF_ERROR(
        txn.Put(tables_.join_tokens, token_hash, EncodeJoinToken(token)));
    node_name = token.node_name();
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return node_name;
}

absl::StatusOr<uint64_t> LmdbStore::PurgeExpiredJoinTokens(
    absl::Time expired_before, absl::Time time, absl::string_view actor) {
  ROTOR_RETURN_IF_ERROR(ValidateActor(actor));
  uint64_t removed = 0;
  absl::Status status = Write([&](LmdbTxn& txn) -> absl::Status {
    // The batch may run this again (a full map, a failed neighbour): start
    // from nothing each time.
    removed = 0;
    uint64_t used = 0;
    // Tokens are keyed by hash, so every one is looked at. The keys to
    // delete are copied first: a view into the map is only good until the
    // next write.
    std::vector<std::string> expired;
    {
      ROTOR_ASSIGN_OR_RETURN(LmdbCursor it,
                             LmdbCursor::Open(txn, tables_.join_tokens));
      ROTOR_ASSIGN_OR_RETURN(bool found, it.First());
      while (found) {
        ROTOR_ASSIGN_OR_RETURN(v1::JoinTokenRecord token,
                               DecodeJoinToken(it.value()));
        if (TimeFromProto(token.expires_at()) < expired_before) {
          expired.emplace_back(it.key());
          if (token.used()) ++used;
        }
        ROTOR_ASSIGN_OR_RETURN(found, it.Next());
      }
    }
    if (expired.empty()) return absl::OkStatus();  // no change, no audit
    for (const std::string& key : expired) {
      ROTOR_RETURN_IF_ERROR(txn.Delete(tables_.join_tokens, key).status());
    }
    removed = expired.size();
    AuditRecord audit;
    audit.time = time;
    audit.actor = std::string(actor);
    audit.action = std::string(kAuditPurgeJoinTokens);
    audit.target = "join tokens";
    audit.outcome = "ok";
    audit.detail = absl::StrCat("removed ", removed, " (", used, " used, ",
                                removed - used, " unused) that expired before ",
                                TimeText(expired_before));
    return AppendAuditInTxn(txn, std::move(audit)).status();
  });
  if (!status.ok()) return status;
  return removed;
}

// --- Registration entries ---

absl::Status LmdbStore::CreateEntry(const RegistrationEntry& entry) {
  if (entry.id.empty() || entry.id.size() > kMaxEntryIdBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "entry id must be 1 to ", kMaxEntryIdBytes, " bytes, got ",
        entry.id.size()));
  }
  if (entry.node_glob.empty()) {
    return absl::InvalidArgumentError("entry node glob is empty");
  }
  if (entry.spiffe_id.empty()) {
    return absl::InvalidArgumentError("entry SPIFFE ID is empty");
  }
  if (entry.max_ttl < absl::ZeroDuration() ||
      entry.max_ttl == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "entry max_ttl must be zero or a positive duration, got ",
        absl::FormatDuration(entry.max_ttl)));
  }
  ROTOR_RETURN_IF_ERROR(ValidateActor(entry.created_by));
  const std::string value = EncodeEntry(entry);
  return Write([&](LmdbTxn& txn) -> absl::Status {
    absl::Status status =
        txn.Put(tables_.entries, entry.id, value, MDB_NOOVERWRITE);
    if (absl::IsAlreadyExists(status)) {
      return absl::AlreadyExistsError(
          absl::StrCat("entry ", entry.id, " already exists"));
    }
    ROTOR_RETURN_IF_ERROR(status);
    AuditRecord audit;
    audit.time = entry.created_at;
    audit.actor = entry.created_by;
    audit.action = std::string(kAuditCreateEntry);
    audit.target = absl::StrCat("entry ", entry.id);
    audit.outcome = "ok";
    audit.detail = absl::StrCat("node ", entry.node_glob, "; ",
                                entry.spiffe_id);
    return AppendAuditInTxn(txn, std::move(audit)).status();
  });
}

absl::StatusOr<std::vector<RegistrationEntry>> LmdbStore::ListEntries() {
  return MatchEntries("");
}

absl::Status LmdbStore::DeleteEntry(absl::string_view id, absl::Time time,
                                    absl::string_view actor) {
  ROTOR_RETURN_IF_ERROR(ValidateActor(actor));
  if (id.empty() || id.size() > kMaxEntryIdBytes) {
    return absl::NotFoundError(absl::StrCat("entry ", id, " not found"));
  }
  return Write([&](LmdbTxn& txn) -> absl::Status {
    ROTOR_ASSIGN_OR_RETURN(std::optional<absl::string_view> value,
                           txn.Get(tables_.entries, id));
    if (!value.has_value()) {
      return absl::NotFoundError(absl::StrCat("entry ", id, " not found"));
    }
    ROTOR_ASSIGN_OR_RETURN(RegistrationEntry entry, DecodeEntry(*value));
    ROTOR_RETURN_IF_ERROR(txn.Delete(tables_.entries, id).status());
    AuditRecord audit;
    audit.time = time;
    audit.actor = std::string(actor);
    audit.action = std::string(kAuditDeleteEntry);
    audit.target = absl::StrCat("entry ", id);
    audit.outcome = "ok";
    audit.detail = absl::StrCat("node ", entry.node_glob, "; ",
                                entry.spiffe_id);
    return AppendAuditInTxn(txn, std::move(audit)).status();
  });
}

absl::StatusOr<std::vector<RegistrationEntry>> LmdbStore::MatchEntries(
    absl::string_view node_name) {
  // ListEntries passes "" to mean every entry; node names are never empty.
  const bool all = node_name.empty();
  const std::string node(node_name);
  using Result = std::vector<RegistrationEntry>;
  return ReadFresh<Result>(
      TableBit(kEntriesTable), "",
      [&](LmdbTxn& txn) -> absl::StatusOr<Result> {
    Result result;
    ROTOR_ASSIGN_OR_RETURN(LmdbCursor it,
                           LmdbCursor::Open(txn, tables_.entries));
    ROTOR_ASSIGN_OR_RETURN(bool found, it.First());
    while (found) {
      ROTOR_ASSIGN_OR_RETURN(RegistrationEntry entry, DecodeEntry(it.value()));
      if (all || fnmatch(entry.node_glob.c_str(), node.c_str(), 0) == 0) {
        result.push_back(std::move(entry));
      }
      ROTOR_ASSIGN_OR_RETURN(found, it.Next());
    }
    return result;
  });
}

// --- Audit log ---

absl::StatusOr<uint64_t> LmdbStore::AppendAudit(const AuditRecord& record) {
  ROTOR_RETURN_IF_ERROR(ValidateActor(record.actor));
  if (record.action.empty()) {
    return absl::InvalidArgumentError("audit action is empty");
  }
  uint64_t sequence = 0;
  absl::Status status = Write([&](LmdbTxn& txn) -> absl::Status {
    ROTOR_ASSIGN_OR_RETURN(sequence, AppendAuditInTxn(txn, record));
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return sequence;
}

absl::StatusOr<AuditPage> LmdbStore::ListAudit(uint64_t after_sequence,
                                               int limit) {
  ROTOR_ASSIGN_OR_RETURN(const int page_limit, PageLimit(limit));
  if (after_sequence == UINT64_MAX) return AuditPage{};
  return ReadFresh<AuditPage>(
      TableBit(kAuditTable), "",
      [&](LmdbTxn& txn) -> absl::StatusOr<AuditPage> {
    AuditPage page;
    ROTOR_ASSIGN_OR_RETURN(LmdbCursor it, LmdbCursor::Open(txn, tables_.audit));
    ROTOR_ASSIGN_OR_RETURN(bool found,
                           it.Seek(BigEndian64(after_sequence + 1)));
    while (found) {
      if (page.records.size() == static_cast<size_t>(page_limit)) {
        page.next_after_sequence = page.records.back().sequence;
        break;
      }
      ROTOR_ASSIGN_OR_RETURN(AuditRecord record, DecodeAudit(it.value()));
      page.records.push_back(std::move(record));
      ROTOR_ASSIGN_OR_RETURN(found, it.Next());
    }
    return page;
  });
}

// --- Metadata ---

absl::StatusOr<StoreStats> LmdbStore::GetStats() {
  return ReadFresh<StoreStats>(
      kAllTables, "", [&](LmdbTxn& txn) -> absl::StatusOr<StoreStats> {
    StoreStats stats;
    ROTOR_ASSIGN_OR_RETURN(stats.certificates,
                           txn.Count(tables_.certificates));
    ROTOR_ASSIGN_OR_RETURN(stats.revoked_certificates,
                           txn.Count(tables_.revoked));
    ROTOR_ASSIGN_OR_RETURN(stats.join_tokens, txn.Count(tables_.join_tokens));
    ROTOR_ASSIGN_OR_RETURN(stats.entries, txn.Count(tables_.entries));
    ROTOR_ASSIGN_OR_RETURN(stats.audit_records, txn.Count(tables_.audit));
    return stats;
  });
}

absl::StatusOr<LmdbStore::IndexCounts> LmdbStore::GetIndexCounts() {
  return ReadFresh<IndexCounts>(
      kAllTables, "", [&](LmdbTxn& txn) -> absl::StatusOr<IndexCounts> {
    IndexCounts counts;
    ROTOR_ASSIGN_OR_RETURN(counts.certificates,
                           txn.Count(tables_.certificates));
    ROTOR_ASSIGN_OR_RETURN(counts.by_node, txn.Count(tables_.by_node));
    ROTOR_ASSIGN_OR_RETURN(counts.by_spiffe_id,
                           txn.Count(tables_.by_spiffe_id));
    ROTOR_ASSIGN_OR_RETURN(counts.by_not_after,
                           txn.Count(tables_.by_not_after));
    ROTOR_ASSIGN_OR_RETURN(counts.revoked, txn.Count(tables_.revoked));
    return counts;
  });
}

absl::Status LmdbStore::Backup(const std::string& out_file) {
  // Every acknowledged write into LMDB first: the copy is of LMDB alone.
  ROTOR_RETURN_IF_ERROR(Flush());
  // Shared with readers: the copy reads the map, which must not move.
  absl::ReaderMutexLock lock(&map_mu_);
  return CopyEnvToFile(env_.get(), out_file);
}

}  // namespace rotor::store
