// Time sources. Core logic takes a Clock so tests drive time directly; only
// daemons' main() functions use RealClock().
//
// Thread-safety: RealClock() is safe from any thread. FakeClock (in
// tests/testing/fake_clock.h) is safe from any thread too.
#ifndef ROTOR_UTIL_CLOCK_H_
#define ROTOR_UTIL_CLOCK_H_

#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace rotor {

class Clock {
 public:
  virtual ~Clock() = default;

  // Wall-clock time: what goes into certificates and what a person sees.
  virtual absl::Time Now() const = 0;
};

// The system's clock. Never null; lives for the whole process.
Clock* RealClock();

// `t` as logs and messages show times: "2026-12-06T14:49:12Z" (UTC, whole
// seconds).
std::string FormatUtc(absl::Time t);

}  // namespace rotor

#endif  // ROTOR_UTIL_CLOCK_H_
