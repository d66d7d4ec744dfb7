#include "pki/verify.h"

#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <climits>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "pki/ssl_error.h"
#include "util/status_macros.h"

namespace rotor::pki {
namespace {

// A STACK_OF(X509_CRL) that frees its CRLs too.
struct CrlStackDeleter {
  void operator()(STACK_OF(X509_CRL) * stack) const {
    sk_X509_CRL_pop_free(stack, X509_CRL_free);
  }
};
using CrlStack = std::unique_ptr<STACK_OF(X509_CRL), CrlStackDeleter>;

absl::StatusOr<CrlStack> ParseCrls(absl::Span<const std::string> crls) {
  CrlStack out(sk_X509_CRL_new_null());
  if (out == nullptr) return SslInternalError("sk_X509_CRL_new_null");
  for (size_t i = 0; i < crls.size(); ++i) {
    const std::string& der = crls[i];
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    SslPtr<X509_CRL> crl(
        der.size() > LONG_MAX
            ? nullptr
            : d2i_X509_CRL(nullptr, &p, static_cast<long>(der.size())));
    if (crl == nullptr) {
      return SslError(absl::StatusCode::kInvalidArgument,
                      absl::StrCat("CRL ", i + 1, " does not parse"));
    }
    if (sk_X509_CRL_push(out.get(), crl.get()) == 0) {
      return SslInternalError("sk_X509_CRL_push");
    }
    crl.release();  // sk_X509_CRL_push took ownership.
  }
  return out;
}

absl::Status Verify(const Certificate& leaf,
                    absl::Span<const Certificate> intermediates,
                    absl::Span<const Certificate> roots, absl::Time at,
                    VerifyPurpose purpose, const CrlStack* crls) {
  ClearSslErrors();
  if (roots.empty()) {
    return absl::InvalidArgumentError("no trusted root to verify against");
  }
  SslPtr<X509_STORE> store(X509_STORE_new());
  if (store == nullptr) return SslInternalError("X509_STORE_new");
  for (const Certificate& root : roots) {
    // X509_STORE_add_cert takes its own reference.
    if (X509_STORE_add_cert(store.get(), root.get()) != 1) {
      return SslInternalError("cannot add a root to the trust store");
    }
  }
  X509Stack untrusted(sk_X509_new_null());
  if (untrusted == nullptr) return SslInternalError("sk_X509_new_null");
  for (const Certificate& intermediate : intermediates) {
    if (X509_add_cert(untrusted.get(), intermediate.get(),
                      X509_ADD_FLAG_UP_REF) != 1) {
      return SslInternalError("cannot collect the intermediates");
    }
  }

  // A leaf from BuildLeafCertificate has no decoded subject key, which the
  // strict checks (key level, EC curve) need: verify a parsed copy of it.
  std::optional<Certificate> parsed;
  X509* leaf_x509 = leaf.get();
  if (X509_get0_pubkey(leaf_x509) == nullptr) {
    ClearSslErrors();
    ROTOR_ASSIGN_OR_RETURN(parsed, Certificate::FromDer(leaf.der()));
    leaf_x509 = parsed->get();
  }

  SslPtr<X509_STORE_CTX> ctx(X509_STORE_CTX_new());
  if (ctx == nullptr) return SslInternalError("X509_STORE_CTX_new");
  if (X509_STORE_CTX_init(ctx.get(), store.get(), leaf_x509, untrusted.get()) !=
      1) {
    return SslInternalError("X509_STORE_CTX_init");
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  unsigned long flags = X509_V_FLAG_X509_STRICT;
  if (crls != nullptr) {
    flags |= X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL;
    // The stack stays owned by the caller and outlives `ctx`.
    X509_STORE_CTX_set0_crls(ctx.get(), crls->get());
  }
  X509_VERIFY_PARAM_set_flags(param, flags);
  X509_VERIFY_PARAM_set_time(param, absl::ToTimeT(at));
  int purpose_id = 0;
  switch (purpose) {
    case VerifyPurpose::kAny:
      break;
    case VerifyPurpose::kTlsServer:
      purpose_id = X509_PURPOSE_SSL_SERVER;
      break;
    case VerifyPurpose::kTlsClient:
      purpose_id = X509_PURPOSE_SSL_CLIENT;
      break;
  }
  if (purpose_id != 0 &&
      X509_STORE_CTX_set_purpose(ctx.get(), purpose_id) != 1) {
    return SslInternalError("cannot set the verification purpose");
  }

  if (X509_verify_cert(ctx.get()) == 1) {
    ClearSslErrors();
    return absl::OkStatus();
  }
  int error = X509_STORE_CTX_get_error(ctx.get());
  int depth = X509_STORE_CTX_get_error_depth(ctx.get());
  ClearSslErrors();
  if (error == X509_V_OK) {
    return absl::InvalidArgumentError("certificate verification failed");
  }
  return absl::InvalidArgumentError(absl::StrCat(
      X509_verify_cert_error_string(error), " (depth ", depth, ")"));
}

}  // namespace

absl::Status VerifyCertificate(const Certificate& leaf,
                               absl::Span<const Certificate> intermediates,
                               absl::Span<const Certificate> roots,
                               absl::Time at, VerifyPurpose purpose) {
  return Verify(leaf, intermediates, roots, at, purpose, nullptr);
}

absl::Status VerifyCertificate(const Certificate& leaf,
                               absl::Span<const Certificate> intermediates,
                               absl::Span<const Certificate> roots,
                               absl::Time at, VerifyPurpose purpose,
                               absl::Span<const std::string> crls) {
  ClearSslErrors();
  ROTOR_ASSIGN_OR_RETURN(CrlStack stack, ParseCrls(crls));
  return Verify(leaf, intermediates, roots, at, purpose, &stack);
}

}  // namespace rotor::pki
