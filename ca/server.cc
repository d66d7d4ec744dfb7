#include "ca/server.h"

#include <grpc/grpc.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/server_builder.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ca/ca_keys.h"
#include "ca/data_dir.h"
#include "util/log.h"
#include "util/sd_notify.h"
#include "util/status_macros.h"
#include "util/clock.h"

namespace rotor::ca {
namespace {

// How soon the renewer retries after a failed renewal.
constexpr absl::Duration kRenewRetryInterval = absl::Seconds(30);

// Largest gRPC message accepted: CSRs are at most 16 KiB (the core refuses
// larger ones with a clear message); this only bounds memory.
constexpr int kMaxReceiveMessageBytes = 1 << 20;

// Tells systemd (if it started us); a failure is logged, never fatal.
void Notify(const char* state) {
  const absl::Status status = SdNotify(state);
  if (!status.ok()) LogWarning("sd_notify failed", {{"error", std::string(status.message())}});
}

// Shuts down and destroys a completion queue of gRPC's C API, taking the
// events still queued. REQUIRES: every operation notifying it completed.
struct ShutdownQueueDeleter {
  void operator()(grpc_completion_queue* queue) const {
    grpc_completion_queue_shutdown(queue);
    while (grpc_completion_queue_next(queue,
                                      gpr_inf_future(GPR_CLOCK_REALTIME),
                                      nullptr)
               .type != GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(queue);
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<CaServer>> CaServer::Start(
    const ServeOptions& options, Clock* clock, pki::Random* random) {
  std::unique_ptr<CaServer> server(new CaServer(clock, random));
  absl::Status status = server->StartImpl(options);
  if (!status.ok()) {
    server->Shutdown(absl::ZeroDuration());
    return status;
  }
  return server;
}

absl::Status CaServer::StartImpl(const ServeOptions& options) {
  if (options.data_dir.empty()) {
    return absl::InvalidArgumentError("--data-dir is required");
  }
  const DataDir dir{options.data_dir};
  const std::string server_dir = JoinPath(options.data_dir, "server");

  // One server per data folder.
  if (!PathExists(dir.CaDir())) {
    return absl::NotFoundError(absl::StrCat(
        "no CA in ", options.data_dir, " (", dir.CaDir(),
        " is missing); run rotor-ca init first"));
  }
  ROTOR_ASSIGN_OR_RETURN(lock_, DataDirLock::Acquire(dir, "serving it"));

  // Configuration: the file, then the command line's overrides.
  const std::string config_path =
      options.config_file.empty() ? dir.ConfigFile() : options.config_file;
  ROTOR_ASSIGN_OR_RETURN(config_, LoadCaConfig(config_path));
  if (!options.listen.empty()) config_.listen = options.listen;
  if (!options.http_listen.empty()) config_.http_listen = options.http_listen;
  ROTOR_RETURN_IF_ERROR(ValidateCaConfig(config_));
  std::string http_host;
  int unused_port = 0;
  ROTOR_RETURN_IF_ERROR(SplitHostPort(config_.listen, &grpc_host_, &unused_port));
  ROTOR_RETURN_IF_ERROR(SplitHostPort(config_.http_listen, &http_host, &unused_port));

  // The store.
  store::LmdbStoreOptions store_options;
  store_options.max_map_size = static_cast<size_t>(config_.store_max_size_mb)
                               << 20;
  store_options.initial_map_size =
      std::min(store_options.initial_map_size, store_options.max_map_size);
  store_options.on_checkpoint_failure = [](const absl::Status& status,
                                           uint64_t failures) {
    if (status.ok()) {
      LogInfo("store checkpoint succeeded after failures",
              {{"failures", absl::StrCat(failures)}});
      return;
    }
    LogError("store checkpoint failed; writes stay durable in the redo log "
             "and the checkpoint is tried again (free disk space under the "
             "data dir)",
             {{"failures", absl::StrCat(failures)},
              {"error", std::string(status.message())}});
  };
  ROTOR_ASSIGN_OR_RETURN(store_,
                         store::LmdbStore::Open(dir.StoreDir(), store_options));

  // The keys and the core.
  ROTOR_ASSIGN_OR_RETURN(CaKeys keys, LoadCaKeys(dir));
  metrics_.ca_expiry().Set(
      static_cast<double>(absl::ToUnixSeconds(keys.intermediate.NotAfter())));
  std::vector<pki::Certificate> client_roots = keys.roots;
  client_roots.push_back(keys.intermediate);
  ocsp_certificate_ = keys.intermediate;
  // The OCSP responder signs with the intermediate too; the Authority takes
  // its own copy of the key below.
  ROTOR_ASSIGN_OR_RETURN(ocsp_key_, pki::PrivateKey::Load(dir.IntermediateKey()));
  store::CertificateStore* core_store =
      options.wrap_store ? options.wrap_store(store_.get()) : store_.get();
  ROTOR_ASSIGN_OR_RETURN(authority_,
                         Authority::Create(std::move(keys), config_,
                                           core_store, clock_, random_));

  // The CA's own TLS server certificate.
  ServerTlsOptions tls_options;
  tls_options.dir = server_dir;
  tls_options.names = config_.server_names;
  tls_options.client_roots = std::move(client_roots);
  tls_options.refresh_interval_seconds = options.tls_refresh_interval_seconds;
  tls_options.renew_fraction = options.server_cert_renew_fraction;
  ROTOR_ASSIGN_OR_RETURN(tls_, ServerTls::Create(authority_.get(), tls_options));
  metrics_.issued().Increment("server");

  // Metrics read at scrape time.
  pool_ = std::make_unique<WorkerPool>(options.worker_threads);
  node_service_ = std::make_unique<NodeServiceImpl>(authority_.get(),
                                                    pool_.get(), &metrics_);
  admin_service_ = std::make_unique<AdminServiceImpl>(authority_.get(),
                                                      pool_.get(), &metrics_);
  MetricsRegistry& registry = metrics_.registry();
  NodeServiceImpl* node_service = node_service_.get();
  registry.AddGaugeFunction(
      "rotor_connected_agents", "Open WatchUpdates streams.",
      [node_service] { return static_cast<double>(node_service->open_watches()); });
  store::LmdbStore* store = store_.get();
  registry.AddSummaryFunction(
      "rotor_store_commit_batch_size",
      "Writes per store batch (one redo log fsync each): _sum is writes, "
      "_count is batches.",
      [store] {
        const store::GroupCommitter::Stats stats = store->commit_stats();
        return SummaryValue{static_cast<double>(stats.writes), stats.batches};
      });
  registry.AddGaugeFunction(
      "rotor_store_commit_batch_size_max", "Largest store batch so far.",
      [store] {
        return static_cast<double>(store->commit_stats().largest_batch);
      });
  registry.AddGaugeFunction(
      "rotor_store_checkpoints",
      "Store checkpoints since start: LMDB commits of the batches in the "
      "redo log.",
      [store] { return static_cast<double>(store->redo_stats().checkpoints); });
  registry.AddSummaryFunction(
      "rotor_store_checkpoint_duration_seconds",
      "Time store checkpoints took (writes wait meanwhile): _sum is seconds, "
      "_count is checkpoints.",
      [store] {
        const store::LmdbStore::RedoStats stats = store->redo_stats();
        return SummaryValue{absl::ToDoubleSeconds(stats.checkpoint_time),
                            stats.checkpoints};
      });
  registry.AddGaugeFunction(
      "rotor_store_checkpoint_duration_seconds_max",
      "Longest store checkpoint so far, in seconds.", [store] {
        return absl::ToDoubleSeconds(store->redo_stats().longest_checkpoint);
      });
  registry.AddGaugeFunction(
      "rotor_store_checkpoint_failures",
      "Store checkpoints since start that LMDB could not commit (their "
      "writes stay in the redo log).",
      [store] {
        return static_cast<double>(store->redo_stats().checkpoint_failures);
      });
  Authority* authority = authority_.get();
  registry.AddGaugeFunction("rotor_crl_number",
                            "cRLNumber of the current CRL.", [authority] {
                              return static_cast<double>(
                                  authority->GetCrl().number);
                            });
  ServerTls* tls = tls_.get();
  registry.AddGaugeFunction(
      "rotor_server_certificate_expiry_timestamp_seconds",
      "notAfter of the CA's own gRPC server certificate, as a Unix time.",
      [tls] {
        return static_cast<double>(
            absl::ToUnixSeconds(tls->certificate().NotAfter()));
      });

  // gRPC.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config_.listen, tls_->credentials(), &grpc_port_);
  builder.RegisterService(node_service_.get());
  builder.RegisterService(admin_service_.get());
  builder.SetMaxReceiveMessageSize(kMaxReceiveMessageBytes);
  // gRPC sets SO_REUSEPORT by default: a second server on the same port
  // would start and take a share of the connections. Refuse instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Long-lived WatchUpdates streams: find dead agents, and let live ones
  // keep their connection up.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 120 * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20 * 1000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             10 * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  {
    std::vector<
        std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        interceptors;
    interceptors.push_back(calls_.Factory());
    builder.experimental().SetInterceptorCreators(std::move(interceptors));
  }
  grpc_ = builder.BuildAndStart();
  if (grpc_ == nullptr || grpc_port_ == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen for gRPC on ", config_.listen,
        " (address in use, or not an address of this host)"));
  }

  // HTTP.
  HttpServerContext http_context;
  http_context.authority = authority_.get();
  http_context.store = core_store;
  http_context.ocsp_certificate = &*ocsp_certificate_;
  http_context.ocsp_key = &*ocsp_key_;
  http_context.ocsp_validity = config_.crl_validity;
  http_context.metrics = &metrics_.registry();
  http_context.clock = clock_;
  ROTOR_ASSIGN_OR_RETURN(http_, HttpServer::Start(config_.http_listen,
                                                  http_context));

  // Join tokens left from before the start; a failure is logged and tried
  // again at the next purge, it does not keep the CA from serving.
  PurgeJoinTokens();
  {
    absl::MutexLock lock(&mu_);
    next_purge_ = clock_->Now() + kJoinTokenPurgeInterval;
  }
  renew_check_interval_ = options.renew_check_interval;
  background_ = std::thread([this] { BackgroundLoop(); });
  LogInfo("serving", {{"grpc", grpc_address()},
                      {"http", http_address()},
                      {"trust_domain", config_.trust_domain},
                      {"server_cert", tls_->certificate().SerialHex()},
                      {"server_cert_not_after",
                       FormatUtc(tls_->certificate().NotAfter())}});
  return absl::OkStatus();
}

CaServer::~CaServer() {
  Shutdown(absl::Seconds(1));
  // lock_ is released last, after every member that uses DATA_DIR/server/.
}

std::string CaServer::grpc_address() const {
  return JoinHostPort(grpc_host_, grpc_port_);
}

std::string CaServer::http_address() const {
  return http_ == nullptr ? "" : JoinHostPort(http_->host(), http_->port());
}

std::string CaServer::ReadyLine() const {
  return absl::StrCat("rotor-ca: serving grpc=", grpc_address(),
                      " http=", http_address());
}

absl::Time CaServer::next_join_token_purge() {
  absl::MutexLock lock(&mu_);
  return next_purge_;
}

void CaServer::PurgeJoinTokens() {
  // Authority logs what it did, or why it failed.
  absl::StatusOr<uint64_t> removed = authority_->PurgeExpiredJoinTokens();
  metrics_.join_token_purges().Increment(removed.ok() ? "ok" : "error");
  if (removed.ok()) {
    metrics_.join_tokens_purged().Increment("", static_cast<double>(*removed));
  }
}

void CaServer::BackgroundLoop() {
  absl::Time retry_not_before = absl::InfinitePast();
  mu_.Lock();
  while (!stopping_) {
    const absl::Time now = clock_->Now();
    // A clock set back must not push the next purge further away.
    next_purge_ = std::min(next_purge_, now + kJoinTokenPurgeInterval);
    if (now >= next_purge_) {
      mu_.Unlock();
      PurgeJoinTokens();
      mu_.Lock();
      next_purge_ = clock_->Now() + kJoinTokenPurgeInterval;
      continue;
    }
    const absl::Time renew_due =
        std::max(tls_->renew_time(), retry_not_before);
    if (now < renew_due) {
      const absl::Duration wait = std::min(
          {renew_due - now, next_purge_ - now, renew_check_interval_});
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), wait);
      continue;
    }
    mu_.Unlock();
    const absl::Status status = tls_->Renew();
    mu_.Lock();
    if (status.ok()) {
      retry_not_before = absl::InfinitePast();
      metrics_.server_cert_renewals().Increment("ok");
      metrics_.issued().Increment("server");
      LogInfo("renewed server certificate",
              {{"serial", tls_->certificate().SerialHex()},
               {"not_after", FormatUtc(tls_->certificate().NotAfter())},
               {"outcome", "ok"}});
    } else {
      retry_not_before = clock_->Now() + kRenewRetryInterval;
      metrics_.server_cert_renewals().Increment("error");
      LogError("server certificate renewal failed; keeping the current one",
               {{"serial", tls_->certificate().SerialHex()},
                {"not_after", FormatUtc(tls_->certificate().NotAfter())},
                {"outcome", absl::StatusCodeToString(status.code())},
                {"error", std::string(status.message())}});
    }
  }
  mu_.Unlock();
}

void CaServer::Shutdown(absl::Duration drain) {
  if (shut_down_) return;
  shut_down_ = true;
  if (grpc_ != nullptr) {
    if (grpc::HealthCheckServiceInterface* health =
            grpc_->GetHealthCheckService()) {
      health->SetServingStatus(false);
    }
    node_service_->StopWatches();
    StopGrpc(drain);
  }
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (background_.joinable()) background_.join();
  if (http_ != nullptr) http_->Stop();
  pool_.reset();  // every call has finished: runs nothing more
  if (grpc_ != nullptr) LogInfo("stopped", {{"grpc", grpc_address()}});
}

void CaServer::StopGrpc(absl::Duration drain) {
  // gRPC's shutdown, started without waiting for it: the listener closes,
  // calls not yet started are refused, and every connection gets a GOAWAY.
  // From here on the number of calls in flight only goes down. (The C API,
  // as grpc::Server::Shutdown uses it; its notification comes on `queue`.)
  std::unique_ptr<grpc_completion_queue, ShutdownQueueDeleter> queue(
      grpc_completion_queue_create_for_next(nullptr));
  grpc_server_shutdown_and_notify(grpc_->c_server(), queue.get(), nullptr);
  // grpc::Server::Shutdown(deadline) alone would return only once every
  // client has closed its connection, which a client that is not polling it
  // does seconds later (ca/in_flight_calls.h). What needs draining is the
  // calls: once none is left, close the connections.
  if (!calls_.AwaitNone(drain)) {
    LogWarning("drain time is up; cancelling the calls still in flight",
               {{"calls", absl::StrCat(calls_.count())},
                {"drain", absl::FormatDuration(drain)}});
  }
  grpc_server_cancel_all_calls(grpc_->c_server());
  // Nothing is left to wait for: this finishes gRPC's own bookkeeping, and
  // the shutdown, so `queue` holds its notification when it is destroyed.
  grpc_->Shutdown(std::chrono::system_clock::now());
  grpc_->Wait();
}

absl::Status Serve(const ServeOptions& options, absl::Duration drain) {
  // Block the signals before any thread starts, so every thread inherits the
  // mask and only sigwait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  ROTOR_ASSIGN_OR_RETURN(
      std::unique_ptr<CaServer> server,
      CaServer::Start(options, RealClock(), pki::SystemRandom()));
  std::printf("%s\n", server->ReadyLine().c_str());
  std::fflush(stdout);
  Notify("READY=1");

  int signal_number = 0;
  while (sigwait(&signals, &signal_number) != 0) {
  }
  LogInfo("shutting down", {{"signal", strsignal(signal_number)},
                            {"drain", absl::FormatDuration(drain)}});
  Notify("STOPPING=1");
  server->Shutdown(drain);
  return absl::OkStatus();
}

}  // namespace rotor::ca
