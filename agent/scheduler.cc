#include "agent/scheduler.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace rotor::agent {
namespace {

double Clamp01(double u) {
  if (!(u >= 0)) return 0;
  if (u >= 1) return std::nextafter(1.0, 0.0);
  return u;
}

}  // namespace

absl::Time RenewalTime(absl::Time start, absl::Time not_after, double renew_at,
                       double u) {
  if (not_after <= start) return start;
  const absl::Duration lifetime = not_after - start;
  const double jitter = 2 * kRenewJitter * Clamp01(u) - kRenewJitter;
  const double fraction =
      std::min(renew_at * (1 + jitter), kLatestRenewFraction);
  return start + lifetime * fraction;
}

absl::Duration Backoff::NextCap() const {
  absl::Duration cap = initial_;
  for (int i = 0; i < failures_ && cap < max_; ++i) cap *= 2;
  return std::min(cap, max_);
}

absl::Duration Backoff::NextDelay(double u) {
  const absl::Duration cap = NextCap();
  ++failures_;
  return cap * Clamp01(u);
}

bool IsRetryable(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kCancelled:
      return true;
    default:
      return false;
  }
}

void RotationSchedule::IssueNow(absl::Time now) {
  next_attempt_ = now;
  renew_time_ = now;
}

void RotationSchedule::OnIssued(absl::Time start, absl::Time not_after,
                                double u) {
  backoff_.Reset();
  not_after_ = not_after;
  renew_time_ = RenewalTime(start, not_after, options_.renew_at, u);
  next_attempt_ = renew_time_;
}

absl::Duration RotationSchedule::OnFailure(absl::Time now,
                                           absl::StatusCode code, double u) {
  absl::Duration delay;
  last_failure_retryable_ = IsRetryable(code);
  if (last_failure_retryable_) {
    delay = backoff_.NextDelay(u);
  } else {
    backoff_.NextDelay(u);  // still counts as a failure
    delay = backoff_.max();
  }
  next_attempt_ = now + delay;
  return delay;
}

void RotationSchedule::OnCaAvailable(absl::Time now) {
  if (backoff_.failures() > 0 && last_failure_retryable_ &&
      now >= renew_time_ && next_attempt_ > now) {
    next_attempt_ = now;
  }
}

double UniformDouble(pki::Random& random) {
  uint8_t bytes[8];
  if (!random.Fill(absl::MakeSpan(bytes)).ok()) return 0.5;
  uint64_t bits = 0;
  std::memcpy(&bits, bytes, sizeof(bits));
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

}  // namespace rotor::agent
