// A real `rotor-agent run` for whole-system tests: writes its config and
// join token next to a CaProcess, starts and stops it, reads its log, and
// reads a certificate folder the way a careful workload does.
//
// Thread-safety: not thread-safe (like Process).
#ifndef ROTOR_TESTS_E2E_AGENT_RUN_H_
#define ROTOR_TESTS_E2E_AGENT_RUN_H_

#include <signal.h>

#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent/filesystem.h"
#include "gtest/gtest.h"
#include "pki/certificate.h"
#include "pki/key.h"
#include "tests/testing/ca_process.h"
#include "tests/testing/process.h"
#include "util/file.h"

namespace rotor::testing {

// One entry of the agent config's `certificates`.
struct AgentCertificate {
  std::string name = "web";
  std::string spiffe_id = "spiffe://example.org/web";
  std::vector<std::string> dns_names = {"web.internal"};
  std::string ttl = "5s";
  std::string dir;        // required
  std::string mode;       // empty: the default (0600)
};

// Files, all under the folder given to the constructor:
//   agent.yaml, token, state/, agent.out, agent.log
class AgentRun {
 public:
  explicit AgentRun(std::string folder) : folder_(std::move(folder)) {}
  ~AgentRun() { Stop(); }
  AgentRun(const AgentRun&) = delete;
  AgentRun& operator=(const AgentRun&) = delete;

  std::string Path(absl::string_view name) const {
    return JoinPath(folder_, name);
  }
  std::string config_path() const { return Path("agent.yaml"); }
  std::string token_path() const { return Path("token"); }
  std::string state_dir() const { return Path("state"); }
  std::string log_path() const { return Path("agent.log"); }
  std::string out_path() const { return Path("agent.out"); }

  // Writes the token file (0600) and agent.yaml for node `node_name` of
  // `ca` (as it is now: its address and fingerprint), with fast retries.
  bool Configure(const CaProcess& ca, const std::string& node_name,
                 const std::string& token,
                 const std::vector<AgentCertificate>& certificates) {
    std::string yaml = absl::StrCat(
        "ca: ", ca.grpc_address(), "\n", "trust_anchor: ", ca.fingerprint(),
        "\n", "join_token_file: ", token_path(), "\n", "node_name: ",
        node_name, "\n", "state_dir: ", state_dir(), "\n",
        "backoff_initial: 200ms\n", "backoff_max: 1s\n", "rpc_timeout: 5s\n",
        "certificates:\n");
    for (const AgentCertificate& c : certificates) {
      absl::StrAppend(&yaml, "  - name: ", c.name, "\n",
                      "    spiffe_id: ", c.spiffe_id, "\n",
                      "    dns_names: [", absl::StrJoin(c.dns_names, ", "),
                      "]\n", "    ttl: ", c.ttl, "\n", "    dir: ", c.dir,
                      "\n");
      if (!c.mode.empty()) absl::StrAppend(&yaml, "    mode: \"", c.mode, "\"\n");
    }
    for (const auto& [path, data, mode] :
         {std::tuple{token_path(), token + "\n", 0600},
          std::tuple{config_path(), yaml, 0644}}) {
      const absl::Status written = WriteFileAtomically(path, data, mode);
      if (!written.ok()) {
        ADD_FAILURE() << written;
        return false;
      }
    }
    return true;
  }

  bool Start(const std::vector<std::string>& extra_args = {}) {
    std::vector<std::string> argv = {BinaryPath("rotor-agent"), "run",
                                     "--config", config_path()};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    return process_.Start(argv, out_path(), log_path());
  }

  // SIGTERM and wait: the exit code, or -1 if not running or still running.
  int Stop(absl::Duration timeout = absl::Seconds(10)) {
    if (!process_.running()) return -1;
    process_.Signal(SIGTERM);
    return process_.Wait(timeout);
  }

  std::string log() const { return ReadFileOrEmpty(log_path()); }
  size_t CountInLog(absl::string_view needle) const {
    return CountInFile(log_path(), needle);
  }
  Process& process() { return process_; }

 private:
  std::string folder_;
  Process process_;
};

// The leaf of DIR/cert.pem with DIR/key.pem, read as a careful workload
// reads the pair: ..data resolved before and after, a read that straddled a
// rotation retried. Fails (with what was wrong) if the pair does not match
// or cannot be read within 100 tries.
inline absl::StatusOr<pki::Certificate> ReadCertificatePair(
    const std::string& dir) {
  agent::Filesystem* fs = agent::RealFilesystem();
  absl::Status last = absl::NotFoundError(absl::StrCat("no pair in ", dir));
  for (int attempt = 0; attempt < 100; ++attempt) {
    absl::StatusOr<std::string> before = fs->ReadLink(JoinPath(dir, "..data"));
    absl::StatusOr<std::vector<pki::Certificate>> chain =
        pki::Certificate::LoadChain(JoinPath(dir, "cert.pem"));
    absl::StatusOr<pki::PrivateKey> key =
        pki::PrivateKey::Load(JoinPath(dir, "key.pem"));
    absl::StatusOr<std::string> after = fs->ReadLink(JoinPath(dir, "..data"));
    if (!before.ok()) return before.status();
    if (!after.ok() || *before != *after) continue;
    if (!chain.ok()) {
      last = chain.status();
      continue;
    }
    if (!key.ok()) {
      last = key.status();
      continue;
    }
    if (!key->Matches(chain->front().PublicKey())) {
      return absl::DataLossError(
          absl::StrCat(dir, ": key.pem does not match cert.pem"));
    }
    return chain->front();
  }
  return last;
}

// The serial of ReadCertificatePair(dir), or "" when there is none.
inline std::string CurrentSerial(const std::string& dir) {
  absl::StatusOr<pki::Certificate> leaf = ReadCertificatePair(dir);
  return leaf.ok() ? leaf->SerialHex() : "";
}

}  // namespace rotor::testing

#endif  // ROTOR_TESTS_E2E_AGENT_RUN_H_
