#include "pki/ca_certificate.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "pki/certificate_builder.h"
#include "pki/serial.h"
#include "pki/spiffe_id.h"
#include "pki/ssl_error.h"
#include "util/status_macros.h"

namespace rotor::pki {
namespace {

// keyUsage bit positions (RFC 5280 section 4.2.1.3).
constexpr int kKuDigitalSignature = 0;
constexpr int kKuKeyCertSign = 5;
constexpr int kKuCrlSign = 6;

absl::Status CheckOptions(const CaCertificateOptions& options) {
  if (options.common_name.empty()) {
    return absl::InvalidArgumentError("CA common name is empty");
  }
  if (options.common_name.size() > 64) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CA common name \"", options.common_name,
        "\" is longer than 64 characters (RFC 5280 ub-common-name)"));
  }
  if (options.validity <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("CA validity must be positive, got ",
                     absl::FormatDuration(options.validity)));
  }
  absl::Status td = ValidateTrustDomain(options.trust_domain);
  if (!td.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad trust domain: ", td.message()));
  }
  return absl::OkStatus();
}

absl::Status SetTime(ASN1_TIME* field, absl::Time t, absl::string_view what) {
  if (ASN1_TIME_set(field, absl::ToTimeT(t)) == nullptr) {
    return SslInternalError(absl::StrCat("cannot set ", what));
  }
  return absl::OkStatus();
}

absl::Status AddExtension(X509* x509, int nid, void* value, bool critical,
                          absl::string_view what) {
  if (X509_add1_ext_i2d(x509, nid, value, critical ? 1 : 0,
                        X509V3_ADD_DEFAULT) != 1) {
    return SslInternalError(
        absl::StrCat("cannot add the ", what, " extension"));
  }
  return absl::OkStatus();
}

absl::StatusOr<SslPtr<ASN1_STRING>> OctetString(const unsigned char* data,
                                                size_t len) {
  SslPtr<ASN1_STRING> out(ASN1_OCTET_STRING_new());
  if (out == nullptr ||
      ASN1_OCTET_STRING_set(out.get(), data, static_cast<int>(len)) != 1) {
    return SslInternalError("cannot build an OCTET STRING");
  }
  return out;
}

// Everything a root and an intermediate share: version, serial, validity,
// subject (O=rotor, CN=...), public key, basicConstraints, keyUsage, SKI and
// the trust domain's URI SAN. The issuer name, AKI and signature are left to
// the caller.
absl::StatusOr<SslPtr<X509>> NewCaCertificate(
    EVP_PKEY* public_key, const CaCertificateOptions& options,
    absl::Time not_before, absl::Time not_after, int pathlen,
    bool digital_signature, Random& random) {
  SslPtr<X509> x509(X509_new());
  if (x509 == nullptr) return SslInternalError("X509_new");
  if (X509_set_version(x509.get(), X509_VERSION_3) != 1) {
    return SslInternalError("cannot set the certificate version");
  }
  ROTOR_ASSIGN_OR_RETURN(std::string serial, GenerateSerial(random));
  ROTOR_ASSIGN_OR_RETURN(SslPtr<ASN1_INTEGER> serial_asn1,
                         SerialToAsn1(serial));
  if (X509_set_serialNumber(x509.get(), serial_asn1.get()) != 1) {
    return SslInternalError("cannot set the serial number");
  }
  ROTOR_RETURN_IF_ERROR(
      SetTime(X509_getm_notBefore(x509.get()), not_before, "notBefore"));
  ROTOR_RETURN_IF_ERROR(
      SetTime(X509_getm_notAfter(x509.get()), not_after, "notAfter"));

  X509_NAME* subject = X509_get_subject_name(x509.get());
  const auto* organization = reinterpret_cast<const unsigned char*>("rotor");
  const auto* common_name =
      reinterpret_cast<const unsigned char*>(options.common_name.data());
  if (X509_NAME_add_entry_by_NID(subject, NID_organizationName, MBSTRING_UTF8,
                                 organization, -1, -1, 0) != 1 ||
      X509_NAME_add_entry_by_NID(
          subject, NID_commonName, MBSTRING_UTF8, common_name,
          static_cast<int>(options.common_name.size()), -1, 0) != 1) {
    return SslInternalError("cannot build the CA subject name");
  }
  if (X509_set_pubkey(x509.get(), public_key) != 1) {
    return SslInternalError("cannot set the CA public key");
  }

  SslPtr<BASIC_CONSTRAINTS> bc(BASIC_CONSTRAINTS_new());
  if (bc == nullptr) return SslInternalError("BASIC_CONSTRAINTS_new");
  bc->ca = 0xff;  // DER TRUE
  if (pathlen >= 0) {
    bc->pathlen = ASN1_INTEGER_new();
    if (bc->pathlen == nullptr || ASN1_INTEGER_set(bc->pathlen, pathlen) != 1) {
      return SslInternalError("cannot set the path length");
    }
  }
  ROTOR_RETURN_IF_ERROR(AddExtension(x509.get(), NID_basic_constraints,
                                     bc.get(), true, "basicConstraints"));

  SslPtr<ASN1_STRING> ku(ASN1_BIT_STRING_new());
  if (ku == nullptr ||
      ASN1_BIT_STRING_set_bit(ku.get(), kKuKeyCertSign, 1) != 1 ||
      ASN1_BIT_STRING_set_bit(ku.get(), kKuCrlSign, 1) != 1 ||
      (digital_signature &&
       ASN1_BIT_STRING_set_bit(ku.get(), kKuDigitalSignature, 1) != 1)) {
    return SslInternalError("cannot build the keyUsage bits");
  }
  ROTOR_RETURN_IF_ERROR(
      AddExtension(x509.get(), NID_key_usage, ku.get(), true, "keyUsage"));

  unsigned char ski[EVP_MAX_MD_SIZE];
  unsigned int ski_len = 0;
  if (X509_pubkey_digest(x509.get(), EVP_sha1(), ski, &ski_len) != 1) {
    return SslInternalError("cannot hash the public key for the SKI");
  }
  ROTOR_ASSIGN_OR_RETURN(SslPtr<ASN1_STRING> ski_octets,
                         OctetString(ski, ski_len));
  ROTOR_RETURN_IF_ERROR(AddExtension(x509.get(), NID_subject_key_identifier,
                                     ski_octets.get(), false,
                                     "subjectKeyIdentifier"));

  std::string uri = absl::StrCat("spiffe://", options.trust_domain);
  SslPtr<GENERAL_NAMES> sans(GENERAL_NAMES_new());
  SslPtr<GENERAL_NAME> name(GENERAL_NAME_new());
  SslPtr<ASN1_STRING> ia5(ASN1_IA5STRING_new());
  if (sans == nullptr || name == nullptr || ia5 == nullptr ||
      ASN1_STRING_set(ia5.get(), uri.data(), static_cast<int>(uri.size())) !=
          1) {
    return SslInternalError("cannot build the URI SAN");
  }
  // GENERAL_NAME_set0_value takes ownership of the IA5String.
  GENERAL_NAME_set0_value(name.get(), GEN_URI, ia5.release());
  if (sk_GENERAL_NAME_push(sans.get(), name.get()) == 0) {
    return SslInternalError("cannot build the URI SAN");
  }
  name.release();  // sk_GENERAL_NAME_push took ownership.
  ROTOR_RETURN_IF_ERROR(AddExtension(x509.get(), NID_subject_alt_name,
                                     sans.get(), false, "subjectAltName"));
  return x509;
}

absl::Status Sign(X509* x509, const PrivateKey& key) {
  if (X509_sign(x509, key.get(), SignatureDigest(key.get())) <= 0) {
    return SslInternalError("cannot sign the CA certificate");
  }
  return absl::OkStatus();
}

// The key identifier a certificate signed by `issuer` names in its AKI: the
// issuer's SKI, or the SHA-1 of its public key when it has none (an
// operator's upstream CA may lack one).
absl::StatusOr<SslPtr<ASN1_STRING>> IssuerKeyId(X509* issuer) {
  const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(issuer);
  if (ski != nullptr) {
    return OctetString(ASN1_STRING_get0_data(ski),
                       static_cast<size_t>(ASN1_STRING_length(ski)));
  }
  ClearSslErrors();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_pubkey_digest(issuer, EVP_sha1(), digest, &len) != 1) {
    return SslInternalError("cannot hash the issuer's public key");
  }
  return OctetString(digest, len);
}

}  // namespace

absl::StatusOr<Certificate> BuildRootCertificate(
    const PrivateKey& key, const CaCertificateOptions& options, absl::Time now,
    Random& random) {
  ClearSslErrors();
  ROTOR_RETURN_IF_ERROR(CheckOptions(options));
  ROTOR_RETURN_IF_ERROR(CheckKeyAllowed(key.get()));
  ROTOR_ASSIGN_OR_RETURN(
      SslPtr<X509> x509,
      NewCaCertificate(key.get(), options, now - kBackdate,
                       now + options.validity, /*pathlen=*/-1,
                       /*digital_signature=*/false, random));
  if (X509_set_issuer_name(x509.get(), X509_get_subject_name(x509.get())) !=
      1) {
    return SslInternalError("cannot set the issuer name");
  }
  ROTOR_RETURN_IF_ERROR(Sign(x509.get(), key));
  return Certificate::Adopt(std::move(x509));
}

absl::StatusOr<Certificate> BuildIntermediateCertificate(
    const EVP_PKEY* public_key, const CaCertificateOptions& options,
    const Signer& parent, absl::Time now, Random& random) {
  ClearSslErrors();
  ROTOR_RETURN_IF_ERROR(CheckOptions(options));
  if (public_key == nullptr) {
    return absl::InvalidArgumentError("intermediate public key is missing");
  }
  ROTOR_RETURN_IF_ERROR(CheckKeyAllowed(public_key));
  const Certificate& parent_cert = parent.certificate;
  if (!parent_cert.IsCa()) {
    return absl::InvalidArgumentError(
        absl::StrCat("parent certificate \"", parent_cert.Subject(),
                     "\" is not a CA (basicConstraints CA:TRUE missing)"));
  }
  if (parent_cert.NotAfter() <= now) {
    return absl::InvalidArgumentError(absl::StrCat(
        "parent CA certificate \"", parent_cert.Subject(), "\" expired at ",
        absl::FormatTime(parent_cert.NotAfter(), absl::UTCTimeZone())));
  }
  if (!parent.key.Matches(parent_cert.PublicKey())) {
    return absl::InvalidArgumentError(
        "parent private key does not match the parent certificate");
  }
  absl::Time not_after =
      std::min(now + options.validity, parent_cert.NotAfter());
  // X509_set_pubkey only reads the key and takes a reference to it, which
  // does not modify the key's contents.
  ROTOR_ASSIGN_OR_RETURN(
      SslPtr<X509> x509,
      NewCaCertificate(const_cast<EVP_PKEY*>(public_key), options,
                       now - kBackdate, not_after, /*pathlen=*/0,
                       /*digital_signature=*/true, random));
  if (X509_set_issuer_name(x509.get(),
                           X509_get_subject_name(parent_cert.get())) != 1) {
    return SslInternalError("cannot set the issuer name");
  }
  ROTOR_ASSIGN_OR_RETURN(SslPtr<ASN1_STRING> key_id,
                         IssuerKeyId(parent_cert.get()));
  SslPtr<AUTHORITY_KEYID> akid(AUTHORITY_KEYID_new());
  if (akid == nullptr) return SslInternalError("AUTHORITY_KEYID_new");
  akid->keyid = key_id.release();  // akid owns it from here on.
  ROTOR_RETURN_IF_ERROR(AddExtension(x509.get(), NID_authority_key_identifier,
                                     akid.get(), false,
                                     "authorityKeyIdentifier"));
  ROTOR_RETURN_IF_ERROR(Sign(x509.get(), parent.key));
  return Certificate::Adopt(std::move(x509));
}

}  // namespace rotor::pki
