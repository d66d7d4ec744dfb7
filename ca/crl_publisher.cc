#include "ca/crl_publisher.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "pki/certificate_builder.h"
#include "pki/crl.h"
#include "util/log.h"
#include "util/status_macros.h"

namespace rotor::ca {

CrlPublisher::CrlPublisher(const pki::Signer& intermediate,
                           const pki::Signer* root,
                           store::CertificateStore* store, Clock* clock,
                           UpdateHub* hub, const Options& options)
    : intermediate_(intermediate),
      root_(root == nullptr ? std::nullopt : std::optional<pki::Signer>(*root)),
      store_(store),
      clock_(clock),
      hub_(hub),
      options_(options) {}

absl::StatusOr<std::unique_ptr<CrlPublisher>> CrlPublisher::Create(
    const pki::Signer& intermediate, const pki::Signer* root,
    store::CertificateStore* store, Clock* clock, UpdateHub* hub,
    const Options& options,
    std::optional<std::vector<pki::RevokedCertificate>> all_revoked) {
  if (options.validity <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("CRL validity must be positive, got ",
                     absl::FormatDuration(options.validity)));
  }
  std::unique_ptr<CrlPublisher> publisher(
      new CrlPublisher(intermediate, root, store, clock, hub, options));
  ROTOR_RETURN_IF_ERROR(publisher->Rebuild(
      all_revoked.has_value() ? &*all_revoked : nullptr));
  if (options.start_worker) {
    publisher->worker_ = std::thread([p = publisher.get()] { p->WorkerLoop(); });
  }
  return publisher;
}

CrlPublisher::~CrlPublisher() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (worker_.joinable()) worker_.join();
}

void CrlPublisher::Trigger() {
  if (!options_.start_worker) {
    // Errors are logged and counted by RebuildNow.
    RebuildNow().IgnoreError();
    return;
  }
  absl::MutexLock lock(&mu_);
  pending_ = true;
}

absl::StatusOr<CrlSet> CrlPublisher::Build(
    const std::vector<pki::RevokedCertificate>* all_revoked) {
  const absl::Time now = clock_->Now();
  const absl::Time expired_before = now - kExpiredGrace;
  ROTOR_ASSIGN_OR_RETURN(uint64_t number, store_->NextCrlNumber());
  std::vector<pki::RevokedCertificate> revoked;
  if (all_revoked != nullptr) {
    // What ListRevoked(expired_before) returns, in the same order.
    for (const pki::RevokedCertificate& r : *all_revoked) {
      if (r.not_after > expired_before) revoked.push_back(r);
    }
  } else {
    ROTOR_ASSIGN_OR_RETURN(revoked, store_->ListRevoked(expired_before));
  }
  // thisUpdate is backdated like certificates' notBefore, so a relying
  // party whose clock is a little behind does not find a fresh CRL "not yet
  // valid" (and refuse every client, as nginx would).
  pki::CrlOptions crl_options;
  crl_options.number = number;
  crl_options.this_update = now - pki::kBackdate;
  crl_options.next_update = now + options_.validity;

  CrlSet set;
  set.number = number;
  set.this_update = crl_options.this_update;
  set.next_update = crl_options.next_update;
  ROTOR_ASSIGN_OR_RETURN(std::string intermediate_crl,
                         pki::BuildCrl(intermediate_, revoked, crl_options));
  set.der.push_back(std::move(intermediate_crl));
  if (root_.has_value()) {
    ROTOR_ASSIGN_OR_RETURN(std::string root_crl,
                           pki::BuildCrl(*root_, {}, crl_options));
    set.der.push_back(std::move(root_crl));
  }
  LogInfo("built CRL", {{"number", absl::StrCat(number)},
                        {"revoked", absl::StrCat(revoked.size())},
                        {"crls", absl::StrCat(set.der.size())}});
  return set;
}

absl::Status CrlPublisher::RebuildNow() { return Rebuild(nullptr); }

absl::Status CrlPublisher::Rebuild(
    const std::vector<pki::RevokedCertificate>* all_revoked) {
  absl::MutexLock build_lock(&build_mu_);
  absl::StatusOr<CrlSet> set = Build(all_revoked);
  if (!set.ok()) {
    LogError("CRL rebuild failed", {{"error", std::string(set.status().message())},
                                    {"outcome", absl::StatusCodeToString(
                                                    set.status().code())}});
    absl::MutexLock lock(&mu_);
    ++failures_;
    return set.status();
  }
  rotor::v1::Crl message;
  for (const std::string& der : set->der) message.add_der(der);
  message.set_number(set->number);
  // Subscribers first, then Current(): once WaitForNumberAbove sees the new
  // number, every subscription has it queued. Still under build_mu_, so
  // subscribers see CRLs in number order.
  hub_->PublishCrl(message);
  {
    absl::MutexLock lock(&mu_);
    current_ = *std::move(set);
    ++rebuilds_;
  }
  return absl::OkStatus();
}

void CrlPublisher::WorkerLoop() {
  const absl::Duration period = options_.validity / 2;
  absl::Duration wait = period;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto wake = [](CrlPublisher* p) { return p->pending_ || p->stop_; };
      mu_.AwaitWithTimeout(absl::Condition(+wake, this), wait);
      if (stop_) return;
      pending_ = false;
    }
    absl::Status status = RebuildNow();
    wait = status.ok() ? period : std::min(period, kRetryInterval);
  }
}

CrlSet CrlPublisher::Current() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

bool CrlPublisher::WaitForNumberAbove(uint64_t number,
                                      absl::Duration timeout) const {
  struct Args {
    const CrlPublisher* self;
    uint64_t number;
  } args{this, number};
  auto newer = [](Args* a) {
    return a->self->current_.number > a->number;
  };
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(+newer, &args), timeout);
}

uint64_t CrlPublisher::rebuilds() const {
  absl::MutexLock lock(&mu_);
  return rebuilds_;
}

uint64_t CrlPublisher::failures() const {
  absl::MutexLock lock(&mu_);
  return failures_;
}

}  // namespace rotor::ca
