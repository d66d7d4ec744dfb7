// A certificate store in memory, for `rotor-bench crypto`: it lets the CA
// core run its whole issuance path (authentication, rate limit, policy,
// build, sign, re-check, record, log) with the store's disk cost left out.
// It keeps what the path reads back (node certificates, entries, revoked
// serials) and does only what the Authority needs of a store; it is not a
// reference implementation of store/store.h (no audit log, no paging).
//
// Thread-safety: every method is safe from any thread (one mutex).
#ifndef ROTOR_BENCH_ROTOR_BENCH_MEMORY_STORE_H_
#define ROTOR_BENCH_ROTOR_BENCH_MEMORY_STORE_H_

#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "store/store.h"

namespace rotor::bench {

class MemoryStore final : public store::CertificateStore {
 public:
  absl::Status PutCertificate(const store::CertificateRecord& record) override;
  absl::StatusOr<std::optional<store::CertificateRecord>> GetCertificate(
      absl::string_view serial) override;
  absl::StatusOr<store::CertificatePage> ListCertificates(
      const store::CertificateFilter& filter, absl::string_view cursor,
      int limit) override;
  absl::StatusOr<store::CertificateRecord> RevokeCertificate(
      absl::string_view serial, pki::RevocationReason reason, absl::Time time,
      absl::string_view actor) override;
  absl::StatusOr<std::vector<pki::RevokedCertificate>> ListRevoked(
      absl::Time not_after_after) override;
  absl::StatusOr<uint64_t> NextCrlNumber() override;
  absl::Status CreateJoinToken(absl::string_view token_hash,
                               absl::string_view node_name,
                               absl::Time created_at, absl::Time expires_at,
                               absl::string_view actor) override;
  absl::StatusOr<std::string> ConsumeJoinToken(absl::string_view token_hash,
                                               absl::Time now) override;
  absl::StatusOr<uint64_t> PurgeExpiredJoinTokens(
      absl::Time expired_before, absl::Time time,
      absl::string_view actor) override;
  absl::Status CreateEntry(const store::RegistrationEntry& entry) override;
  absl::StatusOr<std::vector<store::RegistrationEntry>> ListEntries() override;
  absl::Status DeleteEntry(absl::string_view id, absl::Time time,
                           absl::string_view actor) override;
  absl::StatusOr<std::vector<store::RegistrationEntry>> MatchEntries(
      absl::string_view node_name) override;
  absl::StatusOr<uint64_t> AppendAudit(
      const store::AuditRecord& record) override;
  absl::StatusOr<store::AuditPage> ListAudit(uint64_t after_sequence,
                                             int limit) override;
  absl::StatusOr<store::StoreStats> GetStats() override;

 private:
  struct Token {
    std::string node_name;
    absl::Time expires_at;
    bool used = false;
  };

  absl::Mutex mu_;
  // Workload certificates are counted, not kept: the issuance path never
  // reads them back, and a long run would otherwise grow without bound.
  uint64_t workload_certificates_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, store::CertificateRecord> kept_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Token> tokens_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, store::RegistrationEntry> entries_
      ABSL_GUARDED_BY(mu_);
  uint64_t crl_number_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t audit_sequence_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace rotor::bench

#endif  // ROTOR_BENCH_ROTOR_BENCH_MEMORY_STORE_H_
