#include "util/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "util/file.h"

namespace rotor {

absl::Status SdNotify(absl::string_view state) {
  const char* env = std::getenv("NOTIFY_SOCKET");
  if (env == nullptr || *env == '\0') return absl::OkStatus();
  const std::string name = env;

  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if ((name[0] != '/' && name[0] != '@') || name.size() < 2 ||
      name.size() >= sizeof(address.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "NOTIFY_SOCKET=", name,
        " is neither an absolute socket path nor an abstract name (@...)"));
  }
  std::memcpy(address.sun_path, name.data(), name.size());
  // An abstract socket's name starts with a NUL byte instead of '@', and its
  // length is exactly what is given (no terminating NUL).
  if (name[0] == '@') address.sun_path[0] = '\0';
  const socklen_t length = static_cast<socklen_t>(
      offsetof(sockaddr_un, sun_path) + name.size() + (name[0] == '/' ? 1 : 0));

  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return PosixError(errno, "cannot create a socket for sd_notify");
  const ssize_t sent =
      ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
               reinterpret_cast<const sockaddr*>(&address), length);
  const int error = errno;
  ::close(fd);
  if (sent < 0) {
    return PosixError(error, absl::StrCat("cannot notify systemd at ", name));
  }
  return absl::OkStatus();
}

}  // namespace rotor
