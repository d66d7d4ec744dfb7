// The agent's configuration file (docs/design.md, "Agent config"): where the
// CA is, how it is authenticated on first contact, where the node's own
// credentials live, and the certificates to keep on the shared volume.
//
// Parsing refuses unknown keys and bad values with the file, the line and the
// key: "agent.yaml line 7: unknown key \"renew_att\"; known keys: ...",
// "agent.yaml line 9: certificates[0].mode: \"0999\" is not an octal mode".
//
// Thread-safety: AgentConfig is a plain value.
#ifndef ROTOR_AGENT_CONFIG_H_
#define ROTOR_AGENT_CONFIG_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "pki/key.h"

namespace rotor::agent {

// What to do after a certificate's files changed. At most one of `exec` and
// `signal_name` is set; neither means no hook.
struct HookConfig {
  // argv of a program run without a shell; argv[0] is searched in PATH.
  std::vector<std::string> exec;
  // Signal to send, by name without "SIG" ("HUP", "USR1"), and the file that
  // holds the pid to send it to.
  std::string signal_name;
  int signal_number = 0;
  std::string pid_file;
  // How long an exec hook may run before it is killed.
  absl::Duration timeout = absl::Seconds(30);

  bool empty() const { return exec.empty() && signal_name.empty(); }
  bool operator==(const HookConfig& other) const = default;
};

struct CertificateConfig {
  std::string name;
  std::string spiffe_id;
  std::vector<std::string> dns_names;
  pki::KeyType key_type = pki::KeyType::kEcP256;
  // Requested lifetime; zero asks for the CA's default.
  absl::Duration ttl = absl::ZeroDuration();
  std::string dir;
  // Mode of key.pem; certificates are always 0644.
  mode_t mode = 0600;
  // User and group (names or numeric ids) to own the files; empty: unchanged.
  std::string owner;
  std::string group;
  HookConfig on_rotate;

  // True if a certificate issued for `other` also serves this config: same
  // SPIFFE ID, DNS names (as a set) and key type.
  bool SameIdentity(const CertificateConfig& other) const;
  bool operator==(const CertificateConfig& other) const = default;
};

struct AgentConfig {
  // HOST:PORT of the CA's gRPC endpoint.
  std::string ca;
  // As written: "sha256:<hex>" or the path of a PEM file with the root(s).
  std::string trust_anchor;
  std::string join_token_file;
  std::string node_name;
  std::string state_dir;
  // Fraction of a certificate's lifetime after which it is renewed.
  double renew_at = 0.5;
  // Retry delays when the CA cannot be reached (full jitter between 0 and
  // the current step, doubling from backoff_initial up to backoff_max).
  absl::Duration backoff_initial = absl::Seconds(1);
  absl::Duration backoff_max = absl::Seconds(60);
  // Deadline of each call to the CA.
  absl::Duration rpc_timeout = absl::Seconds(10);
  std::vector<CertificateConfig> certificates;

  bool operator==(const AgentConfig& other) const = default;
};

// Parses and validates YAML text. InvalidArgument naming `source`, the line,
// the key and what is wrong; yaml-cpp's exceptions never escape. File
// contents (trust_anchor as a path, the join token) are not read here.
absl::StatusOr<AgentConfig> ParseAgentConfig(
    absl::string_view yaml, absl::string_view source = "agent.yaml");

// Reads and parses a file; errors name the path.
absl::StatusOr<AgentConfig> LoadAgentConfig(const std::string& path);

// The canonical fingerprints ("sha256:<hex>") the CA's bundle is checked
// against: the pinned fingerprint itself, or those of every certificate in
// the trust_anchor PEM file. InvalidArgument/NotFound naming the file if it
// cannot be read or holds no certificate.
absl::StatusOr<std::vector<std::string>> TrustAnchorFingerprints(
    const AgentConfig& config);

// Parses an octal file mode such as "0640" (at most 0777). InvalidArgument
// otherwise.
absl::StatusOr<mode_t> ParseFileMode(absl::string_view text);

}  // namespace rotor::agent

#endif  // ROTOR_AGENT_CONFIG_H_
