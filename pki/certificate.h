// Certificate: an immutable, parsed X.509 certificate with the accessors rotor
// needs (serial, validity, SANs, fingerprint), and PEM/DER conversion.
//
// Thread-safety: a Certificate is immutable; copies share the underlying
// X509 (reference counted) and may be used from several threads.
//
// A certificate built by BuildLeafCertificate carries its subject key only
// as bytes (decoding it is the costly part of issuance): PublicKey() decodes
// it on first use, and get() has no decoded key, so OpenSSL calls that need
// the subject key itself should be given a parsed copy (FromDer(der())).
#ifndef ROTOR_PKI_CERTIFICATE_H_
#define ROTOR_PKI_CERTIFICATE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/call_once.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "pki/key.h"
#include "pki/ssl_ptr.h"

namespace rotor::pki {

class Certificate {
 public:
  // Parses one DER certificate. InvalidArgument if it does not parse or has
  // trailing bytes.
  static absl::StatusOr<Certificate> FromDer(absl::string_view der);

  // Parses the first certificate of a PEM text. InvalidArgument if there is
  // none.
  static absl::StatusOr<Certificate> FromPem(absl::string_view pem);

  // Parses every certificate of a PEM text, in order. InvalidArgument if
  // there is none or one does not parse.
  static absl::StatusOr<std::vector<Certificate>> ChainFromPem(
      absl::string_view pem);

  // Reads a PEM file with one or more certificates; errors name the path.
  static absl::StatusOr<std::vector<Certificate>> LoadChain(
      const std::string& path);

  // Takes ownership of a built certificate. REQUIRES: x509 != nullptr.
  static absl::StatusOr<Certificate> Adopt(SslPtr<X509> x509);

  Certificate(const Certificate& other);
  Certificate& operator=(const Certificate& other);
  Certificate(Certificate&&) = default;
  Certificate& operator=(Certificate&&) = default;

  X509* get() const { return x509_.get(); }
  const std::string& der() const { return der_; }
  std::string ToPem() const;

  // Canonical serial (see pki/serial.h).
  std::string SerialHex() const;
  absl::Time NotBefore() const;
  absl::Time NotAfter() const;

  // SANs of each kind, in the order they appear.
  std::vector<std::string> UriSans() const;
  std::vector<std::string> DnsSans() const;
  std::vector<std::string> IpSans() const;

  // "sha256:<hex>" of the DER encoding.
  std::string Fingerprint() const;

  // The subject in one line (RFC 2253), "" when empty.
  std::string Subject() const;
  std::string Issuer() const;

  // basicConstraints CA:TRUE.
  bool IsCa() const;

  // The certificate's public key (owned by the certificate), decoded on
  // first use if the certificate was built rather than parsed; nullptr if it
  // does not decode. Thread-safe.
  EVP_PKEY* PublicKey() const;

 private:
  // The decoded subject key, shared by copies (they share the X509 too).
  struct KeyCache {
    absl::once_flag once;
    SslPtr<EVP_PKEY> key;
  };

  Certificate(SslPtr<X509> x509, std::string der)
      : x509_(std::move(x509)),
        der_(std::move(der)),
        key_cache_(std::make_shared<KeyCache>()) {}

  SslPtr<X509> x509_;
  std::string der_;
  std::shared_ptr<KeyCache> key_cache_;
};

// Concatenated PEM of `chain`, in order.
std::string ChainToPem(absl::Span<const Certificate> chain);

// ASN1_TIME to absl::Time; InfinitePast if it cannot be read.
absl::Time Asn1TimeToTime(const ASN1_TIME* t);

// The CA certificate and key that sign something (a leaf, an intermediate,
// a CRL, an OCSP response).
struct Signer {
  const Certificate& certificate;
  const PrivateKey& key;
};

}  // namespace rotor::pki

#endif  // ROTOR_PKI_CERTIFICATE_H_
