// What `rotor-agent status` shows: for the node and each managed
// certificate, its SPIFFE ID, serial, expiry, next renewal and last error.
// The running agent writes STATE_DIR/status.json (atomically, after each
// change); `status` combines it with what the certificate files say, so it
// is right about the files even when the agent is not running.
//
// The JSON is produced and parsed with protobuf's JSON utilities
// (google.protobuf.Struct), never by hand.
//
// Thread-safety: plain values and pure functions.
#ifndef ROTOR_AGENT_STATUS_H_
#define ROTOR_AGENT_STATUS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace rotor::agent {

inline constexpr char kStatusFile[] = "status.json";
// The node's own key and certificate live in STATE_DIR/node, written with
// the same atomic scheme as workload certificates.
inline constexpr char kNodeDir[] = "node";

struct CertificateStatus {
  std::string name;  // "node" for the node certificate
  std::string spiffe_id;
  std::string dir;
  std::string serial;  // empty: none yet
  absl::Time not_after = absl::InfinitePast();
  absl::Time next_renewal = absl::InfinitePast();
  std::string last_error;  // empty when the last attempt succeeded
  int64_t rotations = 0;
  int64_t failures = 0;
  int64_t hook_failures = 0;

  bool operator==(const CertificateStatus&) const = default;
};

struct AgentStatus {
  absl::Time updated_at = absl::InfinitePast();
  int64_t pid = 0;
  CertificateStatus node;
  std::vector<CertificateStatus> certificates;

  bool operator==(const AgentStatus&) const = default;
};

// JSON text of `status` (RFC 3339 times, counters as numbers). Key order
// is not fixed (google.protobuf.Struct is a map).
std::string StatusToJson(const AgentStatus& status);
// Parses StatusToJson's output. InvalidArgument if it is not that shape.
absl::StatusOr<AgentStatus> StatusFromJson(const std::string& json);

// A table, one line per certificate:
//   NAME  SPIFFE ID  SERIAL  EXPIRES IN  NEXT RENEWAL  LAST ERROR
// Durations are relative to `now` ("59m", "expired 3m ago", "now").
std::string FormatStatusTable(const AgentStatus& status, absl::Time now);

// "1h2m", "45s"; negative durations as "-5s".
std::string FormatShortDuration(absl::Duration d);

}  // namespace rotor::agent

#endif  // ROTOR_AGENT_STATUS_H_
