#include "pki/fingerprint.h"

#include <openssl/sha.h>

#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace rotor::pki {

std::string Sha256Fingerprint(absl::string_view der) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(der.data()), der.size(),
         digest);
  return absl::StrCat(
      "sha256:", absl::BytesToHexString(absl::string_view(
                     reinterpret_cast<const char*>(digest), sizeof(digest))));
}

absl::StatusOr<std::string> NormalizeFingerprint(absl::string_view text) {
  absl::string_view rest = absl::StripAsciiWhitespace(text);
  constexpr absl::string_view kPrefix = "sha256:";
  if (!absl::StartsWithIgnoreCase(rest, kPrefix)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "fingerprint \"", text,
        "\" must look like sha256:<64 hex digits> (as printed by rotor-ca "
        "init)"));
  }
  rest.remove_prefix(kPrefix.size());
  std::string hex;
  for (char c : rest) {
    if (c == ':') continue;
    if (!std::isxdigit(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "fingerprint \"", text, "\" has a non-hex character '", std::string(1, c), "'"));
    }
    hex.push_back(absl::ascii_tolower(c));
  }
  if (hex.size() != 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("fingerprint \"", text, "\" has ", hex.size(),
                     " hex digits; a SHA-256 fingerprint has 64"));
  }
  return absl::StrCat("sha256:", hex);
}

}  // namespace rotor::pki
