#include "pki/certificate_builder.h"

#include <openssl/asn1t.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <climits>
#include <memory>

#include "absl/strings/str_cat.h"
#include "pki/serial.h"
#include "pki/spiffe_id.h"
#include "pki/ssl_error.h"
#include "util/status_macros.h"

namespace rotor::pki {
namespace {

// keyUsage bit positions (RFC 5280 section 4.2.1.3).
constexpr int kKuDigitalSignature = 0;
constexpr int kKuKeyEncipherment = 2;

// RFC 5280 ub-common-name.
constexpr size_t kMaxCommonNameBytes = 64;

// A SubjectPublicKeyInfo as its two fields. Parsing it with this template
// reads the algorithm and the key bits without decoding the key itself, which
// is what d2i_PUBKEY / d2i_X509_PUBKEY do (through the provider decoders on
// OpenSSL 3.0, the costly part of issuance).
struct RawSpki {
  X509_ALGOR* algorithm;
  ASN1_BIT_STRING* public_key;
};

// clang-format off
ASN1_SEQUENCE(RawSpki) = {
    ASN1_SIMPLE(RawSpki, algorithm, X509_ALGOR),
    ASN1_SIMPLE(RawSpki, public_key, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(RawSpki)

struct RawSpkiDeleter {
  void operator()(RawSpki* spki) const {
    ASN1_item_free(reinterpret_cast<ASN1_VALUE*>(spki),
                   ASN1_ITEM_rptr(RawSpki));
  }
};
// clang-format on
using RawSpkiPtr = std::unique_ptr<RawSpki, RawSpkiDeleter>;

// What the builder needs to know about the subject key.
struct SubjectKey {
  bool is_rsa = false;
  unsigned char ski[SHA_DIGEST_LENGTH];
};

// Parses `der` as a SubjectPublicKeyInfo of a key type rotor accepts (RSA,
// EC, Ed25519; sizes and curves are checked earlier, by CheckKeyAllowed on
// the CSR) and moves its algorithm and key bits into the certificate's own
// X509_PUBKEY. The key is never decoded.
absl::StatusOr<SubjectKey> SetSubjectPublicKey(X509* x509,
                                               absl::string_view der) {
  if (der.empty()) {
    return absl::InvalidArgumentError("subject public key is empty");
  }
  if (der.size() > INT_MAX) {
    return absl::InvalidArgumentError("subject public key is too large");
  }
  const auto* start = reinterpret_cast<const unsigned char*>(der.data());
  const unsigned char* p = start;
  RawSpkiPtr spki(reinterpret_cast<RawSpki*>(ASN1_item_d2i(
      nullptr, &p, static_cast<long>(der.size()), ASN1_ITEM_rptr(RawSpki))));
  if (spki == nullptr) {
    return SslError(absl::StatusCode::kInvalidArgument,
                    "subject public key is not a DER SubjectPublicKeyInfo");
  }
  if (static_cast<size_t>(p - start) != der.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "subject public key has ", der.size() - static_cast<size_t>(p - start),
        " trailing bytes after its DER"));
  }
  X509_ALGOR* algorithm = spki->algorithm;
  int nid = OBJ_obj2nid(algorithm->algorithm);
  if (nid != NID_rsaEncryption && nid != NID_X9_62_id_ecPublicKey &&
      nid != NID_ED25519) {
    char oid[80];
    OBJ_obj2txt(oid, sizeof(oid), algorithm->algorithm, 0);
    return absl::InvalidArgumentError(absl::StrCat(
        "subject public key algorithm ", oid,
        " is not supported; use EC P-256, EC P-384, Ed25519 or RSA 2048-4096"));
  }
  // The parameters: the curve OID for EC, NULL for RSA, absent for Ed25519.
  int param_type = V_ASN1_UNDEF;
  if (algorithm->parameter != nullptr) {
    param_type = algorithm->parameter->type;
  }
  bool params_ok = nid == NID_X9_62_id_ecPublicKey ? param_type == V_ASN1_OBJECT
                   : nid == NID_rsaEncryption      ? param_type == V_ASN1_NULL
                                                   : param_type == V_ASN1_UNDEF;
  if (!params_ok) {
    return absl::InvalidArgumentError(
        "subject public key has unexpected algorithm parameters (explicit EC "
        "parameters are not supported)");
  }
  ASN1_BIT_STRING* bits = spki->public_key;
  if ((bits->flags & ASN1_STRING_FLAG_BITS_LEFT) != 0 && (bits->flags & 7)) {
    return absl::InvalidArgumentError(
        "subject public key bit string has unused bits");
  }
  if (bits->length <= 0) {
    return absl::InvalidArgumentError("subject public key bits are empty");
  }

  SubjectKey key;
  key.is_rsa = nid == NID_rsaEncryption;
  SHA1(bits->data, static_cast<size_t>(bits->length), key.ski);

  // Move the parsed pieces into the certificate's X509_PUBKEY:
  // X509_PUBKEY_set0_param takes ownership of the object, the parameter value
  // and the key bytes, so each is detached from `spki` first.
  ASN1_OBJECT* object = algorithm->algorithm;
  algorithm->algorithm = nullptr;
  void* param_value = nullptr;
  if (param_type == V_ASN1_OBJECT) {
    param_value = algorithm->parameter->value.object;
    algorithm->parameter->value.object = nullptr;
  }
  unsigned char* key_bytes = bits->data;
  int key_len = bits->length;
  bits->data = nullptr;
  bits->length = 0;
  if (X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x509), object, param_type,
                             param_value, key_bytes, key_len) != 1) {
    // On failure nothing was taken over.
    ASN1_OBJECT_free(object);
    ASN1_OBJECT_free(static_cast<ASN1_OBJECT*>(param_value));
    OPENSSL_free(key_bytes);
    return SslInternalError("cannot set the subject public key");
  }
  return key;
}

absl::Status SetTime(ASN1_TIME* field, absl::Time t, absl::string_view what) {
  if (ASN1_TIME_set(field, absl::ToTimeT(t)) == nullptr) {
    return SslInternalError(absl::StrCat("cannot set ", what));
  }
  return absl::OkStatus();
}

absl::Status AddExtension(X509* x509, int nid, void* value, bool critical,
                          absl::string_view what) {
  // X509_add1_ext_i2d encodes `value` and appends the extension without
  // copying it again.
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

// Appends a URI or DNS name (an IA5String) to `names`.
absl::Status PushIa5Name(GENERAL_NAMES* names, int type,
                         absl::string_view value) {
  SslPtr<GENERAL_NAME> name(GENERAL_NAME_new());
  SslPtr<ASN1_STRING> ia5(ASN1_IA5STRING_new());
  if (name == nullptr || ia5 == nullptr ||
      ASN1_STRING_set(ia5.get(), value.data(),
                      static_cast<int>(value.size())) != 1) {
    return SslInternalError("cannot build a subjectAltName entry");
  }
  GENERAL_NAME_set0_value(name.get(), type, ia5.release());  // takes ia5
  if (sk_GENERAL_NAME_push(names, name.get()) == 0) {
    return SslInternalError("cannot build a subjectAltName entry");
  }
  name.release();  // sk_GENERAL_NAME_push took ownership.
  return absl::OkStatus();
}

absl::StatusOr<SslPtr<ASN1_STRING>> ParseIpAddress(const std::string& text) {
  SslPtr<ASN1_STRING> ip(a2i_IPADDRESS(text.c_str()));
  if (ip == nullptr) {
    ClearSslErrors();
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\" is not an IPv4 or IPv6 address"));
  }
  return ip;
}

absl::Status PushIpName(GENERAL_NAMES* names, const std::string& text) {
  ROTOR_ASSIGN_OR_RETURN(SslPtr<ASN1_STRING> ip, ParseIpAddress(text));
  SslPtr<GENERAL_NAME> name(GENERAL_NAME_new());
  if (name == nullptr) return SslInternalError("GENERAL_NAME_new");
  GENERAL_NAME_set0_value(name.get(), GEN_IPADD, ip.release());  // takes ip
  if (sk_GENERAL_NAME_push(names, name.get()) == 0) {
    return SslInternalError("cannot build a subjectAltName entry");
  }
  name.release();  // sk_GENERAL_NAME_push took ownership.
  return absl::OkStatus();
}

// Refusals that depend only on the template and the signer.
absl::Status CheckRequest(const LeafTemplate& leaf, const Signer& signer,
                          absl::Time now) {
  if (leaf.ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate TTL must be positive, got ",
                     absl::FormatDuration(leaf.ttl)));
  }
  if (leaf.spiffe_id.empty() && leaf.dns_names.empty() &&
      leaf.ip_addresses.empty()) {
    return absl::InvalidArgumentError(
        "certificate has no subjectAltName; give a SPIFFE ID, a DNS name or "
        "an IP address");
  }
  if (!leaf.spiffe_id.empty()) {
    ROTOR_RETURN_IF_ERROR(SpiffeId::Parse(leaf.spiffe_id).status());
  }
  for (const std::string& dns : leaf.dns_names) {
    ROTOR_RETURN_IF_ERROR(ValidateDnsName(dns, /*allow_wildcard=*/true));
  }
  if (leaf.common_name_from_dns) {
    if (leaf.dns_names.empty()) {
      return absl::InvalidArgumentError(
          "common_name_from_dns needs at least one DNS name");
    }
    if (leaf.dns_names.front().size() > kMaxCommonNameBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "DNS name \"", leaf.dns_names.front(),
          "\" is longer than 64 characters and cannot be the common name"));
    }
  }
  const Certificate& ca = signer.certificate;
  if (!ca.IsCa()) {
    return absl::InvalidArgumentError(
        absl::StrCat("signer certificate \"", ca.Subject(),
                     "\" is not a CA (basicConstraints CA:TRUE missing)"));
  }
  if (ca.NotAfter() <= now) {
    return absl::InvalidArgumentError(
        absl::StrCat("signer certificate \"", ca.Subject(), "\" expired at ",
                     absl::FormatTime(ca.NotAfter(), absl::UTCTimeZone())));
  }
  return absl::OkStatus();
}

// The key identifier the leaf's AKI names: the signer's SKI, or the SHA-1 of
// its public key bits when it has none (an operator's upstream CA may not).
absl::StatusOr<SslPtr<ASN1_STRING>> SignerKeyId(X509* signer) {
  const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(signer);
  if (ski != nullptr) {
    return OctetString(ASN1_STRING_get0_data(ski),
                       static_cast<size_t>(ASN1_STRING_length(ski)));
  }
  ClearSslErrors();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_pubkey_digest(signer, EVP_sha1(), digest, &len) != 1) {
    return SslInternalError("cannot hash the signer's public key");
  }
  return OctetString(digest, len);
}

std::vector<int> EkuNids(CertificateUsage usage) {
  switch (usage) {
    case CertificateUsage::kWorkload:
      return {NID_server_auth, NID_client_auth};
    case CertificateUsage::kNode:
      return {NID_client_auth};
    case CertificateUsage::kServer:
      return {NID_server_auth};
  }
  return {};
}

absl::Status AddExtensions(X509* x509, const LeafTemplate& leaf,
                           const SubjectKey& key, const Signer& signer) {
  // basicConstraints critical CA:FALSE (the DEFAULT FALSE is not encoded: an
  // empty SEQUENCE).
  SslPtr<BASIC_CONSTRAINTS> bc(BASIC_CONSTRAINTS_new());
  if (bc == nullptr) return SslInternalError("BASIC_CONSTRAINTS_new");
  ROTOR_RETURN_IF_ERROR(AddExtension(x509, NID_basic_constraints, bc.get(),
                                     true, "basicConstraints"));

  SslPtr<ASN1_STRING> ku(ASN1_BIT_STRING_new());
  if (ku == nullptr ||
      ASN1_BIT_STRING_set_bit(ku.get(), kKuDigitalSignature, 1) != 1 ||
      (key.is_rsa &&
       ASN1_BIT_STRING_set_bit(ku.get(), kKuKeyEncipherment, 1) != 1)) {
    return SslInternalError("cannot build the keyUsage bits");
  }
  ROTOR_RETURN_IF_ERROR(
      AddExtension(x509, NID_key_usage, ku.get(), true, "keyUsage"));

  SslPtr<EXTENDED_KEY_USAGE> eku(sk_ASN1_OBJECT_new_null());
  if (eku == nullptr) return SslInternalError("cannot build the EKU");
  for (int nid : EkuNids(leaf.usage)) {
    // OBJ_nid2obj returns a static object; freeing it later is a no-op.
    if (sk_ASN1_OBJECT_push(eku.get(), OBJ_nid2obj(nid)) == 0) {
      return SslInternalError("cannot build the EKU");
    }
  }
  ROTOR_RETURN_IF_ERROR(AddExtension(x509, NID_ext_key_usage, eku.get(), false,
                                     "extendedKeyUsage"));

  ROTOR_ASSIGN_OR_RETURN(SslPtr<ASN1_STRING> ski,
                         OctetString(key.ski, sizeof(key.ski)));
  ROTOR_RETURN_IF_ERROR(AddExtension(x509, NID_subject_key_identifier,
                                     ski.get(), false, "subjectKeyIdentifier"));

  ROTOR_ASSIGN_OR_RETURN(SslPtr<ASN1_STRING> key_id,
                         SignerKeyId(signer.certificate.get()));
  SslPtr<AUTHORITY_KEYID> akid(AUTHORITY_KEYID_new());
  if (akid == nullptr) return SslInternalError("AUTHORITY_KEYID_new");
  akid->keyid = key_id.release();  // akid owns it from here on.
  ROTOR_RETURN_IF_ERROR(AddExtension(x509, NID_authority_key_identifier,
                                     akid.get(), false,
                                     "authorityKeyIdentifier"));

  SslPtr<GENERAL_NAMES> sans(GENERAL_NAMES_new());
  if (sans == nullptr) return SslInternalError("GENERAL_NAMES_new");
  if (!leaf.spiffe_id.empty()) {
    ROTOR_RETURN_IF_ERROR(PushIa5Name(sans.get(), GEN_URI, leaf.spiffe_id));
  }
  for (const std::string& dns : leaf.dns_names) {
    ROTOR_RETURN_IF_ERROR(PushIa5Name(sans.get(), GEN_DNS, dns));
  }
  for (const std::string& ip : leaf.ip_addresses) {
    ROTOR_RETURN_IF_ERROR(PushIpName(sans.get(), ip));
  }
  // RFC 5280 4.2.1.6: critical when the subject is empty.
  ROTOR_RETURN_IF_ERROR(AddExtension(x509, NID_subject_alt_name, sans.get(),
                                     !leaf.common_name_from_dns,
                                     "subjectAltName"));

  if (!leaf.crl_url.empty()) {
    SslPtr<CRL_DIST_POINTS> points(sk_DIST_POINT_new_null());
    DIST_POINT* point = DIST_POINT_new();
    if (points == nullptr || point == nullptr) {
      DIST_POINT_free(point);
      return SslInternalError("cannot build the CRL distribution point");
    }
    if (sk_DIST_POINT_push(points.get(), point) == 0) {
      DIST_POINT_free(point);
      return SslInternalError("cannot build the CRL distribution point");
    }
    // `points` owns `point` from here on.
    point->distpoint = DIST_POINT_NAME_new();
    if (point->distpoint == nullptr) {
      return SslInternalError("cannot build the CRL distribution point");
    }
    point->distpoint->type = 0;  // fullName
    point->distpoint->name.fullname = GENERAL_NAMES_new();
    if (point->distpoint->name.fullname == nullptr) {
      return SslInternalError("cannot build the CRL distribution point");
    }
    ROTOR_RETURN_IF_ERROR(
        PushIa5Name(point->distpoint->name.fullname, GEN_URI, leaf.crl_url));
    ROTOR_RETURN_IF_ERROR(AddExtension(x509, NID_crl_distribution_points,
                                       points.get(), false,
                                       "cRLDistributionPoints"));
  }
  return absl::OkStatus();
}

// --- The profile lint (CheckLeafProfile) ---

absl::Status LintError(absl::string_view what) {
  return absl::InternalError(
      absl::StrCat("certificate does not match the profile: ", what));
}

// -1 if absent, otherwise the critical flag (0 or 1). -2 if present twice.
int ExtensionCriticality(X509* x509, int nid) {
  int index = X509_get_ext_by_NID(x509, nid, -1);
  if (index < 0) return -1;
  if (X509_get_ext_by_NID(x509, nid, index) >= 0) return -2;
  return X509_EXTENSION_get_critical(X509_get_ext(x509, index));
}

absl::Status ExpectCriticality(X509* x509, int nid, int expected) {
  int got = ExtensionCriticality(x509, nid);
  if (got == expected) return absl::OkStatus();
  const char* name = OBJ_nid2sn(nid);
  if (got == -2) return LintError(absl::StrCat(name, " appears twice"));
  if (expected == -1) return LintError(absl::StrCat(name, " is present"));
  if (got == -1) return LintError(absl::StrCat(name, " is missing"));
  return LintError(
      absl::StrCat(name, expected ? " is not critical" : " is critical"));
}

std::string StringOf(const ASN1_STRING* s) {
  if (s == nullptr) return "";
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
}

absl::Time TruncatedToSeconds(absl::Time t) {
  return absl::FromTimeT(absl::ToTimeT(t));
}

absl::Status LintSans(X509* x509, const LeafTemplate& leaf) {
  std::vector<std::string> expected;
  if (!leaf.spiffe_id.empty()) expected.push_back("URI:" + leaf.spiffe_id);
  for (const std::string& dns : leaf.dns_names)
    expected.push_back("DNS:" + dns);
  for (const std::string& ip : leaf.ip_addresses) {
    ROTOR_ASSIGN_OR_RETURN(SslPtr<ASN1_STRING> bytes, ParseIpAddress(ip));
    expected.push_back("IP:" + StringOf(bytes.get()));
  }
  SslPtr<GENERAL_NAMES> names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(x509, NID_subject_alt_name, nullptr, nullptr)));
  if (names == nullptr) {
    ClearSslErrors();
    return LintError("subjectAltName does not parse");
  }
  std::vector<std::string> got;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    switch (name->type) {
      case GEN_URI:
        got.push_back("URI:" + StringOf(name->d.uniformResourceIdentifier));
        break;
      case GEN_DNS:
        got.push_back("DNS:" + StringOf(name->d.dNSName));
        break;
      case GEN_IPADD:
        got.push_back("IP:" + StringOf(name->d.iPAddress));
        break;
      default:
        got.push_back(absl::StrCat("type ", name->type));
        break;
    }
  }
  if (got != expected) {
    return LintError(absl::StrCat("subjectAltName has ", got.size(),
                                  " names, not the ", expected.size(),
                                  " requested ones in order"));
  }
  return absl::OkStatus();
}

absl::Status LintCrlDistributionPoint(X509* x509, const LeafTemplate& leaf) {
  if (leaf.crl_url.empty()) {
    return ExpectCriticality(x509, NID_crl_distribution_points, -1);
  }
  ROTOR_RETURN_IF_ERROR(
      ExpectCriticality(x509, NID_crl_distribution_points, 0));
  SslPtr<CRL_DIST_POINTS> points(static_cast<CRL_DIST_POINTS*>(
      X509_get_ext_d2i(x509, NID_crl_distribution_points, nullptr, nullptr)));
  if (points == nullptr || sk_DIST_POINT_num(points.get()) != 1) {
    ClearSslErrors();
    return LintError("cRLDistributionPoints is not one distribution point");
  }
  const DIST_POINT* point = sk_DIST_POINT_value(points.get(), 0);
  if (point->distpoint == nullptr || point->distpoint->type != 0 ||
      sk_GENERAL_NAME_num(point->distpoint->name.fullname) != 1) {
    return LintError("cRLDistributionPoints has no single fullName");
  }
  const GENERAL_NAME* name =
      sk_GENERAL_NAME_value(point->distpoint->name.fullname, 0);
  if (name->type != GEN_URI ||
      StringOf(name->d.uniformResourceIdentifier) != leaf.crl_url) {
    return LintError("cRLDistributionPoints URI differs from crl_url");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckLeafProfile(const Certificate& built,
                              const LeafTemplate& leaf, const Signer& signer,
                              absl::Time now) {
  // Lint what a relying party will see: the DER, parsed afresh.
  ROTOR_ASSIGN_OR_RETURN(Certificate cert, Certificate::FromDer(built.der()));
  X509* x509 = cert.get();
  X509* ca = signer.certificate.get();

  if (X509_get_version(x509) != X509_VERSION_3) {
    return LintError("version is not 3");
  }
  const ASN1_INTEGER* serial = X509_get0_serialNumber(x509);
  if (ASN1_STRING_type(serial) != V_ASN1_INTEGER ||
      ASN1_STRING_length(serial) > static_cast<int>(kSerialBytes)) {
    return LintError("serial is not a positive integer of at most 16 bytes");
  }
  if (X509_NAME_cmp(X509_get_issuer_name(x509), X509_get_subject_name(ca)) !=
      0) {
    return LintError("issuer is not the signer's subject");
  }
  EVP_PKEY* ca_key = signer.certificate.PublicKey();
  if (ca_key == nullptr || X509_verify(x509, ca_key) != 1) {
    ClearSslErrors();
    return LintError("signature does not verify with the signer's key");
  }
  if (X509_get_signature_nid(x509) == NID_undef) {
    return LintError("unknown signature algorithm");
  }
  if (cert.NotBefore() != TruncatedToSeconds(now - kBackdate)) {
    return LintError("notBefore is not now - 60s");
  }
  absl::Time not_after = TruncatedToSeconds(
      std::min(now + leaf.ttl, signer.certificate.NotAfter()));
  if (cert.NotAfter() != not_after) {
    return LintError("notAfter is not min(now + ttl, signer's notAfter)");
  }

  // The subject key: the template's SPKI, byte for byte.
  unsigned char* spki = nullptr;
  int spki_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x509), &spki);
  if (spki_len <= 0) {
    ClearSslErrors();
    return LintError("subject public key does not encode");
  }
  bool same_key =
      absl::string_view(reinterpret_cast<char*>(spki),
                        static_cast<size_t>(spki_len)) == leaf.public_key_der;
  OPENSSL_free(spki);
  if (!same_key) return LintError("subject public key differs from the CSR's");

  // Exactly the profile's extensions, each once, with the right criticality.
  int expected_count = 6 + (leaf.crl_url.empty() ? 0 : 1);
  if (X509_get_ext_count(x509) != expected_count) {
    return LintError(absl::StrCat("has ", X509_get_ext_count(x509),
                                  " extensions, expected ", expected_count));
  }
  ROTOR_RETURN_IF_ERROR(ExpectCriticality(x509, NID_basic_constraints, 1));
  if (cert.IsCa() || X509_get_pathlen(x509) != -1) {
    return LintError("basicConstraints is not CA:FALSE");
  }
  ROTOR_RETURN_IF_ERROR(ExpectCriticality(x509, NID_key_usage, 1));
  bool is_rsa = EVP_PKEY_get_base_id(cert.PublicKey()) == EVP_PKEY_RSA;
  uint32_t ku = KU_DIGITAL_SIGNATURE | (is_rsa ? KU_KEY_ENCIPHERMENT : 0);
  if (X509_get_key_usage(x509) != ku) {
    return LintError(is_rsa ? "keyUsage is not digitalSignature + "
                              "keyEncipherment"
                            : "keyUsage is not digitalSignature");
  }
  ROTOR_RETURN_IF_ERROR(ExpectCriticality(x509, NID_ext_key_usage, 0));
  uint32_t xku = 0;
  for (int nid : EkuNids(leaf.usage)) {
    xku |= nid == NID_server_auth ? XKU_SSL_SERVER : XKU_SSL_CLIENT;
  }
  if (X509_get_extended_key_usage(x509) != xku) {
    return LintError("extendedKeyUsage does not match the usage");
  }
  ROTOR_RETURN_IF_ERROR(ExpectCriticality(x509, NID_subject_key_identifier, 0));
  unsigned char ski[SHA_DIGEST_LENGTH];
  const ASN1_BIT_STRING* bits = X509_get0_pubkey_bitstr(x509);
  SHA1(ASN1_STRING_get0_data(bits),
       static_cast<size_t>(ASN1_STRING_length(bits)), ski);
  if (StringOf(X509_get0_subject_key_id(x509)) !=
      absl::string_view(reinterpret_cast<char*>(ski), sizeof(ski))) {
    return LintError("subjectKeyIdentifier is not the SHA-1 of the key bits");
  }
  ROTOR_RETURN_IF_ERROR(
      ExpectCriticality(x509, NID_authority_key_identifier, 0));
  ROTOR_ASSIGN_OR_RETURN(SslPtr<ASN1_STRING> ca_key_id, SignerKeyId(ca));
  if (StringOf(X509_get0_authority_key_id(x509)) != StringOf(ca_key_id.get()) ||
      X509_get0_authority_issuer(x509) != nullptr ||
      X509_get0_authority_serial(x509) != nullptr) {
    return LintError("authorityKeyIdentifier is not the signer's key id");
  }
  if (X509_check_issued(ca, x509) != X509_V_OK) {
    return LintError("OpenSSL does not see the signer as the issuer");
  }

  // Subject and SAN criticality go together (RFC 5280 4.2.1.6).
  X509_NAME* subject = X509_get_subject_name(x509);
  if (leaf.common_name_from_dns) {
    ROTOR_RETURN_IF_ERROR(ExpectCriticality(x509, NID_subject_alt_name, 0));
    if (X509_NAME_entry_count(subject) != 1 ||
        cert.Subject() != "CN=" + leaf.dns_names.front()) {
      return LintError("subject is not CN=<first DNS name>");
    }
  } else {
    ROTOR_RETURN_IF_ERROR(ExpectCriticality(x509, NID_subject_alt_name, 1));
    if (X509_NAME_entry_count(subject) != 0) {
      return LintError("subject is not empty");
    }
  }
  ROTOR_RETURN_IF_ERROR(LintSans(x509, leaf));
  ROTOR_RETURN_IF_ERROR(LintCrlDistributionPoint(x509, leaf));
  if ((X509_get_extension_flags(x509) & EXFLAG_INVALID) != 0) {
    return LintError("OpenSSL finds its extensions invalid");
  }
  return absl::OkStatus();
}

absl::StatusOr<Certificate> BuildLeafCertificate(const LeafTemplate& leaf,
                                                 const Signer& signer,
                                                 absl::Time now,
                                                 Random& random) {
  ClearSslErrors();
  ROTOR_RETURN_IF_ERROR(CheckRequest(leaf, signer, now));

  SslPtr<X509> x509(X509_new());
  if (x509 == nullptr) return SslInternalError("X509_new");
  ROTOR_ASSIGN_OR_RETURN(SubjectKey key,
                         SetSubjectPublicKey(x509.get(), leaf.public_key_der));
  if (X509_set_version(x509.get(), X509_VERSION_3) != 1) {
    return SslInternalError("cannot set the certificate version");
  }
  ROTOR_ASSIGN_OR_RETURN(std::string serial, GenerateSerial(random));
  ROTOR_ASSIGN_OR_RETURN(SslPtr<ASN1_INTEGER> serial_asn1,
                         SerialToAsn1(serial));
  if (X509_set_serialNumber(x509.get(), serial_asn1.get()) != 1) {
    return SslInternalError("cannot set the serial number");
  }
  if (X509_set_issuer_name(
          x509.get(), X509_get_subject_name(signer.certificate.get())) != 1) {
    return SslInternalError("cannot set the issuer name");
  }
  ROTOR_RETURN_IF_ERROR(
      SetTime(X509_getm_notBefore(x509.get()), now - kBackdate, "notBefore"));
  ROTOR_RETURN_IF_ERROR(SetTime(
      X509_getm_notAfter(x509.get()),
      std::min(now + leaf.ttl, signer.certificate.NotAfter()), "notAfter"));
  if (leaf.common_name_from_dns) {
    const std::string& cn = leaf.dns_names.front();
    if (X509_NAME_add_entry_by_NID(
            X509_get_subject_name(x509.get()), NID_commonName, MBSTRING_UTF8,
            reinterpret_cast<const unsigned char*>(cn.data()),
            static_cast<int>(cn.size()), -1, 0) != 1) {
      return SslInternalError("cannot set the subject common name");
    }
  }
  ROTOR_RETURN_IF_ERROR(AddExtensions(x509.get(), leaf, key, signer));

  if (X509_sign(x509.get(), signer.key.get(),
                SignatureDigest(signer.key.get())) <= 0) {
    return SslInternalError("cannot sign the certificate");
  }
  ROTOR_ASSIGN_OR_RETURN(Certificate cert, Certificate::Adopt(std::move(x509)));
#ifndef NDEBUG
  ROTOR_RETURN_IF_ERROR(CheckLeafProfile(cert, leaf, signer, now));
#endif
  return cert;
}

}  // namespace rotor::pki
