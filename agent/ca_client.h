// How the agent talks to the CA's NodeService. CaClient is the interface the
// agent core uses (tests substitute a fake); GrpcCaClient is the real one.
//
// Trust on first contact (docs/design.md, "gRPC surface"): the agent fetches
// the bundle with FetchBundleUnverified over TLS that does NOT check the
// server, accepts it only if VerifyPinnedBundle finds a root whose SHA-256
// equals the pinned trust_anchor, and from then on every call verifies the
// server against those roots (SetCredentials). Once the node has a
// certificate it is presented as the client certificate (mTLS).
//
// Every failure is an absl::Status with the gRPC code (same numbering) and a
// message naming the CA's address and the server's own message.
//
// Thread-safety: GrpcCaClient is safe from any thread; Watch blocks its
// caller and may run on one thread while the others make calls.
#ifndef ROTOR_AGENT_CA_CLIENT_H_
#define ROTOR_AGENT_CA_CLIENT_H_

#include <grpcpp/support/channel_arguments.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "pki/certificate.h"
#include "pki/secret.h"
#include "rotor/v1/ca.grpc.pb.h"

namespace rotor::agent {

class CaClient {
 public:
  virtual ~CaClient() = default;

  // NodeService.GetBundle over a TLS connection that does not verify the
  // server. The result must go through VerifyPinnedBundle before any use.
  virtual absl::StatusOr<rotor::v1::TrustBundle> FetchBundleUnverified() = 0;

  // From now on, verify the server against `roots_pem` and, when
  // `identity_key_pem` is not empty, present `identity_chain_pem` (leaf
  // first) as the client certificate. Calls and streams already started keep
  // their old connection. InvalidArgument if roots_pem is empty.
  virtual absl::Status SetCredentials(const std::string& roots_pem,
                                      const pki::SecretString& identity_key_pem,
                                      const std::string& identity_chain_pem) = 0;

  virtual absl::StatusOr<rotor::v1::AttestResponse> Attest(
      const pki::SecretString& join_token, const std::string& csr_der) = 0;
  virtual absl::StatusOr<rotor::v1::RenewNodeResponse> RenewNode(
      const std::string& csr_der) = 0;
  // `ttl` zero: the CA's default.
  virtual absl::StatusOr<rotor::v1::SignWorkloadResponse> SignWorkload(
      const std::string& csr_der, absl::Duration ttl) = 0;

  // Opens NodeService.WatchUpdates and calls `on_update` for every message
  // until the stream ends. While the CA is unreachable it waits for it
  // rather than failing (gRPC's reconnect backoff applies). Returns the
  // stream's final status (never OK: the CA does not end a stream on its
  // own), Cancelled after CancelWatch().
  virtual absl::Status Watch(
      const std::function<void(const rotor::v1::Update&)>& on_update) = 0;

  // Shutdown: makes a running Watch return soon and every later Watch return
  // Cancelled at once. Safe from any thread.
  virtual void CancelWatch() = 0;
};

// Checks a bundle fetched without verification: every root must parse, and
// one must have a SHA-256 fingerprint in `pins` ("sha256:<hex>", canonical).
// Returns the roots. FailedPrecondition naming the fingerprints the CA
// presented and the pin otherwise ("the CA at ADDR presented roots
// sha256:ab.. which do not match trust_anchor sha256:cd..; check that
// trust_anchor is the fingerprint rotor-ca init printed").
absl::StatusOr<std::vector<pki::Certificate>> VerifyPinnedBundle(
    const rotor::v1::TrustBundle& bundle, const std::vector<std::string>& pins,
    absl::string_view ca_address);

// PEM of a bundle's roots, in order. InvalidArgument if one does not parse.
absl::StatusOr<std::string> BundleToPem(const rotor::v1::TrustBundle& bundle);

struct GrpcCaClientOptions {
  std::string address;  // HOST:PORT
  absl::Duration rpc_timeout = absl::Seconds(10);
  // gRPC's own reconnect backoff follows the agent's, so a CA that comes
  // back is reached within one step.
  absl::Duration reconnect_initial = absl::Seconds(1);
  absl::Duration reconnect_max = absl::Seconds(60);
};

class GrpcCaClient final : public CaClient {
 public:
  explicit GrpcCaClient(GrpcCaClientOptions options);

  absl::StatusOr<rotor::v1::TrustBundle> FetchBundleUnverified() override;
  absl::Status SetCredentials(const std::string& roots_pem,
                              const pki::SecretString& identity_key_pem,
                              const std::string& identity_chain_pem) override;
  absl::StatusOr<rotor::v1::AttestResponse> Attest(
      const pki::SecretString& join_token, const std::string& csr_der) override;
  absl::StatusOr<rotor::v1::RenewNodeResponse> RenewNode(
      const std::string& csr_der) override;
  absl::StatusOr<rotor::v1::SignWorkloadResponse> SignWorkload(
      const std::string& csr_der, absl::Duration ttl) override;
  absl::Status Watch(
      const std::function<void(const rotor::v1::Update&)>& on_update) override;
  void CancelWatch() override;

 private:
  // The stub over the current verifying channel; FailedPrecondition before
  // SetCredentials.
  absl::StatusOr<std::shared_ptr<rotor::v1::NodeService::Stub>> Stub() const;
  std::unique_ptr<grpc::ClientContext> NewContext() const;
  absl::Status ToStatus(const grpc::Status& status, absl::string_view call) const;
  grpc::ChannelArguments ChannelArgs() const;

  const GrpcCaClientOptions options_;
  mutable absl::Mutex mu_;
  std::shared_ptr<rotor::v1::NodeService::Stub> stub_ ABSL_GUARDED_BY(mu_);
  grpc::ClientContext* watch_context_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool watch_cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace rotor::agent

#endif  // ROTOR_AGENT_CA_CLIENT_H_
