// Fuzzes the agent's config parser (agent::ParseAgentConfig): YAML of any
// shape, wrong types, unknown keys, bad durations, modes and hooks.
//
// Input: the text of an agent.yaml. Oracles, besides the sanitizers: no
// exception escapes; refusals are InvalidArgument naming the file; an
// accepted config holds what the agent relies on without checking again
// (required keys set, renew_at within (0, 1), backoff_initial <=
// backoff_max, certificate names and folders unique, one hook kind each).
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "agent/config.h"
#include "ca/config.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rotor::agent;
  absl::StatusOr<AgentConfig> config = ParseAgentConfig(
      absl::string_view(reinterpret_cast<const char*>(data), size));
  if (!config.ok()) {
    FUZZ_CHECK(config.status().code() == absl::StatusCode::kInvalidArgument);
    FUZZ_CHECK(absl::StartsWith(config.status().message(), "agent.yaml"));
    return 0;
  }
  const AgentConfig& c = *config;
  FUZZ_CHECK(rotor::ca::ValidateHostPort(c.ca).ok());
  FUZZ_CHECK(!c.trust_anchor.empty() && !c.node_name.empty() &&
             !c.state_dir.empty());
  FUZZ_CHECK(c.renew_at > 0 && c.renew_at < 1);
  FUZZ_CHECK(c.backoff_initial > absl::ZeroDuration());
  FUZZ_CHECK(c.backoff_initial <= c.backoff_max);
  FUZZ_CHECK(c.rpc_timeout > absl::ZeroDuration());
  std::set<std::string> names;
  std::set<std::string> dirs;
  for (const CertificateConfig& cert : c.certificates) {
    FUZZ_CHECK(!cert.name.empty() && !cert.spiffe_id.empty() &&
               !cert.dir.empty());
    FUZZ_CHECK(names.insert(cert.name).second);
    FUZZ_CHECK(dirs.insert(cert.dir).second);
    FUZZ_CHECK(cert.mode <= 0777);
    FUZZ_CHECK(cert.ttl >= absl::ZeroDuration());
    FUZZ_CHECK(cert.on_rotate.exec.empty() ||
               cert.on_rotate.signal_name.empty());
    FUZZ_CHECK(cert.on_rotate.signal_name.empty() ||
               (cert.on_rotate.signal_number > 0 &&
                !cert.on_rotate.pid_file.empty()));
    FUZZ_CHECK(cert.SameIdentity(cert));
  }
  FUZZ_CHECK(c == c);
  return 0;
}
