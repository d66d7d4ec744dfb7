#include "pki/revocation.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace rotor::pki {
namespace {

using ::rotor::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr RevocationReason kAllReasons[] = {
    RevocationReason::kUnspecified,       RevocationReason::kKeyCompromise,
    RevocationReason::kCaCompromise,      RevocationReason::kAffiliationChanged,
    RevocationReason::kSuperseded,        RevocationReason::kCessationOfOperation,
    RevocationReason::kCertificateHold,   RevocationReason::kRemoveFromCrl,
    RevocationReason::kPrivilegeWithdrawn, RevocationReason::kAaCompromise,
};

TEST(RevocationTest, NamesAreTheRfc5280Spellings) {
  EXPECT_EQ(RevocationReasonName(RevocationReason::kUnspecified), "unspecified");
  EXPECT_EQ(RevocationReasonName(RevocationReason::kKeyCompromise),
            "keyCompromise");
  EXPECT_EQ(RevocationReasonName(RevocationReason::kCaCompromise),
            "cACompromise");
  EXPECT_EQ(RevocationReasonName(RevocationReason::kAffiliationChanged),
            "affiliationChanged");
  EXPECT_EQ(RevocationReasonName(RevocationReason::kSuperseded), "superseded");
  EXPECT_EQ(RevocationReasonName(RevocationReason::kCessationOfOperation),
            "cessationOfOperation");
  EXPECT_EQ(RevocationReasonName(RevocationReason::kCertificateHold),
            "certificateHold");
  EXPECT_EQ(RevocationReasonName(RevocationReason::kRemoveFromCrl),
            "removeFromCRL");
  EXPECT_EQ(RevocationReasonName(RevocationReason::kPrivilegeWithdrawn),
            "privilegeWithdrawn");
  EXPECT_EQ(RevocationReasonName(RevocationReason::kAaCompromise),
            "aACompromise");
}

TEST(RevocationTest, EveryNameParsesBackToItsReason) {
  for (RevocationReason reason : kAllReasons) {
    absl::StatusOr<RevocationReason> got =
        ParseRevocationReason(RevocationReasonName(reason));
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, reason) << RevocationReasonName(reason);
  }
}

TEST(RevocationTest, ParsesKebabSnakeAndAnyCase) {
  struct Case {
    const char* text;
    RevocationReason want;
  };
  const Case cases[] = {
      {"key-compromise", RevocationReason::kKeyCompromise},
      {"key_compromise", RevocationReason::kKeyCompromise},
      {"KEY_COMPROMISE", RevocationReason::kKeyCompromise},
      {"KeyCompromise", RevocationReason::kKeyCompromise},
      {"keycompromise", RevocationReason::kKeyCompromise},
      {"ca-compromise", RevocationReason::kCaCompromise},
      {"CA_COMPROMISE", RevocationReason::kCaCompromise},
      {"remove-from-crl", RevocationReason::kRemoveFromCrl},
      {"removeFromCrl", RevocationReason::kRemoveFromCrl},
      {"aa_compromise", RevocationReason::kAaCompromise},
      {"cessation-of-operation", RevocationReason::kCessationOfOperation},
      {"Superseded", RevocationReason::kSuperseded},
      {" privilege-withdrawn ", RevocationReason::kPrivilegeWithdrawn},
  };
  for (const Case& c : cases) {
    absl::StatusOr<RevocationReason> got = ParseRevocationReason(c.text);
    ASSERT_TRUE(got.ok()) << c.text << ": " << got.status();
    EXPECT_EQ(*got, c.want) << c.text;
  }
}

TEST(RevocationTest, RefusesUnknownNameListingTheNames) {
  EXPECT_THAT(
      ParseRevocationReason("stolen"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("unknown revocation reason \"stolen\""),
                     HasSubstr("keyCompromise"), HasSubstr("superseded"),
                     HasSubstr("aACompromise"))));
  EXPECT_THAT(ParseRevocationReason(""),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unknown revocation reason \"\"")));
  EXPECT_THAT(ParseRevocationReason("--"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unknown revocation reason \"--\"")));
}

TEST(RevocationTest, FromCodeAcceptsRfcCodes) {
  for (RevocationReason reason : kAllReasons) {
    absl::StatusOr<RevocationReason> got =
        RevocationReasonFromCode(static_cast<int>(reason));
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, reason);
  }
}

TEST(RevocationTest, FromCodeRefusesSevenAndOutOfRange) {
  for (int code : {7, -1, 11, 255}) {
    EXPECT_THAT(RevocationReasonFromCode(code),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr(absl::StrCat("revocation reason code ",
                                                code, " is not a CRLReason"))));
  }
}

}  // namespace
}  // namespace rotor::pki
