// SHA-256 fingerprints in the form agents pin: "sha256:<64 lowercase hex>".
#ifndef ROTOR_PKI_FINGERPRINT_H_
#define ROTOR_PKI_FINGERPRINT_H_

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace rotor::pki {

// "sha256:" + lowercase hex SHA-256 of `der`.
std::string Sha256Fingerprint(absl::string_view der);

// Accepts "sha256:<hex>" in any case, with or without colons between bytes
// (as `openssl x509 -fingerprint -sha256` prints). Returns the canonical
// form. InvalidArgument saying the expected form otherwise.
absl::StatusOr<std::string> NormalizeFingerprint(absl::string_view text);

}  // namespace rotor::pki

#endif  // ROTOR_PKI_FINGERPRINT_H_
