// RFC 5280 revocation reason codes and their names.
//
// Thread-safety: all functions are pure and may run from any thread.
#ifndef ROTOR_PKI_REVOCATION_H_
#define ROTOR_PKI_REVOCATION_H_

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace rotor::pki {

// Values are the CRLReason codes of RFC 5280 section 5.3.1.
enum class RevocationReason {
  kUnspecified = 0,
  kKeyCompromise = 1,
  kCaCompromise = 2,
  kAffiliationChanged = 3,
  kSuperseded = 4,
  kCessationOfOperation = 5,
  kCertificateHold = 6,
  kRemoveFromCrl = 8,
  kPrivilegeWithdrawn = 9,
  kAaCompromise = 10,
};

// Accepts the RFC name ("keyCompromise"), kebab case ("key-compromise") or
// snake case, any letter case. InvalidArgument listing the names otherwise.
absl::StatusOr<RevocationReason> ParseRevocationReason(absl::string_view name);

// The RFC 5280 name: "keyCompromise", "superseded", ...
absl::string_view RevocationReasonName(RevocationReason reason);

// From the integer code; InvalidArgument for 7 and out-of-range values.
absl::StatusOr<RevocationReason> RevocationReasonFromCode(int code);

// A revoked certificate as CRLs and OCSP responses report it.
struct RevokedCertificate {
  std::string serial;  // canonical hex (pki/serial.h)
  absl::Time revoked_at;
  RevocationReason reason = RevocationReason::kUnspecified;
  // The certificate's own notAfter. Not written into a CRL; it lets the CA
  // leave out certificates long expired (RFC 5280 5.1.2.6).
  absl::Time not_after = absl::InfiniteFuture();
};

}  // namespace rotor::pki

#endif  // ROTOR_PKI_REVOCATION_H_
