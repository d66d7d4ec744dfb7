// SPIFFE IDs (spiffe://<trust domain>/<path>) and DNS names: the identities
// rotor puts into certificates. Validation follows the SPIFFE ID
// specification: trust domains of lowercase letters, digits, '.', '-' and
// '_'; path segments of letters, digits, '.', '-' and '_', none empty, "."
// or "..".
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
// trailing dot. A leading "*." label is accepted only with allow_wildcard.
absl::Status ValidateDnsName(absl::string_view name, bool allow_wildcard);

}  // namespace rotor::pki

#endif  // ROTOR_PKI_SPIFFE_ID_H_
