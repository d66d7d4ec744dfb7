#include "pki/ocsp.h"

#include <openssl/ocsp.h>
#include <openssl/x509.h>

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

absl::StatusOr<std::string> EncodeResponse(OCSP_RESPONSE* response) {
  unsigned char* der = nullptr;
  int len = i2d_OCSP_RESPONSE(response, &der);
  if (len <= 0) return SslInternalError("cannot encode the OCSP response");
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

absl::StatusOr<SslPtr<ASN1_STRING>> GeneralizedTime(absl::Time t) {
  SslPtr<ASN1_STRING> out(
      ASN1_GENERALIZEDTIME_set(nullptr, absl::ToTimeT(t)));
  if (out == nullptr) {
    return SslInternalError(
        absl::StrCat("cannot encode time ", absl::FormatTime(t)));
  }
  return out;
}

// CERTIDs of the signer (issuer name and key hashes, no serial), one per
// hash algorithm seen in the request; requests almost always use SHA-1 only.
class SignerIds {
 public:
  explicit SignerIds(X509* signer) : signer_(signer) {}

  // True if `id` names the signer as the issuer. False for another issuer
  // or a hash algorithm OpenSSL does not know.
  bool IssuedBySigner(OCSP_CERTID* id) {
    ASN1_OBJECT* algorithm = nullptr;
    if (OCSP_id_get0_info(nullptr, &algorithm, nullptr, nullptr, id) != 1 ||
        algorithm == nullptr) {
      ClearSslErrors();
      return false;
    }
    int nid = OBJ_obj2nid(algorithm);
    for (const auto& [known_nid, signer_id] : ids_) {
      if (known_nid == nid) return OCSP_id_issuer_cmp(signer_id.get(), id) == 0;
    }
    const EVP_MD* md = EVP_get_digestbyobj(algorithm);
    SslPtr<OCSP_CERTID> signer_id;
    if (md != nullptr) {
      signer_id.reset(OCSP_cert_to_id(md, /*subject=*/nullptr, signer_));
    }
    if (signer_id == nullptr) {
      ClearSslErrors();
      return false;  // unknown algorithm: no way to match, so not ours
    }
    bool match = OCSP_id_issuer_cmp(signer_id.get(), id) == 0;
    ids_.emplace_back(nid, std::move(signer_id));
    return match;
  }

 private:
  X509* signer_;
  std::vector<std::pair<int, SslPtr<OCSP_CERTID>>> ids_;
};

// What to say about one request entry.
OcspStatus StatusFor(OCSP_CERTID* id, SignerIds& signer_ids,
                     OcspLookup lookup) {
  if (!signer_ids.IssuedBySigner(id)) return OcspStatus{};
  ASN1_INTEGER* serial = nullptr;
  if (OCSP_id_get0_info(nullptr, nullptr, nullptr, &serial, id) != 1 ||
      serial == nullptr) {
    ClearSslErrors();
    return OcspStatus{};
  }
  std::string hex = Asn1ToSerial(serial);
  // Negative or unreadable serials were never issued by rotor.
  if (hex.empty() || hex[0] == '-') return OcspStatus{};
  return lookup(hex);
}

absl::Status AddStatus(OCSP_BASICRESP* basic, OCSP_CERTID* id,
                       const OcspStatus& status, ASN1_TIME* this_update,
                       ASN1_TIME* next_update) {
  int kind = V_OCSP_CERTSTATUS_UNKNOWN;
  int reason = OCSP_REVOKED_STATUS_NOSTATUS;
  SslPtr<ASN1_STRING> revoked_at;
  switch (status.kind) {
    case OcspStatus::Kind::kGood:
      kind = V_OCSP_CERTSTATUS_GOOD;
      break;
    case OcspStatus::Kind::kRevoked: {
      kind = V_OCSP_CERTSTATUS_REVOKED;
      // As in CRLs, the unspecified reason is left out; so is a value that
      // is no CRLReason (the certificate is still reported revoked).
      if (status.reason != RevocationReason::kUnspecified &&
          RevocationReasonFromCode(static_cast<int>(status.reason)).ok()) {
        reason = static_cast<int>(status.reason);
      }
      ROTOR_ASSIGN_OR_RETURN(revoked_at, GeneralizedTime(status.revoked_at));
      break;
    }
    case OcspStatus::Kind::kUnknown:
      break;
  }
  if (OCSP_basic_add1_status(basic, id, kind, reason, revoked_at.get(),
                             this_update, next_update) == nullptr) {
    return SslInternalError("cannot add a status to the OCSP response");
  }
  return absl::OkStatus();
}

absl::Status SignResponse(OCSP_BASICRESP* basic, const Signer& signer,
                          absl::Time now) {
  // producedAt is our `now`, not the wall clock OCSP_basic_sign_ctx would
  // read: OCSP_NOTIME below leaves the field (allocated with the response)
  // as we set it here. OpenSSL offers no setter, hence the const_cast.
  ASN1_GENERALIZEDTIME* produced_at = const_cast<ASN1_GENERALIZEDTIME*>(
      OCSP_resp_get0_produced_at(basic));
  if (produced_at == nullptr ||
      ASN1_GENERALIZEDTIME_set(produced_at, absl::ToTimeT(now)) == nullptr) {
    return SslInternalError("cannot set the OCSP producedAt time");
  }
  SslPtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  if (ctx == nullptr) return SslInternalError("EVP_MD_CTX_new");
  // A null digest is what Ed25519 needs; other keys get SHA-256/384.
  if (EVP_DigestSignInit(ctx.get(), nullptr, SignatureDigest(signer.key.get()),
                         nullptr, signer.key.get()) != 1) {
    return SslInternalError("cannot initialise OCSP response signing");
  }
  // The signer certificate goes into the response (no OCSP_NOCERTS) so a
  // client that trusts only the root can verify the response.
  if (OCSP_basic_sign_ctx(basic, signer.certificate.get(), ctx.get(),
                          /*certs=*/nullptr,
                          OCSP_RESPID_KEY | OCSP_NOTIME) != 1) {
    return SslInternalError("cannot sign the OCSP response");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Unsuccessful(int response_status) {
  SslPtr<OCSP_RESPONSE> response(
      OCSP_response_create(response_status, /*bs=*/nullptr));
  if (response == nullptr) {
    return SslInternalError("cannot build an OCSP error response");
  }
  return EncodeResponse(response.get());
}

}  // namespace

absl::StatusOr<std::string> AnswerOcspRequest(absl::string_view request_der,
                                              const Signer& signer,
                                              OcspLookup lookup,
                                              const OcspOptions& options) {
  if (request_der.empty() || request_der.size() > options.max_request_bytes) {
    return Unsuccessful(OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
  }
  const unsigned char* p =
      reinterpret_cast<const unsigned char*>(request_der.data());
  const unsigned char* end = p + request_der.size();
  SslPtr<OCSP_REQUEST> request(
      d2i_OCSP_REQUEST(nullptr, &p, static_cast<long>(request_der.size())));
  if (request == nullptr || p != end ||
      OCSP_request_onereq_count(request.get()) <= 0) {
    ClearSslErrors();
    return Unsuccessful(OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
  }

  SslPtr<OCSP_BASICRESP> basic(OCSP_BASICRESP_new());
  if (basic == nullptr) return SslInternalError("OCSP_BASICRESP_new");
  ROTOR_ASSIGN_OR_RETURN(SslPtr<ASN1_STRING> this_update,
                         GeneralizedTime(options.now));
  ROTOR_ASSIGN_OR_RETURN(SslPtr<ASN1_STRING> next_update,
                         GeneralizedTime(options.now + options.validity));
  SignerIds signer_ids(signer.certificate.get());
  int count = OCSP_request_onereq_count(request.get());
  for (int i = 0; i < count; ++i) {
    OCSP_CERTID* id =
        OCSP_onereq_get0_id(OCSP_request_onereq_get0(request.get(), i));
    if (id == nullptr) return SslInternalError("OCSP request entry has no id");
    OcspStatus status = StatusFor(id, signer_ids, lookup);
    ROTOR_RETURN_IF_ERROR(AddStatus(basic.get(), id, status, this_update.get(),
                                    next_update.get()));
  }
  // 1: nonce copied, 2: the request had none; 0 is a failure.
  if (OCSP_copy_nonce(basic.get(), request.get()) == 0) {
    return SslInternalError("cannot copy the OCSP nonce");
  }
  ROTOR_RETURN_IF_ERROR(SignResponse(basic.get(), signer, options.now));

  SslPtr<OCSP_RESPONSE> response(
      OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, basic.get()));
  if (response == nullptr) return SslInternalError("OCSP_response_create");
  return EncodeResponse(response.get());
}

absl::StatusOr<std::string> OcspInternalErrorResponse() {
  return Unsuccessful(OCSP_RESPONSE_STATUS_INTERNALERROR);
}

}  // namespace rotor::pki
