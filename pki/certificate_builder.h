// Builds and signs leaf certificates exactly to rotor's certificate profile
// (docs/design.md, "Certificate profile"):
//   - X.509 v3, serial of 16 CSPRNG bytes (pki/serial.h), issuer = signer
//   - notBefore = now - 60 s (clock skew), notAfter = now + ttl, never past
//     the signer's own notAfter
//   - basicConstraints critical CA:FALSE; keyUsage critical
//     digitalSignature (+ keyEncipherment for RSA keys)
//   - extendedKeyUsage by usage: workload serverAuth + clientAuth, node
//     clientAuth only, server serverAuth only
//   - SKI (SHA-1 of the subjectPublicKey bits), AKI (the signer's SKI)
//   - subjectAltName: URI (SPIFFE ID), DNS names, IP addresses. Empty subject
//     with a critical SAN, or CN = first DNS name with a non-critical SAN.
//   - CRL distribution point when crl_url is set
// The subject public key is copied from the CSR's SubjectPublicKeyInfo bytes
// (no decode and re-encode of the key: that is the costly part of issuance).
//
// Time and randomness are parameters; nothing here reads the clock.
//
// Thread-safety: BuildLeafCertificate may run concurrently with the same
// signer.
#ifndef ROTOR_PKI_CERTIFICATE_BUILDER_H_
#define ROTOR_PKI_CERTIFICATE_BUILDER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "pki/certificate.h"
#include "pki/random.h"

namespace rotor::pki {

inline constexpr absl::Duration kBackdate = absl::Seconds(60);

enum class CertificateUsage {
  kWorkload,  // serverAuth + clientAuth
  kNode,      // clientAuth only: node (agent) identity certificates
  kServer,    // serverAuth only: the CA's own gRPC/TLS certificate
};

struct LeafTemplate {
  // DER SubjectPublicKeyInfo, copied into the certificate as bytes.
  // REQUIRES: already parsed and checked (ParsedCsr, CheckKeyAllowed).
  std::string public_key_der;
  std::string spiffe_id;  // URI SAN; may be empty
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;  // textual IPv4/IPv6
  CertificateUsage usage = CertificateUsage::kWorkload;
  absl::Duration ttl = absl::Hours(1);
  std::string crl_url;  // empty: no CRL distribution point
  // Subject CN = first DNS name (SAN not critical); otherwise empty subject
  // (SAN critical).
  bool common_name_from_dns = false;
};

// Builds and signs a leaf. InvalidArgument if the template has no SAN, a
// non-positive TTL, a public key that does not parse (or is not RSA, EC or
// Ed25519), a malformed SPIFFE ID, DNS name or IP address,
// common_name_from_dns without a DNS name (or with a first DNS name over 64
// characters), or the signer is not a CA or has expired at `now`; the
// status of `random` if it fails; Internal on OpenSSL failures. In debug
// builds (NDEBUG not defined) the result is also checked with
// CheckLeafProfile, and a mismatch is Internal.
absl::StatusOr<Certificate> BuildLeafCertificate(const LeafTemplate& leaf,
                                                 const Signer& signer,
                                                 absl::Time now,
                                                 Random& random);

// The profile lint (as Boulder lints before it signs): parses `cert` back
// from its DER and checks that it is exactly what BuildLeafCertificate
// makes of `leaf`, `signer` and `now` (version, issuer, signature, validity,
// public key bytes, every extension and its criticality, subject and SANs).
// OK, or Internal naming the first difference
// ("certificate does not match the profile: keyUsage is not critical").
absl::Status CheckLeafProfile(const Certificate& cert, const LeafTemplate& leaf,
                              const Signer& signer, absl::Time now);

}  // namespace rotor::pki

#endif  // ROTOR_PKI_CERTIFICATE_BUILDER_H_
