// Small, careful wrappers over POSIX file calls. Every failure carries the
// path and the system's reason ("cannot open /x/key.pem: Permission denied").
//
// Thread-safety: all functions are safe to call concurrently on different
// paths.
#ifndef ROTOR_UTIL_FILE_H_
#define ROTOR_UTIL_FILE_H_

#include <sys/types.h>

#include <cstddef>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace rotor {

// Maps an errno value to a status whose code says what the caller should do
// (ENOENT: NotFound, EEXIST: AlreadyExists, EACCES/EPERM: PermissionDenied,
// ENOSPC/EDQUOT: ResourceExhausted, otherwise Internal) and whose message is
// "<what>: <strerror>".
absl::Status PosixError(int err, absl::string_view what);

// Reads a whole file. Fails with NotFound if it does not exist and with
// InvalidArgument if it is larger than max_bytes. Its read buffer is wiped
// before it returns, and a file of up to 16 KiB (any key or token file) is
// read without a reallocation, so a caller that keeps the content in a
// wiping type (pki::SecretString) holds the only copy.
absl::StatusOr<std::string> ReadFile(const std::string& path,
                                     size_t max_bytes = 16 << 20);

enum class WriteMode {
  kReplace,     // an existing file is replaced atomically
  kCreateOnly,  // fails with AlreadyExists (writing nothing) if path exists
};

// Writes `data` to `path` so that a reader sees either the old file or the
// whole new one, never a part: a temporary file in the same folder is created
// with `mode` before any byte is written, filled, fsynced, renamed over
// `path`, and the folder is fsynced. On failure the temporary file is
// removed and `path` is as it was.
absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view data, mode_t mode,
                                 WriteMode write_mode = WriteMode::kReplace);

// Creates one folder with exactly `mode`. AlreadyExists if it exists.
absl::Status MakeDirectory(const std::string& path, mode_t mode);

// Creates `path` and any missing parents with `mode`; an existing folder is
// fine (its mode is left alone).
absl::Status MakeDirectories(const std::string& path, mode_t mode);

// fsyncs a folder so that entries created or renamed in it are durable.
absl::Status SyncDirectory(const std::string& path);

// True if something (file, folder, link) exists at `path`.
bool PathExists(const std::string& path);

// The folder part of a path ("." if it has none).
std::string DirName(absl::string_view path);

// Joins path segments with '/'.
std::string JoinPath(absl::string_view a, absl::string_view b);

}  // namespace rotor

#endif  // ROTOR_UTIL_FILE_H_
