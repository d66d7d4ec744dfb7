// The store's redo log: the key/value changes of each group-commit batch,
// appended to one file (DATA_DIR/store/redo.log) and fsynced before the
// batch's writers are answered.
//
// Why: a durable LMDB commit writes every B-tree page the batch touched,
// scattered over the data file, and this disk does about 18,000 scattered
// page writes per second against 100,000 sequential ones. Certificates have
// random serials and two name indexes, so each one touches about four
// scattered pages. Logging the batch (about 1 KiB per certificate, written
// sequentially) and committing LMDB only every few thousand records lets
// the pages touched by many batches be written once.
//
// The log starts with a header naming the store it belongs to, so that a
// log left beside another store's data file is refused, never replayed:
//
//   magic     8 bytes  "ROTORLOG"
//   version   u32      1
//   length    u32      of the store id (16)
//   store id  16 bytes (the meta table's "store_id")
//
// Then a sequence of records, each one batch:
//
//   magic   u32  0x474f4c52 ("RLOG", little-endian)
//   length  u32  payload bytes
//   seq     u64  batch sequence number, one more than the record before
//   crc     u32  CRC-32C of length, seq and payload
//   unused  u32  zero
//   payload      the batch's changes (RedoBatch)
//
// Records are written from just after the header; after a checkpoint (every
// logged batch is in a durable LMDB commit, which records the last sequence
// number it holds) the log starts again at offset 0 with the next sequence
// number, overwriting the old records in place. Reading stops at the first
// record that is torn (bad magic or CRC) or out of sequence, so a record of
// an older round left behind the newest ones is never read. Sequence
// numbers only grow, so "the records after the store's last checkpoint" is
// always well defined.
//
// Thread-safety: a RedoLog is used by one thread (the store's writer).
// RedoBatch is a value type.
#ifndef ROTOR_STORE_REDO_LOG_H_
#define ROTOR_STORE_REDO_LOG_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rotor::store {

// CRC-32C (Castagnoli) of `data`, continuing from `crc` (0 to start).
uint32_t Crc32c(absl::string_view data, uint32_t crc = 0);

// The changes one batch made, in order: puts and deletes naming a table by
// its number (the store's table order). Replaying them in order onto the
// state before the batch gives the state after it.
class RedoBatch {
 public:
  enum class Op : uint8_t { kPut = 1, kDelete = 2 };

  void Put(uint8_t table, absl::string_view key, absl::string_view value);
  void Delete(uint8_t table, absl::string_view key);

  // Drops everything recorded after size() was `mark`.
  void Truncate(size_t mark) { bytes_.resize(mark); }
  void Clear() { bytes_.clear(); }
  size_t size() const { return bytes_.size(); }
  bool empty() const { return bytes_.empty(); }
  const std::string& bytes() const { return bytes_; }

  // Calls `fn` for each change encoded in `payload`, in order. DataLoss if
  // the payload is malformed (it passed its CRC, so this means a bug or a
  // foreign file), naming `where`.
  static absl::Status ForEach(
      absl::string_view payload, absl::string_view where,
      absl::FunctionRef<absl::Status(Op op, uint8_t table,
                                     absl::string_view key,
                                     absl::string_view value)>
          fn);

 private:
  std::string bytes_;
};

// The size of the file header; the first record follows it.
inline constexpr size_t kRedoLogHeaderBytes = 32;

// One record read back from a log.
struct RedoRecord {
  uint64_t seq = 0;
  std::string payload;
};

// What a log file holds: the id of the store it belongs to and its records.
struct RedoLogContents {
  std::string store_id;
  std::vector<RedoRecord> records;
};

// The store id and records of `contents` (a whole log file), from the
// first up to the first torn or out-of-sequence one. A file without a
// valid header holds nothing.
RedoLogContents ParseRedoLog(absl::string_view contents);

// Reads the log at `path` as ParseRedoLog does; empty if the file does not
// exist. The file may be written at the same time by another process; a
// record being written reads as torn.
absl::StatusOr<RedoLogContents> ReadRedoLog(const std::string& path);

class RedoLog {
 public:
  // Opens (creating it 0600 if missing) the log at `path` for appending,
  // writes its header for the store `store_id` and syncs it. Appends start
  // after the header and number their records from `next_seq`: the caller
  // has first replayed whatever the log held (ReadRedoLog) and made it
  // durable elsewhere. REQUIRES: next_seq >= 1, store_id not empty.
  static absl::StatusOr<std::unique_ptr<RedoLog>> Open(
      const std::string& path, absl::string_view store_id, uint64_t next_seq);
  ~RedoLog();
  RedoLog(const RedoLog&) = delete;
  RedoLog& operator=(const RedoLog&) = delete;

  // Appends one record holding `payload`, then fdatasyncs. Returns its
  // sequence number once it is on disk. On failure (disk full, I/O error)
  // the record does not count: the next append overwrites it and takes
  // the same number. Unavailable with the path and the reason.
  absl::StatusOr<uint64_t> Append(absl::string_view payload);

  // Starts again after the header: every record so far is durable
  // elsewhere. Sequence numbers go on from where they were.
  void Restart() { offset_ = kRedoLogHeaderBytes; }

  // The sequence number of the last record appended (next_seq - 1 before
  // the first).
  uint64_t last_seq() const { return next_seq_ - 1; }
  // Bytes of records written since the last Restart (or Open).
  uint64_t bytes() const { return offset_ - kRedoLogHeaderBytes; }
  const std::string& path() const { return path_; }

 private:
  RedoLog(std::string path, int fd, uint64_t next_seq)
      : path_(std::move(path)), fd_(fd), next_seq_(next_seq) {}

  const std::string path_;
  const int fd_;
  uint64_t next_seq_;
  uint64_t offset_ = kRedoLogHeaderBytes;
  std::string buffer_;  // header + payload of the record being written
};

}  // namespace rotor::store

#endif  // ROTOR_STORE_REDO_LOG_H_
