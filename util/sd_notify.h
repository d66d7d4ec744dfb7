// The systemd notification protocol (sd_notify(3)) without libsystemd: one
// datagram with "READY=1", "STOPPING=1", ... to the AF_UNIX socket named by
// $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace). Linking
// libsystemd for this would pull libgcrypt, liblzma, libzstd, liblz4 and
// libcap into every daemon's memory.
#ifndef ROTOR_UTIL_SD_NOTIFY_H_
#define ROTOR_UTIL_SD_NOTIFY_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace rotor {

// Sends `state` to $NOTIFY_SOCKET. OK and nothing sent when the variable is
// unset or empty (not running under systemd); InvalidArgument for a socket
// name that is not absolute, "@..." or too long; the OS error otherwise.
// Thread-safe.
absl::Status SdNotify(absl::string_view state);

}  // namespace rotor

#endif  // ROTOR_UTIL_SD_NOTIFY_H_
