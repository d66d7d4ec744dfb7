// Fuzzes what the CA does with a CSR before anything is signed: the DER
// parser and its checks (pki::ParsedCsr::Parse), then the workload policy
// (ca::AuthorizeWorkload) over the names the CSR carries, against a fixed
// set of registration entries.
//
// Input: the CSR's DER bytes, as they arrive in SignWorkloadRequest.csr_der.
// Oracles, besides the sanitizers: a CSR that parses has a public key whose
// type CheckKeyAllowed accepts and at least one SAN, all printable ASCII;
// a grant names only a SPIFFE ID and DNS names that the CSR asked for and an
// entry of this node holds, with a TTL within the CA's limits.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "ca/config.h"
#include "ca/policy.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "store/store.h"
#include "tests/fuzz/fuzz_check.h"

namespace rotor {
namespace {

ca::CaConfig Config() {
  ca::CaConfig config;
  config.trust_domain = "example.org";
  return config;
}

std::vector<store::RegistrationEntry> Entries() {
  std::vector<store::RegistrationEntry> entries(3);
  entries[0].id = "e-1";
  entries[0].node_glob = "web-*";
  entries[0].spiffe_id = "spiffe://example.org/web";
  entries[0].dns_names = {"web.example.org", "*.web.example.org"};
  entries[0].max_ttl = absl::Hours(2);
  entries[1].id = "e-2";
  entries[1].node_glob = "*";
  entries[1].spiffe_id = "spiffe://example.org/db";
  entries[2].id = "e-3";
  entries[2].node_glob = "db-?";
  entries[2].spiffe_id = "spiffe://example.org/db";
  entries[2].dns_names = {"db.internal"};
  entries[2].max_ttl = absl::Minutes(5);
  return entries;
}

bool Contains(const std::vector<std::string>& names, const std::string& name,
              bool ignore_case) {
  for (const std::string& n : names) {
    if (ignore_case ? absl::EqualsIgnoreCase(n, name) : n == name) return true;
  }
  return false;
}

void CheckParsed(const pki::ParsedCsr& csr) {
  FUZZ_CHECK(pki::CheckKeyAllowed(csr.public_key()).ok());
  FUZZ_CHECK(!csr.public_key_der().empty());
  FUZZ_CHECK(!csr.uris().empty() || !csr.dns_names().empty());
  for (const auto* names : {&csr.uris(), &csr.dns_names()}) {
    for (const std::string& name : *names) {
      for (char c : name) FUZZ_CHECK(c >= 0x20 && c < 0x7f);
    }
  }
  (void)csr.key_info().Describe();
}

void CheckGrant(const ca::CaConfig& config, const pki::ParsedCsr& csr,
                const std::vector<store::RegistrationEntry>& entries,
                const ca::WorkloadGrant& grant) {
  FUZZ_CHECK(csr.uris().size() == 1 && grant.spiffe_id == csr.uris()[0]);
  const store::RegistrationEntry* granted = nullptr;
  for (const store::RegistrationEntry& e : entries) {
    if (e.id == grant.entry_id) granted = &e;
  }
  FUZZ_CHECK(granted != nullptr);
  FUZZ_CHECK(granted->spiffe_id == grant.spiffe_id);
  for (const std::string& name : grant.dns_names) {
    FUZZ_CHECK(Contains(csr.dns_names(), name, /*ignore_case=*/true));
    FUZZ_CHECK(Contains(granted->dns_names, name, /*ignore_case=*/true));
  }
  FUZZ_CHECK(grant.ttl >= config.min_ttl);
  FUZZ_CHECK(grant.ttl <= ca::EntryMaxTtl(config, *granted));
}

}  // namespace
}  // namespace rotor

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rotor;
  static const ca::CaConfig config = Config();
  static const std::vector<store::RegistrationEntry>* const entries =
      new std::vector<store::RegistrationEntry>(Entries());

  absl::StatusOr<pki::ParsedCsr> csr = pki::ParsedCsr::Parse(
      absl::string_view(reinterpret_cast<const char*>(data), size));
  if (!csr.ok()) {
    FUZZ_CHECK(csr.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  CheckParsed(*csr);
  // The TTL a request asks for: none, or one from the CSR's size, so both
  // paths of ChooseTtl are taken.
  const std::optional<absl::Duration> ttl =
      size % 3 == 0 ? std::nullopt
                    : std::optional<absl::Duration>(absl::Seconds(size * 7));
  for (const char* node : {"web-1", "db-1", "other"}) {
    absl::StatusOr<ca::WorkloadGrant> grant = ca::AuthorizeWorkload(
        config, node, csr->uris(), csr->dns_names(), *entries, ttl);
    if (grant.ok()) {
      CheckGrant(config, *csr, *entries, *grant);
    } else {
      FUZZ_CHECK(grant.status().code() == absl::StatusCode::kInvalidArgument ||
                 grant.status().code() ==
                     absl::StatusCode::kPermissionDenied);
    }
  }
  return 0;
}
