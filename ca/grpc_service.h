// The gRPC services of rotor-ca (docs/design.md, "gRPC surface"), on the
// gRPC callback API. Handlers are thin: read the Caller from the transport
// (ca/caller.h), call the Authority, convert the answer to the proto, map the
// status (ca/grpc_status.h), finish. Every decision is the core's.
//
// Calls that may block (signing, store commits) run on a WorkerPool, never
// on gRPC's own threads, so one slow call never holds up others; many in
// flight at once is also what lets the store commit them in groups.
//
// WatchUpdates is a ServerWriteReactor fed by an UpdateHub subscription:
// there is no thread per stream, only a small object per stream and a write
// in flight when there is something to send. A new stream first receives the
// current bundle and CRL. When the caller's own node certificate is revoked,
// the stream delivers that revocation and then ends with PERMISSION_DENIED.
//
// Every refusal is counted (rotor_refused_total{code}), every issuance
// (rotor_issued_total{kind}) and revocation too. The core logs each issuance,
// refusal and revocation in one line; this layer logs only refusals the core
// never saw (a client certificate that cannot be read).
//
// Thread-safety: the services are used by gRPC from many threads at once.
// StopWatches may be called from any thread.
#ifndef ROTOR_CA_GRPC_SERVICE_H_
#define ROTOR_CA_GRPC_SERVICE_H_

#include <cstddef>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "ca/authority.h"
#include "ca/metrics.h"
#include "ca/worker_pool.h"
#include "rotor/v1/ca.grpc.pb.h"

namespace rotor::ca {

class WatchReactor;

class NodeServiceImpl final : public rotor::v1::NodeService::CallbackService {
 public:
  // `authority`, `pool` and `metrics` must outlive the service.
  NodeServiceImpl(Authority* authority, WorkerPool* pool, CaMetrics* metrics);
  ~NodeServiceImpl() override;

  // Ends every open WatchUpdates stream with UNAVAILABLE ("rotor-ca is
  // shutting down; reconnect") and refuses new ones the same way, so that
  // grpc::Server::Shutdown need not wait for long-lived streams.
  void StopWatches();

  // Open WatchUpdates streams (the rotor_connected_agents metric).
  size_t open_watches() const;

  grpc::ServerUnaryReactor* GetBundle(grpc::CallbackServerContext* context,
                                      const rotor::v1::GetBundleRequest* request,
                                      rotor::v1::TrustBundle* response) override;
  grpc::ServerUnaryReactor* Attest(grpc::CallbackServerContext* context,
                                   const rotor::v1::AttestRequest* request,
                                   rotor::v1::AttestResponse* response) override;
  grpc::ServerUnaryReactor* RenewNode(
      grpc::CallbackServerContext* context,
      const rotor::v1::RenewNodeRequest* request,
      rotor::v1::RenewNodeResponse* response) override;
  grpc::ServerUnaryReactor* SignWorkload(
      grpc::CallbackServerContext* context,
      const rotor::v1::SignWorkloadRequest* request,
      rotor::v1::SignWorkloadResponse* response) override;
  grpc::ServerWriteReactor<rotor::v1::Update>* WatchUpdates(
      grpc::CallbackServerContext* context,
      const rotor::v1::WatchUpdatesRequest* request) override;

 private:
  friend class WatchReactor;
  void Forget(WatchReactor* reactor);

  Authority* const authority_;
  WorkerPool* const pool_;
  CaMetrics* const metrics_;

  mutable absl::Mutex mu_;
  absl::flat_hash_set<WatchReactor*> watches_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

class AdminServiceImpl final : public rotor::v1::AdminService::CallbackService {
 public:
  // `authority`, `pool` and `metrics` must outlive the service.
  AdminServiceImpl(Authority* authority, WorkerPool* pool, CaMetrics* metrics);

  grpc::ServerUnaryReactor* CreateJoinToken(
      grpc::CallbackServerContext* context,
      const rotor::v1::CreateJoinTokenRequest* request,
      rotor::v1::CreateJoinTokenResponse* response) override;
  grpc::ServerUnaryReactor* CreateEntry(
      grpc::CallbackServerContext* context,
      const rotor::v1::CreateEntryRequest* request,
      rotor::v1::Entry* response) override;
  grpc::ServerUnaryReactor* ListEntries(
      grpc::CallbackServerContext* context,
      const rotor::v1::ListEntriesRequest* request,
      rotor::v1::ListEntriesResponse* response) override;
  grpc::ServerUnaryReactor* DeleteEntry(
      grpc::CallbackServerContext* context,
      const rotor::v1::DeleteEntryRequest* request,
      rotor::v1::DeleteEntryResponse* response) override;
  grpc::ServerUnaryReactor* ListCertificates(
      grpc::CallbackServerContext* context,
      const rotor::v1::ListCertificatesRequest* request,
      rotor::v1::ListCertificatesResponse* response) override;
  grpc::ServerUnaryReactor* GetCertificate(
      grpc::CallbackServerContext* context,
      const rotor::v1::GetCertificateRequest* request,
      rotor::v1::CertificateInfo* response) override;
  grpc::ServerUnaryReactor* RevokeCertificate(
      grpc::CallbackServerContext* context,
      const rotor::v1::RevokeCertificateRequest* request,
      rotor::v1::CertificateInfo* response) override;
  grpc::ServerUnaryReactor* GetCrl(grpc::CallbackServerContext* context,
                                   const rotor::v1::GetCrlRequest* request,
                                   rotor::v1::Crl* response) override;
  grpc::ServerUnaryReactor* GetBundle(grpc::CallbackServerContext* context,
                                      const rotor::v1::GetBundleRequest* request,
                                      rotor::v1::TrustBundle* response) override;

 private:
  Authority* const authority_;
  WorkerPool* const pool_;
  CaMetrics* const metrics_;
};

}  // namespace rotor::ca

#endif  // ROTOR_CA_GRPC_SERVICE_H_
