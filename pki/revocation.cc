#include "pki/revocation.h"

#include <array>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace rotor::pki {
namespace {

struct ReasonEntry {
  RevocationReason reason;
  absl::string_view name;  // RFC 5280 spelling
};

constexpr std::array<ReasonEntry, 10> kReasons = {{
    {RevocationReason::kUnspecified, "unspecified"},
    {RevocationReason::kKeyCompromise, "keyCompromise"},
    {RevocationReason::kCaCompromise, "cACompromise"},
    {RevocationReason::kAffiliationChanged, "affiliationChanged"},
    {RevocationReason::kSuperseded, "superseded"},
    {RevocationReason::kCessationOfOperation, "cessationOfOperation"},
    {RevocationReason::kCertificateHold, "certificateHold"},
    {RevocationReason::kRemoveFromCrl, "removeFromCRL"},
    {RevocationReason::kPrivilegeWithdrawn, "privilegeWithdrawn"},
    {RevocationReason::kAaCompromise, "aACompromise"},
}};

// Lower case without '-' and '_': "key-compromise", "KEY_COMPROMISE" and
// "keyCompromise" all become "keycompromise".
std::string Fold(absl::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    if (c == '-' || c == '_') continue;
    out.push_back(absl::ascii_tolower(c));
  }
  return out;
}

}  // namespace

absl::StatusOr<RevocationReason> ParseRevocationReason(absl::string_view name) {
  std::string folded = Fold(absl::StripAsciiWhitespace(name));
  if (!folded.empty()) {
    for (const ReasonEntry& entry : kReasons) {
      if (Fold(entry.name) == folded) return entry.reason;
    }
  }
  std::vector<absl::string_view> names;
  for (const ReasonEntry& entry : kReasons) names.push_back(entry.name);
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown revocation reason \"", name, "\"; use one of ",
      absl::StrJoin(names, ", "),
      " (kebab-case and snake_case spellings are accepted too)"));
}

absl::string_view RevocationReasonName(RevocationReason reason) {
  for (const ReasonEntry& entry : kReasons) {
    if (entry.reason == reason) return entry.name;
  }
  return "unknown";
}

absl::StatusOr<RevocationReason> RevocationReasonFromCode(int code) {
  for (const ReasonEntry& entry : kReasons) {
    if (static_cast<int>(entry.reason) == code) return entry.reason;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "revocation reason code ", code,
      " is not a CRLReason of RFC 5280 (0-6 and 8-10 are; 7 is unused)"));
}

}  // namespace rotor::pki
