#include "bench/rotor_bench/memory_store.h"

#include <fnmatch.h>

#include "absl/strings/str_cat.h"

namespace rotor::bench {

absl::Status MemoryStore::PutCertificate(
    const store::CertificateRecord& record) {
  absl::MutexLock lock(&mu_);
  if (record.kind == store::CertificateKind::kWorkload) {
    ++workload_certificates_;
    return absl::OkStatus();
  }
  if (!kept_.emplace(record.serial, record).second) {
    return absl::AlreadyExistsError(
        absl::StrCat("certificate ", record.serial, " already exists"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<store::CertificateRecord>>
MemoryStore::GetCertificate(absl::string_view serial) {
  absl::MutexLock lock(&mu_);
  auto it = kept_.find(serial);
  if (it == kept_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<store::CertificatePage> MemoryStore::ListCertificates(
    const store::CertificateFilter&, absl::string_view, int) {
  return absl::UnimplementedError("the bench's memory store does not list");
}

absl::StatusOr<store::CertificateRecord> MemoryStore::RevokeCertificate(
    absl::string_view serial, pki::RevocationReason, absl::Time,
    absl::string_view) {
  return absl::NotFoundError(absl::StrCat("certificate ", serial,
                                          " not found"));
}

absl::StatusOr<std::vector<pki::RevokedCertificate>> MemoryStore::ListRevoked(
    absl::Time) {
  return std::vector<pki::RevokedCertificate>();
}

absl::StatusOr<uint64_t> MemoryStore::NextCrlNumber() {
  absl::MutexLock lock(&mu_);
  return ++crl_number_;
}

absl::Status MemoryStore::CreateJoinToken(absl::string_view token_hash,
                                          absl::string_view node_name,
                                          absl::Time, absl::Time expires_at,
                                          absl::string_view) {
  absl::MutexLock lock(&mu_);
  tokens_[token_hash] = Token{std::string(node_name), expires_at, false};
  return absl::OkStatus();
}

absl::StatusOr<std::string> MemoryStore::ConsumeJoinToken(
    absl::string_view token_hash, absl::Time now) {
  absl::MutexLock lock(&mu_);
  auto it = tokens_.find(token_hash);
  if (it == tokens_.end()) return absl::NotFoundError("unknown join token");
  if (it->second.used) {
    return absl::FailedPreconditionError("join token already used");
  }
  if (now >= it->second.expires_at) {
    return absl::FailedPreconditionError("join token expired");
  }
  it->second.used = true;
  return it->second.node_name;
}

absl::StatusOr<uint64_t> MemoryStore::PurgeExpiredJoinTokens(
    absl::Time expired_before, absl::Time, absl::string_view) {
  absl::MutexLock lock(&mu_);
  return absl::erase_if(tokens_, [&](const auto& token) {
    return token.second.expires_at < expired_before;
  });
}

absl::Status MemoryStore::CreateEntry(const store::RegistrationEntry& entry) {
  absl::MutexLock lock(&mu_);
  entries_[entry.id] = entry;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<store::RegistrationEntry>>
MemoryStore::ListEntries() {
  absl::MutexLock lock(&mu_);
  std::vector<store::RegistrationEntry> out;
  for (const auto& [id, entry] : entries_) out.push_back(entry);
  return out;
}

absl::Status MemoryStore::DeleteEntry(absl::string_view id, absl::Time,
                                      absl::string_view) {
  absl::MutexLock lock(&mu_);
  if (entries_.erase(std::string(id)) == 0) {
    return absl::NotFoundError(absl::StrCat("entry ", id, " not found"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<store::RegistrationEntry>>
MemoryStore::MatchEntries(absl::string_view node_name) {
  const std::string node(node_name);
  absl::MutexLock lock(&mu_);
  std::vector<store::RegistrationEntry> out;
  for (const auto& [id, entry] : entries_) {
    if (fnmatch(entry.node_glob.c_str(), node.c_str(), 0) == 0) {
      out.push_back(entry);
    }
  }
  return out;
}

absl::StatusOr<uint64_t> MemoryStore::AppendAudit(const store::AuditRecord&) {
  absl::MutexLock lock(&mu_);
  return ++audit_sequence_;
}

absl::StatusOr<store::AuditPage> MemoryStore::ListAudit(uint64_t, int) {
  return store::AuditPage();
}

absl::StatusOr<store::StoreStats> MemoryStore::GetStats() {
  absl::MutexLock lock(&mu_);
  store::StoreStats stats;
  stats.certificates = workload_certificates_ + kept_.size();
  stats.entries = entries_.size();
  stats.join_tokens = tokens_.size();
  return stats;
}

}  // namespace rotor::bench
