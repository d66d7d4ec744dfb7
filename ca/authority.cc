#include "ca/authority.h"

#include <arpa/inet.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "ca/ca_keys.h"
#include "ca/crl_publisher.h"
#include "ca/issuer.h"
#include "ca/policy.h"
#include "ca/rate_limiter.h"
#include "ca/read_cache.h"
#include "ca/update_hub.h"
#include "google/protobuf/timestamp.pb.h"
#include "pki/csr.h"
#include "pki/revocation.h"
#include "pki/serial.h"
#include "pki/spiffe_id.h"
#include "util/log.h"
#include "util/status_macros.h"
#include "util/clock.h"

namespace rotor::ca {
namespace {

constexpr absl::string_view kTokenPrefix = "rotor-";
constexpr size_t kTokenBytes = 32;
constexpr size_t kEntryIdBytes = 8;
constexpr absl::string_view kTokenFix =
    "create a new one with rotorctl token create --node NAME";

std::string Sha256(absl::string_view data) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest;
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(),
         digest.data());
  return std::string(reinterpret_cast<const char*>(digest.data()),
                     digest.size());
}

absl::StatusOr<std::string> RandomHex(pki::Random& random, size_t bytes) {
  std::string buf(bytes, '\0');
  ROTOR_RETURN_IF_ERROR(random.Fill(absl::MakeSpan(
      reinterpret_cast<uint8_t*>(buf.data()), buf.size())));
  return absl::BytesToHexString(buf);
}

bool IsIpAddress(const std::string& text) {
  unsigned char buf[16];
  return inet_pton(AF_INET, text.c_str(), buf) == 1 ||
         inet_pton(AF_INET6, text.c_str(), buf) == 1;
}

// "0.4s": the wait rounded up to a tenth of a second, so a client that waits
// that long finds a token.
std::string RetryHint(absl::Duration wait) {
  // The epsilon keeps 0.4000000001 (a rounding error) from showing as 0.5.
  double tenths = std::ceil(absl::ToDoubleSeconds(wait) * 10.0 - 1e-6);
  return absl::StrFormat("%.1fs", std::max(tenths, 1.0) / 10.0);
}

// Caller-supplied text for a log line: as is when printable ASCII, else
// C-escaped, so a NUL or a newline in a node name cannot forge log lines.
std::string Printable(absl::string_view text) {
  for (char c : text) {
    if (c < 0x20 || c > 0x7e) return absl::CHexEscape(text);
  }
  return std::string(text);
}

// The source address of a gRPC peer, without the port: "ipv4:10.0.0.1:5555"
// -> "ipv4:10.0.0.1", "ipv6:[::1]:5555" -> "ipv6:[::1]". Other forms
// ("unix:/run/x.sock") are their own source.
std::string SourceAddress(absl::string_view peer) {
  if (absl::StartsWith(peer, "ipv4:") || absl::StartsWith(peer, "ipv6:")) {
    size_t colon = peer.rfind(':');
    if (colon > 4) return std::string(peer.substr(0, colon));
  }
  return std::string(peer);
}

// A failed store write as the caller should see it: a full store cannot be
// written, which is Unavailable (fix the store, then retry), not the
// ResourceExhausted that callers read as "slow down" (the rate limit).
absl::Status StoreWriteError(absl::Status status) {
  if (absl::IsResourceExhausted(status)) {
    return absl::UnavailableError(
        absl::StrCat("certificate store is not writable: ", status.message()));
  }
  return status;
}

// What a call is about, for its one log line.
struct CallLog {
  absl::string_view method;
  std::string node;
  std::string identity;
  std::string peer;
};

}  // namespace

struct Authority::State {
  CaConfig config;
  store::CertificateStore* store = nullptr;
  Clock* clock = nullptr;
  pki::Random* random = nullptr;

  std::vector<pki::Certificate> roots;
  std::optional<pki::PrivateKey> root_key;
  std::optional<pki::Signer> root_signer;  // refers to roots[0], root_key
  std::unique_ptr<Issuer> issuer;

  std::unique_ptr<RateLimiter> node_rate;
  std::unique_ptr<ConcurrencyLimiter> attest_limit;

  mutable absl::Mutex revoked_mu;
  absl::flat_hash_set<std::string> revoked ABSL_GUARDED_BY(revoked_mu);

  // What AuthenticateNode and SignWorkload read from the store, remembered
  // between calls (ca/read_cache.h says why that stays correct).
  NodeRecordCache nodes;
  EntryMatchCache entries;

  mutable absl::Mutex stats_mu;
  Stats stats ABSL_GUARDED_BY(stats_mu);

  // Destroyed first (members go in reverse order): the publisher's worker
  // uses the hub, the issuer's certificate and the root signer.
  UpdateHub hub;
  std::unique_ptr<CrlPublisher> crl;

  bool IsRevoked(const std::string& serial) const {
    absl::MutexLock lock(&revoked_mu);
    return revoked.contains(serial);
  }

  // Logs a refusal and counts it; passes `result` through.
  template <typename T>
  T Finish(const CallLog& call, T result) {
    const absl::Status& status = GetStatus(result);
    if (status.ok()) return result;
    {
      absl::MutexLock lock(&stats_mu);
      ++stats.refused;
      ++stats.refused_by_code[status.code()];
    }
    LogWarning("refused",
               {{"method", std::string(call.method)},
                {"node", Printable(call.node)},
                {"identity", Printable(call.identity)},
                {"peer", Printable(call.peer)},
                {"outcome", absl::StatusCodeToString(status.code())},
                {"error", std::string(status.message())}});
    return result;
  }
  static const absl::Status& GetStatus(const absl::Status& s) { return s; }
  template <typename U>
  static const absl::Status& GetStatus(const absl::StatusOr<U>& s) {
    return s.status();
  }

  // Stores `cert` (durably) and logs the issuance. Nothing is returned to
  // the caller unless this succeeds.
  absl::Status Record(const pki::Certificate& cert, store::CertificateKind kind,
                      const std::string& node_name,
                      const std::string& spiffe_id,
                      const std::vector<std::string>& dns_names,
                      absl::Time now, absl::string_view method) {
    store::CertificateRecord record;
    record.serial = cert.SerialHex();
    record.der = cert.der();
    record.spiffe_id = spiffe_id;
    record.dns_names = dns_names;
    record.node_name = node_name;
    record.not_before = cert.NotBefore();
    record.not_after = cert.NotAfter();
    record.issued_at = now;
    record.kind = kind;
    absl::Status status = StoreWriteError(store->PutCertificate(record));
    if (!status.ok()) {
      LogError("certificate not stored; not issued",
               {{"method", std::string(method)},
                {"serial", record.serial},
                {"node", node_name},
                {"identity", spiffe_id},
                {"outcome", absl::StatusCodeToString(status.code())},
                {"error", std::string(status.message())}});
      return status;
    }
    {
      absl::MutexLock lock(&stats_mu);
      ++stats.issued;
    }
    LogInfo("issued", {{"method", std::string(method)},
                       {"serial", record.serial},
                       {"kind", std::string(store::CertificateKindName(kind))},
                       {"node", node_name},
                       {"identity", spiffe_id},
                       {"dns", absl::StrJoin(dns_names, ",")},
                       {"not_after", FormatUtc(record.not_after)},
                       {"outcome", "ok"}});
    return absl::OkStatus();
  }

  IssuedCertificate Chain(pki::Certificate leaf) const {
    return IssuedCertificate{std::move(leaf), {issuer->certificate()}};
  }

  absl::Status CheckRate(const std::string& node_name) {
    absl::Duration wait = node_rate->TryAcquire(node_name);
    if (wait == absl::ZeroDuration()) return absl::OkStatus();
    return absl::ResourceExhaustedError(
        absl::StrCat("rate limit for node ", node_name, " exceeded; retry in ",
                     RetryHint(wait)));
  }
};

Authority::Authority() : state_(std::make_unique<State>()) {}
Authority::~Authority() = default;

absl::StatusOr<std::unique_ptr<Authority>> Authority::Create(
    CaKeys keys, const CaConfig& config, store::CertificateStore* store,
    Clock* clock, pki::Random* random) {
  ROTOR_RETURN_IF_ERROR(pki::ValidateTrustDomain(config.trust_domain));
  if (config.rate_limit.per_node_per_second <= 0 ||
      config.rate_limit.per_node_burst < 1 ||
      config.rate_limit.attest_concurrency_per_source < 1) {
    return absl::InvalidArgumentError(
        "rate limits must be positive (per_node_per_second > 0, "
        "per_node_burst >= 1, attest_concurrency_per_source >= 1)");
  }
  ROTOR_RETURN_IF_ERROR(CheckCaKeys(keys, clock->Now()));

  std::unique_ptr<Authority> authority(new Authority());
  State& s = *authority->state_;
  s.config = config;
  s.store = store;
  s.clock = clock;
  s.random = random;
  s.roots = std::move(keys.roots);
  s.root_key = std::move(keys.root_key);
  if (s.root_key.has_value()) {
    s.root_signer.emplace(pki::Signer{s.roots.front(), *s.root_key});
  }
  ROTOR_ASSIGN_OR_RETURN(
      s.issuer, Issuer::Create(std::move(keys.intermediate),
                               std::move(keys.intermediate_key),
                               config.crl_url));
  s.node_rate = std::make_unique<RateLimiter>(
      config.rate_limit.per_node_per_second, config.rate_limit.per_node_burst,
      clock);
  s.attest_limit = std::make_unique<ConcurrencyLimiter>(
      config.rate_limit.attest_concurrency_per_source);

  // Read once at start-up: the revoked set, and the first CRL from the
  // same list.
  ROTOR_ASSIGN_OR_RETURN(std::vector<pki::RevokedCertificate> revoked,
                         store->ListRevoked(absl::InfinitePast()));
  const size_t revoked_count = revoked.size();
  {
    absl::MutexLock lock(&s.revoked_mu);
    for (const pki::RevokedCertificate& r : revoked) s.revoked.insert(r.serial);
  }

  CrlPublisher::Options crl_options;
  crl_options.validity = config.crl_validity;
  ROTOR_ASSIGN_OR_RETURN(
      s.crl, CrlPublisher::Create(
                 s.issuer->signer(),
                 s.root_signer.has_value() ? &*s.root_signer : nullptr, store,
                 clock, &s.hub, crl_options, std::move(revoked)));
  LogInfo("authority ready",
          {{"trust_domain", config.trust_domain},
           {"intermediate", s.issuer->certificate().Subject()},
           {"intermediate_not_after",
            FormatUtc(s.issuer->certificate().NotAfter())},
           {"root_key", s.root_key.has_value() ? "yes" : "no"},
           {"revoked", absl::StrCat(revoked_count)}});
  return authority;
}

// --- Identity of callers ---

absl::StatusOr<std::string> Authority::AuthenticateNode(const Caller& caller) {
  State& s = *state_;
  if (caller.spiffe_id.empty() || caller.serial.empty()) {
    return absl::UnauthenticatedError(
        "this call needs the node's client certificate; attest first with a "
        "join token");
  }
  std::optional<std::string> node =
      NodeNameFromSpiffeId(s.config.trust_domain, caller.spiffe_id);
  if (!node.has_value()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "caller ", caller.spiffe_id, " is not a node identity (spiffe://",
        s.config.trust_domain, "/rotor/node/NAME)"));
  }
  absl::StatusOr<std::string> serial = pki::NormalizeSerial(caller.serial);
  if (!serial.ok()) {
    return absl::UnauthenticatedError(absl::StrCat(
        "client certificate serial \"", absl::CHexEscape(caller.serial),
        "\" is malformed: ", serial.status().message()));
  }
  const std::string revoked_message =
      absl::StrCat("node certificate ", *serial,
                   " was revoked; attest again with a new join token");
  // The revoked set is checked on every call, before anything remembered.
  if (s.IsRevoked(*serial)) return absl::PermissionDeniedError(revoked_message);

  std::optional<std::string> known = s.nodes.Find(*serial);
  if (known.has_value() && *known == caller.spiffe_id) return *std::move(node);
  ROTOR_ASSIGN_OR_RETURN(std::optional<store::CertificateRecord> record,
                         s.store->GetCertificate(*serial));
  if (!record.has_value() || record->kind != store::CertificateKind::kNode ||
      record->spiffe_id != caller.spiffe_id) {
    return absl::UnauthenticatedError(absl::StrCat(
        "client certificate ", *serial,
        " is not a node certificate this CA issued; attest with a join token"));
  }
  if (record->revoked) return absl::PermissionDeniedError(revoked_message);
  s.nodes.Remember(*serial, record->spiffe_id);
  return *std::move(node);
}

absl::Status Authority::AuthorizeAdmin(const Caller& caller) {
  State& s = *state_;
  if (caller.spiffe_id.empty()) {
    return absl::UnauthenticatedError(
        "admin calls need an admin client certificate (rotorctl "
        "--credentials DIR)");
  }
  if (!IsAdminSpiffeId(s.config.trust_domain, caller.spiffe_id)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "caller ", caller.spiffe_id, " is not an admin (spiffe://",
        s.config.trust_domain, "/rotor/admin/*)"));
  }
  absl::StatusOr<std::string> serial = pki::NormalizeSerial(caller.serial);
  if (serial.ok() && s.IsRevoked(*serial)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "admin certificate ", *serial, " was revoked"));
  }
  return absl::OkStatus();
}

// --- NodeService ---

TrustBundle Authority::GetBundle() const {
  return TrustBundle{state_->roots, 1};
}

absl::StatusOr<IssuedCertificate> Authority::Attest(
    const Caller& caller, absl::string_view join_token,
    absl::string_view csr_der) {
  State& s = *state_;
  CallLog call{"Attest", "", "", caller.peer};
  auto run = [&]() -> absl::StatusOr<IssuedCertificate> {
    // Per source address: every connection has a new port.
    const std::string source = SourceAddress(caller.peer);
    std::optional<ConcurrencyLimiter::Permit> permit =
        s.attest_limit->TryAcquire(source);
    if (!permit.has_value()) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "too many Attest calls in flight from ", Printable(source),
          " (limit ", s.attest_limit->limit(), "); retry in a moment"));
    }
    if (join_token.empty()) {
      return absl::UnauthenticatedError(
          absl::StrCat("join token is empty; ", kTokenFix));
    }
    // The CSR is checked before the token is used up, so a bad CSR does
    // not cost the node its token.
    ROTOR_ASSIGN_OR_RETURN(pki::ParsedCsr csr, pki::ParsedCsr::Parse(csr_der));
    const absl::Time now = s.clock->Now();
    absl::StatusOr<std::string> node =
        s.store->ConsumeJoinToken(Sha256(join_token), now);
    if (!node.ok()) {
      const absl::Status& st = node.status();
      if (absl::IsNotFound(st) || absl::IsFailedPrecondition(st)) {
        return absl::UnauthenticatedError(
            absl::StrCat(st.message(), "; ", kTokenFix));
      }
      return st;
    }
    call.node = *node;
    if (absl::Status valid = ValidateNodeName(*node); !valid.ok()) {
      return absl::InternalError(absl::StrCat(
          "join token binds an invalid node name: ", valid.message()));
    }
    const std::string spiffe_id = NodeSpiffeId(s.config.trust_domain, *node);
    call.identity = spiffe_id;
    ROTOR_ASSIGN_OR_RETURN(
        pki::Certificate cert,
        s.issuer->IssueNode(csr.public_key_der(), spiffe_id,
                            s.config.node_ttl, now, *s.random));
    ROTOR_RETURN_IF_ERROR(s.Record(cert, store::CertificateKind::kNode, *node,
                                   spiffe_id, {}, now, call.method));
    return s.Chain(std::move(cert));
  };
  return s.Finish(call, run());
}

absl::StatusOr<IssuedCertificate> Authority::RenewNode(
    const Caller& caller, absl::string_view csr_der) {
  State& s = *state_;
  CallLog call{"RenewNode", "", caller.spiffe_id, caller.peer};
  auto run = [&]() -> absl::StatusOr<IssuedCertificate> {
    ROTOR_ASSIGN_OR_RETURN(std::string node, AuthenticateNode(caller));
    call.node = node;
    ROTOR_RETURN_IF_ERROR(s.CheckRate(node));
    ROTOR_ASSIGN_OR_RETURN(pki::ParsedCsr csr, pki::ParsedCsr::Parse(csr_der));
    const absl::Time now = s.clock->Now();
    const std::string spiffe_id = NodeSpiffeId(s.config.trust_domain, node);
    ROTOR_ASSIGN_OR_RETURN(
        pki::Certificate cert,
        s.issuer->IssueNode(csr.public_key_der(), spiffe_id,
                            s.config.node_ttl, now, *s.random));
    ROTOR_RETURN_IF_ERROR(s.Record(cert, store::CertificateKind::kNode, node,
                                   spiffe_id, {}, now, call.method));
    return s.Chain(std::move(cert));
  };
  return s.Finish(call, run());
}

absl::StatusOr<IssuedCertificate> Authority::SignWorkload(
    const Caller& caller, absl::string_view csr_der,
    std::optional<absl::Duration> ttl) {
  State& s = *state_;
  CallLog call{"SignWorkload", "", "", caller.peer};
  auto run = [&]() -> absl::StatusOr<IssuedCertificate> {
    ROTOR_ASSIGN_OR_RETURN(std::string node, AuthenticateNode(caller));
    call.node = node;
    ROTOR_RETURN_IF_ERROR(s.CheckRate(node));
    ROTOR_ASSIGN_OR_RETURN(pki::ParsedCsr csr, pki::ParsedCsr::Parse(csr_der));
    if (!csr.uris().empty()) call.identity = absl::StrJoin(csr.uris(), ",");
    EntryMatchCache::Entries entries = s.entries.Find(node);
    if (entries == nullptr) {
      const uint64_t generation = s.entries.generation();  // before the read
      ROTOR_ASSIGN_OR_RETURN(std::vector<store::RegistrationEntry> matched,
                             s.store->MatchEntries(node));
      entries = s.entries.Remember(generation, node, std::move(matched));
    }
    ROTOR_ASSIGN_OR_RETURN(
        WorkloadGrant grant,
        AuthorizeWorkload(s.config, node, csr.uris(), csr.dns_names(),
                          *entries, ttl));
    const absl::Time now = s.clock->Now();
    ROTOR_ASSIGN_OR_RETURN(
        pki::Certificate cert,
        s.issuer->IssueWorkload(csr.public_key_der(), grant.spiffe_id,
                                grant.dns_names, grant.ttl, now, *s.random));
    ROTOR_RETURN_IF_ERROR(s.Record(cert, store::CertificateKind::kWorkload,
                                   node, grant.spiffe_id, grant.dns_names, now,
                                   call.method));
    return s.Chain(std::move(cert));
  };
  return s.Finish(call, run());
}

// --- AdminService ---

absl::StatusOr<JoinToken> Authority::CreateJoinToken(
    const Caller& caller, absl::string_view node_name, absl::Duration ttl) {
  State& s = *state_;
  CallLog call{"CreateJoinToken", std::string(node_name), caller.spiffe_id,
               caller.peer};
  auto run = [&]() -> absl::StatusOr<JoinToken> {
    ROTOR_RETURN_IF_ERROR(AuthorizeAdmin(caller));
    ROTOR_RETURN_IF_ERROR(ValidateNodeName(node_name));
    if (ttl <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError(
          absl::StrCat("join token TTL must be positive, got ",
                       absl::FormatDuration(ttl)));
    }
    ROTOR_ASSIGN_OR_RETURN(std::string secret,
                           RandomHex(*s.random, kTokenBytes));
    JoinToken token;
    token.token = absl::StrCat(kTokenPrefix, secret);
    token.node_name = std::string(node_name);
    const absl::Time now = s.clock->Now();
    token.expires_at = now + ttl;
    ROTOR_RETURN_IF_ERROR(StoreWriteError(s.store->CreateJoinToken(
        Sha256(token.token), node_name, now, token.expires_at,
        caller.spiffe_id)));
    LogInfo("created join token", {{"node", token.node_name},
                                   {"expires_at", FormatUtc(token.expires_at)},
                                   {"actor", caller.spiffe_id},
                                   {"outcome", "ok"}});
    return token;
  };
  return s.Finish(call, run());
}

absl::StatusOr<store::RegistrationEntry> Authority::CreateEntry(
    const Caller& caller, const EntryRequest& request) {
  State& s = *state_;
  CallLog call{"CreateEntry", request.node_glob, caller.spiffe_id,
               caller.peer};
  auto run = [&]() -> absl::StatusOr<store::RegistrationEntry> {
    ROTOR_RETURN_IF_ERROR(AuthorizeAdmin(caller));
    ROTOR_RETURN_IF_ERROR(ValidateEntry(s.config, request.node_glob,
                                        request.spiffe_id, request.dns_names,
                                        request.max_ttl));
    ROTOR_ASSIGN_OR_RETURN(std::string id_hex,
                           RandomHex(*s.random, kEntryIdBytes));
    store::RegistrationEntry entry;
    entry.id = absl::StrCat("e-", id_hex);
    entry.node_glob = request.node_glob;
    entry.spiffe_id = request.spiffe_id;
    entry.dns_names = request.dns_names;
    entry.max_ttl = request.max_ttl;
    entry.created_at = s.clock->Now();
    entry.created_by = caller.spiffe_id;
    const absl::Status created = s.store->CreateEntry(entry);
    s.entries.Invalidate();  // after the write, whatever it gave
    ROTOR_RETURN_IF_ERROR(StoreWriteError(created));
    LogInfo("created entry", {{"entry", entry.id},
                              {"node_glob", entry.node_glob},
                              {"spiffe_id", entry.spiffe_id},
                              {"dns", absl::StrJoin(entry.dns_names, ",")},
                              {"actor", caller.spiffe_id},
                              {"outcome", "ok"}});
    return entry;
  };
  return s.Finish(call, run());
}

absl::StatusOr<std::vector<store::RegistrationEntry>> Authority::ListEntries(
    const Caller& caller) {
  State& s = *state_;
  CallLog call{"ListEntries", "", caller.spiffe_id, caller.peer};
  auto run = [&]() -> absl::StatusOr<std::vector<store::RegistrationEntry>> {
    ROTOR_RETURN_IF_ERROR(AuthorizeAdmin(caller));
    return s.store->ListEntries();
  };
  return s.Finish(call, run());
}

absl::Status Authority::DeleteEntry(const Caller& caller,
                                    absl::string_view id) {
  State& s = *state_;
  CallLog call{"DeleteEntry", "", caller.spiffe_id, caller.peer};
  auto run = [&]() -> absl::Status {
    ROTOR_RETURN_IF_ERROR(AuthorizeAdmin(caller));
    if (id.empty()) return absl::InvalidArgumentError("entry id is empty");
    const absl::Status deleted =
        s.store->DeleteEntry(id, s.clock->Now(), caller.spiffe_id);
    s.entries.Invalidate();  // after the write, whatever it gave
    ROTOR_RETURN_IF_ERROR(StoreWriteError(deleted));
    LogInfo("deleted entry", {{"entry", std::string(id)},
                              {"actor", caller.spiffe_id},
                              {"outcome", "ok"}});
    return absl::OkStatus();
  };
  return s.Finish(call, run());
}

absl::StatusOr<store::CertificatePage> Authority::ListCertificates(
    const Caller& caller, const CertificateQuery& query) {
  State& s = *state_;
  CallLog call{"ListCertificates", query.node_name, caller.spiffe_id,
               caller.peer};
  auto run = [&]() -> absl::StatusOr<store::CertificatePage> {
    ROTOR_RETURN_IF_ERROR(AuthorizeAdmin(caller));
    if (query.expiring_within < absl::ZeroDuration()) {
      return absl::InvalidArgumentError(
          absl::StrCat("expiring_within must not be negative, got ",
                       absl::FormatDuration(query.expiring_within)));
    }
    if (query.page_size < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "page_size must not be negative, got ", query.page_size));
    }
    store::CertificateFilter filter;
    filter.node_name = query.node_name;
    filter.spiffe_id = query.spiffe_id;
    filter.revoked_only = query.revoked_only;
    if (query.expiring_within > absl::ZeroDuration()) {
      const absl::Time now = s.clock->Now();
      filter.not_after_from = now;
      filter.not_after_to = now + query.expiring_within;
    }
    return s.store->ListCertificates(filter, query.page_token,
                                     query.page_size);
  };
  return s.Finish(call, run());
}

absl::StatusOr<store::CertificateRecord> Authority::GetCertificate(
    const Caller& caller, absl::string_view serial) {
  State& s = *state_;
  CallLog call{"GetCertificate", "", caller.spiffe_id, caller.peer};
  auto run = [&]() -> absl::StatusOr<store::CertificateRecord> {
    ROTOR_RETURN_IF_ERROR(AuthorizeAdmin(caller));
    ROTOR_ASSIGN_OR_RETURN(std::string canonical, pki::NormalizeSerial(serial));
    ROTOR_ASSIGN_OR_RETURN(std::optional<store::CertificateRecord> record,
                           s.store->GetCertificate(canonical));
    if (!record.has_value()) {
      return absl::NotFoundError(
          absl::StrCat("certificate ", canonical, " not found"));
    }
    return *std::move(record);
  };
  return s.Finish(call, run());
}

absl::StatusOr<store::CertificateRecord> Authority::RevokeCertificate(
    const Caller& caller, absl::string_view serial, absl::string_view reason) {
  State& s = *state_;
  CallLog call{"RevokeCertificate", "", caller.spiffe_id, caller.peer};
  auto run = [&]() -> absl::StatusOr<store::CertificateRecord> {
    ROTOR_RETURN_IF_ERROR(AuthorizeAdmin(caller));
    ROTOR_ASSIGN_OR_RETURN(std::string canonical, pki::NormalizeSerial(serial));
    pki::RevocationReason parsed = pki::RevocationReason::kUnspecified;
    if (!reason.empty()) {
      ROTOR_ASSIGN_OR_RETURN(parsed, pki::ParseRevocationReason(reason));
    }
    absl::StatusOr<store::CertificateRecord> revoked_record =
        s.store->RevokeCertificate(canonical, parsed, s.clock->Now(),
                                   caller.spiffe_id);
    if (!revoked_record.ok()) return StoreWriteError(revoked_record.status());
    store::CertificateRecord record = *std::move(revoked_record);
    call.node = record.node_name;
    {
      absl::MutexLock lock(&s.revoked_mu);
      s.revoked.insert(record.serial);
    }
    s.nodes.Forget(record.serial);
    {
      absl::MutexLock lock(&s.stats_mu);
      ++s.stats.revoked;
    }
    LogInfo("revoked", {{"serial", record.serial},
                        {"kind", std::string(store::CertificateKindName(record.kind))},
                        {"node", record.node_name},
                        {"identity", record.spiffe_id},
                        {"reason", std::string(pki::RevocationReasonName(
                                       record.revocation_reason))},
                        {"actor", caller.spiffe_id},
                        {"outcome", "ok"}});
    if (!record.node_name.empty()) {
      rotor::v1::Revoked revoked;
      revoked.set_serial(record.serial);
      const absl::Time at = record.revoked_at;
      const int64_t seconds = absl::ToUnixSeconds(at);
      revoked.mutable_revoked_at()->set_seconds(seconds);
      revoked.mutable_revoked_at()->set_nanos(static_cast<int32_t>(
          absl::ToInt64Nanoseconds(at - absl::FromUnixSeconds(seconds))));
      revoked.set_reason(
          std::string(pki::RevocationReasonName(record.revocation_reason)));
      s.hub.PublishRevoked(record.node_name, revoked);
    }
    s.crl->Trigger();
    return record;
  };
  return s.Finish(call, run());
}

CrlSet Authority::GetCrl() const { return state_->crl->Current(); }

// --- Housekeeping ---

absl::StatusOr<uint64_t> Authority::PurgeExpiredJoinTokens() {
  State& s = *state_;
  const absl::Time now = s.clock->Now();
  const absl::Time expired_before = now - kJoinTokenRetention;
  absl::StatusOr<uint64_t> removed =
      s.store->PurgeExpiredJoinTokens(expired_before, now, kCaActor);
  if (!removed.ok()) {
    LogError("join token purge failed",
             {{"expired_before", FormatUtc(expired_before)},
              {"outcome", absl::StatusCodeToString(removed.status().code())},
              {"error", std::string(removed.status().message())}});
    return removed;
  }
  if (*removed > 0) {
    LogInfo("purged expired join tokens",
            {{"removed", absl::StrCat(*removed)},
             {"expired_before", FormatUtc(expired_before)},
             {"outcome", "ok"}});
  }
  return removed;
}

// --- The CA's own TLS server certificate ---

absl::StatusOr<IssuedCertificate> Authority::IssueServerCertificate(
    absl::string_view public_key_der, const std::vector<std::string>& names) {
  State& s = *state_;
  CallLog call{"IssueServerCertificate", "", absl::StrJoin(names, ","), ""};
  auto run = [&]() -> absl::StatusOr<IssuedCertificate> {
    if (names.empty()) {
      return absl::InvalidArgumentError(
          "the CA's server certificate needs at least one name "
          "(server_names)");
    }
    std::vector<std::string> dns_names;
    std::vector<std::string> ips;
    for (const std::string& name : names) {
      if (IsIpAddress(name)) {
        ips.push_back(name);
        continue;
      }
      ROTOR_RETURN_IF_ERROR(
          pki::ValidateDnsName(name, /*allow_wildcard=*/false));
      dns_names.push_back(name);
    }
    const absl::Time now = s.clock->Now();
    ROTOR_ASSIGN_OR_RETURN(
        pki::Certificate cert,
        s.issuer->IssueServer(public_key_der, dns_names, ips,
                              s.config.server_cert_ttl, now, *s.random));
    ROTOR_RETURN_IF_ERROR(s.Record(cert, store::CertificateKind::kServer, "",
                                   "", dns_names, now, call.method));
    return s.Chain(std::move(cert));
  };
  return s.Finish(call, run());
}

UpdateHub& Authority::updates() { return state_->hub; }

CrlPublisher& Authority::crl_publisher() { return *state_->crl; }

const CaConfig& Authority::config() const { return state_->config; }

Authority::Stats Authority::stats() const {
  absl::MutexLock lock(&state_->stats_mu);
  return state_->stats;
}

}  // namespace rotor::ca
