#include "util/file.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "util/status_macros.h"

namespace rotor {
namespace {

// Closes a file descriptor on scope exit.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  int get() const { return fd_; }
  // Closes now and reports the error close() returned.
  absl::Status Close(absl::string_view what) {
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) return PosixError(errno, what);
    return absl::OkStatus();
  }

 private:
  int fd_;
};

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

std::string BaseName(absl::string_view path) {
  size_t slash = path.rfind('/');
  return std::string(slash == absl::string_view::npos ? path
                                                     : path.substr(slash + 1));
}

}  // namespace

absl::Status PosixError(int err, absl::string_view what) {
  std::string message = absl::StrCat(what, ": ", std::strerror(err));
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(message);
    case EEXIST:
      return absl::AlreadyExistsError(message);
    case EACCES:
    case EPERM:
    case EROFS:
      return absl::PermissionDeniedError(message);
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::StatusOr<std::string> ReadFile(const std::string& path,
                                     size_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return PosixError(errno, absl::StrCat("cannot open ", path));
  FdCloser closer(fd);
  std::string out;
  char buf[16384];
  // Key files and join tokens are read here: wipe the copy on the stack
  // however this returns (the caller wipes `out`, e.g. as a SecretString).
  absl::Cleanup wipe = [&buf] { explicit_bzero(buf, sizeof(buf)); };
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return PosixError(errno, absl::StrCat("cannot read ", path));
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > max_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, " is larger than ", max_bytes, " bytes"));
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view data, mode_t mode,
                                 WriteMode write_mode) {
  const std::string dir = DirName(path);
  std::string tmp = JoinPath(dir, absl::StrCat(".", BaseName(path), ".tmp.",
                                               ::getpid(), ".XXXXXX"));
  // mkostemp creates the file 0600 with O_EXCL; fchmod then sets the exact
  // mode (umask cannot widen or narrow it) before any byte is written.
  int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) {
    return PosixError(errno, absl::StrCat("cannot create a file in ", dir));
  }
  FdCloser closer(fd);
  absl::Cleanup remove_tmp = [&tmp] { ::unlink(tmp.c_str()); };

  if (::fchmod(fd, mode) != 0) {
    return PosixError(errno, absl::StrCat("cannot set the mode of ", tmp));
  }
  ROTOR_RETURN_IF_ERROR(WriteAll(fd, data, path));
  if (::fsync(fd) != 0) {
    return PosixError(errno, absl::StrCat("cannot fsync ", path));
  }
  ROTOR_RETURN_IF_ERROR(closer.Close(absl::StrCat("cannot close ", path)));

  if (write_mode == WriteMode::kCreateOnly) {
    if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(),
                    RENAME_NOREPLACE) != 0) {
      int err = errno;
      if (err == EEXIST) {
        return absl::AlreadyExistsError(
            absl::StrCat(path, " already exists; refusing to overwrite it"));
      }
      return PosixError(err, absl::StrCat("cannot create ", path));
    }
  } else if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return PosixError(errno, absl::StrCat("cannot replace ", path));
  }
  std::move(remove_tmp).Cancel();
  return SyncDirectory(dir);
}

absl::Status MakeDirectory(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0) {
    int err = errno;
    if (err == EEXIST) {
      return absl::AlreadyExistsError(absl::StrCat(path, " already exists"));
    }
    return PosixError(err, absl::StrCat("cannot create folder ", path));
  }
  // mkdir's mode is narrowed by the umask; set exactly what was asked.
  if (::chmod(path.c_str(), mode) != 0) {
    return PosixError(errno, absl::StrCat("cannot set the mode of ", path));
  }
  return absl::OkStatus();
}

absl::Status MakeDirectories(const std::string& path, mode_t mode) {
  if (path.empty()) return absl::OkStatus();
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return absl::OkStatus();
    return absl::FailedPreconditionError(
        absl::StrCat(path, " exists and is not a folder"));
  }
  std::string parent = DirName(path);
  if (parent != path && parent != "." && parent != "/") {
    ROTOR_RETURN_IF_ERROR(MakeDirectories(parent, mode));
  }
  absl::Status status = MakeDirectory(path, mode);
  if (absl::IsAlreadyExists(status)) return absl::OkStatus();
  return status;
}

absl::Status SyncDirectory(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return PosixError(errno, absl::StrCat("cannot open ", path));
  FdCloser closer(fd);
  if (::fsync(fd) != 0) {
    return PosixError(errno, absl::StrCat("cannot fsync ", path));
  }
  return absl::OkStatus();
}

bool PathExists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

std::string DirName(absl::string_view path) {
  size_t slash = path.rfind('/');
  if (slash == absl::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

std::string JoinPath(absl::string_view a, absl::string_view b) {
  if (a.empty()) return std::string(b);
  if (a.back() == '/') return absl::StrCat(a, b);
  return absl::StrCat(a, "/", b);
}

}  // namespace rotor
