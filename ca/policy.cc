#include "ca/policy.h"

#include <fnmatch.h>

#include <algorithm>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "pki/spiffe_id.h"

namespace rotor::ca {
namespace {

constexpr absl::string_view kReservedPrefix = "/rotor/";
constexpr absl::string_view kNodePrefix = "/rotor/node/";
constexpr absl::string_view kAdminPrefix = "/rotor/admin/";

// The input quoted for a message, escaping what a terminal would not show.
std::string Quote(absl::string_view text) {
  return absl::StrCat("\"", absl::CHexEscape(text), "\"");
}

std::string QuoteChar(char c) {
  return absl::StrCat("'", absl::CHexEscape(absl::string_view(&c, 1)), "'");
}

bool IsNodeNameChar(char c) {
  return absl::ascii_isalnum(c) || c == '.' || c == '-' || c == '_';
}

bool IsGlobChar(char c) {
  return IsNodeNameChar(c) || c == '*' || c == '?' || c == '[' || c == ']' ||
         c == '!' || c == '^';
}

bool GlobMatches(const std::string& glob, const std::string& name) {
  return fnmatch(glob.c_str(), name.c_str(), 0) == 0;
}

// The path of a valid SPIFFE ID in `trust_domain`, or nullopt.
std::optional<std::string> PathInTrustDomain(absl::string_view trust_domain,
                                             absl::string_view spiffe_id) {
  absl::StatusOr<pki::SpiffeId> id = pki::SpiffeId::Parse(spiffe_id);
  if (!id.ok() || id->trust_domain != trust_domain) return std::nullopt;
  return id->path;
}

bool ContainsIgnoreCase(absl::Span<const std::string> names,
                        absl::string_view name) {
  for (const std::string& n : names) {
    if (absl::EqualsIgnoreCase(n, name)) return true;
  }
  return false;
}

std::string FormatTtl(absl::Duration d) { return absl::FormatDuration(d); }

}  // namespace

absl::Status ValidateNodeName(absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("node name is empty");
  if (name.size() > kMaxNodeNameLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("node name of ", name.size(),
                     " characters is longer than the 63-character limit"));
  }
  for (char c : name) {
    if (!IsNodeNameChar(c)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "node name ", Quote(name), " has the character ", QuoteChar(c),
          "; node names may hold only letters, digits, '.', '-' and '_'"));
    }
  }
  if (name == "." || name == "..") {
    return absl::InvalidArgumentError(
        absl::StrCat("node name ", Quote(name), " is not allowed"));
  }
  if (name.front() == '.' || name.front() == '-') {
    return absl::InvalidArgumentError(
        absl::StrCat("node name ", Quote(name), " starts with ",
                     QuoteChar(name.front()),
                     "; node names start with a letter, digit or '_'"));
  }
  return absl::OkStatus();
}

std::string NodeSpiffeId(absl::string_view trust_domain,
                         absl::string_view node_name) {
  return absl::StrCat("spiffe://", trust_domain, kNodePrefix, node_name);
}

std::optional<std::string> NodeNameFromSpiffeId(absl::string_view trust_domain,
                                                absl::string_view spiffe_id) {
  std::optional<std::string> path = PathInTrustDomain(trust_domain, spiffe_id);
  if (!path.has_value() || !absl::StartsWith(*path, kNodePrefix)) {
    return std::nullopt;
  }
  std::string name = path->substr(kNodePrefix.size());
  if (!ValidateNodeName(name).ok()) return std::nullopt;
  return name;
}

bool IsAdminSpiffeId(absl::string_view trust_domain,
                     absl::string_view spiffe_id) {
  std::optional<std::string> path = PathInTrustDomain(trust_domain, spiffe_id);
  // Parse refuses empty segments, so anything past the prefix is a name.
  return path.has_value() && absl::StartsWith(*path, kAdminPrefix) &&
         path->size() > kAdminPrefix.size();
}

absl::Status ValidateWorkloadSpiffeId(absl::string_view trust_domain,
                                      absl::string_view spiffe_id) {
  absl::StatusOr<pki::SpiffeId> id = pki::SpiffeId::Parse(spiffe_id);
  if (!id.ok()) return id.status();
  if (id->trust_domain != trust_domain) {
    return absl::InvalidArgumentError(
        absl::StrCat("SPIFFE ID ", spiffe_id, " is outside trust domain ",
                     trust_domain));
  }
  if (id->path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SPIFFE ID ", spiffe_id,
        " has no path; the bare trust domain names the CA itself"));
  }
  if (id->path == "/rotor" || absl::StartsWith(id->path, kReservedPrefix)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SPIFFE ID ", spiffe_id, " is reserved: spiffe://", trust_domain,
        "/rotor/ holds rotor's own node and admin identities"));
  }
  return absl::OkStatus();
}

absl::Status ValidateNodeGlob(absl::string_view glob) {
  if (glob.empty()) return absl::InvalidArgumentError("node glob is empty");
  if (glob.size() > kMaxNodeGlobLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("node glob of ", glob.size(),
                     " characters is longer than the 255-character limit"));
  }
  for (char c : glob) {
    if (!IsGlobChar(c)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "node glob ", Quote(glob), " has the character ", QuoteChar(c),
          "; node globs may hold letters, digits, '.', '-', '_' and the "
          "pattern characters * ? [ ] ! ^"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateEntry(const CaConfig& config,
                           absl::string_view node_glob,
                           absl::string_view spiffe_id,
                           absl::Span<const std::string> dns_names,
                           absl::Duration max_ttl) {
  if (absl::Status s = ValidateNodeGlob(node_glob); !s.ok()) return s;
  if (absl::Status s = ValidateWorkloadSpiffeId(config.trust_domain, spiffe_id);
      !s.ok()) {
    return s;
  }
  for (const std::string& name : dns_names) {
    if (absl::Status s = pki::ValidateDnsName(name, /*allow_wildcard=*/true);
        !s.ok()) {
      return s;
    }
  }
  if (max_ttl < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_ttl ", FormatTtl(max_ttl), " is negative"));
  }
  if (max_ttl != absl::ZeroDuration()) {
    if (max_ttl > config.max_ttl) {
      return absl::InvalidArgumentError(
          absl::StrCat("max_ttl ", FormatTtl(max_ttl),
                       " is above the CA's max_ttl (",
                       FormatTtl(config.max_ttl), ")"));
    }
    if (max_ttl < config.min_ttl) {
      return absl::InvalidArgumentError(
          absl::StrCat("max_ttl ", FormatTtl(max_ttl),
                       " is below the CA's min_ttl (",
                       FormatTtl(config.min_ttl), ")"));
    }
  }
  return absl::OkStatus();
}

absl::Duration EntryMaxTtl(const CaConfig& config,
                           const store::RegistrationEntry& entry) {
  if (entry.max_ttl <= absl::ZeroDuration() || entry.max_ttl > config.max_ttl) {
    return config.max_ttl;
  }
  return entry.max_ttl;
}

absl::StatusOr<absl::Duration> ChooseTtl(
    const CaConfig& config, absl::Duration max_ttl,
    std::optional<absl::Duration> requested) {
  if (!requested.has_value()) return std::min(config.default_ttl, max_ttl);
  if (*requested < config.min_ttl || *requested > max_ttl) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TTL ", FormatTtl(*requested), " is outside the allowed range [",
        FormatTtl(config.min_ttl), ", ", FormatTtl(max_ttl), "]"));
  }
  return *requested;
}

absl::StatusOr<WorkloadGrant> AuthorizeWorkload(
    const CaConfig& config, absl::string_view node_name,
    absl::Span<const std::string> uris,
    absl::Span<const std::string> dns_names,
    absl::Span<const store::RegistrationEntry> entries,
    std::optional<absl::Duration> requested_ttl) {
  if (uris.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CSR has ", uris.size(),
        " URI SANs; a workload CSR needs exactly one, its SPIFFE ID"));
  }
  const std::string& spiffe_id = uris.front();
  if (absl::Status s = ValidateWorkloadSpiffeId(config.trust_domain, spiffe_id);
      !s.ok()) {
    return s;
  }
  for (const std::string& name : dns_names) {
    if (absl::Status s = pki::ValidateDnsName(name, /*allow_wildcard=*/true);
        !s.ok()) {
      return s;
    }
  }

  const std::string node(node_name);
  const store::RegistrationEntry* best = nullptr;
  // The first DNS name that an entry granting the SPIFFE ID lacks, for the
  // message when no entry grants everything.
  std::optional<std::string> missing_dns;
  for (const store::RegistrationEntry& entry : entries) {
    if (entry.spiffe_id != spiffe_id || !GlobMatches(entry.node_glob, node)) {
      continue;
    }
    bool grants_all = true;
    for (const std::string& name : dns_names) {
      if (!ContainsIgnoreCase(entry.dns_names, name)) {
        if (!missing_dns.has_value()) missing_dns = name;
        grants_all = false;
        break;
      }
    }
    if (!grants_all) continue;
    if (best == nullptr ||
        EntryMaxTtl(config, entry) > EntryMaxTtl(config, *best)) {
      best = &entry;
    }
  }
  if (best == nullptr) {
    if (missing_dns.has_value()) {
      return absl::PermissionDeniedError(absl::StrCat(
          "node ", node_name, " is not allowed DNS name ", *missing_dns,
          " with ", spiffe_id, ": no entry grants it"));
    }
    return absl::PermissionDeniedError(absl::StrCat(
        "node ", node_name, " is not allowed ", spiffe_id,
        ": no entry grants it"));
  }

  absl::StatusOr<absl::Duration> ttl =
      ChooseTtl(config, EntryMaxTtl(config, *best), requested_ttl);
  if (!ttl.ok()) return ttl.status();

  WorkloadGrant grant;
  grant.spiffe_id = spiffe_id;
  grant.dns_names.assign(dns_names.begin(), dns_names.end());
  grant.ttl = *ttl;
  grant.entry_id = best->id;
  return grant;
}

}  // namespace rotor::ca
