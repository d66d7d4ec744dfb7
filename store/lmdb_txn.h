// Thin RAII wrappers over the LMDB C API: the environment handle, move-only
// transactions whose destructor aborts, and cursors. Every LMDB return code
// becomes an absl::Status through LmdbError(); a missing key is a normal
// result (std::nullopt / false), never an error.
//
// Keys and values cross as absl::string_view. A view returned by Get() or a
// cursor points into the memory map: it is valid until the transaction ends,
// and in a write transaction only until the next write. Copy what you keep.
// Values are serialized protobuf messages (store/record_codec.h), never
// structs cast over mv_data.
//
// Thread-safety: an LmdbTxn and an LmdbCursor belong to one thread at a time.
// Read transactions need the environment opened with MDB_NOTLS if a thread
// may hold more than one or hand one on. Only one write transaction exists
// at a time per environment.
#ifndef ROTOR_STORE_LMDB_TXN_H_
#define ROTOR_STORE_LMDB_TXN_H_

#include <lmdb.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "store/redo_log.h"

namespace rotor::store {

// Maps an LMDB (or errno) return code to a status whose message is
// "<what>: <mdb_strerror>":
//   MDB_NOTFOUND      NotFound
//   MDB_KEYEXIST      AlreadyExists
//   MDB_MAP_FULL      ResourceExhausted, marked so that IsMapFull() is true
//   MDB_READERS_FULL  Unavailable
//   MDB_CORRUPTED, MDB_PAGE_NOTFOUND, MDB_INVALID, MDB_VERSION_MISMATCH
//                     DataLoss
//   errno values      as PosixError (util/file.h)
//   anything else     Internal
absl::Status LmdbError(int rc, absl::string_view what);

// True if `status` came from MDB_MAP_FULL: the memory map is too small for
// the transaction and growing it (then retrying) may help.
bool IsMapFull(const absl::Status& status);

inline MDB_val ToVal(absl::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}
inline absl::string_view FromVal(const MDB_val& v) {
  return absl::string_view(static_cast<const char*>(v.mv_data), v.mv_size);
}

struct LmdbEnvCloser {
  void operator()(MDB_env* env) const { mdb_env_close(env); }
};
// An environment handle; closing it requires that no transaction is open.
using LmdbEnvPtr = std::unique_ptr<MDB_env, LmdbEnvCloser>;

// Creates an environment handle (mdb_env_create) with `max_dbs` named
// databases, `max_readers` reader slots and the given map size, and opens it
// at `path` with `flags` and file mode 0600. Internal/NotFound/... naming
// the path on failure.
absl::StatusOr<LmdbEnvPtr> OpenLmdbEnv(const std::string& path,
                                       unsigned flags, size_t map_size,
                                       unsigned max_dbs, unsigned max_readers);

class LmdbTxn {
 public:
  // A read-only snapshot. Unavailable if every reader slot is taken.
  static absl::StatusOr<LmdbTxn> BeginRead(MDB_env* env);
  // The (only) write transaction; blocks while another one is open.
  static absl::StatusOr<LmdbTxn> BeginWrite(MDB_env* env);
  // A transaction nested in the write transaction `parent`: its changes
  // reach `parent` when it commits and vanish when it aborts, leaving
  // `parent` as it was. `parent` must not be used until it ends.
  static absl::StatusOr<LmdbTxn> BeginNested(LmdbTxn& parent);

  LmdbTxn(LmdbTxn&& other) noexcept;
  LmdbTxn& operator=(LmdbTxn&& other) noexcept;
  LmdbTxn(const LmdbTxn&) = delete;
  LmdbTxn& operator=(const LmdbTxn&) = delete;
  // Aborts the transaction if it is still open.
  ~LmdbTxn();

  // Opens (with MDB_CREATE: creates) a named database. In a write
  // transaction the handle becomes usable by others once it commits.
  absl::StatusOr<MDB_dbi> OpenDb(const char* name, unsigned flags);

  // The value stored under `key`, or std::nullopt.
  absl::StatusOr<std::optional<absl::string_view>> Get(
      MDB_dbi dbi, absl::string_view key) const;

  // Stores `value` under `key`. With MDB_NOOVERWRITE an existing key gives
  // AlreadyExists and changes nothing. REQUIRES: a write transaction.
  absl::Status Put(MDB_dbi dbi, absl::string_view key, absl::string_view value,
                   unsigned flags = 0);

  // Deletes `key`; returns false (and changes nothing) if it was absent.
  // REQUIRES: a write transaction.
  absl::StatusOr<bool> Delete(MDB_dbi dbi, absl::string_view key);

  // Number of entries in a database.
  absl::StatusOr<size_t> Count(MDB_dbi dbi) const;

  // Commits; for a top-level write transaction, returns once the changes are
  // on disk (fsync). The transaction is over whatever the result: on failure
  // nothing of it was committed.
  absl::Status Commit();

  // Ends the transaction, discarding its changes. Safe to call twice.
  void Abort();

  bool is_open() const { return txn_ != nullptr; }
  MDB_txn* get() const { return txn_; }

  // Successful Put and Delete calls so far: 0 means nothing was changed.
  uint64_t write_count() const { return write_count_; }
  // True once any call failed with a real error (anything but "not found"
  // or "key exists"); LMDB then refuses to commit the transaction.
  bool failed() const { return failed_; }

  // From now on, appends every successful Put and Delete to `redo`, naming
  // the table by its position in `tables` (which must hold every table this
  // transaction writes, and outlive the recording). nullptr stops.
  void RecordInto(RedoBatch* redo, absl::Span<const MDB_dbi> tables) {
    redo_ = redo;
    redo_tables_ = tables;
  }

 private:
  explicit LmdbTxn(MDB_txn* txn) : txn_(txn) {}
  // Maps `rc` through LmdbError and notes real errors in failed_.
  absl::Status Check(int rc, absl::string_view what);

  // The position of `dbi` in redo_tables_.
  uint8_t TableNumber(MDB_dbi dbi) const;

  MDB_txn* txn_;
  uint64_t write_count_ = 0;
  bool failed_ = false;
  RedoBatch* redo_ = nullptr;
  absl::Span<const MDB_dbi> redo_tables_;
};

// A cursor over one database within a transaction. Each positioning call
// returns true if the cursor is on an entry, false if it ran off the end.
// REQUIRES: the transaction outlives the cursor.
class LmdbCursor {
 public:
  static absl::StatusOr<LmdbCursor> Open(const LmdbTxn& txn, MDB_dbi dbi);

  LmdbCursor(LmdbCursor&& other) noexcept;
  LmdbCursor& operator=(LmdbCursor&& other) noexcept;
  LmdbCursor(const LmdbCursor&) = delete;
  LmdbCursor& operator=(const LmdbCursor&) = delete;
  ~LmdbCursor();

  absl::StatusOr<bool> First();
  absl::StatusOr<bool> Last();
  absl::StatusOr<bool> Next();
  // The first entry whose key is >= `key`.
  absl::StatusOr<bool> Seek(absl::string_view key);

  // The current entry. REQUIRES: the last positioning call returned true.
  absl::string_view key() const { return FromVal(key_); }
  absl::string_view value() const { return FromVal(value_); }

 private:
  explicit LmdbCursor(MDB_cursor* cursor) : cursor_(cursor) {}
  absl::StatusOr<bool> Move(MDB_cursor_op op);

  MDB_cursor* cursor_;
  MDB_val key_{0, nullptr};
  MDB_val value_{0, nullptr};
};

}  // namespace rotor::store

#endif  // ROTOR_STORE_LMDB_TXN_H_
