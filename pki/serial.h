// Certificate serial numbers: generation (16 bytes from the CSPRNG,
// positive) and the one canonical text form rotor uses everywhere (store
// keys, API fields, logs): lowercase hex without leading zeros.
//
// Thread-safety: all functions are thread-compatible.
#ifndef ROTOR_PKI_SERIAL_H_
#define ROTOR_PKI_SERIAL_H_

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "pki/random.h"
#include "pki/ssl_ptr.h"

namespace rotor::pki {

// Number of random bytes in a serial (RFC 5280 allows up to 20 octets).
inline constexpr size_t kSerialBytes = 16;

// A new serial in canonical hex: 16 random bytes with the top bit cleared so
// the DER INTEGER is positive and fits in 16 octets (127 bits of entropy),
// never zero.
absl::StatusOr<std::string> GenerateSerial(Random& random);

// Accepts a serial as a person pastes it: any case, with or without colons,
// spaces or leading zeros, with or without a "0x" prefix. Returns the
// canonical form. InvalidArgument for empty input, a non-hex character, or
// more than 20 bytes.
absl::StatusOr<std::string> NormalizeSerial(absl::string_view text);

// Conversions between canonical hex and ASN1_INTEGER.
// REQUIRES: `hex` is canonical (see NormalizeSerial).
absl::StatusOr<SslPtr<ASN1_INTEGER>> SerialToAsn1(absl::string_view hex);
std::string Asn1ToSerial(const ASN1_INTEGER* serial);

}  // namespace rotor::pki

#endif  // ROTOR_PKI_SERIAL_H_
