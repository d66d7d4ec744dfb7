// Randomness for serial numbers and tokens. Production code uses
// SystemRandom() (the OS CSPRNG through RAND_bytes, never a PRNG); tests
// inject a deterministic source.
//
// Thread-safety: SystemRandom() is safe from any thread.
#ifndef ROTOR_PKI_RANDOM_H_
#define ROTOR_PKI_RANDOM_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace rotor::pki {

class Random {
 public:
  virtual ~Random() = default;
  // Fills `out` with random bytes. Fails with Internal if the source cannot
  // deliver (then `out` must not be used).
  virtual absl::Status Fill(absl::Span<uint8_t> out) = 0;
};

// The OS CSPRNG. Never null; lives for the whole process.
Random* SystemRandom();

}  // namespace rotor::pki

#endif  // ROTOR_PKI_RANDOM_H_
