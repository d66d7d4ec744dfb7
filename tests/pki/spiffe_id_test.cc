#include "pki/spiffe_id.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace rotor::pki {
namespace {

using ::rotor::testing::StatusIs;
using ::testing::HasSubstr;

// ---- SpiffeId::Parse --------------------------------------------------------

TEST(SpiffeIdTest, ParsesTrustDomainAndPath) {
  ASSERT_OK_AND_ASSIGN(SpiffeId id,
                       SpiffeId::Parse("spiffe://example.org/ns/prod/web-1"));
  EXPECT_EQ(id.trust_domain, "example.org");
  EXPECT_EQ(id.path, "/ns/prod/web-1");
  EXPECT_EQ(id.ToString(), "spiffe://example.org/ns/prod/web-1");
}

TEST(SpiffeIdTest, ParsesIdWithoutPath) {
  ASSERT_OK_AND_ASSIGN(SpiffeId id, SpiffeId::Parse("spiffe://my_td-1.local"));
  EXPECT_EQ(id.trust_domain, "my_td-1.local");
  EXPECT_EQ(id.path, "");
  EXPECT_EQ(id.ToString(), "spiffe://my_td-1.local");
}

TEST(SpiffeIdTest, AcceptsAllowedPathCharactersIncludingUppercase) {
  EXPECT_OK(SpiffeId::Parse("spiffe://example.org/Az09.-_/..a/b.."));
}

TEST(SpiffeIdTest, RefusesOtherSchemes) {
  for (const char* uri : {"https://example.org/web", "SPIFFE://example.org/web",
                          "spiffe:/example.org/web", "example.org/web"}) {
    EXPECT_THAT(SpiffeId::Parse(uri),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("must start with spiffe://")))
        << uri;
  }
}

TEST(SpiffeIdTest, RefusesEmpty) {
  EXPECT_THAT(SpiffeId::Parse(""), StatusIs(absl::StatusCode::kInvalidArgument,
                                            "SPIFFE ID is empty"));
}

TEST(SpiffeIdTest, RefusesMissingTrustDomain) {
  for (const char* uri : {"spiffe://", "spiffe:///web"}) {
    EXPECT_THAT(SpiffeId::Parse(uri),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("has no trust domain")))
        << uri;
  }
}

TEST(SpiffeIdTest, RefusesUppercaseTrustDomain) {
  EXPECT_THAT(SpiffeId::Parse("spiffe://Example.org/web"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "SPIFFE ID \"spiffe://Example.org/web\": trust domain "
                       "\"Example.org\" has the uppercase letter 'E'; trust "
                       "domains are lowercase"));
}

TEST(SpiffeIdTest, RefusesPort) {
  EXPECT_THAT(SpiffeId::Parse("spiffe://example.org:8443/web"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("has a port (':'); trust domains have none")));
}

TEST(SpiffeIdTest, RefusesUserinfo) {
  EXPECT_THAT(
      SpiffeId::Parse("spiffe://admin@example.org/web"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("has userinfo ('@'); trust domains have none")));
}

TEST(SpiffeIdTest, RefusesQueryAndFragment) {
  for (const char* uri :
       {"spiffe://example.org/web?x=1", "spiffe://example.org/web#frag",
        "spiffe://example.org?x"}) {
    EXPECT_THAT(SpiffeId::Parse(uri),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("has a query or fragment")))
        << uri;
  }
}

TEST(SpiffeIdTest, RefusesEmptyPathSegment) {
  EXPECT_THAT(SpiffeId::Parse("spiffe://example.org/a//b"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("has an empty path segment")));
}

TEST(SpiffeIdTest, RefusesDotSegments) {
  EXPECT_THAT(SpiffeId::Parse("spiffe://example.org/a/./b"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("has a \".\" path segment, which is not "
                                 "allowed")));
  EXPECT_THAT(SpiffeId::Parse("spiffe://example.org/a/.."),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("has a \"..\" path segment, which is not "
                                 "allowed")));
}

TEST(SpiffeIdTest, RefusesTrailingSlash) {
  for (const char* uri :
       {"spiffe://example.org/web/", "spiffe://example.org/"}) {
    EXPECT_THAT(SpiffeId::Parse(uri),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("has a trailing slash")))
        << uri;
  }
}

TEST(SpiffeIdTest, RefusesBadPathCharacters) {
  EXPECT_THAT(SpiffeId::Parse("spiffe://example.org/web server"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("has the character ' ' in its path")));
  EXPECT_THAT(SpiffeId::Parse("spiffe://example.org/caf%C3%A9"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("has a percent-encoded character")));
  EXPECT_THAT(
      SpiffeId::Parse(absl::string_view("spiffe://example.org/a\0b", 24)),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("has the character '\\x00' in its path")));
}

TEST(SpiffeIdTest, RefusesIdsOver2048Bytes) {
  std::string prefix = "spiffe://example.org/";
  std::string ok = prefix + std::string(2048 - prefix.size(), 'a');
  EXPECT_OK(SpiffeId::Parse(ok));
  EXPECT_THAT(SpiffeId::Parse(ok + "a"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "SPIFFE ID of 2049 bytes is longer than the 2048-byte "
                       "limit"));
}

// ---- ValidateTrustDomain ----------------------------------------------------

TEST(TrustDomainTest, AcceptsSpecCharacters) {
  EXPECT_OK(ValidateTrustDomain("example.org"));
  EXPECT_OK(ValidateTrustDomain("prod_eu-1.corp"));
  EXPECT_OK(ValidateTrustDomain(std::string(255, 'a')));
}

TEST(TrustDomainTest, RefusesEmptyAndTooLong) {
  EXPECT_THAT(
      ValidateTrustDomain(""),
      StatusIs(absl::StatusCode::kInvalidArgument, "trust domain is empty"));
  EXPECT_THAT(ValidateTrustDomain(std::string(256, 'a')),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("256 characters is longer than the "
                                 "255-character limit")));
}

TEST(TrustDomainTest, RefusesCharactersOutsideTheSpec) {
  EXPECT_THAT(ValidateTrustDomain("example.org/web"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "trust domain \"example.org/web\" has the character "
                       "'/'; trust domains may hold only lowercase letters, "
                       "digits, '.', '-' and '_'"));
  EXPECT_THAT(ValidateTrustDomain("EXAMPLE"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("uppercase letter 'E'")));
  EXPECT_THAT(
      ValidateTrustDomain("example.org:443"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("has a port")));
}

// ---- ValidateDnsName --------------------------------------------------------

TEST(DnsNameTest, AcceptsRfc1123Names) {
  for (const char* name : {"web", "web.internal", "Web-1.EXAMPLE.org",
                           "1password.com", "a.b.c.d.e.f", "xn--caf-dma.de"}) {
    EXPECT_OK(ValidateDnsName(name, /*allow_wildcard=*/false)) << name;
  }
  std::string label63(63, 'a');
  EXPECT_OK(ValidateDnsName(label63 + ".internal", false));
  // 253 characters: four labels of 62 and one of 1, joined by dots.
  std::string longest =
      absl::StrCat(std::string(62, 'a'), ".", std::string(62, 'b'), ".",
                   std::string(62, 'c'), ".", std::string(62, 'd'), ".e");
  ASSERT_EQ(longest.size(), 253u);
  EXPECT_OK(ValidateDnsName(longest, false));
}

TEST(DnsNameTest, RefusesEmptyTooLongAndTrailingDot) {
  EXPECT_THAT(
      ValidateDnsName("", false),
      StatusIs(absl::StatusCode::kInvalidArgument, "DNS name is empty"));
  EXPECT_THAT(ValidateDnsName(std::string(254, 'a'), false),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "DNS name of 254 characters is longer than the "
                       "253-character limit"));
  EXPECT_THAT(ValidateDnsName("web.internal.", false),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "DNS name \"web.internal.\" has a trailing dot; leave "
                       "it out"));
}

TEST(DnsNameTest, RefusesBadLabels) {
  EXPECT_THAT(ValidateDnsName("web..internal", false),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "DNS name \"web..internal\" has an empty label"));
  EXPECT_THAT(ValidateDnsName(".web", false),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("has an empty label")));
  EXPECT_THAT(ValidateDnsName(std::string(64, 'a') + ".internal", false),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("has a label of 64 characters; the limit is "
                                 "63")));
  EXPECT_THAT(ValidateDnsName("-web.internal", false),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "DNS name \"-web.internal\" has the label \"-web\", "
                       "which starts or ends with '-'"));
  EXPECT_THAT(ValidateDnsName("web-.internal", false),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("starts or ends with '-'")));
}

TEST(DnsNameTest, RefusesBadCharacters) {
  EXPECT_THAT(ValidateDnsName("web_1.internal", false),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "DNS name \"web_1.internal\" has the character '_'; "
                       "DNS names may hold only letters, digits, '-' and '.'"));
  EXPECT_THAT(ValidateDnsName("caf\xc3\xa9.de", false),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("has the character '\\xc3'")));
  EXPECT_THAT(ValidateDnsName(absl::string_view("web\0.evil.com", 13), false),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("has the character '\\x00'")));
}

TEST(DnsNameTest, RefusesIpAddresses) {
  EXPECT_THAT(ValidateDnsName("10.0.0.1", false),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "DNS name \"10.0.0.1\" has an all-numeric last label; "
                       "an IP address is not a DNS name"));
  EXPECT_THAT(ValidateDnsName("::1", false),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("has the character ':'")));
}

TEST(DnsNameTest, AcceptsLeadingWildcardOnlyWhenAllowed) {
  EXPECT_OK(ValidateDnsName("*.web.internal", /*allow_wildcard=*/true));
  EXPECT_THAT(ValidateDnsName("*.web.internal", /*allow_wildcard=*/false),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "DNS name \"*.web.internal\" is a wildcard, which is "
                       "not allowed here"));
}

TEST(DnsNameTest, RefusesWildcardThatIsNotTheWholeLeftmostLabel) {
  for (const char* name : {"w*.internal", "web.*.internal", "*.*.internal", "*",
                           "web.internal.*"}) {
    EXPECT_THAT(ValidateDnsName(name, /*allow_wildcard=*/true),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("has a '*' that is not a whole leftmost "
                                   "label")))
        << name;
  }
  EXPECT_THAT(ValidateDnsName("*.", true),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("has a trailing dot")));
}

}  // namespace
}  // namespace rotor::pki
