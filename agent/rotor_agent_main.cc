// rotor-agent: the node agent. `run` keeps the configured certificates
// valid on disk; `status` shows what it manages.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/agent.h"
#include "agent/atomic_writer.h"
#include "agent/ca_client.h"
#include "agent/config.h"
#include "agent/filesystem.h"
#include "agent/status.h"
#include "agent/systemd_notify.h"
#include "pki/certificate.h"
#include "pki/random.h"
#include "util/clock.h"
#include "util/command_line.h"
#include "util/file.h"
#include "util/log.h"

namespace rotor::agent {
namespace {

constexpr char kUsage[] =
    "usage: rotor-agent <command> [flags]\n"
    "\n"
    "rotor-agent keeps a node's certificates valid: it generates keys "
    "locally,\nrequests certificates from the CA and rotates them before "
    "expiry.\n"
    "\n"
    "commands:\n"
    "  run      run the agent (SIGTERM stops it, SIGHUP re-reads the config)\n"
    "  status   show each managed certificate, its serial, expiry and last "
    "error\n"
    "\n"
    "Run 'rotor-agent <command> --help' for a command's flags.\n";

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "rotor-agent: %s\n",
               std::string(status.message()).c_str());
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

// Parses flags; returns -1 to go on, otherwise the exit code.
int ParseFlags(FlagSet& flags, const std::vector<std::string>& args) {
  absl::StatusOr<std::vector<std::string>> rest = flags.Parse(args);
  if (!rest.ok()) return Fail(rest.status());
  if (flags.help_requested()) {
    std::fputs(flags.Help().c_str(), stdout);
    return 0;
  }
  if (!rest->empty()) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "unexpected argument \"", rest->front(), "\"; see --help")));
  }
  return -1;
}

int RunAgent(const std::vector<std::string>& args) {
  std::string config_path;
  bool debug = false;
  FlagSet flags("rotor-agent run", "--config FILE [--debug]",
                "Runs the agent in the foreground until SIGTERM. SIGHUP "
                "re-reads the config: only\ncertificates whose identity or "
                "folder changed are issued again. Tells systemd\nREADY=1 once "
                "every certificate is in place. Logs go to stderr.");
  flags.AddString("config", &config_path, "the agent's YAML config", "FILE");
  flags.AddBool("debug", &debug, "log debug lines too");
  flags.Require("config");
  if (int code = ParseFlags(flags, args); code >= 0) return code;
  SetLogProgram("rotor-agent");
  if (debug) SetLogLevel(LogLevel::kDebug);

  absl::StatusOr<AgentConfig> config = LoadAgentConfig(config_path);
  if (!config.ok()) return Fail(config.status());

  // Signals are taken by one thread with sigwait; block them before any
  // other thread (gRPC's included) starts, so every thread inherits that.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  GrpcCaClientOptions client_options;
  client_options.address = config->ca;
  client_options.rpc_timeout = config->rpc_timeout;
  client_options.reconnect_initial = config->backoff_initial;
  client_options.reconnect_max = config->backoff_max;
  GrpcCaClient client(client_options);

  AgentEnv env;
  env.ca = &client;
  env.fs = RealFilesystem();
  env.clock = RealClock();
  env.random = pki::SystemRandom();
  env.on_ready = [] { NotifyReady(); };
  Agent agent(*config, env);

  // Set when Run has returned: the signal thread then ends without acting.
  std::atomic<bool> done{false};
  std::thread signal_thread([&agent, &signals, &done, config_path] {
    while (true) {
      int sig = 0;
      if (sigwait(&signals, &sig) != 0) continue;
      if (done) return;
      if (sig == SIGHUP) {
        absl::StatusOr<AgentConfig> reloaded = LoadAgentConfig(config_path);
        if (!reloaded.ok()) {
          LogError("SIGHUP: the config has errors; keeping the current one",
                   {{"error", std::string(reloaded.status().message())}});
          continue;
        }
        LogInfo("SIGHUP: reloading the config", {{"config", config_path}});
        agent.Reload(*std::move(reloaded));
        continue;
      }
      LogInfo("stopping", {{"signal", sig == SIGTERM ? "TERM" : "INT"}});
      NotifyStopping();
      agent.Stop();
      return;
    }
  });

  LogInfo("starting", {{"ca", config->ca},
                       {"node", config->node_name},
                       {"certificates", absl::StrCat(config->certificates.size())}});
  absl::Status status = agent.Run();
  // The signal thread uses `agent` (Stop may still be running after Run
  // returned): end it before `agent` goes. It may be waiting for a signal,
  // so send it one; it may have ended already, which pthread_kill reports
  // harmlessly.
  done = true;
  pthread_kill(signal_thread.native_handle(), SIGTERM);
  signal_thread.join();
  if (!status.ok()) return Fail(status);
  return 0;
}

// The status of one certificate as its files say, merged with what the
// agent last recorded.
CertificateStatus FromFiles(const std::string& name, const std::string& dir,
                            const std::string& spiffe_id,
                            const AgentStatus& recorded, bool is_node) {
  CertificateStatus s;
  if (is_node) {
    s = recorded.node;
  } else {
    for (const CertificateStatus& r : recorded.certificates) {
      if (r.name == name) s = r;
    }
  }
  s.name = name;
  s.dir = dir;
  if (!spiffe_id.empty()) s.spiffe_id = spiffe_id;
  absl::StatusOr<std::vector<pki::Certificate>> chain =
      pki::Certificate::LoadChain(JoinPath(dir, kCertFile));
  if (chain.ok()) {
    const pki::Certificate& leaf = chain->front();
    if (s.serial != leaf.SerialHex()) {
      // The record is about another certificate: trust the file.
      s.next_renewal = absl::InfinitePast();
    }
    s.serial = leaf.SerialHex();
    s.not_after = leaf.NotAfter();
    if (is_node && !leaf.UriSans().empty()) s.spiffe_id = leaf.UriSans().front();
  } else if (absl::IsNotFound(chain.status())) {
    s.serial.clear();
    s.not_after = absl::InfinitePast();
  } else if (s.last_error.empty()) {
    s.last_error = std::string(chain.status().message());
  }
  return s;
}

int Status(const std::vector<std::string>& args) {
  std::string config_path;
  bool json = false;
  FlagSet flags("rotor-agent status", "--config FILE [--json]",
                "Shows the node certificate and each configured certificate: "
                "SPIFFE ID, serial,\nexpiry, next renewal and last error. "
                "Serials and expiry come from the files;\nthe next renewal and "
                "errors from the running agent's status file.");
  flags.AddString("config", &config_path, "the agent's YAML config", "FILE");
  flags.AddBool("json", &json, "print JSON instead of a table");
  flags.Require("config");
  if (int code = ParseFlags(flags, args); code >= 0) return code;
  absl::StatusOr<AgentConfig> config = LoadAgentConfig(config_path);
  if (!config.ok()) return Fail(config.status());

  AgentStatus recorded;
  absl::StatusOr<std::string> text =
      ReadFile(JoinPath(config->state_dir, kStatusFile));
  if (text.ok()) {
    absl::StatusOr<AgentStatus> parsed = StatusFromJson(*text);
    if (parsed.ok()) recorded = *std::move(parsed);
  }
  AgentStatus status;
  status.updated_at = recorded.updated_at;
  status.pid = recorded.pid;
  status.node = FromFiles("node", JoinPath(config->state_dir, kNodeDir), "",
                          recorded, /*is_node=*/true);
  for (const CertificateConfig& c : config->certificates) {
    status.certificates.push_back(
        FromFiles(c.name, c.dir, c.spiffe_id, recorded, /*is_node=*/false));
  }
  const bool running = status.pid > 0 && ::kill(static_cast<pid_t>(status.pid), 0) == 0;
  if (json) {
    std::fputs(StatusToJson(status).c_str(), stdout);
    std::fputs("\n", stdout);
    return 0;
  }
  const absl::Time now = absl::Now();
  if (running) {
    std::printf("agent running (pid %lld), status recorded %s ago\n",
                static_cast<long long>(status.pid),
                FormatShortDuration(now - status.updated_at).c_str());
  } else {
    std::printf("agent not running; renewal times are from its last run\n");
  }
  std::fputs(FormatStatusTable(status, now).c_str(), stdout);
  return 0;
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" ||
      args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  const std::string command = args[0];
  args.erase(args.begin());
  if (command == "run") return RunAgent(args);
  if (command == "status") return Status(args);
  std::fprintf(stderr, "rotor-agent: unknown command \"%s\"\n\n%s",
               command.c_str(), kUsage);
  return 2;
}

}  // namespace
}  // namespace rotor::agent

int main(int argc, char** argv) { return rotor::agent::Main(argc, argv); }
