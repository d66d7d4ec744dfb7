// Deterministic stand-ins for the clock and the random source.
#ifndef ROTOR_TESTS_TESTING_FAKES_H_
#define ROTOR_TESTS_TESTING_FAKES_H_

#include <cstdint>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "pki/random.h"
#include "util/clock.h"

namespace rotor::testing {

// A clock that moves only when told. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1800000000))
      : now_(start) {}
  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }
  void Set(absl::Time t) {
    absl::MutexLock lock(&mu_);
    now_ = t;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_;
};

// Bytes from a counter: the same sequence every run. Can be told to fail.
class FakeRandom final : public pki::Random {
 public:
  absl::Status Fill(absl::Span<uint8_t> out) override {
    if (fail_) return absl::InternalError("fake random source failed");
    for (uint8_t& b : out) b = static_cast<uint8_t>(next_++ * 37 + 11);
    return absl::OkStatus();
  }
  void set_fail(bool fail) { fail_ = fail; }

 private:
  uint64_t next_ = 0;
  bool fail_ = false;
};

}  // namespace rotor::testing

#endif  // ROTOR_TESTS_TESTING_FAKES_H_
