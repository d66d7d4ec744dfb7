#include "ca/server_tls.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "util/file.h"
#include "util/status_macros.h"

namespace rotor::ca {

ServerTls::ServerTls(Authority* authority, ServerTlsOptions options,
                     pki::PrivateKey key)
    : authority_(authority), options_(std::move(options)), key_(std::move(key)) {}

ServerTls::~ServerTls() = default;

std::string ServerTls::key_path() const {
  return JoinPath(options_.dir, "key.pem");
}
std::string ServerTls::cert_path() const {
  return JoinPath(options_.dir, "cert.pem");
}
std::string ServerTls::client_roots_path() const {
  return JoinPath(options_.dir, "client_roots.pem");
}

absl::StatusOr<std::unique_ptr<ServerTls>> ServerTls::Create(
    Authority* authority, ServerTlsOptions options) {
  if (options.client_roots.empty()) {
    return absl::InvalidArgumentError(
        "the gRPC server needs at least one client root certificate");
  }
  ROTOR_RETURN_IF_ERROR(MakeDirectories(options.dir, 0700));
  ROTOR_ASSIGN_OR_RETURN(pki::PrivateKey key,
                         pki::PrivateKey::Generate(options.key_type));
  std::unique_ptr<ServerTls> tls(
      new ServerTls(authority, std::move(options), std::move(key)));
  ROTOR_ASSIGN_OR_RETURN(tls->public_key_der_, tls->key_.PublicKeyDer());

  // The key file is created 0600 before a byte is written, and replaced
  // atomically: a key left by a previous run is never reused.
  ROTOR_RETURN_IF_ERROR(tls->key_.Save(tls->key_path(), 0600));
  ROTOR_RETURN_IF_ERROR(WriteFileAtomically(
      tls->client_roots_path(), pki::ChainToPem(tls->options_.client_roots),
      0644));
  ROTOR_RETURN_IF_ERROR(tls->IssueAndWrite());

  auto provider =
      std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
          tls->key_path(), tls->cert_path(), tls->client_roots_path(),
          tls->options_.refresh_interval_seconds);
  grpc::experimental::TlsServerCredentialsOptions tls_options(provider);
  tls_options.watch_root_certs();
  tls_options.watch_identity_key_cert_pairs();
  tls_options.set_cert_request_type(
      GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  tls->credentials_ = grpc::experimental::TlsServerCredentials(tls_options);
  if (tls->credentials_ == nullptr) {
    return absl::InternalError("gRPC refused the TLS server credentials");
  }
  return tls;
}

absl::Status ServerTls::IssueAndWrite() {
  ROTOR_ASSIGN_OR_RETURN(
      IssuedCertificate issued,
      authority_->IssueServerCertificate(public_key_der_, options_.names));
  std::vector<pki::Certificate> chain;
  chain.push_back(std::move(issued.leaf));
  for (pki::Certificate& c : issued.chain) chain.push_back(std::move(c));
  ROTOR_RETURN_IF_ERROR(
      WriteFileAtomically(cert_path(), pki::ChainToPem(chain), 0644));
  absl::MutexLock lock(&mu_);
  chain_ = std::move(chain);
  return absl::OkStatus();
}

absl::Status ServerTls::Renew() { return IssueAndWrite(); }

pki::Certificate ServerTls::certificate() const {
  absl::MutexLock lock(&mu_);
  return chain_.front();
}

absl::Time ServerTls::renew_time() const {
  absl::MutexLock lock(&mu_);
  const pki::Certificate& leaf = chain_.front();
  const absl::Duration lifetime = leaf.NotAfter() - leaf.NotBefore();
  return leaf.NotBefore() + lifetime * options_.renew_fraction;
}

}  // namespace rotor::ca
