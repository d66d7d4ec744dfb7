#include "pki/random.h"

#include <openssl/rand.h>

#include <climits>

#include "pki/ssl_error.h"

namespace rotor::pki {
namespace {

class OsRandom final : public Random {
 public:
  absl::Status Fill(absl::Span<uint8_t> out) override {
    if (out.size() > INT_MAX) {
      return absl::InvalidArgumentError("random request too large");
    }
    if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
      return SslInternalError("the OS random number generator failed");
    }
    return absl::OkStatus();
  }
};

}  // namespace

Random* SystemRandom() {
  static OsRandom* random = new OsRandom;
  return random;
}

}  // namespace rotor::pki
