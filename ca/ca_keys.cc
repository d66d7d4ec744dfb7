#include "ca/ca_keys.h"

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "pki/ssl_error.h"
#include "util/file.h"
#include "util/status_macros.h"
#include "util/clock.h"

namespace rotor::ca {
namespace {

// Adds the file's role and a hint to a load error.
absl::Status LoadError(const absl::Status& status, const std::string& path) {
  if (absl::IsNotFound(status)) {
    return absl::NotFoundError(absl::StrCat(
        "CA file ", path, " is missing (", status.message(),
        "); run rotor-ca init to create a CA, or restore the file"));
  }
  return status;
}

bool SignedBy(const pki::Certificate& child, const pki::Certificate& parent) {
  bool ok = X509_check_issued(parent.get(), child.get()) == X509_V_OK &&
            X509_verify(child.get(), parent.PublicKey()) == 1;
  pki::ClearSslErrors();
  return ok;
}

}  // namespace

absl::StatusOr<CaKeys> LoadCaKeys(const DataDir& dir) {
  absl::StatusOr<std::vector<pki::Certificate>> roots =
      pki::Certificate::LoadChain(dir.RootCert());
  if (!roots.ok()) return LoadError(roots.status(), dir.RootCert());

  absl::StatusOr<std::vector<pki::Certificate>> intermediates =
      pki::Certificate::LoadChain(dir.IntermediateCert());
  if (!intermediates.ok()) {
    return LoadError(intermediates.status(), dir.IntermediateCert());
  }
  if (intermediates->size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CA file ", dir.IntermediateCert(), " holds ", intermediates->size(),
        " certificates; it must hold exactly one, the intermediate"));
  }

  absl::StatusOr<pki::PrivateKey> intermediate_key =
      pki::PrivateKey::Load(dir.IntermediateKey());
  if (!intermediate_key.ok()) {
    return LoadError(intermediate_key.status(), dir.IntermediateKey());
  }

  CaKeys keys{.roots = *std::move(roots),
              .root_key = std::nullopt,
              .intermediate = std::move(intermediates->front()),
              .intermediate_key = *std::move(intermediate_key)};

  if (!keys.intermediate_key.Matches(keys.intermediate.PublicKey())) {
    return absl::InvalidArgumentError(
        absl::StrCat("CA key ", dir.IntermediateKey(),
                     " does not match the certificate in ",
                     dir.IntermediateCert()));
  }

  if (PathExists(dir.RootKey())) {
    ROTOR_ASSIGN_OR_RETURN(pki::PrivateKey root_key,
                           pki::PrivateKey::Load(dir.RootKey()));
    // The root whose key we hold goes first: it signs the root's CRL.
    bool matched = false;
    for (size_t i = 0; i < keys.roots.size(); ++i) {
      if (root_key.Matches(keys.roots[i].PublicKey())) {
        std::swap(keys.roots[0], keys.roots[i]);
        matched = true;
        break;
      }
    }
    if (!matched) {
      return absl::InvalidArgumentError(
          absl::StrCat("CA key ", dir.RootKey(),
                       " matches no certificate in ", dir.RootCert()));
    }
    keys.root_key = std::move(root_key);
  }
  return keys;
}

absl::Status CheckCaKeys(const CaKeys& keys, absl::Time now) {
  if (keys.roots.empty()) {
    return absl::InvalidArgumentError("the CA has no root certificate");
  }
  const pki::Certificate& intermediate = keys.intermediate;
  if (!intermediate.IsCa()) {
    return absl::InvalidArgumentError(
        absl::StrCat("intermediate \"", intermediate.Subject(),
                     "\" is not a CA certificate"));
  }
  if (!keys.intermediate_key.Matches(intermediate.PublicKey())) {
    return absl::InvalidArgumentError(
        absl::StrCat("the intermediate key does not match intermediate \"",
                     intermediate.Subject(), "\""));
  }
  bool chained = false;
  for (const pki::Certificate& root : keys.roots) {
    if (SignedBy(intermediate, root)) {
      chained = true;
      break;
    }
  }
  if (!chained) {
    return absl::InvalidArgumentError(
        absl::StrCat("intermediate \"", intermediate.Subject(),
                     "\" is not signed by any root in the bundle"));
  }
  if (now < intermediate.NotBefore()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "intermediate \"", intermediate.Subject(), "\" is not valid before ",
        FormatUtc(intermediate.NotBefore()), "; check the system clock"));
  }
  if (now >= intermediate.NotAfter()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "intermediate \"", intermediate.Subject(), "\" expired at ",
        FormatUtc(intermediate.NotAfter()),
        "; issue a new intermediate before serving"));
  }
  if (keys.root_key.has_value() &&
      !keys.root_key->Matches(keys.roots.front().PublicKey())) {
    return absl::InvalidArgumentError(
        "the root key does not match the first root certificate");
  }
  return absl::OkStatus();
}

}  // namespace rotor::ca
