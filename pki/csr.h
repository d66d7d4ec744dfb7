// Certificate signing requests. The agent builds them (BuildCsr); the CA
// parses and checks them (ParsedCsr::Parse) before any policy decision.
//
// Parse accepts only what rotor can safely sign; each refusal is an
// InvalidArgument whose message says what was wrong. The checks run in this
// order, so the first problem found is the one reported:
//   "CSR is empty"
//   "CSR of 20000 bytes exceeds the 16384-byte limit"
//   "CSR is not valid DER PKCS#10: ..."
//   "CSR has 3 trailing bytes after its DER encoding"
//   "CSR has version 3; PKCS#10 defines only version 1"
//   "RSA key of 1024 bits is below the 2048-bit minimum" (see CheckKeyAllowed)
//   "CSR signature does not verify"
//   "CSR extension request is malformed: ...", "CSR requests the X509v3
//    Subject Alternative Name extension more than once"
//   "CSR requests a CA certificate (basicConstraints CA:TRUE); rotor issues
//    only end-entity certificates"
//   "CSR has no subjectAltName; put the SPIFFE ID in a URI SAN"
//   "CSR subjectAltName extension is malformed: ..."
//   "CSR subjectAltName has an unsupported name type (IP address); only URI
//    and DNS names are accepted" (also: email, other name, directory name,
//    registered ID, X.400 address, EDI party name)
//   "CSR subjectAltName DNS name \"a\x00b\" contains a NUL byte", "... contains
//    a byte that is not printable ASCII (0x0a)", "CSR subjectAltName has an
//    empty URI"
// Policy (which SPIFFE IDs and DNS names, wildcards, trust domain) is not
// decided here: the names are returned as they appear, for the CA's policy.
// Other requested extensions are ignored.
//
// Thread-safety: ParsedCsr is immutable after Parse; its accessors may be
// called from several threads at once.
#ifndef ROTOR_PKI_CSR_H_
#define ROTOR_PKI_CSR_H_

#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "pki/key.h"
#include "pki/ssl_ptr.h"

namespace rotor::pki {

inline constexpr size_t kMaxCsrBytes = 16 * 1024;

// Builds a DER PKCS#10 request signed by `key`, with an empty subject and a
// subjectAltName of `spiffe_id` (URI; omitted when empty) and `dns_names`,
// critical because the subject is empty. The names are not validated here
// (the agent's config and the CA's policy do that). InvalidArgument if both
// are empty (Parse would refuse such a CSR); Internal if OpenSSL fails.
absl::StatusOr<std::string> BuildCsr(const PrivateKey& key,
                                     absl::string_view spiffe_id,
                                     absl::Span<const std::string> dns_names);

class ParsedCsr {
 public:
  // Parses and checks a DER CSR: size, encoding, no trailing bytes, key type,
  // signature, no CA:TRUE request, SANs (URI and DNS only, at least one,
  // printable ASCII). InvalidArgument as listed at the top of this file.
  static absl::StatusOr<ParsedCsr> Parse(absl::string_view der);

  ParsedCsr(ParsedCsr&&) = default;
  ParsedCsr& operator=(ParsedCsr&&) = default;

  const std::vector<std::string>& uris() const { return uris_; }
  const std::vector<std::string>& dns_names() const { return dns_names_; }

  // The SubjectPublicKeyInfo exactly as it appears in the CSR (DER), so the
  // issuer can copy it into the certificate without re-encoding the key.
  const std::string& public_key_der() const { return public_key_der_; }
  EVP_PKEY* public_key() const { return public_key_.get(); }
  KeyInfo key_info() const { return DescribeKey(public_key()); }

 private:
  ParsedCsr() = default;

  SslPtr<EVP_PKEY> public_key_;
  std::string public_key_der_;
  std::vector<std::string> uris_;
  std::vector<std::string> dns_names_;
};

}  // namespace rotor::pki

#endif  // ROTOR_PKI_CSR_H_
