// SPIFFE IDs (spiffe://<trust domain>/<path>) and DNS names: the identities
// rotor puts into certificates. Validation follows the SPIFFE ID
// specification: trust domains of lowercase letters, digits, '.', '-' and
// '_' (at most 255 characters, no port, no userinfo); path segments of
// letters, digits, '.', '-' and '_', none empty, "." or "..", no trailing
// slash, no query or fragment, no percent-encoding; at most 2048 bytes in all.
//
// Thread-safety: all functions are pure and safe from any thread.
#ifndef ROTOR_PKI_SPIFFE_ID_H_
#define ROTOR_PKI_SPIFFE_ID_H_

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace rotor::pki {

// InvalidArgument naming the offending character or rule.
absl::Status ValidateTrustDomain(absl::string_view trust_domain);

struct SpiffeId {
  std::string trust_domain;
  std::string path;  // "" or "/a/b"

  // Parses and validates "spiffe://td/path". InvalidArgument saying what is
  // wrong ("SPIFFE ID must start with spiffe://", "... has an empty path
  // segment", "... has a query or fragment", ...).
  static absl::StatusOr<SpiffeId> Parse(absl::string_view uri);

  std::string ToString() const;
};

// A DNS name for a SAN: letters, digits, '-' and '.', labels of 1 to 63
// characters not starting or ending with '-', at most 253 characters, no
// trailing dot, and a last label that is not all digits (so "10.0.0.1" is
// refused: an IP address is not a DNS name). A leading "*." label is accepted
// only with allow_wildcard; a '*' anywhere else is always refused.
// InvalidArgument naming the offending character, label or rule.
absl::Status ValidateDnsName(absl::string_view name, bool allow_wildcard);

}  // namespace rotor::pki

#endif  // ROTOR_PKI_SPIFFE_ID_H_
