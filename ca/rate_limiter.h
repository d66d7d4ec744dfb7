// Limits on how fast callers may use the CA:
//   RateLimiter         a token bucket per key (node name) for
//                       SignWorkload/RenewNode: `burst` tokens, refilled at
//                       `per_second`; time from the injected Clock.
//   ConcurrencyLimiter  at most N calls in flight per key (source address)
//                       for Attest; a permit is released when destroyed.
// Both only count; the Authority turns a refusal into ResourceExhausted.
//
// Thread-safety: every method is safe from any thread.
#ifndef ROTOR_CA_RATE_LIMITER_H_
#define ROTOR_CA_RATE_LIMITER_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "util/clock.h"

namespace rotor::ca {

class RateLimiter {
 public:
  // REQUIRES: per_second > 0, burst >= 1, clock outlives the limiter.
  RateLimiter(double per_second, int64_t burst, Clock* clock);

  // Takes one token from `key`'s bucket (a new key starts full). Returns
  // ZeroDuration on success, or how long until a token will be there (and
  // takes nothing).
  absl::Duration TryAcquire(absl::string_view key);

  // Buckets currently tracked (full, idle ones are dropped now and then).
  size_t bucket_count() const;

 private:
  struct Bucket {
    double tokens = 0;
    absl::Time updated;
  };
  double Refilled(const Bucket& bucket, absl::Time now) const;
  void PruneFullBuckets(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const double per_second_;
  const double burst_;
  Clock* const clock_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
  size_t prune_at_ ABSL_GUARDED_BY(mu_);
};

class ConcurrencyLimiter {
 public:
  // REQUIRES: limit >= 1.
  explicit ConcurrencyLimiter(int64_t limit) : limit_(limit) {}

  // Holds one slot of a key until destroyed. Move-only.
  class Permit {
   public:
    Permit(Permit&& other) noexcept
        : limiter_(other.limiter_), key_(std::move(other.key_)) {
      other.limiter_ = nullptr;
    }
    Permit& operator=(Permit&&) = delete;
    Permit(const Permit&) = delete;
    ~Permit();

   private:
    friend class ConcurrencyLimiter;
    Permit(ConcurrencyLimiter* limiter, std::string key)
        : limiter_(limiter), key_(std::move(key)) {}
    ConcurrencyLimiter* limiter_;
    std::string key_;
  };

  // A permit, or std::nullopt if `key` already has `limit` in flight.
  std::optional<Permit> TryAcquire(absl::string_view key);

  int64_t limit() const { return limit_; }
  // Calls in flight for `key`.
  int64_t in_flight(absl::string_view key) const;

 private:
  void Release(const std::string& key);

  const int64_t limit_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, int64_t> in_flight_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rotor::ca

#endif  // ROTOR_CA_RATE_LIMITER_H_
