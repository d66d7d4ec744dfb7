// The TLS side of rotor-ca's gRPC port: the CA's own server certificate and
// the credentials that present it.
//
// At start a key is generated (kept for the life of the process) and the
// Authority issues a serverAuth certificate for it with SANs `names`. The
// key, the certificate chain and the client trust roots are written to
// DIR/server/ (key 0600, each file replaced atomically), and the gRPC
// credentials read them through grpc::experimental::FileWatcherCertificate
// Provider, which re-reads the files every refresh interval. Renewal issues a
// new certificate for the same key and replaces cert.pem, so the server
// presents it within one refresh interval, without restart, and a reader can
// never pair a new key with an old certificate.
//
// Clients: a client certificate is requested and, when sent, verified
// against the CA's roots (GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY):
// GetBundle and Attest accept callers without one, everything else is
// decided by the core from the verified certificate (ca/caller.h). A client
// certificate that does not chain to the roots fails the TLS handshake.
//
// Thread-safety: all methods are safe from any thread.
#ifndef ROTOR_CA_SERVER_TLS_H_
#define ROTOR_CA_SERVER_TLS_H_

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/security/server_credentials.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "ca/authority.h"
#include "pki/certificate.h"
#include "pki/key.h"

namespace rotor::ca {

struct ServerTlsOptions {
  // Where key.pem, cert.pem and client_roots.pem live (DATA_DIR/server);
  // created 0700 if missing.
  std::string dir;
  // SANs: DNS names and IP addresses (ca.yaml server_names).
  std::vector<std::string> names;
  // Certificates client chains are verified against: the CA's roots (and
  // the intermediate, so a client sending only its leaf still verifies).
  std::vector<pki::Certificate> client_roots;
  pki::KeyType key_type = pki::KeyType::kEcP256;
  // How often gRPC re-reads the files (seconds).
  unsigned refresh_interval_seconds = 60;
  // Renew once this fraction of the certificate's lifetime has passed.
  double renew_fraction = 0.5;
};

class ServerTls {
 public:
  // Generates the key, has `authority` issue the first certificate, writes
  // the files and builds the credentials. Errors: from the authority
  // (issuance), or the file error with its path.
  static absl::StatusOr<std::unique_ptr<ServerTls>> Create(
      Authority* authority, ServerTlsOptions options);

  ~ServerTls();

  // The credentials to pass to grpc::ServerBuilder::AddListeningPort.
  std::shared_ptr<grpc::ServerCredentials> credentials() const {
    return credentials_;
  }

  // Issues a new certificate for the same key and replaces cert.pem. On
  // failure the current certificate stays in place (and is still served).
  // Validity comes from the Authority's clock and server_cert_ttl.
  absl::Status Renew();

  // The certificate currently written to cert.pem.
  pki::Certificate certificate() const;
  // When Renew should next run: notBefore + renew_fraction * lifetime.
  absl::Time renew_time() const;

  std::string key_path() const;
  std::string cert_path() const;
  std::string client_roots_path() const;

 private:
  ServerTls(Authority* authority, ServerTlsOptions options,
            pki::PrivateKey key);
  absl::Status IssueAndWrite();

  Authority* const authority_;
  const ServerTlsOptions options_;
  const pki::PrivateKey key_;
  std::string public_key_der_;
  std::shared_ptr<grpc::ServerCredentials> credentials_;

  mutable absl::Mutex mu_;
  std::vector<pki::Certificate> chain_ ABSL_GUARDED_BY(mu_);  // leaf first
};

}  // namespace rotor::ca

#endif  // ROTOR_CA_SERVER_TLS_H_
