#include "ca/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace rotor::ca {
namespace {

// Sweep full buckets once the map has this many keys (and then again at
// twice the size left after a sweep).
constexpr size_t kMinPruneThreshold = 4096;

// Token counts are doubles; a refill that should make exactly one token
// may fall short by a rounding error.
constexpr double kEpsilon = 1e-9;

}  // namespace

RateLimiter::RateLimiter(double per_second, int64_t burst, Clock* clock)
    : per_second_(per_second),
      burst_(static_cast<double>(std::max<int64_t>(burst, 1))),
      clock_(clock),
      prune_at_(kMinPruneThreshold) {}

double RateLimiter::Refilled(const Bucket& bucket, absl::Time now) const {
  // A clock that steps back refills nothing.
  double elapsed = std::max(0.0, absl::ToDoubleSeconds(now - bucket.updated));
  return std::min(burst_, bucket.tokens + elapsed * per_second_);
}

absl::Duration RateLimiter::TryAcquire(absl::string_view key) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = buckets_.try_emplace(key);
  Bucket& bucket = it->second;
  if (inserted) {
    bucket.tokens = burst_;
  } else {
    bucket.tokens = Refilled(bucket, now);
  }
  bucket.updated = now;
  if (bucket.tokens >= 1.0 - kEpsilon) {
    bucket.tokens = std::max(0.0, bucket.tokens - 1.0);
    if (inserted && buckets_.size() >= prune_at_) PruneFullBuckets(now);
    return absl::ZeroDuration();
  }
  return absl::Seconds((1.0 - bucket.tokens) / per_second_);
}

void RateLimiter::PruneFullBuckets(absl::Time now) {
  // A full bucket behaves exactly like a missing one.
  absl::erase_if(buckets_, [&](const auto& entry) {
    return Refilled(entry.second, now) >= burst_ - kEpsilon;
  });
  prune_at_ = std::max(kMinPruneThreshold, buckets_.size() * 2);
}

size_t RateLimiter::bucket_count() const {
  absl::MutexLock lock(&mu_);
  return buckets_.size();
}

ConcurrencyLimiter::Permit::~Permit() {
  if (limiter_ != nullptr) limiter_->Release(key_);
}

std::optional<ConcurrencyLimiter::Permit> ConcurrencyLimiter::TryAcquire(
    absl::string_view key) {
  absl::MutexLock lock(&mu_);
  int64_t& count = in_flight_[key];
  if (count >= limit_) return std::nullopt;
  ++count;
  return Permit(this, std::string(key));
}

int64_t ConcurrencyLimiter::in_flight(absl::string_view key) const {
  absl::MutexLock lock(&mu_);
  auto it = in_flight_.find(key);
  return it == in_flight_.end() ? 0 : it->second;
}

void ConcurrencyLimiter::Release(const std::string& key) {
  absl::MutexLock lock(&mu_);
  auto it = in_flight_.find(key);
  if (it == in_flight_.end()) return;
  if (--it->second <= 0) in_flight_.erase(it);
}

}  // namespace rotor::ca
