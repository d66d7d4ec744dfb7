// Root and intermediate CA certificates.
//   Root: self-signed, basicConstraints critical CA:TRUE, keyUsage critical
//   keyCertSign + cRLSign, SKI; subject O=rotor, CN=<common_name>; URI SAN
//   spiffe://<trust_domain>.
//   Intermediate: signed by the root (or an operator's upstream CA),
//   basicConstraints critical CA:TRUE pathlen:0, keyUsage critical
//   keyCertSign + cRLSign (+ digitalSignature, to sign OCSP responses), SKI,
//   AKI, URI SAN spiffe://<trust_domain>; notAfter capped at the parent's.
// Both are backdated by kBackdate (pki/certificate_builder.h), like leaves,
// so that a leaf issued right away never starts before its CA.
//
// Time and randomness are parameters.
#ifndef ROTOR_PKI_CA_CERTIFICATE_H_
#define ROTOR_PKI_CA_CERTIFICATE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pki/certificate.h"
#include "pki/key.h"
#include "pki/random.h"

namespace rotor::pki {

struct CaCertificateOptions {
  std::string common_name;   // e.g. "rotor root CA example.org"
  std::string trust_domain;  // validated with ValidateTrustDomain
  absl::Duration validity = absl::Hours(24 * 365 * 10);
};

// Self-signed root for `key`. InvalidArgument for a bad trust domain, an
// empty (or over 64 characters) common name, non-positive validity, or a key
// type rotor does not accept (CheckKeyAllowed); Internal on OpenSSL failures.
absl::StatusOr<Certificate> BuildRootCertificate(
    const PrivateKey& key, const CaCertificateOptions& options, absl::Time now,
    Random& random);

// Intermediate for `public_key`, signed by `parent`. InvalidArgument if the
// options are bad (as for the root), the key is not accepted, the parent is
// not a CA, has expired at `now`, or its key does not match its certificate.
absl::StatusOr<Certificate> BuildIntermediateCertificate(
    const EVP_PKEY* public_key, const CaCertificateOptions& options,
    const Signer& parent, absl::Time now, Random& random);

}  // namespace rotor::pki

#endif  // ROTOR_PKI_CA_CERTIFICATE_H_
