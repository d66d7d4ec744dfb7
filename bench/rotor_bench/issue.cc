// rotor-bench issue: durable end-to-end issuance over mTLS. Sets itself up
// on the CA (an entry, one join token and one Attest per node), builds the
// CSRs beforehand, then `concurrency` threads each call SignWorkload in a
// loop, each thread as one node over that node's own mTLS connection, for
// the warm-up and then the measured duration. Every call returns only once
// the CA stored the certificate durably, so `per_second` is durable
// issuances per second.
#include <unistd.h>

#include <atomic>
#include <map>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/ca_client.h"
#include "bench/rotor_bench/enroll.h"
#include "bench/rotor_bench/modes.h"
#include "bench/rotor_bench/report.h"
#include "util/status_macros.h"

namespace rotor::bench {
namespace {

struct IssueOptions {
  std::string ca;
  std::string credentials;
  int64_t concurrency = 8;
  int64_t nodes = 0;  // 0: one per client thread
  absl::Duration duration = absl::Seconds(10);
  absl::Duration warmup = absl::Seconds(2);
  std::string key_type = "ec-p256";
  int64_t csrs = 1024;
  int64_t ca_pid = 0;
  bool json = false;
};

// What one client thread saw in the measured window.
struct ThreadResult {
  uint64_t issued = 0;
  uint64_t errors = 0;
  std::map<absl::StatusCode, uint64_t> errors_by_code;
  std::string first_error;
  LatencyRecorder latency;
};

absl::Status Run(const IssueOptions& options, Report& report) {
  ROTOR_ASSIGN_OR_RETURN(pki::KeyType key_type,
                         pki::ParseKeyType(options.key_type));
  if (options.concurrency < 1 || options.csrs < 1 || options.nodes < 0) {
    return absl::InvalidArgumentError(
        "--concurrency and --csrs must be at least 1, --nodes at least 0");
  }
  ROTOR_ASSIGN_OR_RETURN(std::unique_ptr<BenchCa> ca,
                         BenchCa::Connect(options.ca, options.credentials));
  const std::string tag = RunTag();
  const size_t node_count = static_cast<size_t>(
      options.nodes > 0 ? options.nodes : options.concurrency);
  const std::string spiffe_id =
      absl::StrCat("spiffe://", ca->trust_domain(), "/bench/issue-", tag);
  ROTOR_RETURN_IF_ERROR(
      ca->CreateEntry(absl::StrCat("bench-", tag, "-*"), spiffe_id));
  std::vector<std::string> names;
  for (size_t i = 0; i < node_count; ++i) {
    names.push_back(absl::StrCat("bench-", tag, "-", i));
  }
  ROTOR_ASSIGN_OR_RETURN(std::vector<std::string> tokens,
                         ca->CreateTokens(names, 16));
  ROTOR_ASSIGN_OR_RETURN(
      std::vector<EnrolledNode> nodes,
      ca->AttestNodes(names, tokens, pki::KeyType::kEcP256, 8));
  ROTOR_ASSIGN_OR_RETURN(
      std::vector<std::string> csrs,
      MakeCsrs(spiffe_id, key_type, static_cast<size_t>(options.csrs), 2));

  // One mTLS connection per node.
  std::vector<std::unique_ptr<agent::GrpcCaClient>> clients;
  for (const EnrolledNode& node : nodes) {
    agent::GrpcCaClientOptions client_options;
    client_options.address = ca->address();
    client_options.rpc_timeout = absl::Seconds(30);
    auto client = std::make_unique<agent::GrpcCaClient>(client_options);
    ROTOR_RETURN_IF_ERROR(
        client->SetCredentials(ca->roots_pem(), pki::SecretString(std::string(
                                                    node.key_pem.view())),
                               node.chain_pem));
    clients.push_back(std::move(client));
  }

  const int threads = static_cast<int>(options.concurrency);
  std::vector<ThreadResult> results(static_cast<size_t>(threads));
  const absl::Time start = absl::Now();
  const absl::Time measure_from = start + options.warmup;
  const absl::Time stop = measure_from + options.duration;
  absl::Duration self_cpu_start;
  absl::Duration ca_cpu_start;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      ThreadResult& result = results[static_cast<size_t>(t)];
      // Thread t calls as nodes t, t + threads, t + 2 * threads, ... in
      // turn, so with more nodes than threads every node is used.
      size_t next_node = static_cast<size_t>(t);
      size_t next_csr = static_cast<size_t>(t) * 7919;
      for (;;) {
        agent::GrpcCaClient& client = *clients[next_node % clients.size()];
        next_node += static_cast<size_t>(threads);
        const std::string& csr = csrs[next_csr++ % csrs.size()];
        const absl::Time begin = absl::Now();
        if (begin >= stop) return;
        absl::StatusOr<rotor::v1::SignWorkloadResponse> response =
            client.SignWorkload(csr, absl::ZeroDuration());
        const absl::Time end = absl::Now();
        // A call counts in the window it started in.
        if (begin < measure_from || end > stop) continue;
        if (response.ok()) {
          ++result.issued;
          result.latency.Add(end - begin);
        } else {
          ++result.errors;
          ++result.errors_by_code[response.status().code()];
          if (result.first_error.empty()) {
            result.first_error = std::string(response.status().message());
          }
        }
      }
    });
  }
  // CPU use of the load generator and of the CA over the measured window.
  absl::SleepFor(measure_from - absl::Now());
  self_cpu_start = ProcessCpuTime(getpid());
  if (options.ca_pid > 0) {
    ca_cpu_start = ProcessCpuTime(static_cast<int>(options.ca_pid));
  }
  absl::SleepFor(stop - absl::Now());
  const absl::Duration self_cpu = ProcessCpuTime(getpid()) - self_cpu_start;
  const absl::Duration ca_cpu =
      options.ca_pid > 0
          ? ProcessCpuTime(static_cast<int>(options.ca_pid)) - ca_cpu_start
          : absl::ZeroDuration();
  for (std::thread& t : pool) t.join();

  ThreadResult total;
  for (ThreadResult& r : results) {
    total.issued += r.issued;
    total.errors += r.errors;
    for (const auto& [code, n] : r.errors_by_code) {
      total.errors_by_code[code] += n;
    }
    if (total.first_error.empty()) total.first_error = r.first_error;
    total.latency.Merge(r.latency);
  }
  const double seconds = absl::ToDoubleSeconds(options.duration);
  report.Add("mode", "issue");
  report.Add("concurrency", static_cast<double>(threads));
  report.Add("nodes", static_cast<double>(node_count));
  report.Add("key_type", options.key_type);
  report.Add("duration_s", seconds);
  report.Add("issued", static_cast<double>(total.issued));
  report.Add("errors", static_cast<double>(total.errors));
  const uint64_t throttled =
      total.errors_by_code[absl::StatusCode::kResourceExhausted];
  report.Add("throttled", static_cast<double>(throttled));
  report.Add("per_second", static_cast<double>(total.issued) / seconds);
  report.Add("p50_ms", total.latency.PercentileMs(0.50));
  report.Add("p99_ms", total.latency.PercentileMs(0.99));
  report.Add("p999_ms", total.latency.PercentileMs(0.999));
  report.Add("max_ms", total.latency.PercentileMs(1.0));
  if (total.issued > 0) {
    report.Add("client_cpu_us_per_issue",
               absl::ToDoubleMicroseconds(self_cpu) / total.issued);
    if (options.ca_pid > 0) {
      report.Add("ca_cpu_us_per_issue",
                 absl::ToDoubleMicroseconds(ca_cpu) / total.issued);
    }
  }
  if (!total.first_error.empty()) {
    report.Add("first_error", total.first_error);
  }
  report.AddMachine();
  return absl::OkStatus();
}

}  // namespace

int RunIssue(const std::vector<std::string>& args) {
  IssueOptions options;
  FlagSet flags(
      "rotor-bench issue",
      "--ca HOST:PORT --credentials DIR [--concurrency N] [--duration 10s] "
      "[--key-type TYPE] [--json]",
      "Durable end-to-end issuance over mTLS. Creates an entry and join "
      "tokens through the\nadmin API, attests as --nodes nodes (default: one "
      "per client), builds --csrs CSRs,\nthen --concurrency threads call "
      "SignWorkload in a loop, each as one node over its\nown connection "
      "(with more --nodes than threads, each thread takes its nodes in "
      "turn). "
      "Prints issued, errors, per_second, p50_ms, p99_ms, p999_ms.\nThe CA's "
      "rate limit per node (ca.yaml rate_limit) applies: raise it, or attest "
      "as\nmore nodes, or the excess shows as throttled errors.");
  flags.AddString("ca", &options.ca, "the CA's gRPC address", "HOST:PORT");
  flags.AddString("credentials", &options.credentials,
                  "admin credentials folder (admin.crt, admin.key, "
                  "bundle.crt)",
                  "DIR");
  flags.AddInt("concurrency", &options.concurrency,
               "client threads, each with one call in flight");
  flags.AddInt("nodes", &options.nodes,
               "nodes to attest as (0: one per client thread)");
  flags.AddDuration("duration", &options.duration, "measured time");
  flags.AddDuration("warmup", &options.warmup,
                    "time before measuring (connections, caches)");
  flags.AddString("key-type", &options.key_type,
                  "workload key type in the CSRs: ec-p256, ec-p384, ed25519, "
                  "rsa-2048, ...",
                  "TYPE");
  flags.AddInt("csrs", &options.csrs, "distinct CSRs built beforehand");
  flags.AddInt("ca-pid", &options.ca_pid,
               "the CA's process id, to report its CPU per issuance");
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
