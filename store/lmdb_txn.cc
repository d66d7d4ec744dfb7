#include "store/lmdb_txn.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "util/file.h"
#include "util/status_macros.h"

namespace rotor::store {
namespace {

// Marks statuses that came from MDB_MAP_FULL (see IsMapFull).
constexpr absl::string_view kMapFullPayload = "rotor.store/map_full";

}  // namespace

absl::Status LmdbError(int rc, absl::string_view what) {
  std::string message = absl::StrCat(what, ": ", mdb_strerror(rc));
  switch (rc) {
    case MDB_SUCCESS:
      return absl::OkStatus();
    case MDB_NOTFOUND:
      return absl::NotFoundError(message);
    case MDB_KEYEXIST:
      return absl::AlreadyExistsError(message);
    case MDB_MAP_FULL: {
      absl::Status status = absl::ResourceExhaustedError(message);
      status.SetPayload(kMapFullPayload, absl::Cord("1"));
      return status;
    }
    case MDB_READERS_FULL:
      return absl::UnavailableError(message);
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
      return absl::DataLossError(message);
    default:
      if (rc > 0) return PosixError(rc, what);
      return absl::InternalError(message);
  }
}

bool IsMapFull(const absl::Status& status) {
  return status.GetPayload(kMapFullPayload).has_value();
}

absl::StatusOr<LmdbEnvPtr> OpenLmdbEnv(const std::string& path,
                                       unsigned flags, size_t map_size,
                                       unsigned max_dbs,
                                       unsigned max_readers) {
  MDB_env* raw = nullptr;
  int rc = mdb_env_create(&raw);
  if (rc != MDB_SUCCESS) {
    return LmdbError(rc, "cannot create an LMDB environment");
  }
  LmdbEnvPtr env(raw);
  if ((rc = mdb_env_set_maxdbs(raw, max_dbs)) != MDB_SUCCESS ||
      (rc = mdb_env_set_maxreaders(raw, max_readers)) != MDB_SUCCESS ||
      (rc = mdb_env_set_mapsize(raw, map_size)) != MDB_SUCCESS) {
    return LmdbError(rc, absl::StrCat("cannot configure the store at ", path));
  }
  rc = mdb_env_open(raw, path.c_str(), flags, S_IRUSR | S_IWUSR);
  if (rc != MDB_SUCCESS) {
    return LmdbError(rc, absl::StrCat("cannot open the store at ", path));
  }
  return env;
}

absl::StatusOr<LmdbTxn> LmdbTxn::BeginRead(MDB_env* env) {
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn);
  if (rc != MDB_SUCCESS) {
    return LmdbError(rc, "cannot begin a read transaction");
  }
  return LmdbTxn(txn);
}

absl::StatusOr<LmdbTxn> LmdbTxn::BeginWrite(MDB_env* env) {
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env, nullptr, 0, &txn);
  if (rc != MDB_SUCCESS) {
    return LmdbError(rc, "cannot begin a write transaction");
  }
  return LmdbTxn(txn);
}

absl::StatusOr<LmdbTxn> LmdbTxn::BeginNested(LmdbTxn& parent) {
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(mdb_txn_env(parent.get()), parent.get(), 0, &txn);
  if (rc != MDB_SUCCESS) {
    return LmdbError(rc, "cannot begin a nested transaction");
  }
  return LmdbTxn(txn);
}

LmdbTxn::LmdbTxn(LmdbTxn&& other) noexcept
    : txn_(std::exchange(other.txn_, nullptr)),
      write_count_(other.write_count_),
      failed_(other.failed_),
      redo_(std::exchange(other.redo_, nullptr)),
      redo_tables_(other.redo_tables_) {}

LmdbTxn& LmdbTxn::operator=(LmdbTxn&& other) noexcept {
  if (this != &other) {
    Abort();
    txn_ = std::exchange(other.txn_, nullptr);
    write_count_ = other.write_count_;
    failed_ = other.failed_;
    redo_ = std::exchange(other.redo_, nullptr);
    redo_tables_ = other.redo_tables_;
  }
  return *this;
}

uint8_t LmdbTxn::TableNumber(MDB_dbi dbi) const {
  for (size_t i = 0; i < redo_tables_.size(); ++i) {
    if (redo_tables_[i] == dbi) return static_cast<uint8_t>(i);
  }
  // A table the redo log cannot name would be lost on replay: a bug.
  std::abort();
}

absl::Status LmdbTxn::Check(int rc, absl::string_view what) {
  if (rc == MDB_SUCCESS) return absl::OkStatus();
  if (rc != MDB_NOTFOUND && rc != MDB_KEYEXIST) failed_ = true;
  return LmdbError(rc, what);
}

LmdbTxn::~LmdbTxn() { Abort(); }

absl::StatusOr<MDB_dbi> LmdbTxn::OpenDb(const char* name, unsigned flags) {
  MDB_dbi dbi = 0;
  ROTOR_RETURN_IF_ERROR(Check(mdb_dbi_open(txn_, name, flags, &dbi),
                              absl::StrCat("cannot open table ", name)));
  return dbi;
}

absl::StatusOr<std::optional<absl::string_view>> LmdbTxn::Get(
    MDB_dbi dbi, absl::string_view key) const {
  MDB_val k = ToVal(key);
  MDB_val v{0, nullptr};
  int rc = mdb_get(txn_, dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return std::nullopt;
  if (rc != MDB_SUCCESS) return LmdbError(rc, "cannot read from the store");
  return FromVal(v);
}

absl::Status LmdbTxn::Put(MDB_dbi dbi, absl::string_view key,
                          absl::string_view value, unsigned flags) {
  MDB_val k = ToVal(key);
  MDB_val v = ToVal(value);
  ROTOR_RETURN_IF_ERROR(Check(mdb_put(txn_, dbi, &k, &v, flags),
                              "cannot write to the store"));
  ++write_count_;
  if (redo_ != nullptr) redo_->Put(TableNumber(dbi), key, value);
  return absl::OkStatus();
}

absl::StatusOr<bool> LmdbTxn::Delete(MDB_dbi dbi, absl::string_view key) {
  MDB_val k = ToVal(key);
  int rc = mdb_del(txn_, dbi, &k, nullptr);
  if (rc == MDB_NOTFOUND) return false;
  ROTOR_RETURN_IF_ERROR(Check(rc, "cannot delete from the store"));
  ++write_count_;
  if (redo_ != nullptr) redo_->Delete(TableNumber(dbi), key);
  return true;
}

absl::StatusOr<size_t> LmdbTxn::Count(MDB_dbi dbi) const {
  MDB_stat stat;
  int rc = mdb_stat(txn_, dbi, &stat);
  if (rc != MDB_SUCCESS) return LmdbError(rc, "cannot read table statistics");
  return stat.ms_entries;
}

absl::Status LmdbTxn::Commit() {
  // mdb_txn_commit frees the transaction whether or not it succeeds.
  int rc = mdb_txn_commit(std::exchange(txn_, nullptr));
  if (rc != MDB_SUCCESS) return LmdbError(rc, "cannot commit to the store");
  return absl::OkStatus();
}

void LmdbTxn::Abort() {
  if (txn_ != nullptr) mdb_txn_abort(std::exchange(txn_, nullptr));
}

absl::StatusOr<LmdbCursor> LmdbCursor::Open(const LmdbTxn& txn, MDB_dbi dbi) {
  MDB_cursor* cursor = nullptr;
  int rc = mdb_cursor_open(txn.get(), dbi, &cursor);
  if (rc != MDB_SUCCESS) return LmdbError(rc, "cannot open a cursor");
  return LmdbCursor(cursor);
}

LmdbCursor::LmdbCursor(LmdbCursor&& other) noexcept
    : cursor_(std::exchange(other.cursor_, nullptr)),
      key_(other.key_),
      value_(other.value_) {}

LmdbCursor& LmdbCursor::operator=(LmdbCursor&& other) noexcept {
  if (this != &other) {
    if (cursor_ != nullptr) mdb_cursor_close(cursor_);
    cursor_ = std::exchange(other.cursor_, nullptr);
    key_ = other.key_;
    value_ = other.value_;
  }
  return *this;
}

LmdbCursor::~LmdbCursor() {
  if (cursor_ != nullptr) mdb_cursor_close(cursor_);
}

absl::StatusOr<bool> LmdbCursor::Move(MDB_cursor_op op) {
  int rc = mdb_cursor_get(cursor_, &key_, &value_, op);
  if (rc == MDB_NOTFOUND) return false;
  if (rc != MDB_SUCCESS) return LmdbError(rc, "cannot read from the store");
  return true;
}

absl::StatusOr<bool> LmdbCursor::First() { return Move(MDB_FIRST); }
absl::StatusOr<bool> LmdbCursor::Last() { return Move(MDB_LAST); }
absl::StatusOr<bool> LmdbCursor::Next() { return Move(MDB_NEXT); }

absl::StatusOr<bool> LmdbCursor::Seek(absl::string_view key) {
  key_ = ToVal(key);
  return Move(MDB_SET_RANGE);
}

}  // namespace rotor::store
