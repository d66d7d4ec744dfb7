#include "pki/fingerprint.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace rotor::pki {
namespace {

using ::rotor::testing::StatusIs;
using ::testing::HasSubstr;

// SHA-256("abc"), FIPS 180-2 appendix B.1.
constexpr absl::string_view kAbcHex =
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

// "AB:CD:..." as `openssl x509 -fingerprint -sha256` prints the digest.
std::string OpensslStyle(absl::string_view hex) {
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    if (i > 0) out += ':';
    out += absl::AsciiStrToUpper(hex.substr(i, 2));
  }
  return out;
}

TEST(FingerprintTest, HashesKnownInputs) {
  EXPECT_EQ(Sha256Fingerprint("abc"), absl::StrCat("sha256:", kAbcHex));
  EXPECT_EQ(Sha256Fingerprint(""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b"
            "7852b855");
  // Binary input with NUL bytes is hashed in full.
  EXPECT_NE(Sha256Fingerprint(absl::string_view("a\0b", 3)),
            Sha256Fingerprint("a"));
}

TEST(FingerprintTest, NormalizesColonsAndUppercase) {
  std::string canonical = absl::StrCat("sha256:", kAbcHex);
  for (const std::string& text :
       {canonical, absl::StrCat("SHA256:", OpensslStyle(kAbcHex)),
        absl::StrCat("sha256:", OpensslStyle(kAbcHex)),
        absl::StrCat("Sha256:", absl::AsciiStrToUpper(kAbcHex)),
        absl::StrCat("  sha256:", kAbcHex, "\n")}) {
    ASSERT_OK_AND_ASSIGN(std::string normalized, NormalizeFingerprint(text));
    EXPECT_EQ(normalized, canonical) << text;
  }
}

TEST(FingerprintTest, RefusesWrongLength) {
  std::string short_text = absl::StrCat("sha256:", kAbcHex.substr(0, 62));
  EXPECT_THAT(NormalizeFingerprint(short_text),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       absl::StrCat("fingerprint \"", short_text,
                                    "\" has 62 hex digits; a SHA-256 "
                                    "fingerprint has 64")));
  EXPECT_THAT(NormalizeFingerprint(absl::StrCat("sha256:", kAbcHex, "00")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("has 66 hex digits")));
  EXPECT_THAT(NormalizeFingerprint("sha256:"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("has 0 hex digits")));
}

TEST(FingerprintTest, RefusesMissingOrWrongPrefix) {
  for (const std::string& text :
       {std::string(kAbcHex), absl::StrCat("sha1:", kAbcHex),
        absl::StrCat("sha384:", kAbcHex), absl::StrCat("sha256 ", kAbcHex),
        std::string()}) {
    EXPECT_THAT(NormalizeFingerprint(text),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         absl::StrCat("fingerprint \"", text,
                                      "\" must look like sha256:<64 hex "
                                      "digits> (as printed by rotor-ca init)")))
        << text;
  }
}

TEST(FingerprintTest, RefusesNonHexCharacter) {
  std::string text = absl::StrCat("sha256:", kAbcHex.substr(0, 63), "g");
  EXPECT_THAT(NormalizeFingerprint(text),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       absl::StrCat("fingerprint \"", text,
                                    "\" has a non-hex character 'g'")));
}

}  // namespace
}  // namespace rotor::pki
