// Every file operation the agent's atomic writer performs goes through this
// interface, so tests can inject a failure at any step (the way LevelDB's Env
// is used for crash tests). RealFilesystem() is the POSIX implementation;
// FaultInjectingFilesystem wraps another and fails chosen operations.
//
// Every failure carries the path and the system's reason, with the status
// code of PosixError (util/file.h).
//
// Thread-safety: RealFilesystem() is safe from any thread.
// FaultInjectingFilesystem is safe from any thread as well.
#ifndef ROTOR_AGENT_FILESYSTEM_H_
#define ROTOR_AGENT_FILESYSTEM_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace rotor::agent {

class Filesystem {
 public:
  virtual ~Filesystem() = default;

  // Creates `path` and missing parents; an existing folder is fine. New
  // folders get exactly `mode`.
  virtual absl::Status MakeDirectories(const std::string& path,
                                       mode_t mode) = 0;

  // Creates one folder with exactly `mode`. AlreadyExists if it exists.
  virtual absl::Status MakeDirectory(const std::string& path, mode_t mode) = 0;

  // Creates a new file (AlreadyExists if `path` exists) with exactly `mode`
  // before any byte is written, then writes `data` and closes it. On failure
  // the file may exist, partially written; the caller removes it.
  virtual absl::Status WriteNewFile(const std::string& path,
                                    absl::string_view data, mode_t mode) = 0;

  // fsyncs a file's data and metadata.
  virtual absl::Status SyncFile(const std::string& path) = 0;

  // fsyncs a folder so entries created, removed or renamed in it are durable.
  virtual absl::Status SyncDirectory(const std::string& path) = 0;

  // Creates the symbolic link `link` pointing to `target`. AlreadyExists if
  // `link` exists.
  virtual absl::Status Symlink(const std::string& target,
                               const std::string& link) = 0;

  // rename(2): atomically replaces `to` (a file or symlink) with `from`.
  virtual absl::Status Rename(const std::string& from,
                              const std::string& to) = 0;

  // Removes a file, symlink or folder with everything in it. OK if `path`
  // does not exist.
  virtual absl::Status RemoveAll(const std::string& path) = 0;

  // lchown(2); -1 leaves the owner or group unchanged.
  virtual absl::Status Chown(const std::string& path, uid_t uid,
                             gid_t gid) = 0;

  // The target of a symbolic link. NotFound if `path` does not exist;
  // InvalidArgument if it is not a symbolic link.
  virtual absl::StatusOr<std::string> ReadLink(const std::string& path) = 0;

  // Names of the entries of a folder (without "." and ".."), in no order.
  virtual absl::StatusOr<std::vector<std::string>> ListDirectory(
      const std::string& path) = 0;

  // The whole content of a file (following symlinks). NotFound if missing.
  virtual absl::StatusOr<std::string> ReadFile(const std::string& path) = 0;
};

// The POSIX file system. Never null; lives for the whole process.
Filesystem* RealFilesystem();

// The operations FaultInjectingFilesystem counts and can fail.
enum class FsOp {
  kMakeDirectories,
  kMakeDirectory,
  kWriteNewFile,
  kSyncFile,
  kSyncDirectory,
  kSymlink,
  kRename,
  kRemoveAll,
  kChown,
  kReadLink,
  kListDirectory,
  kReadFile,
};
absl::string_view FsOpName(FsOp op);

// Forwards to `base` and records each call. FailAt(n, status) makes the n-th
// mutating call from now (0-based; reads -- ReadLink, ListDirectory,
// ReadFile -- are not counted) fail with `status` without reaching `base`;
// WriteNewFile failures write half of the data first, as a full disk would.
class FaultInjectingFilesystem final : public Filesystem {
 public:
  explicit FaultInjectingFilesystem(Filesystem* base) : base_(base) {}

  // Arms one failure. `status` must not be OK.
  void FailAt(int mutating_call, absl::Status status);
  // Makes every call of `op` fail from now on, until Reset().
  void FailAll(FsOp op, absl::Status status);
  // Disarms failures and restarts the count.
  void Reset();

  // Mutating calls since the last Reset(), as "op path" lines.
  std::vector<std::string> calls() const;
  int mutating_calls() const;

  absl::Status MakeDirectories(const std::string& path, mode_t mode) override;
  absl::Status MakeDirectory(const std::string& path, mode_t mode) override;
  absl::Status WriteNewFile(const std::string& path, absl::string_view data,
                            mode_t mode) override;
  absl::Status SyncFile(const std::string& path) override;
  absl::Status SyncDirectory(const std::string& path) override;
  absl::Status Symlink(const std::string& target,
                       const std::string& link) override;
  absl::Status Rename(const std::string& from, const std::string& to) override;
  absl::Status RemoveAll(const std::string& path) override;
  absl::Status Chown(const std::string& path, uid_t uid, gid_t gid) override;
  absl::StatusOr<std::string> ReadLink(const std::string& path) override;
  absl::StatusOr<std::vector<std::string>> ListDirectory(
      const std::string& path) override;
  absl::StatusOr<std::string> ReadFile(const std::string& path) override;

 private:
  // Records a mutating call; returns the injected failure, if any.
  absl::Status Check(FsOp op, const std::string& path);

  Filesystem* base_;
  mutable absl::Mutex mu_;
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mu_);
  int fail_at_ ABSL_GUARDED_BY(mu_) = -1;
  absl::Status fail_status_ ABSL_GUARDED_BY(mu_);
  bool fail_all_ ABSL_GUARDED_BY(mu_) = false;
  FsOp fail_all_op_ ABSL_GUARDED_BY(mu_) = FsOp::kReadFile;
  absl::Status fail_all_status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rotor::agent

#endif  // ROTOR_AGENT_FILESYSTEM_H_
