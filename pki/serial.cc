#include "pki/serial.h"

#include <openssl/bn.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "pki/ssl_error.h"
#include "util/status_macros.h"

namespace rotor::pki {
namespace {

std::string StripLeadingZeros(std::string hex) {
  size_t first = hex.find_first_not_of('0');
  if (first == std::string::npos) return "0";
  return hex.substr(first);
}

}  // namespace

absl::StatusOr<std::string> GenerateSerial(Random& random) {
  std::array<uint8_t, kSerialBytes> bytes;
  do {
    ROTOR_RETURN_IF_ERROR(random.Fill(absl::MakeSpan(bytes)));
    bytes[0] &= 0x7f;
  } while (std::all_of(bytes.begin(), bytes.end(),
                       [](uint8_t b) { return b == 0; }));
  std::string hex = absl::BytesToHexString(absl::string_view(
      reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  return StripLeadingZeros(std::move(hex));
}

absl::StatusOr<std::string> NormalizeSerial(absl::string_view text) {
  absl::string_view trimmed = absl::StripAsciiWhitespace(text);
  if (trimmed.size() >= 2 && trimmed[0] == '0' &&
      (trimmed[1] == 'x' || trimmed[1] == 'X')) {
    trimmed.remove_prefix(2);
  }
  std::string hex;
  hex.reserve(trimmed.size());
  for (char c : trimmed) {
    if (c == ':' || c == ' ') continue;
    if (!std::isxdigit(static_cast<unsigned char>(c))) {
      // Escaped: a NUL or a control character would hide in a terminal.
      return absl::InvalidArgumentError(absl::StrCat(
          "serial \"", absl::CHexEscape(text),
          "\" is not hexadecimal; give it as printed by rotorctl cert list "
          "(e.g. 5f3a9c...), colons allowed"));
    }
    hex.push_back(absl::ascii_tolower(c));
  }
  if (hex.empty()) return absl::InvalidArgumentError("serial is empty");
  hex = StripLeadingZeros(std::move(hex));
  if (hex.size() > 40) {
    return absl::InvalidArgumentError(absl::StrCat(
        "serial \"", absl::CHexEscape(text),
        "\" is longer than 20 bytes, the RFC 5280 limit"));
  }
  return hex;
}

absl::StatusOr<SslPtr<ASN1_INTEGER>> SerialToAsn1(absl::string_view hex) {
  std::string copy(hex);
  BIGNUM* raw = nullptr;
  // BN_hex2bn stops at the first non-hex character and reports how many it
  // took; anything short of the whole string is not a serial.
  int used = BN_hex2bn(&raw, copy.c_str());
  SslPtr<BIGNUM> bn(raw);
  if (used == 0 || static_cast<size_t>(used) != copy.size()) {
    ClearSslErrors();
    return absl::InvalidArgumentError(
        absl::StrCat("bad serial \"", hex, "\"; expected lowercase hex"));
  }
  SslPtr<ASN1_INTEGER> out(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (out == nullptr) return SslInternalError("BN_to_ASN1_INTEGER");
  return out;
}

std::string Asn1ToSerial(const ASN1_INTEGER* serial) {
  SslPtr<BIGNUM> bn(ASN1_INTEGER_to_BN(serial, nullptr));
  if (bn == nullptr) {
    ClearSslErrors();
    return "";
  }
  char* hex = BN_bn2hex(bn.get());
  if (hex == nullptr) {
    ClearSslErrors();
    return "";
  }
  std::string out = absl::AsciiStrToLower(hex);
  OPENSSL_free(hex);
  if (!out.empty() && out[0] == '-') {  // never issued by rotor
    return absl::StrCat("-", StripLeadingZeros(out.substr(1)));
  }
  return StripLeadingZeros(std::move(out));
}

}  // namespace rotor::pki
