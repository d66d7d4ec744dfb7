#include "store/redo_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "util/file.h"
#include "util/status_macros.h"

namespace rotor::store {
namespace {

constexpr absl::string_view kFileMagic = "ROTORLOG";
constexpr uint32_t kFileVersion = 1;
constexpr uint32_t kStoreIdBytes = 16;
constexpr uint32_t kMagic = 0x474f4c52;  // "RLOG" read as little-endian
constexpr size_t kHeaderBytes = 24;
// A batch of max_batch_size certificates is a few MiB; anything claiming
// more than this is not a record we wrote.
constexpr uint32_t kMaxPayloadBytes = 256u << 20;

constexpr std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
    table[i] = c;
  }
  return table;
}
constexpr std::array<uint32_t, 256> kCrcTable = MakeCrcTable();

void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}
void PutU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

// CRC over the length, the sequence number and the payload.
uint32_t RecordCrc(absl::string_view header, absl::string_view payload) {
  return Crc32c(payload, Crc32c(header.substr(4, 12)));
}

}  // namespace

uint32_t Crc32c(absl::string_view data, uint32_t crc) {
  crc = ~crc;
  for (char ch : data) {
    crc = kCrcTable[(crc ^ static_cast<uint8_t>(ch)) & 0xff] ^ (crc >> 8);
  }
  return ~crc;
}

// --- RedoBatch ---
//
// Each change: op u8, table u8, key length u32, [value length u32], key,
// [value]. Values exist for puts only.

void RedoBatch::Put(uint8_t table, absl::string_view key,
                    absl::string_view value) {
  bytes_.push_back(static_cast<char>(Op::kPut));
  bytes_.push_back(static_cast<char>(table));
  PutU32(bytes_, static_cast<uint32_t>(key.size()));
  PutU32(bytes_, static_cast<uint32_t>(value.size()));
  bytes_.append(key.data(), key.size());
  bytes_.append(value.data(), value.size());
}

void RedoBatch::Delete(uint8_t table, absl::string_view key) {
  bytes_.push_back(static_cast<char>(Op::kDelete));
  bytes_.push_back(static_cast<char>(table));
  PutU32(bytes_, static_cast<uint32_t>(key.size()));
  bytes_.append(key.data(), key.size());
}

absl::Status RedoBatch::ForEach(
    absl::string_view payload, absl::string_view where,
    absl::FunctionRef<absl::Status(Op, uint8_t, absl::string_view,
                                   absl::string_view)>
        fn) {
  auto malformed = [&](size_t at) {
    return absl::DataLossError(absl::StrCat(
        "redo log record in ", where, " is malformed at byte ", at));
  };
  size_t at = 0;
  while (at < payload.size()) {
    const size_t start = at;
    if (payload.size() - at < 6) return malformed(start);
    const auto op = static_cast<Op>(payload[at]);
    const auto table = static_cast<uint8_t>(payload[at + 1]);
    const uint32_t key_size = GetU32(payload.data() + at + 2);
    at += 6;
    uint32_t value_size = 0;
    if (op == Op::kPut) {
      if (payload.size() - at < 4) return malformed(start);
      value_size = GetU32(payload.data() + at);
      at += 4;
    } else if (op != Op::kDelete) {
      return malformed(start);
    }
    if (payload.size() - at < uint64_t{key_size} + value_size) {
      return malformed(start);
    }
    absl::string_view key = payload.substr(at, key_size);
    absl::string_view value = payload.substr(at + key_size, value_size);
    at += key_size + value_size;
    absl::Status status = fn(op, table, key, value);
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

// --- Reading ---

RedoLogContents ParseRedoLog(absl::string_view contents) {
  RedoLogContents log;
  if (contents.size() < kRedoLogHeaderBytes ||
      contents.substr(0, kFileMagic.size()) != kFileMagic ||
      GetU32(contents.data() + 8) != kFileVersion ||
      GetU32(contents.data() + 12) != kStoreIdBytes) {
    return log;
  }
  log.store_id = std::string(contents.substr(16, kStoreIdBytes));
  std::vector<RedoRecord>& records = log.records;
  size_t at = kRedoLogHeaderBytes;
  while (contents.size() - at >= kHeaderBytes) {
    absl::string_view header = contents.substr(at, kHeaderBytes);
    if (GetU32(header.data()) != kMagic) break;
    const uint32_t length = GetU32(header.data() + 4);
    const uint64_t seq = GetU64(header.data() + 8);
    const uint32_t crc = GetU32(header.data() + 16);
    if (length > kMaxPayloadBytes ||
        contents.size() - at - kHeaderBytes < length) {
      break;
    }
    absl::string_view payload = contents.substr(at + kHeaderBytes, length);
    if (RecordCrc(header, payload) != crc) break;
    if (!records.empty() && seq != records.back().seq + 1) break;
    records.push_back(RedoRecord{seq, std::string(payload)});
    at += kHeaderBytes + length;
  }
  return log;
}

absl::StatusOr<RedoLogContents> ReadRedoLog(const std::string& path) {
  absl::StatusOr<std::string> contents = ReadFile(path, size_t{4} << 30);
  if (absl::IsNotFound(contents.status())) return RedoLogContents{};
  if (!contents.ok()) {
    return absl::Status(contents.status().code(),
                        absl::StrCat("cannot read the store's redo log: ",
                                     contents.status().message()));
  }
  return ParseRedoLog(*contents);
}

// --- Writing ---

absl::StatusOr<std::unique_ptr<RedoLog>> RedoLog::Open(
    const std::string& path, absl::string_view store_id, uint64_t next_seq) {
  if (store_id.size() != kStoreIdBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a store id is ", kStoreIdBytes, " bytes, got ", store_id.size()));
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return PosixError(errno,
                      absl::StrCat("cannot open the store's redo log ", path));
  }
  std::unique_ptr<RedoLog> log(
      new RedoLog(path, fd, std::max<uint64_t>(next_seq, 1)));
  std::string header(kFileMagic);
  PutU32(header, kFileVersion);
  PutU32(header, kStoreIdBytes);
  header.append(store_id.data(), store_id.size());
  if (::pwrite(fd, header.data(), header.size(), 0) !=
          static_cast<ssize_t>(header.size()) ||
      ::fdatasync(fd) != 0) {
    return PosixError(errno, absl::StrCat("cannot write the store's redo log ",
                                          path));
  }
  // A new file must survive a crash before anything relies on it.
  ROTOR_RETURN_IF_ERROR(SyncDirectory(DirName(path)));
  return log;
}

RedoLog::~RedoLog() { ::close(fd_); }

absl::StatusOr<uint64_t> RedoLog::Append(absl::string_view payload) {
  if (payload.size() > kMaxPayloadBytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "a batch of ", payload.size(), " bytes is too large for the redo log"));
  }
  buffer_.clear();
  PutU32(buffer_, kMagic);
  PutU32(buffer_, static_cast<uint32_t>(payload.size()));
  PutU64(buffer_, next_seq_);
  PutU32(buffer_, 0);  // the CRC, filled in below
  PutU32(buffer_, 0);
  const uint32_t crc = RecordCrc(buffer_, payload);
  for (int i = 0; i < 4; ++i) buffer_[16 + i] = static_cast<char>(crc >> (8 * i));
  buffer_.append(payload.data(), payload.size());

  // A record that failed must not be read back later (its writers were
  // told it failed): clear its magic, as far as the disk lets us.
  auto fail = [&](absl::string_view what, int err) {
    static constexpr char kZero[4] = {0, 0, 0, 0};
    (void)!::pwrite(fd_, kZero, sizeof(kZero), static_cast<off_t>(offset_));
    return absl::UnavailableError(
        absl::StrCat("cannot ", what, " the store's redo log ", path_, ": ",
                     err != 0 ? std::strerror(err) : "no progress"));
  };
  size_t done = 0;
  while (done < buffer_.size()) {
    ssize_t n = ::pwrite(fd_, buffer_.data() + done, buffer_.size() - done,
                         static_cast<off_t>(offset_ + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail("write", n < 0 ? errno : 0);
    done += static_cast<size_t>(n);
  }
  if (::fdatasync(fd_) != 0) return fail("sync", errno);
  offset_ += buffer_.size();
  return next_seq_++;
}

}  // namespace rotor::store
