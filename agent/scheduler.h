// When the agent renews a certificate and when it retries after a failure.
// Pure logic: time and randomness come in as arguments (a uniform number in
// [0, 1) drawn by the caller), so tests drive both directly.
//
// Renewal point. With lifetime L = not_after - start (start: when the
// certificate was received, or its notBefore if later; the CA backdates
// notBefore by 60 s, which must not count as lifetime) and renew_at r:
//
//   renew = start + r·L·(1 + J),  J = 0.2·u - 0.1 ∈ [-0.1, +0.1)
//
// i.e. within ±10% of the nominal point r·L, so a fleet issued together does
// not renew together. The result is clamped to at most start + 0.95·L (so a
// renew_at close to 1 still leaves time to retry before expiry).
//
// Backoff. After the n-th consecutive failure (n = 1, 2, ...) the next
// attempt comes after a delay drawn with full jitter:
//
//   cap_n = min(backoff_max, backoff_initial · 2^(n-1)),  delay = u · cap_n
//
// (1 s, 2 s, 4 s, ... 60 s caps by default). A non-retryable refusal
// (permission denied, invalid argument, ...) waits the whole backoff_max.
// When the CA answers again (any successful call or a new update stream),
// every certificate whose renewal came due during the outage is retried at
// once, without waiting out its backoff.
//
// Thread-safety: RotationSchedule is thread-compatible (the agent guards
// it with its mutex).
#ifndef ROTOR_AGENT_SCHEDULER_H_
#define ROTOR_AGENT_SCHEDULER_H_

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "pki/random.h"

namespace rotor::agent {

struct ScheduleOptions {
  double renew_at = 0.5;
  absl::Duration backoff_initial = absl::Seconds(1);
  absl::Duration backoff_max = absl::Seconds(60);
};

// The fraction of the lifetime beyond which a renewal is never scheduled.
inline constexpr double kLatestRenewFraction = 0.95;
// Jitter of the renewal point, as a fraction of r·L either way.
inline constexpr double kRenewJitter = 0.1;

// The renewal time for a certificate valid from `start` to `not_after`
// (see above). `u` is uniform in [0, 1). If not_after <= start, returns
// start (renew at once).
absl::Time RenewalTime(absl::Time start, absl::Time not_after, double renew_at,
                       double u);

// Exponential backoff with full jitter (see above).
class Backoff {
 public:
  Backoff(absl::Duration initial, absl::Duration max)
      : initial_(initial), max_(max) {}

  // Records one more failure and returns the delay before the next attempt:
  // u · cap, with u uniform in [0, 1).
  absl::Duration NextDelay(double u);
  // The cap the next NextDelay() will draw under.
  absl::Duration NextCap() const;
  void set_limits(absl::Duration initial, absl::Duration max) {
    initial_ = initial;
    max_ = max;
  }
  // Back to the first step (after a success).
  void Reset() { failures_ = 0; }
  int failures() const { return failures_; }
  absl::Duration max() const { return max_; }

 private:
  absl::Duration initial_;
  absl::Duration max_;
  int failures_ = 0;
};

// True for codes worth retrying soon: the CA is down, overloaded or timed
// out (Unavailable, DeadlineExceeded, ResourceExhausted, Aborted, Internal,
// Unknown, Cancelled), or a local failure such as a full disk.
bool IsRetryable(absl::StatusCode code);

// The renewal state of one certificate.
class RotationSchedule {
 public:
  explicit RotationSchedule(const ScheduleOptions& options)
      : options_(options),
        backoff_(options.backoff_initial, options.backoff_max) {}

  // New settings (a reloaded config). The current renewal point stays; the
  // next OnIssued and OnFailure use them. The failure count is kept.
  void set_options(const ScheduleOptions& options) {
    options_ = options;
    backoff_.set_limits(options.backoff_initial, options.backoff_max);
  }

  // No certificate yet (or it must be replaced): attempt at `now`.
  void IssueNow(absl::Time now);

  // A certificate valid from `start` to `not_after` is in place: schedules
  // its renewal (RenewalTime) and resets the backoff.
  void OnIssued(absl::Time start, absl::Time not_after, double u);

  // An attempt at `now` failed with `code`: the next attempt comes after a
  // backoff step (a retryable code) or backoff_max (otherwise). Returns the
  // delay.
  absl::Duration OnFailure(absl::Time now, absl::StatusCode code, double u);

  // The CA answered again at `now`: if an attempt is pending because of
  // earlier retryable failures (the CA was unreachable) and the certificate
  // is due, attempt at `now`. A refusal's slow retry is left alone.
  void OnCaAvailable(absl::Time now);

  // When to attempt next (renewal or retry).
  absl::Time next_attempt() const { return next_attempt_; }
  bool Due(absl::Time now) const { return now >= next_attempt_; }
  // The certificate has expired (or there is none).
  bool Expired(absl::Time now) const { return now >= not_after_; }
  absl::Time renew_time() const { return renew_time_; }
  absl::Time not_after() const { return not_after_; }
  int failures() const { return backoff_.failures(); }

 private:
  ScheduleOptions options_;
  Backoff backoff_;
  absl::Time renew_time_ = absl::InfinitePast();
  absl::Time not_after_ = absl::InfinitePast();
  absl::Time next_attempt_ = absl::InfinitePast();
  bool last_failure_retryable_ = false;
};

// A uniform number in [0, 1) from `random` (53 bits). 0.5 if the source
// fails, so a broken source degrades to no jitter rather than no renewal.
double UniformDouble(pki::Random& random);

}  // namespace rotor::agent

#endif  // ROTOR_AGENT_SCHEDULER_H_
