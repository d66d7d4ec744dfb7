// Chain verification with an explicit time (never the clock): X.509 strict
// mode, purpose checks (TLS server or client), and optional CRL checks.
//
// Thread-safety: the functions keep no state and may run concurrently.
#ifndef ROTOR_PKI_VERIFY_H_
#define ROTOR_PKI_VERIFY_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "pki/certificate.h"

namespace rotor::pki {

enum class VerifyPurpose { kAny, kTlsServer, kTlsClient };

// Verifies that `leaf` chains through `intermediates` to one of `roots` at
// time `at`, for `purpose`. OK on success; InvalidArgument with OpenSSL's
// reason and the depth otherwise ("certificate has expired (depth 0)",
// "unable to get local issuer certificate (depth 1)", "unsuitable
// certificate purpose (depth 0)", ...), or when `roots` is empty. As in
// OpenSSL, a certificate counts as expired from its notAfter second on.
absl::Status VerifyCertificate(const Certificate& leaf,
                               absl::Span<const Certificate> intermediates,
                               absl::Span<const Certificate> roots,
                               absl::Time at, VerifyPurpose purpose);

// As above, and also checks every certificate of the chain below the root
// against `crls` (DER CRLs, one per issuing CA: the intermediate's, and the
// root's over the intermediate, as rotor publishes them). A revoked
// certificate fails with "certificate revoked (depth N)", a chain without a
// CRL for some issuer with "unable to get certificate CRL (depth N)", a CRL
// past its nextUpdate with "CRL has expired (depth N)"; InvalidArgument
// naming the CRL if one does not parse.
absl::Status VerifyCertificate(const Certificate& leaf,
                               absl::Span<const Certificate> intermediates,
                               absl::Span<const Certificate> roots,
                               absl::Time at, VerifyPurpose purpose,
                               absl::Span<const std::string> crls);

}  // namespace rotor::pki

#endif  // ROTOR_PKI_VERIFY_H_
