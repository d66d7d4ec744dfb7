// A CertificateStore that forwards to a real one and fails chosen calls on
// demand, for tests of what the CA core does when the store refuses.
#ifndef ROTOR_TESTS_CA_FAULT_STORE_H_
#define ROTOR_TESTS_CA_FAULT_STORE_H_

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "store/store.h"

namespace rotor::ca::testing {

class FaultStore final : public store::CertificateStore {
 public:
  explicit FaultStore(store::CertificateStore* inner) : inner_(inner) {}

  // While set, these calls fail with Unavailable and do nothing.
  std::atomic<bool> fail_put{false};
  std::atomic<bool> fail_crl_number{false};
  std::atomic<bool> fail_purge{false};
  // While set, CreateEntry and DeleteEntry fail with Unavailable and do
  // nothing.
  std::atomic<bool> fail_entries{false};
  // How many times ListRevoked, GetCertificate and MatchEntries were called.
  std::atomic<int> list_revoked_calls{0};
  std::atomic<int> get_certificate_calls{0};
  std::atomic<int> match_entries_calls{0};
  // While set, PutCertificate fails as a full store does (ResourceExhausted).
  std::atomic<bool> full{false};
  // Runs at the start of ConsumeJoinToken (to act while an Attest is in
  // flight). Set before use; not synchronised.
  std::function<void()> before_consume;
  // Runs after MatchEntries has read the store, before it returns (to change
  // the entries while a SignWorkload is in flight). Set before use; not
  // synchronised.
  std::function<void()> after_match;
  // Runs after GetCertificate has read the store, before it returns (to
  // revoke while a call is reading its caller's record). Set before use;
  // not synchronised.
  std::function<void()> after_get_certificate;

  static absl::Status Down() {
    return absl::UnavailableError("store is not writable (injected fault)");
  }

  absl::Status PutCertificate(const store::CertificateRecord& record) override {
    if (fail_put) return Down();
    if (full) {
      return absl::ResourceExhaustedError(
          "store reached its size limit (store_max_size_mb 1)");
    }
    return inner_->PutCertificate(record);
  }
  absl::StatusOr<std::optional<store::CertificateRecord>> GetCertificate(
      absl::string_view serial) override {
    ++get_certificate_calls;
    absl::StatusOr<std::optional<store::CertificateRecord>> record =
        inner_->GetCertificate(serial);
    if (after_get_certificate) after_get_certificate();
    return record;
  }
  absl::StatusOr<store::CertificatePage> ListCertificates(
      const store::CertificateFilter& filter, absl::string_view cursor,
      int limit) override {
    return inner_->ListCertificates(filter, cursor, limit);
  }
  absl::StatusOr<store::CertificateRecord> RevokeCertificate(
      absl::string_view serial, pki::RevocationReason reason, absl::Time time,
      absl::string_view actor) override {
    return inner_->RevokeCertificate(serial, reason, time, actor);
  }
  absl::StatusOr<std::vector<pki::RevokedCertificate>> ListRevoked(
      absl::Time not_after_after) override {
    ++list_revoked_calls;
    return inner_->ListRevoked(not_after_after);
  }
  absl::StatusOr<uint64_t> NextCrlNumber() override {
    if (fail_crl_number) return Down();
    return inner_->NextCrlNumber();
  }
  absl::Status CreateJoinToken(absl::string_view token_hash,
                               absl::string_view node_name,
                               absl::Time created_at, absl::Time expires_at,
                               absl::string_view actor) override {
    return inner_->CreateJoinToken(token_hash, node_name, created_at,
                                   expires_at, actor);
  }
  absl::StatusOr<std::string> ConsumeJoinToken(absl::string_view token_hash,
                                               absl::Time now) override {
    if (before_consume) before_consume();
    return inner_->ConsumeJoinToken(token_hash, now);
  }
  absl::StatusOr<uint64_t> PurgeExpiredJoinTokens(
      absl::Time expired_before, absl::Time time,
      absl::string_view actor) override {
    if (fail_purge) return Down();
    return inner_->PurgeExpiredJoinTokens(expired_before, time, actor);
  }
  absl::Status CreateEntry(const store::RegistrationEntry& entry) override {
    if (fail_entries) return Down();
    return inner_->CreateEntry(entry);
  }
  absl::StatusOr<std::vector<store::RegistrationEntry>> ListEntries()
      override {
    return inner_->ListEntries();
  }
  absl::Status DeleteEntry(absl::string_view id, absl::Time time,
                           absl::string_view actor) override {
    if (fail_entries) return Down();
    return inner_->DeleteEntry(id, time, actor);
  }
  absl::StatusOr<std::vector<store::RegistrationEntry>> MatchEntries(
      absl::string_view node_name) override {
    ++match_entries_calls;
    absl::StatusOr<std::vector<store::RegistrationEntry>> entries =
        inner_->MatchEntries(node_name);
    if (after_match) after_match();
    return entries;
  }
  absl::StatusOr<uint64_t> AppendAudit(
      const store::AuditRecord& record) override {
    return inner_->AppendAudit(record);
  }
  absl::StatusOr<store::AuditPage> ListAudit(uint64_t after_sequence,
                                             int limit) override {
    return inner_->ListAudit(after_sequence, limit);
  }
  absl::StatusOr<store::StoreStats> GetStats() override {
    return inner_->GetStats();
  }

 private:
  store::CertificateStore* const inner_;
};

}  // namespace rotor::ca::testing

#endif  // ROTOR_TESTS_CA_FAULT_STORE_H_
