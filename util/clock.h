// Time sources. Core logic takes a Clock so tests drive time directly; only
// daemons' main() functions use RealClock().
//
// Thread-safety: RealClock() is safe from any thread. FakeClock (in
// tests/testing/fake_clock.h) is safe from any thread too.
#ifndef ROTOR_UTIL_CLOCK_H_
#define ROTOR_UTIL_CLOCK_H_

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

}  // namespace rotor

#endif  // ROTOR_UTIL_CLOCK_H_
