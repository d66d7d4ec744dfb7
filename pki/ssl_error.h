// Turning OpenSSL's thread-local error queue into messages.
//
// Check the return value of every OpenSSL call; only then drain the queue
// for detail. Every function here leaves the queue empty, so a stale error
// never leaks into the next message.
#ifndef ROTOR_PKI_SSL_ERROR_H_
#define ROTOR_PKI_SSL_ERROR_H_

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"

namespace rotor::pki {

// Drains this thread's OpenSSL error queue into one line
// ("error:1E08010C:DECODER routines::unsupported; ..."). Returns
// "no OpenSSL error details" if the queue was empty.
std::string GetSslErrors();

// Empties this thread's error queue without reading it.
void ClearSslErrors();

// A status with `code` and the message "<what>: <GetSslErrors()>".
absl::Status SslError(absl::StatusCode code, absl::string_view what);

// SslError with kInternal: for failures that are not the caller's fault.
absl::Status SslInternalError(absl::string_view what);

}  // namespace rotor::pki

#endif  // ROTOR_PKI_SSL_ERROR_H_
