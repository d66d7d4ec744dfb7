#include "agent/filesystem.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "util/file.h"
#include "util/status_macros.h"

namespace rotor::agent {
namespace {

absl::Status WriteAll(int fd, absl::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return PosixError(errno, absl::StrCat("cannot write ", path));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

class PosixFilesystem final : public Filesystem {
 public:
  absl::Status MakeDirectories(const std::string& path, mode_t mode) override {
    return ::rotor::MakeDirectories(path, mode);
  }

  absl::Status MakeDirectory(const std::string& path, mode_t mode) override {
    return ::rotor::MakeDirectory(path, mode);
  }

  absl::Status WriteNewFile(const std::string& path, absl::string_view data,
                            mode_t mode) override {
    // O_EXCL with a narrow mode, then fchmod to exactly `mode` (the umask
    // cannot change it) before the first byte.
    int fd = ::open(path.c_str(),
                    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                    mode & 0600);
    if (fd < 0) return PosixError(errno, absl::StrCat("cannot create ", path));
    absl::Status status;
    if (::fchmod(fd, mode) != 0) {
      status = PosixError(errno, absl::StrCat("cannot set the mode of ", path));
    }
    if (status.ok()) status = WriteAll(fd, data, path);
    if (::close(fd) != 0 && status.ok()) {
      status = PosixError(errno, absl::StrCat("cannot close ", path));
    }
    return status;
  }

  absl::Status SyncFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return PosixError(errno, absl::StrCat("cannot open ", path));
    absl::Status status;
    if (::fsync(fd) != 0) {
      status = PosixError(errno, absl::StrCat("cannot fsync ", path));
    }
    ::close(fd);
    return status;
  }

  absl::Status SyncDirectory(const std::string& path) override {
    return ::rotor::SyncDirectory(path);
  }

  absl::Status Symlink(const std::string& target,
                       const std::string& link) override {
    if (::symlink(target.c_str(), link.c_str()) != 0) {
      return PosixError(errno, absl::StrCat("cannot create symlink ", link,
                                            " -> ", target));
    }
    return absl::OkStatus();
  }

  absl::Status Rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return PosixError(errno,
                        absl::StrCat("cannot rename ", from, " to ", to));
    }
    return absl::OkStatus();
  }

  absl::Status RemoveAll(const std::string& path) override {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
    if (ec) {
      return PosixError(ec.value(), absl::StrCat("cannot remove ", path));
    }
    return absl::OkStatus();
  }

  absl::Status Chown(const std::string& path, uid_t uid, gid_t gid) override {
    if (::lchown(path.c_str(), uid, gid) != 0) {
      return PosixError(errno, absl::StrCat("cannot change the owner of ", path));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> ReadLink(const std::string& path) override {
    std::string buf(4096, '\0');
    ssize_t n = ::readlink(path.c_str(), buf.data(), buf.size());
    if (n < 0) {
      int err = errno;
      if (err == EINVAL) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, " is not a symbolic link"));
      }
      return PosixError(err, absl::StrCat("cannot read link ", path));
    }
    buf.resize(static_cast<size_t>(n));
    return buf;
  }

  absl::StatusOr<std::vector<std::string>> ListDirectory(
      const std::string& path) override {
    DIR* dir = ::opendir(path.c_str());
    if (dir == nullptr) {
      return PosixError(errno, absl::StrCat("cannot list ", path));
    }
    std::vector<std::string> names;
    while (struct dirent* entry = ::readdir(dir)) {
      std::string name = entry->d_name;
      if (name != "." && name != "..") names.push_back(std::move(name));
    }
    ::closedir(dir);
    return names;
  }

  absl::StatusOr<std::string> ReadFile(const std::string& path) override {
    return ::rotor::ReadFile(path);
  }
};

}  // namespace

Filesystem* RealFilesystem() {
  static Filesystem* fs = new PosixFilesystem();
  return fs;
}

absl::string_view FsOpName(FsOp op) {
  switch (op) {
    case FsOp::kMakeDirectories:
      return "MakeDirectories";
    case FsOp::kMakeDirectory:
      return "MakeDirectory";
    case FsOp::kWriteNewFile:
      return "WriteNewFile";
    case FsOp::kSyncFile:
      return "SyncFile";
    case FsOp::kSyncDirectory:
      return "SyncDirectory";
    case FsOp::kSymlink:
      return "Symlink";
    case FsOp::kRename:
      return "Rename";
    case FsOp::kRemoveAll:
      return "RemoveAll";
    case FsOp::kChown:
      return "Chown";
    case FsOp::kReadLink:
      return "ReadLink";
    case FsOp::kListDirectory:
      return "ListDirectory";
    case FsOp::kReadFile:
      return "ReadFile";
  }
  return "?";
}

void FaultInjectingFilesystem::FailAt(int mutating_call, absl::Status status) {
  absl::MutexLock lock(&mu_);
  fail_at_ = static_cast<int>(calls_.size()) + mutating_call;
  fail_status_ = std::move(status);
}

void FaultInjectingFilesystem::FailAll(FsOp op, absl::Status status) {
  absl::MutexLock lock(&mu_);
  fail_all_ = true;
  fail_all_op_ = op;
  fail_all_status_ = std::move(status);
}

void FaultInjectingFilesystem::Reset() {
  absl::MutexLock lock(&mu_);
  calls_.clear();
  fail_at_ = -1;
  fail_all_ = false;
}

std::vector<std::string> FaultInjectingFilesystem::calls() const {
  absl::MutexLock lock(&mu_);
  return calls_;
}

int FaultInjectingFilesystem::mutating_calls() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(calls_.size());
}

absl::Status FaultInjectingFilesystem::Check(FsOp op, const std::string& path) {
  absl::MutexLock lock(&mu_);
  const int index = static_cast<int>(calls_.size());
  calls_.push_back(absl::StrCat(FsOpName(op), " ", path));
  if (fail_all_ && fail_all_op_ == op) return fail_all_status_;
  if (index == fail_at_) return fail_status_;
  return absl::OkStatus();
}

absl::Status FaultInjectingFilesystem::MakeDirectories(const std::string& path,
                                                       mode_t mode) {
  ROTOR_RETURN_IF_ERROR(Check(FsOp::kMakeDirectories, path));
  return base_->MakeDirectories(path, mode);
}

absl::Status FaultInjectingFilesystem::MakeDirectory(const std::string& path,
                                                     mode_t mode) {
  ROTOR_RETURN_IF_ERROR(Check(FsOp::kMakeDirectory, path));
  return base_->MakeDirectory(path, mode);
}

absl::Status FaultInjectingFilesystem::WriteNewFile(const std::string& path,
                                                    absl::string_view data,
                                                    mode_t mode) {
  absl::Status injected = Check(FsOp::kWriteNewFile, path);
  if (!injected.ok()) {
    // A full disk: the file exists with part of its data.
    (void)base_->WriteNewFile(path, data.substr(0, data.size() / 2), mode);
    return injected;
  }
  return base_->WriteNewFile(path, data, mode);
}

absl::Status FaultInjectingFilesystem::SyncFile(const std::string& path) {
  ROTOR_RETURN_IF_ERROR(Check(FsOp::kSyncFile, path));
  return base_->SyncFile(path);
}

absl::Status FaultInjectingFilesystem::SyncDirectory(const std::string& path) {
  ROTOR_RETURN_IF_ERROR(Check(FsOp::kSyncDirectory, path));
  return base_->SyncDirectory(path);
}

absl::Status FaultInjectingFilesystem::Symlink(const std::string& target,
                                               const std::string& link) {
  ROTOR_RETURN_IF_ERROR(Check(FsOp::kSymlink, link));
  return base_->Symlink(target, link);
}

absl::Status FaultInjectingFilesystem::Rename(const std::string& from,
                                              const std::string& to) {
  ROTOR_RETURN_IF_ERROR(Check(FsOp::kRename, absl::StrCat(from, " -> ", to)));
  return base_->Rename(from, to);
}

absl::Status FaultInjectingFilesystem::RemoveAll(const std::string& path) {
  ROTOR_RETURN_IF_ERROR(Check(FsOp::kRemoveAll, path));
  return base_->RemoveAll(path);
}

absl::Status FaultInjectingFilesystem::Chown(const std::string& path, uid_t uid,
                                             gid_t gid) {
  ROTOR_RETURN_IF_ERROR(Check(FsOp::kChown, path));
  return base_->Chown(path, uid, gid);
}

absl::StatusOr<std::string> FaultInjectingFilesystem::ReadLink(
    const std::string& path) {
  return base_->ReadLink(path);
}

absl::StatusOr<std::vector<std::string>>
FaultInjectingFilesystem::ListDirectory(const std::string& path) {
  return base_->ListDirectory(path);
}

absl::StatusOr<std::string> FaultInjectingFilesystem::ReadFile(
    const std::string& path) {
  return base_->ReadFile(path);
}

}  // namespace rotor::agent
