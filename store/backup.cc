#include "store/backup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "store/lmdb_store.h"
#include "store/lmdb_txn.h"
#include "util/file.h"
#include "util/status_macros.h"

namespace rotor::store {
namespace {

constexpr absl::string_view kDataFile = "data.mdb";
// Times a copy is restarted because another process grew the map under it.
constexpr int kMaxCopyAttempts = 5;

// A temporary file next to `path`, created 0600, removed on destruction
// unless Publish()ed.
class TempFile {
 public:
  static absl::StatusOr<TempFile> Create(const std::string& path) {
    std::string name = absl::StrCat(path, ".tmp-XXXXXX");
    int fd = mkstemp(name.data());  // 0600
    if (fd < 0) return PosixError(errno, absl::StrCat("cannot create ", name));
    return TempFile(std::move(name), fd);
  }
  TempFile(TempFile&& other) noexcept
      : name_(std::move(other.name_)), fd_(std::exchange(other.fd_, -1)) {
    other.name_.clear();
  }
  TempFile& operator=(TempFile&&) = delete;
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!name_.empty()) ::unlink(name_.c_str());
  }

  int fd() const { return fd_; }
  const std::string& name() const { return name_; }

  // fsyncs and closes the file, renames it to `path` (refusing to replace
  // an existing file unless `replace`), and fsyncs the folder.
  absl::Status Publish(const std::string& path, bool replace) {
    if (::fsync(fd_) != 0) {
      return PosixError(errno, absl::StrCat("cannot fsync ", name_));
    }
    int fd = std::exchange(fd_, -1);
    if (::close(fd) != 0) {
      return PosixError(errno, absl::StrCat("cannot close ", name_));
    }
    if (::renameat2(AT_FDCWD, name_.c_str(), AT_FDCWD, path.c_str(),
                    replace ? 0 : RENAME_NOREPLACE) != 0) {
      int err = errno;
      if (err == EEXIST) {
        return absl::AlreadyExistsError(
            absl::StrCat(path, " already exists; refusing to overwrite it"));
      }
      return PosixError(err, absl::StrCat("cannot rename ", name_, " to ",
                                          path));
    }
    name_.clear();
    return SyncDirectory(DirName(path));
  }

 private:
  TempFile(std::string name, int fd) : name_(std::move(name)), fd_(fd) {}
  std::string name_;
  int fd_;
};

// Copies the bytes of `from` into the open file `to_fd`.
absl::Status CopyFileContents(const std::string& from, int to_fd,
                              const std::string& to_name) {
  int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return PosixError(errno, absl::StrCat("cannot open ", from));
  absl::Cleanup close_in = [in] { ::close(in); };
  char buf[1 << 16];
  while (true) {
    ssize_t n = ::read(in, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return PosixError(errno, absl::StrCat("cannot read ", from));
    }
    if (n == 0) return absl::OkStatus();
    for (ssize_t done = 0; done < n;) {
      ssize_t w = ::write(to_fd, buf + done, static_cast<size_t>(n - done));
      if (w < 0) {
        if (errno == EINTR) continue;
        return PosixError(errno, absl::StrCat("cannot write ", to_name));
      }
      done += w;
    }
  }
}

// Checks that `backup_file` is a rotor store this binary can read.
absl::Status ValidateBackup(const std::string& backup_file) {
  if (!PathExists(backup_file)) {
    return absl::NotFoundError(
        absl::StrCat("backup file ", backup_file, " does not exist"));
  }
  // The file alone, read-only and without a lock file: it is not in use.
  absl::StatusOr<LmdbEnvPtr> env =
      OpenLmdbEnv(backup_file, MDB_RDONLY | MDB_NOSUBDIR | MDB_NOLOCK,
                  /*map_size=*/0, /*max_dbs=*/16, /*max_readers=*/1);
  if (!env.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        backup_file, " is not a rotor store backup: ", env.status().message()));
  }
  ROTOR_ASSIGN_OR_RETURN(LmdbTxn txn, LmdbTxn::BeginRead(env->get()));
  absl::StatusOr<std::optional<uint32_t>> version =
      LmdbStore::ReadSchemaVersion(txn);
  if (!version.ok() || !version->has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        backup_file, " is not a rotor store backup: it has no schema version",
        version.ok() ? "" : absl::StrCat(" (", version.status().message(), ")")));
  }
  return LmdbStore::CheckSchemaVersion(**version,
                                       absl::StrCat("backup ", backup_file));
}

}  // namespace

namespace {

// Replays `redo_log` onto the LMDB file `path` (a fresh copy, not in use).
absl::Status ReplayOntoCopy(const std::string& path,
                            const RedoLogContents& redo_log) {
  if (redo_log.records.empty()) return absl::OkStatus();
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return PosixError(errno, absl::StrCat("cannot stat ", path));
  }
  size_t log_bytes = 0;
  for (const RedoRecord& record : redo_log.records) {
    log_bytes += record.payload.size();
  }
  // Room for the copy and for what the log adds, with B-tree overhead.
  const size_t map_size =
      static_cast<size_t>(st.st_size) * 2 + log_bytes * 8 + (size_t{64} << 20);
  ROTOR_ASSIGN_OR_RETURN(
      LmdbEnvPtr env, OpenLmdbEnv(path, MDB_NOSUBDIR | MDB_NOLOCK, map_size,
                                  /*max_dbs=*/16, /*max_readers=*/1));
  ROTOR_ASSIGN_OR_RETURN(LmdbTxn txn, LmdbTxn::BeginWrite(env.get()));
  ROTOR_ASSIGN_OR_RETURN(LmdbStore::Tables tables,
                         LmdbStore::OpenTables(txn, 0));
  ROTOR_ASSIGN_OR_RETURN(uint64_t replayed,
                         LmdbStore::ReplayRedoLog(txn, tables, redo_log, path));
  if (replayed == 0) return absl::OkStatus();
  return txn.Commit();
}

}  // namespace

absl::Status CopyEnvToFile(MDB_env* env, const std::string& out_file,
                           const RedoLogContents& redo_log) {
  if (PathExists(out_file)) {
    return absl::AlreadyExistsError(
        absl::StrCat(out_file, " already exists; refusing to overwrite it"));
  }
  ROTOR_ASSIGN_OR_RETURN(TempFile temp, TempFile::Create(out_file));
  for (int attempt = 1;; ++attempt) {
    // One read transaction inside: a consistent snapshot, writers go on.
    int rc = mdb_env_copyfd2(env, temp.fd(), MDB_CP_COMPACT);
    if (rc == MDB_SUCCESS) break;
    if (rc != MDB_MAP_RESIZED || attempt == kMaxCopyAttempts) {
      return LmdbError(rc, absl::StrCat("cannot copy the store to ", out_file));
    }
    // Another process grew the map: adopt its size and start over.
    if ((rc = mdb_env_set_mapsize(env, 0)) != MDB_SUCCESS) {
      return LmdbError(rc, "cannot adopt the store's new map size");
    }
    if (::ftruncate(temp.fd(), 0) != 0 ||
        ::lseek(temp.fd(), 0, SEEK_SET) != 0) {
      return PosixError(errno, absl::StrCat("cannot truncate ", temp.name()));
    }
  }
  absl::Status replayed = ReplayOntoCopy(temp.name(), redo_log);
  if (!replayed.ok()) {
    return absl::Status(replayed.code(),
                        absl::StrCat("cannot add the redo log to the copy of "
                                     "the store: ",
                                     replayed.message()));
  }
  return temp.Publish(out_file, /*replace=*/false);
}

absl::Status BackupStore(const std::string& store_dir,
                         const std::string& out_file) {
  if (!PathExists(JoinPath(store_dir, kDataFile))) {
    return absl::NotFoundError(absl::StrCat(
        "no store in ", store_dir, " (", kDataFile, " does not exist)"));
  }
  // The log before the copy: see backup.h for why this order.
  ROTOR_ASSIGN_OR_RETURN(
      RedoLogContents redo_log,
      ReadRedoLog(JoinPath(store_dir, LmdbStore::kRedoLogName)));
  // Read-only, sharing the lock file with a running CA; map size 0 adopts
  // the store's own.
  ROTOR_ASSIGN_OR_RETURN(LmdbEnvPtr env,
                         OpenLmdbEnv(store_dir, MDB_RDONLY | MDB_NOTLS,
                                     /*map_size=*/0, /*max_dbs=*/16,
                                     /*max_readers=*/1024));
  return CopyEnvToFile(env.get(), out_file, redo_log);
}

absl::Status RestoreStore(const std::string& backup_file,
                          const std::string& store_dir,
                          const RestoreOptions& options) {
  ROTOR_RETURN_IF_ERROR(ValidateBackup(backup_file));
  const std::string data_file = JoinPath(store_dir, kDataFile);
  if (!options.overwrite && PathExists(data_file)) {
    return absl::AlreadyExistsError(absl::StrCat(
        "a store already exists in ", store_dir,
        "; stop rotor-ca and restore with --force to replace it"));
  }
  ROTOR_RETURN_IF_ERROR(MakeDirectories(store_dir, 0700));
  {
    ROTOR_ASSIGN_OR_RETURN(TempFile temp, TempFile::Create(data_file));
    // The redo log of the store being replaced belongs to it: replayed onto
    // the backup it would corrupt it. Gone (durably) before the new data.
    const std::string redo_log = JoinPath(store_dir, LmdbStore::kRedoLogName);
    if (::unlink(redo_log.c_str()) != 0 && errno != ENOENT) {
      return PosixError(errno, absl::StrCat("cannot remove ", redo_log));
    }
    ROTOR_RETURN_IF_ERROR(SyncDirectory(store_dir));
    ROTOR_RETURN_IF_ERROR(
        CopyFileContents(backup_file, temp.fd(), temp.name()));
    absl::Status status = temp.Publish(data_file, options.overwrite);
    if (absl::IsAlreadyExists(status)) {
      return absl::AlreadyExistsError(absl::StrCat(
          "a store already exists in ", store_dir,
          "; stop rotor-ca and restore with --force to replace it"));
    }
    ROTOR_RETURN_IF_ERROR(status);
  }
  // Opening it checks it end to end and migrates an older schema.
  absl::StatusOr<std::unique_ptr<LmdbStore>> store = LmdbStore::Open(
      store_dir, LmdbStoreOptions{.group_commit = false});
  if (!store.ok()) {
    return absl::Status(store.status().code(),
                        absl::StrCat("restored store in ", store_dir,
                                     " does not open: ",
                                     store.status().message()));
  }
  return absl::OkStatus();
}

}  // namespace rotor::store
