// The rotor-ca daemon (`rotor-ca serve`, docs/design.md): loads ca.yaml,
// opens the store, loads the CA keys, builds the Authority, and serves
//   gRPC on `listen` (TLS only; NodeService, AdminService, grpc.health.v1,
//        server reflection), with the CA's own server certificate renewed
//        in the background (ca/server_tls.h), and
//   HTTP on `http_listen` (ca/http_server.h).
// Port 0 picks a free port; the real addresses are available once Start
// returns.
//
// One background thread does the daemon's own upkeep: it renews the CA's
// server certificate when due, and deletes join tokens that expired more
// than kJoinTokenRetention ago (Authority::PurgeExpiredJoinTokens), once at
// start-up (before Start returns) and then every kJoinTokenPurgeInterval.
// It sleeps until the next of these is due by the clock, or at most
// renew_check_interval, so that it notices a clock that was set.
//
// CaServer is the daemon as an object, so tests run it in-process; Serve is
// the command: it adds the ready line on stdout, sd_notify, and signals.
//
// Thread-safety: Start and Shutdown from one thread; accessors from any.
#ifndef ROTOR_CA_SERVER_H_
#define ROTOR_CA_SERVER_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <grpcpp/server.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "ca/authority.h"
#include "ca/config.h"
#include "ca/data_dir.h"
#include "ca/grpc_service.h"
#include "ca/http_server.h"
#include "ca/in_flight_calls.h"
#include "ca/metrics.h"
#include "ca/server_tls.h"
#include "ca/worker_pool.h"
#include "pki/random.h"
#include "store/lmdb_store.h"
#include "util/clock.h"

namespace rotor::ca {

// How often the daemon deletes long-expired join tokens.
inline constexpr absl::Duration kJoinTokenPurgeInterval = absl::Hours(1);

struct ServeOptions {
  std::string data_dir;
  // Empty: DATA_DIR/ca.yaml.
  std::string config_file;
  // Non-empty: override ca.yaml's listen / http_listen.
  std::string listen;
  std::string http_listen;
  // Threads that run blocking core calls (signing, store commits).
  int worker_threads = 16;
  // How often gRPC re-reads the server certificate files (seconds).
  unsigned tls_refresh_interval_seconds = 60;
  // Renew the server certificate once this fraction of its life has passed.
  double server_cert_renew_fraction = 0.5;
  // How often the background thread looks at the clock at most (it also
  // wakes when renewal or the token purge is due by the real clock); tests
  // with a fake clock lower it.
  absl::Duration renew_check_interval = absl::Minutes(1);
  // Test seam: when set, the core and the HTTP endpoints use the store this
  // returns for the opened LMDB store (which the server keeps owning), so a
  // test can inject store faults. The returned store must outlive the
  // server. Empty in production.
  std::function<store::CertificateStore*(store::LmdbStore*)> wrap_store;
};

class CaServer {
 public:
  // Starts everything, or fails with the first error, naming what to fix:
  // the config error with key and line, the store or key file with its path,
  // an address that cannot be bound. FailedPrecondition if another server
  // runs on the same data folder (it holds DATA_DIR/server/lock). `clock`
  // and `random` must outlive the server.
  static absl::StatusOr<std::unique_ptr<CaServer>> Start(
      const ServeOptions& options, Clock* clock, pki::Random* random);

  // Shuts down (with a short drain) if Shutdown was not called.
  ~CaServer();

  // The addresses actually bound, "host:port".
  std::string grpc_address() const;
  std::string http_address() const;
  int grpc_port() const { return grpc_port_; }
  int http_port() const { return http_->port(); }

  // "rotor-ca: serving grpc=HOST:PORT http=HOST:PORT"
  std::string ReadyLine() const;

  // Stops accepting, reports NOT_SERVING on health, ends WatchUpdates
  // streams, waits up to `drain` for calls in flight (then cancels them),
  // closes the gRPC connections (once no call is in flight, without
  // waiting for clients to close them), stops the HTTP listener and the
  // background thread. Idempotent.
  void Shutdown(absl::Duration drain);

  Authority& authority() { return *authority_; }
  store::LmdbStore& store() { return *store_; }
  CaMetrics& metrics() { return metrics_; }
  ServerTls& tls() { return *tls_; }
  NodeServiceImpl& node_service() { return *node_service_; }
  const CaConfig& config() const { return config_; }
  // When the background thread purges expired join tokens next (by the
  // server's clock).
  absl::Time next_join_token_purge();

 private:
  CaServer(Clock* clock, pki::Random* random) : clock_(clock), random_(random) {}
  absl::Status StartImpl(const ServeOptions& options);
  // The gRPC part of Shutdown, after the streams were ended.
  void StopGrpc(absl::Duration drain);
  // The background thread: server certificate renewal, token purge.
  void BackgroundLoop();
  // One purge of expired join tokens, counted in the metrics.
  void PurgeJoinTokens();

  Clock* const clock_;
  pki::Random* const random_;
  // Held for the server's life: one server per data folder, since
  // DATA_DIR/server/ holds this server's key and certificate, and restore
  // must not replace the store under it. Declared first, released last.
  std::optional<DataDirLock> lock_;
  CaConfig config_;
  CaMetrics metrics_;
  std::unique_ptr<store::LmdbStore> store_;
  std::unique_ptr<Authority> authority_;
  // The OCSP signer (a second copy of the intermediate and its key).
  std::optional<pki::Certificate> ocsp_certificate_;
  std::optional<pki::PrivateKey> ocsp_key_;
  std::unique_ptr<ServerTls> tls_;
  std::unique_ptr<WorkerPool> pool_;
  std::unique_ptr<NodeServiceImpl> node_service_;
  std::unique_ptr<AdminServiceImpl> admin_service_;
  // Every call of grpc_; outlives it.
  InFlightCalls calls_;
  std::unique_ptr<grpc::Server> grpc_;
  std::string grpc_host_;
  int grpc_port_ = 0;
  std::unique_ptr<HttpServer> http_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time next_purge_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  bool shut_down_ = false;
  absl::Duration renew_check_interval_ = absl::Minutes(1);
  std::thread background_;
};

// `rotor-ca serve`: starts a CaServer with the real clock and CSPRNG, prints
// ReadyLine() on stdout (flushed), tells systemd READY=1 when NOTIFY_SOCKET
// is set, and runs until SIGTERM or SIGINT; then drains in-flight calls (up
// to `drain`) and returns OK. Errors from Start are returned.
absl::Status Serve(const ServeOptions& options,
                   absl::Duration drain = absl::Seconds(10));

}  // namespace rotor::ca

#endif  // ROTOR_CA_SERVER_H_
