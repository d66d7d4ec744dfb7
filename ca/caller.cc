#include "ca/caller.h"

#include <grpc/grpc_security_constants.h>
#include <openssl/sha.h>

#include <array>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "pki/certificate.h"

namespace rotor::ca {
namespace {

// The identity a client certificate carries: its one URI SAN and serial.
struct Identity {
  std::string spiffe_id;
  std::string serial;
};

// Reads the identity from a certificate's PEM. Unauthenticated as
// documented in caller.h.
absl::StatusOr<Identity> ReadIdentity(absl::string_view pem) {
  absl::StatusOr<pki::Certificate> certificate = pki::Certificate::FromPem(pem);
  if (!certificate.ok()) {
    return absl::UnauthenticatedError(
        absl::StrCat("cannot read the client certificate: ",
                     certificate.status().message()));
  }
  const std::string serial = certificate->SerialHex();
  const std::vector<std::string> uris = certificate->UriSans();
  if (uris.size() != 1) {
    return absl::UnauthenticatedError(absl::StrCat(
        "client certificate ", serial, " has ",
        uris.empty() ? std::string("no") : absl::StrCat(uris.size()),
        " URI SAN", uris.size() > 1 ? "s" : "",
        "; rotor identities are exactly one SPIFFE ID"));
  }
  return Identity{uris.front(), serial};
}

// Identities already read, by the SHA-256 of the PEM. Parsing a certificate
// cost more than the rest of a small call (OpenSSL 3.0 decodes its public
// key through the provider decoders on every parse), and a node presents
// the same certificate on every call over its connection. The identity is
// a function of the PEM bytes alone, so remembering it changes no answer;
// revocation is not decided here but by the Authority, on every call.
// Bounded: emptied when it reaches kMaxEntries (a few MB).
class IdentityCache {
 public:
  static constexpr size_t kMaxEntries = 16384;

  absl::StatusOr<Identity> Get(absl::string_view pem) {
    std::array<unsigned char, SHA256_DIGEST_LENGTH> digest;
    SHA256(reinterpret_cast<const unsigned char*>(pem.data()), pem.size(),
           digest.data());
    const std::string key(reinterpret_cast<const char*>(digest.data()),
                          digest.size());
    {
      absl::MutexLock lock(&mu_);
      auto it = identities_.find(key);
      if (it != identities_.end()) return it->second;
    }
    absl::StatusOr<Identity> identity = ReadIdentity(pem);
    if (!identity.ok()) return identity;  // refusals are not remembered
    absl::MutexLock lock(&mu_);
    if (identities_.size() >= kMaxEntries) identities_.clear();
    identities_.emplace(key, *identity);
    return identity;
  }

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Identity> identities_ ABSL_GUARDED_BY(mu_);
};

IdentityCache& Identities() {
  static IdentityCache* cache = new IdentityCache();
  return *cache;
}

}  // namespace

absl::StatusOr<Caller> CallerFromAuthContext(const grpc::AuthContext* auth,
                                             std::string peer) {
  Caller caller;
  caller.peer = std::move(peer);
  if (auth == nullptr || !auth->IsPeerAuthenticated()) return caller;
  const std::vector<grpc::string_ref> pems =
      auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (pems.empty()) return caller;
  const absl::string_view pem(pems.front().data(), pems.front().size());
  absl::StatusOr<Identity> identity = Identities().Get(pem);
  if (!identity.ok()) return identity.status();
  caller.spiffe_id = std::move(identity->spiffe_id);
  caller.serial = std::move(identity->serial);
  return caller;
}

absl::StatusOr<Caller> CallerFromContext(
    const grpc::ServerContextBase& context) {
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  return CallerFromAuthContext(auth.get(), context.peer());
}

}  // namespace rotor::ca
