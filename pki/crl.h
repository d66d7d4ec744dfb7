// Certificate revocation lists (RFC 5280 v2 CRLs): cRLNumber, AKI, one entry
// per revoked certificate with its revocation date and reason code (omitted
// for kUnspecified, as RFC 5280 recommends), signed by the issuing CA.
//
// Thread-safety: BuildCrl and CrlDerToPem keep no state; they may run
// concurrently, also with the same signer.
#ifndef ROTOR_PKI_CRL_H_
#define ROTOR_PKI_CRL_H_

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "pki/certificate.h"
#include "pki/revocation.h"

namespace rotor::pki {

struct CrlOptions {
  uint64_t number = 0;  // cRLNumber; must grow with every CRL the CA issues
  absl::Time this_update;
  absl::Time next_update;
};

// Builds and signs a CRL; returns DER. Entries are listed in serial order;
// serials are normalised (pki/serial.h). InvalidArgument for a bad or
// duplicated serial, a time that cannot be encoded, or next_update not after
// this_update; FailedPrecondition if the signer's key does not match its
// certificate.
absl::StatusOr<std::string> BuildCrl(const Signer& signer,
                                     absl::Span<const RevokedCertificate> revoked,
                                     const CrlOptions& options);

// PEM ("-----BEGIN X509 CRL-----") of a DER CRL. InvalidArgument if `der`
// does not parse.
absl::StatusOr<std::string> CrlDerToPem(absl::string_view der);

}  // namespace rotor::pki

#endif  // ROTOR_PKI_CRL_H_
