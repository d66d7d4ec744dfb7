// OCSP responder logic (RFC 6960): parse a request, look each certificate up,
// and sign a basic response with the issuing CA.
//
// Answers are always an OCSPResponse in DER: malformedRequest for bytes that
// do not parse, successful otherwise with one SingleResponse per request
// entry: good, revoked (time and reason) or unknown (never issued, or issued
// by another CA: the request's issuer name and key hashes do not match the
// signer). A request nonce is echoed.
//
// Thread-safety: AnswerOcspRequest keeps no state and may run concurrently
// with the same signer, if `lookup` may.
#ifndef ROTOR_PKI_OCSP_H_
#define ROTOR_PKI_OCSP_H_

#include <string>
#include "absl/strings/string_view.h"

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pki/certificate.h"
#include "pki/revocation.h"

namespace rotor::pki {

struct OcspStatus {
  enum class Kind { kGood, kRevoked, kUnknown };
  Kind kind = Kind::kUnknown;
  absl::Time revoked_at;  // kRevoked only
  RevocationReason reason = RevocationReason::kUnspecified;
};

// Looks a serial (canonical hex) up. Called once per request entry.
using OcspLookup = absl::FunctionRef<OcspStatus(absl::string_view serial)>;

struct OcspOptions {
  absl::Time now;
  absl::Duration validity = absl::Hours(1);  // nextUpdate = now + validity
  size_t max_request_bytes = 16 * 1024;
};

// Returns the DER OCSPResponse: malformedRequest for a request that is
// empty, larger than max_request_bytes, does not parse, has trailing bytes or
// asks about no certificate; otherwise successful, signed with `signer`
// (responder ID by key hash, signer certificate included, producedAt and
// thisUpdate = options.now). Not OK only on internal failures (signing); the
// caller should then answer with OcspInternalErrorResponse().
absl::StatusOr<std::string> AnswerOcspRequest(absl::string_view request_der,
                                              const Signer& signer,
                                              OcspLookup lookup,
                                              const OcspOptions& options);

// The DER of an unsigned internalError OCSPResponse. Not OK only if OpenSSL
// cannot allocate.
absl::StatusOr<std::string> OcspInternalErrorResponse();

}  // namespace rotor::pki

#endif  // ROTOR_PKI_OCSP_H_
