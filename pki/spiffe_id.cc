#include "pki/spiffe_id.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace rotor::pki {
namespace {

constexpr absl::string_view kScheme = "spiffe://";
// The SPIFFE ID specification requires support for IDs up to 2048 bytes and
// trust domain names up to 255 bytes; rotor refuses anything longer.
constexpr size_t kMaxSpiffeIdBytes = 2048;
constexpr size_t kMaxTrustDomainBytes = 255;
constexpr size_t kMaxDnsNameBytes = 253;
constexpr size_t kMaxDnsLabelBytes = 63;

// A character for a message: 'a', or '\x00' for bytes a person cannot see.
std::string Quote(char c) {
  return absl::StrCat("'", absl::CHexEscape(absl::string_view(&c, 1)), "'");
}

// The input quoted for a message, escaping what a terminal would not show.
std::string Quote(absl::string_view text) {
  return absl::StrCat("\"", absl::CHexEscape(text), "\"");
}

bool IsTrustDomainChar(char c) {
  return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '.' ||
         c == '-' || c == '_';
}

bool IsPathSegmentChar(char c) {
  return absl::ascii_isalnum(c) || c == '.' || c == '-' || c == '_';
}

bool IsDnsChar(char c) { return absl::ascii_isalnum(c) || c == '-'; }

absl::Status ValidatePath(absl::string_view uri, absl::string_view path) {
  if (path.empty()) return absl::OkStatus();
  // REQUIRES (caller): path starts with '/'.
  if (path.back() == '/') {
    return absl::InvalidArgumentError(absl::StrCat(
        "SPIFFE ID ", Quote(uri), " has a trailing slash in its path"));
  }
  std::vector<absl::string_view> segments = absl::StrSplit(path.substr(1), '/');
  for (absl::string_view segment : segments) {
    if (segment.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "SPIFFE ID ", Quote(uri), " has an empty path segment (\"//\")"));
    }
    if (segment == "." || segment == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat("SPIFFE ID ", Quote(uri), " has a \"", segment,
                       "\" path segment, which is not allowed"));
    }
    for (char c : segment) {
      if (c == '%') {
        return absl::InvalidArgumentError(absl::StrCat(
            "SPIFFE ID ", Quote(uri),
            " has a percent-encoded character in its path; path segments "
            "may hold only letters, digits, '.', '-' and '_'"));
      }
      if (!IsPathSegmentChar(c)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "SPIFFE ID ", Quote(uri), " has the character ", Quote(c),
            " in its path; path segments may hold only letters, digits, "
            "'.', '-' and '_'"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateDnsLabel(absl::string_view name, absl::string_view label) {
  if (label.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("DNS name ", Quote(name), " has an empty label"));
  }
  if (label.size() > kMaxDnsLabelBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("DNS name ", Quote(name), " has a label of ", label.size(),
                     " characters; the limit is 63"));
  }
  for (char c : label) {
    if (c == '*') {
      return absl::InvalidArgumentError(absl::StrCat(
          "DNS name ", Quote(name),
          " has a '*' that is not a whole leftmost label; only \"*.\" at the "
          "start is a wildcard"));
    }
    if (!IsDnsChar(c)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "DNS name ", Quote(name), " has the character ", Quote(c),
          "; DNS names may hold only letters, digits, '-' and '.'"));
    }
  }
  if (label.front() == '-' || label.back() == '-') {
    return absl::InvalidArgumentError(
        absl::StrCat("DNS name ", Quote(name), " has the label \"", label,
                     "\", which starts or ends with '-'"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateTrustDomain(absl::string_view trust_domain) {
  if (trust_domain.empty()) {
    return absl::InvalidArgumentError("trust domain is empty");
  }
  if (trust_domain.size() > kMaxTrustDomainBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("trust domain of ", trust_domain.size(),
                     " characters is longer than the 255-character limit"));
  }
  for (char c : trust_domain) {
    if (IsTrustDomainChar(c)) continue;
    if (absl::ascii_isupper(c)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "trust domain ", Quote(trust_domain), " has the uppercase letter ",
          Quote(c), "; trust domains are lowercase"));
    }
    if (c == ':') {
      return absl::InvalidArgumentError(
          absl::StrCat("trust domain ", Quote(trust_domain),
                       " has a port (':'); trust domains have none"));
    }
    if (c == '@') {
      return absl::InvalidArgumentError(
          absl::StrCat("trust domain ", Quote(trust_domain),
                       " has userinfo ('@'); trust domains have none"));
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "trust domain ", Quote(trust_domain), " has the character ", Quote(c),
        "; trust domains may hold only lowercase letters, digits, '.', '-' "
        "and '_'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<SpiffeId> SpiffeId::Parse(absl::string_view uri) {
  if (uri.empty()) return absl::InvalidArgumentError("SPIFFE ID is empty");
  if (uri.size() > kMaxSpiffeIdBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("SPIFFE ID of ", uri.size(),
                     " bytes is longer than the 2048-byte limit"));
  }
  if (!absl::StartsWith(uri, kScheme)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SPIFFE ID ", Quote(uri), " must start with spiffe:// (lowercase)"));
  }
  if (uri.find_first_of("?#") != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("SPIFFE ID ", Quote(uri),
                     " has a query or fragment, which is not "
                     "allowed"));
  }
  absl::string_view rest = uri.substr(kScheme.size());
  size_t slash = rest.find('/');
  absl::string_view trust_domain = rest.substr(0, slash);
  absl::string_view path = slash == absl::string_view::npos
                               ? absl::string_view()
                               : rest.substr(slash);
  if (trust_domain.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("SPIFFE ID ", Quote(uri), " has no trust domain"));
  }
  absl::Status td_status = ValidateTrustDomain(trust_domain);
  if (!td_status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("SPIFFE ID ", Quote(uri), ": ", td_status.message()));
  }
  if (absl::Status status = ValidatePath(uri, path); !status.ok()) {
    return status;
  }
  SpiffeId id;
  id.trust_domain = std::string(trust_domain);
  id.path = std::string(path);
  return id;
}

std::string SpiffeId::ToString() const {
  return absl::StrCat(kScheme, trust_domain, path);
}

absl::Status ValidateDnsName(absl::string_view name, bool allow_wildcard) {
  if (name.empty()) return absl::InvalidArgumentError("DNS name is empty");
  if (name.size() > kMaxDnsNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("DNS name of ", name.size(),
                     " characters is longer than the 253-character limit"));
  }
  if (name.back() == '.') {
    return absl::InvalidArgumentError(absl::StrCat(
        "DNS name ", Quote(name), " has a trailing dot; leave it out"));
  }
  absl::string_view rest = name;
  if (absl::StartsWith(name, "*.")) {
    if (!allow_wildcard) {
      return absl::InvalidArgumentError(
          absl::StrCat("DNS name ", Quote(name),
                       " is a wildcard, which is not allowed "
                       "here"));
    }
    rest.remove_prefix(2);
  }
  std::vector<absl::string_view> labels = absl::StrSplit(rest, '.');
  for (absl::string_view label : labels) {
    if (absl::Status status = ValidateDnsLabel(name, label); !status.ok()) {
      return status;
    }
  }
  // RFC 3696 section 2: the top-level label is never all digits, so a name
  // like "10.0.0.1" is an IP address, which belongs in an IP SAN.
  absl::string_view last = labels.back();
  bool all_digits = true;
  for (char c : last) all_digits = all_digits && absl::ascii_isdigit(c);
  if (all_digits) {
    return absl::InvalidArgumentError(absl::StrCat(
        "DNS name ", Quote(name),
        " has an all-numeric last label; an IP address is not a DNS name"));
  }
  return absl::OkStatus();
}

}  // namespace rotor::pki
