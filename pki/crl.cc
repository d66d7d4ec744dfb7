#include "pki/crl.h"

#include <openssl/asn1t.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <ctime>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "pki/key.h"
#include "pki/serial.h"
#include "pki/ssl_error.h"
#include "util/status_macros.h"

namespace rotor::pki {
namespace {

// Highest CRLReason code (aACompromise).
constexpr int kMaxReasonCode = 10;

// An entry after its serial was checked: canonical hex and the entry it came
// from.
struct CheckedEntry {
  std::string serial;
  const RevokedCertificate* source;
};

// Canonical hex has no leading zeros, so numeric order is (length, text).
// This is the order X509_REVOKED_cmp gives to DER INTEGERs too.
// A function object rather than a function, so that std::sort inlines it.
struct SerialLess {
  bool operator()(const CheckedEntry& a, const CheckedEntry& b) const {
    if (a.serial.size() != b.serial.size()) {
      return a.serial.size() < b.serial.size();
    }
    return a.serial < b.serial;
  }
};

bool IsFinite(absl::Time t) {
  return t != absl::InfinitePast() && t != absl::InfiniteFuture();
}

// Sets `out` (in place) to `t` as UTCTime up to 2049, GeneralizedTime after,
// as RFC 5280 requires. False if `t` cannot be written (infinite, or past
// year 9999).
bool SetTime(ASN1_TIME* out, absl::Time t) {
  if (IsFinite(t) && ASN1_TIME_set(out, absl::ToTimeT(t)) != nullptr) {
    return true;
  }
  ClearSslErrors();
  return false;
}

absl::Status TimeError(absl::string_view what, absl::Time t) {
  return absl::InvalidArgumentError(absl::StrCat(
      what, " ", absl::FormatTime(t), " cannot be written in a CRL"));
}

// The key identifier of the signer: its SKI, or, for a certificate without
// one, the SHA-1 of its subjectPublicKey (RFC 5280 section 4.2.1.2, method 1).
absl::StatusOr<SslPtr<ASN1_STRING>> SignerKeyId(X509* signer) {
  const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(signer);
  if (ski != nullptr) {
    SslPtr<ASN1_STRING> copy(ASN1_STRING_dup(ski));
    if (copy == nullptr) return SslInternalError("cannot copy the signer SKI");
    return copy;
  }
  ClearSslErrors();  // X509_get0_subject_key_id may have queued a decode error
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_pubkey_digest(signer, EVP_sha1(), digest, &len) != 1) {
    return SslInternalError("cannot hash the signer public key");
  }
  SslPtr<ASN1_STRING> id(ASN1_OCTET_STRING_new());
  if (id == nullptr ||
      ASN1_OCTET_STRING_set(id.get(), digest, static_cast<int>(len)) != 1) {
    return SslInternalError("cannot build the signer key identifier");
  }
  return id;
}

absl::Status AddCrlExtensions(X509_CRL* crl, X509* signer, uint64_t number) {
  SslPtr<ASN1_STRING> crl_number(ASN1_INTEGER_new());
  if (crl_number == nullptr ||
      ASN1_INTEGER_set_uint64(crl_number.get(), number) != 1) {
    return SslInternalError("cannot encode the CRL number");
  }
  if (X509_CRL_add1_ext_i2d(crl, NID_crl_number, crl_number.get(),
                            /*crit=*/0, X509V3_ADD_DEFAULT) != 1) {
    return SslInternalError("cannot add the cRLNumber extension");
  }

  ROTOR_ASSIGN_OR_RETURN(SslPtr<ASN1_STRING> key_id, SignerKeyId(signer));
  SslPtr<AUTHORITY_KEYID> aki(AUTHORITY_KEYID_new());
  if (aki == nullptr) return SslInternalError("AUTHORITY_KEYID_new");
  aki->keyid = key_id.release();  // owned by aki from here on
  if (X509_CRL_add1_ext_i2d(crl, NID_authority_key_identifier, aki.get(),
                            /*crit=*/0, X509V3_ADD_DEFAULT) != 1) {
    return SslInternalError("cannot add the authorityKeyIdentifier extension");
  }
  return absl::OkStatus();
}

// One ASN1_ENUMERATED per reason code, built once: an entry's reasonCode
// extension is encoded from it and pushed without the copy that
// X509_REVOKED_add_ext makes (which would cost a DER round trip per entry).
using ReasonValues = std::array<SslPtr<ASN1_STRING>, kMaxReasonCode + 1>;

absl::StatusOr<ASN1_ENUMERATED*> ReasonValue(ReasonValues& cache,
                                             RevocationReason reason) {
  int code = static_cast<int>(reason);
  if (code < 0 || code > kMaxReasonCode || code == 7) {
    return absl::InvalidArgumentError(
        absl::StrCat("revocation reason code ", code, " is not a CRLReason"));
  }
  SslPtr<ASN1_STRING>& slot = cache[static_cast<size_t>(code)];
  if (slot == nullptr) {
    slot.reset(ASN1_ENUMERATED_new());
    if (slot == nullptr || ASN1_ENUMERATED_set(slot.get(), code) != 1) {
      slot.reset();
      return SslInternalError("cannot encode a revocation reason");
    }
  }
  return slot.get();
}

absl::Status AddEntries(X509_CRL* crl, absl::Span<const CheckedEntry> entries) {
  SslPtr<ASN1_STRING> date(ASN1_TIME_new());
  if (date == nullptr) return SslInternalError("ASN1_TIME_new");
  ReasonValues reasons;
  for (const CheckedEntry& entry : entries) {
    SslPtr<X509_REVOKED> revoked(X509_REVOKED_new());
    if (revoked == nullptr) return SslInternalError("X509_REVOKED_new");
    ROTOR_ASSIGN_OR_RETURN(SslPtr<ASN1_INTEGER> serial,
                           SerialToAsn1(entry.serial));
    if (X509_REVOKED_set_serialNumber(revoked.get(), serial.get()) != 1) {
      return SslInternalError("cannot set a revoked serial");
    }
    if (!SetTime(date.get(), entry.source->revoked_at)) {
      return TimeError(absl::StrCat("revocation time of serial ", entry.serial),
                       entry.source->revoked_at);
    }
    if (X509_REVOKED_set_revocationDate(revoked.get(), date.get()) != 1) {
      return SslInternalError("cannot set a revocation date");
    }
    // RFC 5280 section 5.3.1: the unspecified reason SHOULD be absent.
    if (entry.source->reason != RevocationReason::kUnspecified) {
      ROTOR_ASSIGN_OR_RETURN(ASN1_ENUMERATED * reason,
                             ReasonValue(reasons, entry.source->reason));
      if (X509_REVOKED_add1_ext_i2d(revoked.get(), NID_crl_reason, reason,
                                    /*crit=*/0, X509V3_ADD_APPEND) != 1) {
        return SslInternalError("cannot add a reasonCode extension");
      }
    }
    // The stack keeps the order we push in (entries are already sorted);
    // pushing is O(1), so the whole CRL is O(n log n).
    if (X509_CRL_add0_revoked(crl, revoked.get()) != 1) {
      return SslInternalError("cannot add a revoked entry");
    }
    revoked.release();  // owned by crl (X509_CRL_add0_revoked succeeded)
  }
  return absl::OkStatus();
}

// Checks and canonicalises every serial; sorted by serial, duplicates
// refused.
absl::StatusOr<std::vector<CheckedEntry>> CheckEntries(
    absl::Span<const RevokedCertificate> revoked) {
  std::vector<CheckedEntry> entries;
  entries.reserve(revoked.size());
  for (const RevokedCertificate& entry : revoked) {
    absl::StatusOr<std::string> serial = NormalizeSerial(entry.serial);
    if (!serial.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot list a revoked certificate in the CRL: ",
                       serial.status().message()));
    }
    entries.push_back(CheckedEntry{*std::move(serial), &entry});
  }
  std::sort(entries.begin(), entries.end(), SerialLess());
  auto duplicate = std::adjacent_find(
      entries.begin(), entries.end(),
      [](const CheckedEntry& a, const CheckedEntry& b) {
        return a.serial == b.serial;
      });
  if (duplicate != entries.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "serial ", duplicate->serial, " is listed twice in the CRL"));
  }
  return entries;
}

// A CertificateList (RFC 5280 section 5.1) whose TBSCertList is already
// DER: an ASN1_ANY holding a V_ASN1_SEQUENCE is written out as it is.
struct SignedCrl {
  ASN1_TYPE* tbs;
  X509_ALGOR* signature_algorithm;
  ASN1_BIT_STRING* signature;
};

ASN1_SEQUENCE(SignedCrl) = {
    ASN1_SIMPLE(SignedCrl, tbs, ASN1_ANY),
    ASN1_SIMPLE(SignedCrl, signature_algorithm, X509_ALGOR),
    ASN1_SIMPLE(SignedCrl, signature, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(SignedCrl)

struct SignedCrlDeleter {
  void operator()(SignedCrl* p) const {
    ASN1_item_free(reinterpret_cast<ASN1_VALUE*>(p), ASN1_ITEM_rptr(SignedCrl));
  }
};
using SignedCrlPtr = std::unique_ptr<SignedCrl, SignedCrlDeleter>;

// Signs `crl` with `key` and returns the CRL's DER, encoding the TBSCertList
// once. (X509_CRL_sign then i2d_X509_CRL encode it twice, as OpenSSL keeps
// no encoding of what it signed; for a large CRL, encoding is most of the
// cost.)
// REQUIRES: `crl` was already signed with X509_CRL_sign and the same key,
// which is the only way to set the signature AlgorithmIdentifier inside the
// TBSCertList; BuildCrl does that before adding the entries, so that it is
// cheap. That first signature is replaced here.
absl::StatusOr<std::string> SignAndEncode(X509_CRL* crl,
                                          const PrivateKey& key) {
  SignedCrlPtr out(static_cast<SignedCrl*>(
      static_cast<void*>(ASN1_item_new(ASN1_ITEM_rptr(SignedCrl)))));
  SslPtr<ASN1_STRING> tbs(ASN1_STRING_type_new(V_ASN1_SEQUENCE));
  if (out == nullptr || tbs == nullptr) {
    return SslInternalError("cannot allocate the CRL");
  }
  unsigned char* tbs_der = nullptr;
  int tbs_len = i2d_re_X509_CRL_tbs(crl, &tbs_der);
  if (tbs_len <= 0) return SslInternalError("cannot encode the CRL");
  ASN1_STRING_set0(tbs.get(), tbs_der, tbs_len);  // tbs owns tbs_der
  ASN1_TYPE_set(out->tbs, V_ASN1_SEQUENCE, tbs.release());  // owned by out

  SslPtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  if (ctx == nullptr ||
      EVP_DigestSignInit(ctx.get(), nullptr, SignatureDigest(key.get()),
                         nullptr, key.get()) != 1) {
    return SslInternalError("cannot initialise CRL signing");
  }
  // Writes the AlgorithmIdentifier and the signature over the DER as it is.
  if (ASN1_item_sign_ctx(ASN1_ITEM_rptr(ASN1_ANY), out->signature_algorithm,
                         /*algor2=*/nullptr, out->signature, out->tbs,
                         ctx.get()) <= 0) {
    return SslInternalError("cannot sign the CRL");
  }
  const X509_ALGOR* declared = nullptr;
  X509_CRL_get0_signature(crl, nullptr, &declared);
  if (declared == nullptr ||
      X509_ALGOR_cmp(declared, out->signature_algorithm) != 0) {
    return absl::InternalError(
        "the CRL signature algorithm differs from the one in its "
        "TBSCertList");
  }

  unsigned char* der = nullptr;
  int len = ASN1_item_i2d(reinterpret_cast<ASN1_VALUE*>(out.get()), &der,
                          ASN1_ITEM_rptr(SignedCrl));
  if (len <= 0) return SslInternalError("cannot encode the CRL");
  std::string result(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return result;
}

}  // namespace

absl::StatusOr<std::string> BuildCrl(
    const Signer& signer, absl::Span<const RevokedCertificate> revoked,
    const CrlOptions& options) {
  if (!IsFinite(options.this_update) || !IsFinite(options.next_update)) {
    return absl::InvalidArgumentError(
        "CRL thisUpdate and nextUpdate must be finite times");
  }
  if (options.next_update <= options.this_update) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CRL nextUpdate ", absl::FormatTime(options.next_update),
        " must be after thisUpdate ", absl::FormatTime(options.this_update)));
  }
  if (!signer.key.Matches(signer.certificate.PublicKey())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the CRL signing key does not match the certificate of ",
        signer.certificate.Subject()));
  }
  ROTOR_ASSIGN_OR_RETURN(std::vector<CheckedEntry> entries,
                         CheckEntries(revoked));

  X509* issuer = signer.certificate.get();
  SslPtr<X509_CRL> crl(X509_CRL_new());
  if (crl == nullptr) return SslInternalError("X509_CRL_new");
  if (X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2) != 1 ||
      X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(issuer)) !=
          1) {
    return SslInternalError("cannot set the CRL version and issuer");
  }
  SslPtr<ASN1_STRING> time(ASN1_TIME_new());
  if (time == nullptr) return SslInternalError("ASN1_TIME_new");
  if (!SetTime(time.get(), options.this_update)) {
    return TimeError("CRL thisUpdate", options.this_update);
  }
  if (X509_CRL_set1_lastUpdate(crl.get(), time.get()) != 1) {
    return SslInternalError("cannot set the CRL thisUpdate");
  }
  if (!SetTime(time.get(), options.next_update)) {
    return TimeError("CRL nextUpdate", options.next_update);
  }
  if (X509_CRL_set1_nextUpdate(crl.get(), time.get()) != 1) {
    return SslInternalError("cannot set the CRL nextUpdate");
  }
  ROTOR_RETURN_IF_ERROR(AddCrlExtensions(crl.get(), issuer, options.number));
  // Signing now sets the signature AlgorithmIdentifier inside the
  // TBSCertList while it is small; SignAndEncode signs the whole list.
  if (X509_CRL_sign(crl.get(), signer.key.get(),
                    SignatureDigest(signer.key.get())) <= 0) {
    return SslInternalError("cannot sign the CRL");
  }
  ROTOR_RETURN_IF_ERROR(AddEntries(crl.get(), entries));
  return SignAndEncode(crl.get(), signer.key);
}

absl::StatusOr<std::string> CrlDerToPem(absl::string_view der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  const unsigned char* end = p + der.size();
  SslPtr<X509_CRL> crl(
      d2i_X509_CRL(nullptr, &p, static_cast<long>(der.size())));
  if (crl == nullptr) {
    return SslError(absl::StatusCode::kInvalidArgument,
                    "CRL does not parse as DER");
  }
  if (p != end) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CRL has ", end - p, " trailing bytes after the DER encoding"));
  }
  SslPtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509_CRL(bio.get(), crl.get()) != 1) {
    return SslInternalError("cannot write the CRL as PEM");
  }
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

}  // namespace rotor::pki
