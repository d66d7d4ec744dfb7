#include "ca/data_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "util/status_macros.h"

namespace rotor::ca {

absl::StatusOr<DataDirLock> DataDirLock::Acquire(const DataDir& dir,
                                                 absl::string_view doing) {
  ROTOR_RETURN_IF_ERROR(MakeDirectories(dir.ServerDir(), 0700));
  const std::string path = dir.LockFile();
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return PosixError(errno, absl::StrCat("cannot open ", path));
  DataDirLock lock(fd);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          absl::StrCat("another rotor-ca is using ", dir.root, " (it holds ",
                       path, "); stop it before ", doing));
    }
    return PosixError(errno, absl::StrCat("cannot lock ", path));
  }
  return lock;
}

DataDirLock& DataDirLock::operator=(DataDirLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

DataDirLock::~DataDirLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace rotor::ca
