#include "pki/csr.h"

#include <openssl/asn1t.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <climits>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "pki/ssl_error.h"
#include "util/status_macros.h"

namespace rotor::pki {
namespace {

// RFC 2986 CertificationRequest read field by field as OpenSSL's X509_REQ
// template reads it (crypto/x509/x_req.c), except that the
// SubjectPublicKeyInfo is read as its two fields, without decoding the key.
// OpenSSL 3.0 decodes the key of every X509_REQ it parses through its
// provider decoders, and setting those up (OSSL_DECODER_CTX_new_for_pkey)
// cost more than the CSR's signature check itself; ParsedCsr::Parse builds
// the key from its parts instead (PublicKeyOf).
struct RawSpki {
  X509_ALGOR* algorithm;
  ASN1_BIT_STRING* public_key;
};

struct RawCsrInfo {
  ASN1_ENCODING enc;  // the bytes as received, which the signature covers
  ASN1_INTEGER* version;
  X509_NAME* subject;
  RawSpki* public_key;
  STACK_OF(X509_ATTRIBUTE) * attributes;
};

struct RawCsr {
  RawCsrInfo* info;
  X509_ALGOR* signature_algorithm;
  ASN1_BIT_STRING* signature;
};

// clang-format off
ASN1_SEQUENCE(RawSpki) = {
    ASN1_SIMPLE(RawSpki, algorithm, X509_ALGOR),
    ASN1_SIMPLE(RawSpki, public_key, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(RawSpki)

ASN1_SEQUENCE_enc(RawCsrInfo, enc, 0) = {
    ASN1_SIMPLE(RawCsrInfo, version, ASN1_INTEGER),
    ASN1_SIMPLE(RawCsrInfo, subject, X509_NAME),
    ASN1_SIMPLE(RawCsrInfo, public_key, RawSpki),
    // Not OPTIONAL in RFC 2986; OpenSSL's template accepts it missing too.
    ASN1_IMP_SET_OF_OPT(RawCsrInfo, attributes, X509_ATTRIBUTE, 0),
} static_ASN1_SEQUENCE_END_ref(RawCsrInfo, RawCsrInfo)

ASN1_SEQUENCE(RawCsr) = {
    ASN1_SIMPLE(RawCsr, info, RawCsrInfo),
    ASN1_SIMPLE(RawCsr, signature_algorithm, X509_ALGOR),
    ASN1_SIMPLE(RawCsr, signature, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(RawCsr)
// clang-format on

struct RawCsrDeleter {
  void operator()(RawCsr* csr) const {
    ASN1_item_free(reinterpret_cast<ASN1_VALUE*>(csr), ASN1_ITEM_rptr(RawCsr));
  }
};
using RawCsrPtr = std::unique_ptr<RawCsr, RawCsrDeleter>;

// The DER SubjectPublicKeyInfo of `spki`.
absl::StatusOr<std::string> EncodeSpki(const RawSpki* spki) {
  unsigned char* der = nullptr;
  int len = ASN1_item_i2d(
      reinterpret_cast<const ASN1_VALUE*>(spki), &der, ASN1_ITEM_rptr(RawSpki));
  if (len <= 0 || der == nullptr) {
    return SslInternalError("cannot encode CSR public key");
  }
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

// The domain parameters of the named curve `group` (a short name), as a key
// without a point, or null if OpenSSL does not know the curve.
EVP_PKEY* MakeCurveParameters(const char* group) {
  SslPtr<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                       const_cast<char*>(group), 0),
      OSSL_PARAM_construct_end()};
  EVP_PKEY* key = nullptr;
  if (ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_KEY_PARAMETERS, params) !=
          1) {
    return nullptr;
  }
  return key;
}

// The parameters of the curves rotor accepts (P-256, P-384), made once and
// never freed; null for any other curve. Building a group from its name
// (EC_GROUP_new_by_curve_name) cost about as much as the rest of the CSR's
// parse; copying a built one into each key (EVP_PKEY_dup) is a fraction
// of that.
EVP_PKEY* CurveParameters(int curve) {
  static EVP_PKEY* const p256 = MakeCurveParameters(SN_X9_62_prime256v1);
  static EVP_PKEY* const p384 = MakeCurveParameters(SN_secp384r1);
  switch (curve) {
    case NID_X9_62_prime256v1:
      return p256;
    case NID_secp384r1:
      return p384;
  }
  return nullptr;
}

// The key of a SubjectPublicKeyInfo, or null if it cannot be decoded. A
// P-256 or P-384 key and an Ed25519 key are built from their parts (setting
// an EC point checks that it lies on the curve, as decoding does); any other
// key, other curves included, goes through OpenSSL's decoders (d2i_PUBKEY).
SslPtr<EVP_PKEY> PublicKeyOf(const RawSpki& spki, absl::string_view der) {
  const int nid = OBJ_obj2nid(spki.algorithm->algorithm);
  const ASN1_TYPE* parameter = spki.algorithm->parameter;
  const ASN1_BIT_STRING* bits = spki.public_key;
  const bool whole_bytes = (bits->flags & ASN1_STRING_FLAG_BITS_LEFT) == 0 ||
                           (bits->flags & 7) == 0;
  if (nid == NID_X9_62_id_ecPublicKey && parameter != nullptr &&
      parameter->type == V_ASN1_OBJECT && whole_bytes && bits->length > 0) {
    const int curve = OBJ_obj2nid(parameter->value.object);
    if (EVP_PKEY* parameters = CurveParameters(curve); parameters != nullptr) {
      SslPtr<EVP_PKEY> key(EVP_PKEY_dup(parameters));
      if (key == nullptr ||
          EVP_PKEY_set1_encoded_public_key(
              key.get(), bits->data, static_cast<size_t>(bits->length)) != 1) {
        return nullptr;
      }
      return key;
    }
  }
  if (nid == NID_ED25519 && parameter == nullptr && whole_bytes) {
    return SslPtr<EVP_PKEY>(EVP_PKEY_new_raw_public_key_ex(
        nullptr, "ED25519", nullptr, bits->data,
        static_cast<size_t>(bits->length)));
  }
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  return SslPtr<EVP_PKEY>(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
}

// What a person calls each GeneralName type (RFC 5280 section 4.2.1.6).
absl::string_view GeneralNameTypeName(int type) {
  switch (type) {
    case GEN_OTHERNAME:
      return "other name";
    case GEN_EMAIL:
      return "email";
    case GEN_DNS:
      return "DNS name";
    case GEN_X400:
      return "X.400 address";
    case GEN_DIRNAME:
      return "directory name";
    case GEN_EDIPARTY:
      return "EDI party name";
    case GEN_URI:
      return "URI";
    case GEN_IPADD:
      return "IP address";
    case GEN_RID:
      return "registered ID";
  }
  return "unknown";
}

// Returns an error naming the first byte of `value` that is not printable
// ASCII (0x20-0x7e), or of an empty value. `what` is "URI" or "DNS name".
absl::Status CheckSanString(absl::string_view what, absl::string_view value) {
  if (value.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("CSR subjectAltName has an empty ", what));
  }
  for (char c : value) {
    unsigned char byte = static_cast<unsigned char>(c);
    if (byte == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("CSR subjectAltName ", what, " \"",
                       absl::CHexEscape(value), "\" contains a NUL byte"));
    }
    if (byte < 0x20 || byte > 0x7e) {
      return absl::InvalidArgumentError(absl::StrCat(
          "CSR subjectAltName ", what, " \"", absl::CHexEscape(value),
          "\" contains a byte that is not printable ASCII (0x",
          absl::Hex(byte, absl::kZeroPad2), ")"));
    }
  }
  return absl::OkStatus();
}

// A GENERAL_NAME of type URI or DNS holding `value`.
absl::StatusOr<SslPtr<GENERAL_NAME>> MakeGeneralName(int type,
                                                     absl::string_view value) {
  if (value.size() > INT_MAX) {
    return absl::InvalidArgumentError("subjectAltName value is too long");
  }
  SslPtr<ASN1_STRING> ia5(ASN1_IA5STRING_new());
  if (ia5 == nullptr || ASN1_STRING_set(ia5.get(), value.data(),
                                        static_cast<int>(value.size())) != 1) {
    return SslInternalError("cannot build a subjectAltName entry");
  }
  SslPtr<GENERAL_NAME> name(GENERAL_NAME_new());
  if (name == nullptr) return SslInternalError("GENERAL_NAME_new");
  // GENERAL_NAME_set0_value cannot fail and takes ownership of ia5.
  GENERAL_NAME_set0_value(name.get(), type, ia5.release());
  return name;
}

absl::StatusOr<std::string> EncodeReq(X509_REQ* req) {
  unsigned char* der = nullptr;
  int len = i2d_X509_REQ(req, &der);
  if (len <= 0) return SslInternalError("cannot encode CSR");
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

// The extensions a CSR requests, with the refusals that do not depend on
// their content: a malformed extensionRequest attribute, two of them, or an
// extension requested twice. Reads the attributes as X509_REQ_get_extensions
// does: the first PKCS#9 extensionRequest, else a Microsoft one.
absl::StatusOr<X509ExtensionStack> RequestedExtensions(
    const STACK_OF(X509_ATTRIBUTE) * attributes) {
  int first = X509at_get_attr_by_NID(attributes, NID_ext_req, -1);
  if (first >= 0) {
    if (X509at_get_attr_by_NID(attributes, NID_ext_req, first) >= 0) {
      return absl::InvalidArgumentError(
          "CSR has more than one extensionRequest attribute");
    }
    if (X509_ATTRIBUTE_count(X509at_get_attr(attributes, first)) != 1) {
      return absl::InvalidArgumentError(
          "CSR extensionRequest attribute must hold exactly one value");
    }
  }
  ASN1_TYPE* value = nullptr;
  for (int nid : {NID_ext_req, NID_ms_ext_req}) {
    int index = X509at_get_attr_by_NID(attributes, nid, -1);
    if (index < 0) continue;
    value = X509_ATTRIBUTE_get0_type(X509at_get_attr(attributes, index), 0);
    break;
  }
  X509ExtensionStack extensions;
  if (value == nullptr) {
    extensions.reset(sk_X509_EXTENSION_new_null());
    if (extensions == nullptr) return SslInternalError("sk_X509_EXTENSION_new_null");
    return extensions;
  }
  if (value->type == V_ASN1_SEQUENCE) {
    const unsigned char* p = value->value.sequence->data;
    extensions.reset(
        d2i_X509_EXTENSIONS(nullptr, &p, value->value.sequence->length));
  }
  if (extensions == nullptr) {
    return SslError(absl::StatusCode::kInvalidArgument,
                    "CSR extension request is malformed");
  }
  for (int i = 0; i < sk_X509_EXTENSION_num(extensions.get()); ++i) {
    const ASN1_OBJECT* oid =
        X509_EXTENSION_get_object(sk_X509_EXTENSION_value(extensions.get(), i));
    for (int j = 0; j < i; ++j) {
      const ASN1_OBJECT* earlier = X509_EXTENSION_get_object(
          sk_X509_EXTENSION_value(extensions.get(), j));
      if (OBJ_cmp(oid, earlier) == 0) {
        char name[128];
        OBJ_obj2txt(name, sizeof(name), oid, 0);
        return absl::InvalidArgumentError(absl::StrCat(
            "CSR requests the ", name, " extension more than once"));
      }
    }
  }
  return extensions;
}

X509_EXTENSION* FindExtension(STACK_OF(X509_EXTENSION) * extensions, int nid) {
  for (int i = 0; i < sk_X509_EXTENSION_num(extensions); ++i) {
    X509_EXTENSION* ext = sk_X509_EXTENSION_value(extensions, i);
    if (OBJ_obj2nid(X509_EXTENSION_get_object(ext)) == nid) return ext;
  }
  return nullptr;
}

absl::Status CheckBasicConstraints(STACK_OF(X509_EXTENSION) * extensions) {
  X509_EXTENSION* ext = FindExtension(extensions, NID_basic_constraints);
  if (ext == nullptr) return absl::OkStatus();
  SslPtr<BASIC_CONSTRAINTS> bc(
      static_cast<BASIC_CONSTRAINTS*>(X509V3_EXT_d2i(ext)));
  if (bc == nullptr) {
    return SslError(absl::StatusCode::kInvalidArgument,
                    "CSR basicConstraints extension is malformed");
  }
  if (bc->ca) {
    return absl::InvalidArgumentError(
        "CSR requests a CA certificate (basicConstraints CA:TRUE); rotor "
        "issues only end-entity certificates");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> BuildCsr(const PrivateKey& key,
                                     absl::string_view spiffe_id,
                                     absl::Span<const std::string> dns_names) {
  if (spiffe_id.empty() && dns_names.empty()) {
    return absl::InvalidArgumentError(
        "a CSR needs a SPIFFE ID or at least one DNS name");
  }
  ClearSslErrors();
  SslPtr<GENERAL_NAMES> names(GENERAL_NAMES_new());
  if (names == nullptr) return SslInternalError("GENERAL_NAMES_new");
  auto add = [&names](int type, absl::string_view value) -> absl::Status {
    ROTOR_ASSIGN_OR_RETURN(SslPtr<GENERAL_NAME> name,
                           MakeGeneralName(type, value));
    if (sk_GENERAL_NAME_push(names.get(), name.get()) == 0) {
      return SslInternalError("cannot build subjectAltName");
    }
    name.release();  // sk_GENERAL_NAME_push took ownership.
    return absl::OkStatus();
  };
  if (!spiffe_id.empty()) {
    ROTOR_RETURN_IF_ERROR(add(GEN_URI, spiffe_id));
  }
  for (const std::string& dns : dns_names) {
    ROTOR_RETURN_IF_ERROR(add(GEN_DNS, dns));
  }

  SslPtr<X509_REQ> req(X509_REQ_new());
  if (req == nullptr) return SslInternalError("X509_REQ_new");
  if (X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) != 1 ||
      X509_REQ_set_pubkey(req.get(), key.get()) != 1) {
    return SslInternalError("cannot set CSR version and public key");
  }
  // The subject stays empty, so the SAN is critical (RFC 5280 4.2.1.6).
  SslPtr<X509_EXTENSION> san(
      X509V3_EXT_i2d(NID_subject_alt_name, /*crit=*/1, names.get()));
  if (san == nullptr) return SslInternalError("cannot encode subjectAltName");
  X509ExtensionStack extensions(sk_X509_EXTENSION_new_null());
  if (extensions == nullptr ||
      sk_X509_EXTENSION_push(extensions.get(), san.get()) == 0) {
    return SslInternalError("cannot build CSR extensions");
  }
  san.release();  // sk_X509_EXTENSION_push took ownership.
  if (X509_REQ_add_extensions(req.get(), extensions.get()) != 1) {
    return SslInternalError("cannot add extensions to CSR");
  }
  if (X509_REQ_sign(req.get(), key.get(), SignatureDigest(key.get())) <= 0) {
    return SslInternalError("cannot sign CSR");
  }
  return EncodeReq(req.get());
}

absl::StatusOr<ParsedCsr> ParsedCsr::Parse(absl::string_view der) {
  ClearSslErrors();
  if (der.empty()) return absl::InvalidArgumentError("CSR is empty");
  if (der.size() > kMaxCsrBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("CSR of ", der.size(), " bytes exceeds the ", kMaxCsrBytes,
                     "-byte limit"));
  }
  const unsigned char* begin =
      reinterpret_cast<const unsigned char*>(der.data());
  const unsigned char* p = begin;
  RawCsrPtr req(reinterpret_cast<RawCsr*>(ASN1_item_d2i(
      nullptr, &p, static_cast<long>(der.size()), ASN1_ITEM_rptr(RawCsr))));
  if (req == nullptr) {
    return SslError(absl::StatusCode::kInvalidArgument,
                    "CSR is not valid DER PKCS#10");
  }
  size_t consumed = static_cast<size_t>(p - begin);
  if (consumed != der.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("CSR has ", der.size() - consumed,
                     " trailing bytes after its DER encoding"));
  }
  long version = ASN1_INTEGER_get(req->info->version);
  if (version != X509_REQ_VERSION_1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CSR has version ", version + 1, "; PKCS#10 defines only version 1"));
  }

  ParsedCsr csr;
  ROTOR_ASSIGN_OR_RETURN(csr.public_key_der_, EncodeSpki(req->info->public_key));
  csr.public_key_ = PublicKeyOf(*req->info->public_key, csr.public_key_der_);
  if (csr.public_key_ == nullptr) {
    return SslError(absl::StatusCode::kInvalidArgument,
                    "CSR public key cannot be decoded");
  }
  EVP_PKEY* key = csr.public_key_.get();
  ROTOR_RETURN_IF_ERROR(CheckKeyAllowed(key));

  if (ASN1_item_verify(ASN1_ITEM_rptr(RawCsrInfo), req->signature_algorithm,
                       req->signature, req->info, key) != 1) {
    ClearSslErrors();
    return absl::InvalidArgumentError("CSR signature does not verify");
  }

  ROTOR_ASSIGN_OR_RETURN(X509ExtensionStack extensions,
                         RequestedExtensions(req->info->attributes));
  ROTOR_RETURN_IF_ERROR(CheckBasicConstraints(extensions.get()));

  X509_EXTENSION* san_ext =
      FindExtension(extensions.get(), NID_subject_alt_name);
  if (san_ext == nullptr) {
    return absl::InvalidArgumentError(
        "CSR has no subjectAltName; put the SPIFFE ID in a URI SAN");
  }
  SslPtr<GENERAL_NAMES> names(
      static_cast<GENERAL_NAMES*>(X509V3_EXT_d2i(san_ext)));
  if (names == nullptr) {
    return SslError(absl::StatusCode::kInvalidArgument,
                    "CSR subjectAltName extension is malformed");
  }
  if (sk_GENERAL_NAME_num(names.get()) <= 0) {
    return absl::InvalidArgumentError(
        "CSR subjectAltName is empty; put the SPIFFE ID in a URI SAN");
  }
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    const ASN1_IA5STRING* value;
    if (name->type == GEN_URI) {
      value = name->d.uniformResourceIdentifier;
    } else if (name->type == GEN_DNS) {
      value = name->d.dNSName;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("CSR subjectAltName has an unsupported name type (",
                       GeneralNameTypeName(name->type),
                       "); only URI and DNS names are accepted"));
    }
    std::string text(
        reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
        static_cast<size_t>(ASN1_STRING_length(value)));
    absl::string_view what = GeneralNameTypeName(name->type);
    ROTOR_RETURN_IF_ERROR(CheckSanString(what, text));
    (name->type == GEN_URI ? csr.uris_ : csr.dns_names_)
        .push_back(std::move(text));
  }
  return csr;
}

}  // namespace rotor::pki
