// Chain verification with an explicit time (never the clock): X.509 strict
// mode, purpose checks (TLS server or client), and optional CRL checks.
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
// "unable to get local issuer certificate (depth 1)", ...).
absl::Status VerifyCertificate(const Certificate& leaf,
                               absl::Span<const Certificate> intermediates,
                               absl::Span<const Certificate> roots,
                               absl::Time at, VerifyPurpose purpose);

}  // namespace rotor::pki

#endif  // ROTOR_PKI_VERIFY_H_
