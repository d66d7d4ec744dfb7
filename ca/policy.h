// Policy: who may get what. Pure functions over names, registration entries
// and the CA's TTL limits; no keys, no store, no clock. The Authority
// (ca/authority.h) asks these before anything is signed or stored.
//
// Identities rotor reserves under a trust domain TD:
//   spiffe://TD/rotor/node/<node name>   node (agent) certificates
//   spiffe://TD/rotor/admin/<anything>   operators (rotorctl)
// No registration entry may grant an ID under spiffe://TD/rotor/, nor one of
// another trust domain.
//
// Every refusal is InvalidArgument (malformed input) or PermissionDenied
// (well-formed but not allowed), with a message naming the rule.
//
// Thread-safety: all functions are pure and safe from any thread.
#ifndef ROTOR_CA_POLICY_H_
#define ROTOR_CA_POLICY_H_

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "ca/config.h"
#include "store/store.h"

namespace rotor::ca {

inline constexpr size_t kMaxNodeNameLength = 63;
inline constexpr size_t kMaxNodeGlobLength = 255;

// A node name: 1 to 63 of [A-Za-z0-9._-], not "." or "..", not starting
// with '.' or '-'. InvalidArgument naming the rule otherwise
// ("node name \"../x\" has the character '/'; ...").
absl::Status ValidateNodeName(absl::string_view name);

// spiffe://<trust_domain>/rotor/node/<node_name>.
// REQUIRES: ValidateNodeName(node_name) is OK.
std::string NodeSpiffeId(absl::string_view trust_domain,
                         absl::string_view node_name);

// The node name of a node SPIFFE ID of `trust_domain`, or std::nullopt if
// `spiffe_id` is anything else (another trust domain, another path, an
// invalid node name).
std::optional<std::string> NodeNameFromSpiffeId(absl::string_view trust_domain,
                                                absl::string_view spiffe_id);

// True for a valid spiffe://<trust_domain>/rotor/admin/<path>.
bool IsAdminSpiffeId(absl::string_view trust_domain,
                     absl::string_view spiffe_id);

// A workload SPIFFE ID: valid, in `trust_domain`, with a path, and not under
// spiffe://<trust_domain>/rotor/. InvalidArgument ("SPIFFE ID
// spiffe://other.org/x is outside trust domain example.org") otherwise.
absl::Status ValidateWorkloadSpiffeId(absl::string_view trust_domain,
                                      absl::string_view spiffe_id);

// An fnmatch(3) pattern over node names: 1 to 255 characters of
// [A-Za-z0-9._-] and the pattern characters * ? [ ] ! ^.
absl::Status ValidateNodeGlob(absl::string_view glob);

// What a registration entry grants, checked before it is stored: a valid
// node glob, a workload SPIFFE ID (ValidateWorkloadSpiffeId), valid DNS
// names (a leading "*." wildcard allowed), and a max_ttl that is zero (the
// CA's max_ttl) or within [config.min_ttl, config.max_ttl].
absl::Status ValidateEntry(const CaConfig& config,
                           absl::string_view node_glob,
                           absl::string_view spiffe_id,
                           absl::Span<const std::string> dns_names,
                           absl::Duration max_ttl);

// The longest TTL a certificate of `entry` may have: the entry's max_ttl,
// or the CA's max_ttl when that is zero or larger.
absl::Duration EntryMaxTtl(const CaConfig& config,
                           const store::RegistrationEntry& entry);

// The TTL to issue: `requested` if it lies in [config.min_ttl, max_ttl],
// or default_ttl lowered to `max_ttl` when nothing was requested.
// InvalidArgument naming the bounds ("TTL 48h is outside the allowed range
// [1m, 24h]") otherwise.
absl::StatusOr<absl::Duration> ChooseTtl(const CaConfig& config,
                                         absl::Duration max_ttl,
                                         std::optional<absl::Duration> requested);

// What SignWorkload may issue.
struct WorkloadGrant {
  std::string spiffe_id;
  std::vector<std::string> dns_names;
  absl::Duration ttl;
  std::string entry_id;  // the entry that granted it
};

// Decides a workload request of node `node_name` whose CSR has the SANs
// `uris` and `dns_names`, given the entries that match the node
// (CertificateStore::MatchEntries; entries whose glob does not match
// `node_name` are ignored, so passing more is safe). Rules, in order:
//   - exactly one URI SAN, a workload SPIFFE ID of this trust domain
//     (InvalidArgument);
//   - every DNS name valid; a wildcard is allowed syntactically here and
//     granted only by an entry listing that exact wildcard
//     (InvalidArgument);
//   - one entry grants the SPIFFE ID and every DNS name (PermissionDenied:
//     "node web-1 is not allowed spiffe://example.org/db: no entry grants
//     it", or naming the first DNS name no entry for the ID grants); of
//     several, the one with the longest max TTL is used;
//   - the TTL (ChooseTtl with that entry's max TTL).
// DNS names compare without regard to ASCII case.
absl::StatusOr<WorkloadGrant> AuthorizeWorkload(
    const CaConfig& config, absl::string_view node_name,
    absl::Span<const std::string> uris,
    absl::Span<const std::string> dns_names,
    absl::Span<const store::RegistrationEntry> entries,
    std::optional<absl::Duration> requested_ttl);

}  // namespace rotor::ca

#endif  // ROTOR_CA_POLICY_H_
