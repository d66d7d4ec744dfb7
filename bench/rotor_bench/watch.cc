// rotor-bench watch: many agents connected to one CA. Attests as --agents
// distinct nodes, opens one WatchUpdates stream per node, each over the
// node's own mTLS connection (as rotor-agent does), on gRPC's callback API
// so one process holds them all without a thread each. Then revokes one
// workload certificate of each of --revocations sampled nodes, one every
// --interval, and measures the time from sending RevokeCertificate to the
// holder's stream receiving the revocation. Reports that latency and the
// CA's resident memory (VmRSS) before and with the streams open.
#include <dirent.h>
#include <unistd.h>
#include <grpcpp/grpcpp.h>

#include <memory>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "agent/ca_client.h"
#include "bench/rotor_bench/enroll.h"
#include "bench/rotor_bench/modes.h"
#include "bench/rotor_bench/report.h"
#include "util/file.h"
#include "util/status_macros.h"

namespace rotor::bench {
namespace {

struct WatchOptions {
  std::string ca;
  std::string credentials;
  int64_t agents = 1000;
  int64_t revocations = 100;
  absl::Duration interval = absl::Milliseconds(100);
  int64_t connect_window = 256;
  int64_t attest_concurrency = 16;
  absl::Duration connect_timeout = absl::Minutes(5);
  int64_t ca_pid = 0;
  bool json = false;
};

// What every stream reports to.
class WatchState {
 public:
  explicit WatchState(size_t streams) : first_seen_(streams, false) {}

  void OnUpdate(size_t index, const rotor::v1::Update& update,
                absl::Time now) {
    absl::MutexLock lock(&mu_);
    if (!first_seen_[index]) {
      first_seen_[index] = true;
      ++connected_;
    }
    if (update.has_revoked()) {
      auto it = pending_.find(update.revoked().serial());
      if (it != pending_.end()) {
        latency_.Add(now - it->second);
        pending_.erase(it);
      }
    }
  }

  void OnDone(const grpc::Status& status) {
    absl::MutexLock lock(&mu_);
    ++ended_;
    if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED &&
        first_error_.empty()) {
      first_error_ = status.error_message();
    }
  }

  // Before sending the revocation of `serial`.
  void ExpectRevocation(const std::string& serial, absl::Time sent) {
    absl::MutexLock lock(&mu_);
    pending_[serial] = sent;
  }

  // Waits until fewer than `window` opened streams are still connecting.
  void WaitForConnectingBelow(size_t opened, size_t window,
                              absl::Time deadline) {
    absl::MutexLock lock(&mu_);
    auto below = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return opened - connected_ - std::min(ended_, opened) < window;
    };
    mu_.AwaitWithDeadline(absl::Condition(&below), deadline);
  }

  // Waits until every one of `opened` streams is connected or ended.
  void WaitForAllSettled(size_t opened, absl::Time deadline) {
    absl::MutexLock lock(&mu_);
    auto settled = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return connected_ + ended_ >= opened;
    };
    mu_.AwaitWithDeadline(absl::Condition(&settled), deadline);
  }

  void WaitForNoPending(absl::Time deadline) {
    absl::MutexLock lock(&mu_);
    auto none = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return pending_.empty();
    };
    mu_.AwaitWithDeadline(absl::Condition(&none), deadline);
  }

  bool WaitForAllEnded(size_t opened, absl::Time deadline) {
    absl::MutexLock lock(&mu_);
    auto ended = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return ended_ >= opened;
    };
    return mu_.AwaitWithDeadline(absl::Condition(&ended), deadline);
  }

  size_t connected() {
    absl::MutexLock lock(&mu_);
    return connected_;
  }
  size_t ended() {
    absl::MutexLock lock(&mu_);
    return ended_;
  }
  size_t pending() {
    absl::MutexLock lock(&mu_);
    return pending_.size();
  }
  LatencyRecorder latency() {
    absl::MutexLock lock(&mu_);
    return latency_;
  }
  std::string first_error() {
    absl::MutexLock lock(&mu_);
    return first_error_;
  }

 private:
  absl::Mutex mu_;
  std::vector<bool> first_seen_ ABSL_GUARDED_BY(mu_);
  size_t connected_ ABSL_GUARDED_BY(mu_) = 0;
  size_t ended_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, absl::Time> pending_ ABSL_GUARDED_BY(mu_);
  LatencyRecorder latency_ ABSL_GUARDED_BY(mu_);
  std::string first_error_ ABSL_GUARDED_BY(mu_);
};

// One node's WatchUpdates stream over its own channel. Lives until OnDone.
class WatchStream final : public grpc::ClientReadReactor<rotor::v1::Update> {
 public:
  WatchStream(WatchState* state, size_t index,
              std::shared_ptr<grpc::Channel> channel)
      : state_(state),
        index_(index),
        stub_(rotor::v1::NodeService::NewStub(std::move(channel))) {}

  void Start() {
    stub_->async()->WatchUpdates(&context_, &request_, this);
    StartRead(&update_);
    StartCall();
  }
  void Cancel() { context_.TryCancel(); }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    state_->OnUpdate(index_, update_, absl::Now());
    StartRead(&update_);
  }
  void OnDone(const grpc::Status& status) override { state_->OnDone(status); }

 private:
  WatchState* const state_;
  const size_t index_;
  std::unique_ptr<rotor::v1::NodeService::Stub> stub_;
  grpc::ClientContext context_;
  rotor::v1::WatchUpdatesRequest request_;
  rotor::v1::Update update_;
};

// The pid of the one process named rotor-ca, or 0 if there is none or
// several.
int FindCaProcess() {
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return 0;
  int found = 0;
  int count = 0;
  while (struct dirent* entry = readdir(proc)) {
    int pid = 0;
    if (!absl::SimpleAtoi(entry->d_name, &pid)) continue;
    absl::StatusOr<std::string> comm =
        ReadFile(absl::StrCat("/proc/", pid, "/comm"));
    if (comm.ok() && absl::StripAsciiWhitespace(*comm) == "rotor-ca") {
      found = pid;
      ++count;
    }
  }
  closedir(proc);
  return count == 1 ? found : 0;
}

double Megabytes(int64_t bytes) {
  return bytes < 0 ? -1 : static_cast<double>(bytes) / (1024.0 * 1024.0);
}

absl::Status Run(const WatchOptions& options, Report& report) {
  if (options.agents < 1 || options.revocations < 0 ||
      options.revocations > options.agents || options.connect_window < 1 ||
      options.attest_concurrency < 1) {
    return absl::InvalidArgumentError(
        "--agents must be at least 1, --revocations between 0 and --agents, "
        "--connect-window and --attest-concurrency at least 1");
  }
  const int ca_pid = options.ca_pid > 0 ? static_cast<int>(options.ca_pid)
                                        : FindCaProcess();
  ROTOR_ASSIGN_OR_RETURN(std::unique_ptr<BenchCa> ca,
                         BenchCa::Connect(options.ca, options.credentials));
  const std::string tag = RunTag();
  const size_t agents = static_cast<size_t>(options.agents);
  const std::string spiffe_id =
      absl::StrCat("spiffe://", ca->trust_domain(), "/bench/watch-", tag);
  ROTOR_RETURN_IF_ERROR(
      ca->CreateEntry(absl::StrCat("watch-", tag, "-*"), spiffe_id));
  std::vector<std::string> names;
  for (size_t i = 0; i < agents; ++i) {
    names.push_back(absl::StrCat("watch-", tag, "-", i));
  }

  const absl::Time enroll_start = absl::Now();
  ROTOR_ASSIGN_OR_RETURN(std::vector<std::string> tokens,
                         ca->CreateTokens(names, 32));
  ROTOR_ASSIGN_OR_RETURN(
      std::vector<EnrolledNode> nodes,
      ca->AttestNodes(names, tokens, pki::KeyType::kEcP256,
                      static_cast<int>(options.attest_concurrency)));
  const absl::Duration enroll_time = absl::Now() - enroll_start;

  // The sampled nodes (spread evenly) get one workload certificate each.
  const size_t samples = static_cast<size_t>(options.revocations);
  std::vector<size_t> sampled;
  for (size_t k = 0; k < samples; ++k) sampled.push_back(k * agents / samples);
  std::vector<std::string> serials(samples);
  ROTOR_ASSIGN_OR_RETURN(std::vector<std::string> csrs,
                         MakeCsrs(spiffe_id, pki::KeyType::kEcP256, 1, 1));
  absl::Status done = ParallelFor(samples, 8, [&](size_t k) {
    const EnrolledNode& node = nodes[sampled[k]];
    agent::GrpcCaClientOptions client_options;
    client_options.address = ca->address();
    agent::GrpcCaClient client(client_options);
    ROTOR_RETURN_IF_ERROR(client.SetCredentials(
        ca->roots_pem(), pki::SecretString(std::string(node.key_pem.view())),
        node.chain_pem));
    absl::StatusOr<rotor::v1::SignWorkloadResponse> response;
    for (absl::Duration pause = absl::Milliseconds(50);;
         pause = std::min(pause * 2, absl::Seconds(1))) {
      response = client.SignWorkload(csrs.front(), absl::ZeroDuration());
      if (!absl::IsResourceExhausted(response.status())) break;
      absl::SleepFor(pause);
    }
    ROTOR_RETURN_IF_ERROR(response.status());
    serials[k] = response->certificate().serial();
    return absl::OkStatus();
  });
  ROTOR_RETURN_IF_ERROR(done);

  const int64_t rss_before = ca_pid > 0 ? ResidentBytes(ca_pid) : -1;

  // One stream per node, at most --connect-window connecting at once.
  WatchState state(agents);
  std::vector<std::unique_ptr<WatchStream>> streams;
  streams.reserve(agents);
  const absl::Time connect_start = absl::Now();
  const absl::Time connect_deadline = connect_start + options.connect_timeout;
  for (size_t i = 0; i < agents; ++i) {
    state.WaitForConnectingBelow(i, static_cast<size_t>(options.connect_window),
                                 connect_deadline);
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ca->roots_pem();
    ssl.pem_private_key = std::string(nodes[i].key_pem.view());
    ssl.pem_cert_chain = nodes[i].chain_pem;
    grpc::ChannelArguments args;
    // Each node its own connection, as separate agents have.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto channel = grpc::CreateCustomChannel(
        ca->address(), grpc::SslCredentials(ssl), args);
    streams.push_back(
        std::make_unique<WatchStream>(&state, i, std::move(channel)));
    streams.back()->Start();
  }
  state.WaitForAllSettled(agents, connect_deadline);
  const absl::Duration connect_time = absl::Now() - connect_start;
  const size_t connected = state.connected();
  // Let the CA settle (buffers, the first CRL pushes) before reading RSS.
  absl::SleepFor(absl::Seconds(2));
  const int64_t rss_connected = ca_pid > 0 ? ResidentBytes(ca_pid) : -1;

  // Revocations, one every --interval.
  LatencyRecorder revoke_rpc;
  size_t revoke_errors = 0;
  std::string revoke_error;
  absl::Time next = absl::Now();
  for (size_t k = 0; k < samples; ++k) {
    absl::SleepFor(next - absl::Now());
    next += options.interval;
    const absl::Time sent = absl::Now();
    state.ExpectRevocation(serials[k], sent);
    absl::Status status = ca->Revoke(serials[k]);
    if (!status.ok()) {
      ++revoke_errors;
      if (revoke_error.empty()) revoke_error = std::string(status.message());
      continue;
    }
    revoke_rpc.Add(absl::Now() - sent);
  }
  state.WaitForNoPending(absl::Now() + absl::Seconds(10));
  const int64_t rss_after = ca_pid > 0 ? ResidentBytes(ca_pid) : -1;
  const int64_t rss_self = ResidentBytes(getpid());

  LatencyRecorder latency = state.latency();
  report.Add("mode", "watch");
  report.Add("agents", static_cast<double>(agents));
  report.Add("connected", static_cast<double>(connected));
  report.Add("enroll_s", absl::ToDoubleSeconds(enroll_time));
  report.Add("connect_s", absl::ToDoubleSeconds(connect_time));
  report.Add("revocations", static_cast<double>(samples));
  report.Add("notified", static_cast<double>(latency.count()));
  report.Add("missed", static_cast<double>(samples - revoke_errors -
                                           latency.count()));
  report.Add("revoke_errors", static_cast<double>(revoke_errors));
  report.Add("notify_p50_ms", latency.PercentileMs(0.50));
  report.Add("notify_p99_ms", latency.PercentileMs(0.99));
  report.Add("notify_max_ms", latency.PercentileMs(1.0));
  report.Add("revoke_rpc_p50_ms", revoke_rpc.PercentileMs(0.50));
  report.Add("ca_pid", static_cast<double>(ca_pid));
  report.Add("ca_rss_mb_before_streams", Megabytes(rss_before));
  report.Add("ca_rss_mb", Megabytes(rss_connected));
  report.Add("ca_rss_mb_after_revocations", Megabytes(rss_after));
  report.Add("bench_rss_mb", Megabytes(rss_self));
  const std::string stream_error = state.first_error();
  if (!stream_error.empty()) report.Add("first_stream_error", stream_error);
  if (!revoke_error.empty()) report.Add("first_revoke_error", revoke_error);
  report.AddMachine();

  // Close every stream before the reactors go away.
  for (auto& stream : streams) stream->Cancel();
  if (!state.WaitForAllEnded(agents, absl::Now() + absl::Seconds(60))) {
    // A reactor gRPC still holds must outlive the call: leak them.
    for (auto& stream : streams) stream.release();
  }
  return absl::OkStatus();
}

}  // namespace

int RunWatch(const std::vector<std::string>& args) {
  WatchOptions options;
  FlagSet flags(
      "rotor-bench watch",
      "--ca HOST:PORT --credentials DIR [--agents N] [--revocations N] "
      "[--interval 100ms] [--ca-pid PID] [--json]",
      "Attests as --agents nodes and opens one WatchUpdates stream per node, "
      "each over its\nown mTLS connection; then revokes a workload "
      "certificate of --revocations sampled\nnodes, one every --interval, and "
      "reports revoke -> notification latency (p50, p99)\nand the CA's "
      "resident memory (VmRSS of --ca-pid, or of the one process named\n"
      "rotor-ca). Needs a file-descriptor limit above --agents, here and in "
      "the CA.");
  flags.AddString("ca", &options.ca, "the CA's gRPC address", "HOST:PORT");
  flags.AddString("credentials", &options.credentials,
                  "admin credentials folder", "DIR");
  flags.AddInt("agents", &options.agents, "nodes, each with one stream");
  flags.AddInt("revocations", &options.revocations,
               "sampled nodes whose workload certificate is revoked");
  flags.AddDuration("interval", &options.interval,
                    "time between two revocations");
  flags.AddInt("connect-window", &options.connect_window,
               "streams connecting at once");
  flags.AddInt("attest-concurrency", &options.attest_concurrency,
               "Attest calls in flight (the CA limits them per address)");
  flags.AddDuration("connect-timeout", &options.connect_timeout,
                    "how long all streams may take to connect");
  flags.AddInt("ca-pid", &options.ca_pid, "the CA's process id");
  flags.AddBool("json", &options.json, "print one JSON line");
  flags.Require("ca");
  flags.Require("credentials");
  int exit_code = 0;
  if (!ParseModeFlags(flags, args, &exit_code)) return exit_code;
  Report report;
  absl::Status status = Run(options, report);
  if (!status.ok()) return Fail(status);
  PrintReport(report, options.json);
  return 0;
}

}  // namespace rotor::bench
