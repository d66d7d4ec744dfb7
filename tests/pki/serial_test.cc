#include "pki/serial.h"

#include <openssl/asn1.h>
#include <openssl/x509.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pki/random.h"
#include "tests/testing/fakes.h"
#include "tests/testing/status_matchers.h"

namespace rotor::pki {
namespace {

using ::rotor::testing::FakeRandom;
using ::rotor::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

MATCHER_P(IsOkAndHolds, value_matcher, "is OK and holds a matching value") {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status();
    return false;
  }
  return ::testing::ExplainMatchResult(value_matcher, *arg, result_listener);
}

// Hands out whole fills from a script, one per call, then fails.
class ScriptedRandom final : public Random {
 public:
  explicit ScriptedRandom(std::vector<uint8_t> fill_bytes)
      : fill_bytes_(std::move(fill_bytes)) {}
  absl::Status Fill(absl::Span<uint8_t> out) override {
    if (fill_bytes_.empty()) return absl::InternalError("script exhausted");
    for (uint8_t& b : out) b = fill_bytes_.front();
    fill_bytes_.erase(fill_bytes_.begin());
    ++calls_;
    return absl::OkStatus();
  }
  int calls() const { return calls_; }

 private:
  std::vector<uint8_t> fill_bytes_;
  int calls_ = 0;
};

// The DER INTEGER content of a canonical serial, as a certificate holds it.
std::string DerContent(const std::string& hex) {
  absl::StatusOr<SslPtr<ASN1_INTEGER>> asn1 = SerialToAsn1(hex);
  EXPECT_TRUE(asn1.ok()) << asn1.status();
  unsigned char* der = nullptr;
  int len = i2d_ASN1_INTEGER(asn1->get(), &der);
  EXPECT_GT(len, 2);
  std::string out(reinterpret_cast<char*>(der) + 2,
                  static_cast<size_t>(len - 2));
  OPENSSL_free(der);
  return out;
}

// ---- GenerateSerial ---------------------------------------------------------

TEST(SerialTest, GeneratesCanonicalPositiveSerials) {
  for (int i = 0; i < 200; ++i) {
    ASSERT_OK_AND_ASSIGN(std::string serial, GenerateSerial(*SystemRandom()));
    EXPECT_THAT(serial, MatchesRegex("[1-9a-f][0-9a-f]*"));
    EXPECT_LE(serial.size(), 2 * kSerialBytes);
    ASSERT_OK_AND_ASSIGN(SslPtr<ASN1_INTEGER> asn1, SerialToAsn1(serial));
    EXPECT_EQ(ASN1_STRING_type(asn1.get()), V_ASN1_INTEGER)  // not negative
        << serial;
    // Positive and at most 16 content octets: no 0x00 pad byte is needed
    // because the top bit is always clear.
    EXPECT_LE(DerContent(serial).size(), kSerialBytes) << serial;
  }
}

TEST(SerialTest, GeneratesADifferentSerialEachCall) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    ASSERT_OK_AND_ASSIGN(std::string serial, GenerateSerial(*SystemRandom()));
    EXPECT_TRUE(seen.insert(serial).second) << "repeated " << serial;
  }
}

TEST(SerialTest, UsesTheInjectedRandomSource) {
  FakeRandom random;
  // FakeRandom's first 16 bytes are 0b 30 55 ...; the leading zero nibble is
  // dropped in the canonical form.
  EXPECT_THAT(GenerateSerial(random),
              IsOkAndHolds(std::string("b30557a9fc4e90e33587da2c7ec1136")));
  EXPECT_THAT(GenerateSerial(random),
              IsOkAndHolds(std::string("5b80a5caef14395e83a8cdf2173c6186")));
  FakeRandom again;
  EXPECT_THAT(GenerateSerial(again),
              IsOkAndHolds(std::string("b30557a9fc4e90e33587da2c7ec1136")));
}

TEST(SerialTest, ClearsTheTopBit) {
  ScriptedRandom random({0xff});
  ASSERT_OK_AND_ASSIGN(std::string serial, GenerateSerial(random));
  EXPECT_EQ(serial, "7fffffffffffffffffffffffffffffff");
}

TEST(SerialTest, NeverReturnsZero) {
  // All-zero draws are rejected and drawn again.
  ScriptedRandom random({0x00, 0x00, 0x01});
  ASSERT_OK_AND_ASSIGN(std::string serial, GenerateSerial(random));
  EXPECT_EQ(serial, "1010101010101010101010101010101");
  EXPECT_EQ(random.calls(), 3);
}

TEST(SerialTest, PropagatesRandomFailure) {
  FakeRandom random;
  random.set_fail(true);
  EXPECT_THAT(GenerateSerial(random), StatusIs(absl::StatusCode::kInternal,
                                               "fake random source failed"));
}

// ---- NormalizeSerial --------------------------------------------------------

TEST(SerialTest, NormalizesWhatPeoplePaste) {
  for (const char* text : {"0A:1b:FF", "0x0a1bff", "  00a1bff ", "0XA1BFF",
                           "a1bff", "0a 1b ff", "\t0a:1b:ff\n"}) {
    EXPECT_THAT(NormalizeSerial(text), IsOkAndHolds(std::string("a1bff")))
        << text;
  }
  EXPECT_THAT(NormalizeSerial("00"), IsOkAndHolds(std::string("0")));
}

TEST(SerialTest, NormalizingIsIdempotent) {
  ASSERT_OK_AND_ASSIGN(std::string serial, GenerateSerial(*SystemRandom()));
  EXPECT_THAT(NormalizeSerial(serial), IsOkAndHolds(serial));
}

TEST(SerialTest, RefusesNonHex) {
  EXPECT_THAT(NormalizeSerial("xyz"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("serial \"xyz\" is not hexadecimal")));
  EXPECT_THAT(NormalizeSerial("0a-1b"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("serial \"0a-1b\" is not hexadecimal")));
}

TEST(SerialTest, RefusesEmpty) {
  for (const char* text : {"", "   ", "0x", "::"}) {
    EXPECT_THAT(NormalizeSerial(text),
                StatusIs(absl::StatusCode::kInvalidArgument, "serial is empty"))
        << '"' << text << '"';
  }
}

TEST(SerialTest, RefusesMoreThan20Bytes) {
  std::string forty = "1" + std::string(39, '0');
  EXPECT_THAT(NormalizeSerial(forty), IsOkAndHolds(forty));
  std::string forty_one = "1" + std::string(40, '0');
  EXPECT_THAT(
      NormalizeSerial(forty_one),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("is longer than 20 bytes, the RFC 5280 limit")));
  // Leading zeros do not count.
  EXPECT_THAT(NormalizeSerial("00" + forty), IsOkAndHolds(forty));
}

// ---- ASN.1 conversions ------------------------------------------------------

TEST(SerialTest, Asn1RoundTrip) {
  std::vector<std::string> serials = {"1",
                                      "a",
                                      "ff",
                                      "100",
                                      "a1bff",
                                      "7fffffffffffffffffffffffffffffff",
                                      "1" + std::string(39, '0')};
  for (int i = 0; i < 20; ++i) {
    ASSERT_OK_AND_ASSIGN(std::string serial, GenerateSerial(*SystemRandom()));
    serials.push_back(serial);
  }
  for (const std::string& serial : serials) {
    ASSERT_OK_AND_ASSIGN(SslPtr<ASN1_INTEGER> asn1, SerialToAsn1(serial));
    EXPECT_EQ(Asn1ToSerial(asn1.get()), serial);
  }
}

TEST(SerialTest, Asn1ToSerialIsCanonical) {
  SslPtr<ASN1_INTEGER> asn1(ASN1_INTEGER_new());
  ASSERT_EQ(ASN1_INTEGER_set_uint64(asn1.get(), 0x0a1bff), 1);
  EXPECT_EQ(Asn1ToSerial(asn1.get()), "a1bff");
  ASSERT_EQ(ASN1_INTEGER_set_uint64(asn1.get(), 0), 1);
  EXPECT_EQ(Asn1ToSerial(asn1.get()), "0");
  // Negative serials are invalid (RFC 5280) but are shown, not hidden.
  ASSERT_EQ(ASN1_INTEGER_set_int64(asn1.get(), -0x0a), 1);
  EXPECT_EQ(Asn1ToSerial(asn1.get()), "-a");
}

TEST(SerialTest, SerialToAsn1RefusesNonHex) {
  for (const char* text : {"", "xyz", "12xyz"}) {
    EXPECT_THAT(SerialToAsn1(text),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         absl::StrCat("bad serial \"", text,
                                      "\"; expected lowercase hex")))
        << text;
  }
}

}  // namespace
}  // namespace rotor::pki
