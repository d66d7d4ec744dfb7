#include "ca/caller.h"

#include <grpc/grpc_security_constants.h>

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "pki/certificate.h"

namespace rotor::ca {

absl::StatusOr<Caller> CallerFromAuthContext(const grpc::AuthContext* auth,
                                             std::string peer) {
  Caller caller;
  caller.peer = std::move(peer);
  if (auth == nullptr || !auth->IsPeerAuthenticated()) return caller;
  const std::vector<grpc::string_ref> pems =
      auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (pems.empty()) return caller;
  const absl::string_view pem(pems.front().data(), pems.front().size());
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
  caller.spiffe_id = uris.front();
  caller.serial = serial;
  return caller;
}

absl::StatusOr<Caller> CallerFromContext(
    const grpc::ServerContextBase& context) {
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  return CallerFromAuthContext(auth.get(), context.peer());
}

}  // namespace rotor::ca
