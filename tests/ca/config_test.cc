#include "ca/config.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace rotor::ca {
namespace {

using ::rotor::testing::StatusIs;
using ::testing::HasSubstr;

TEST(CaConfigTest, RenderedDefaultsParseBackEqual) {
  CaConfig config;
  config.trust_domain = "example.org";
  config.crl_url = "http://ca.example.org/crl";
  ASSERT_OK_AND_ASSIGN(CaConfig parsed, ParseCaConfig(RenderCaConfig(config)));
  EXPECT_EQ(parsed.trust_domain, "example.org");
  EXPECT_EQ(parsed.listen, "127.0.0.1:8443");
  EXPECT_EQ(parsed.http_listen, "127.0.0.1:8080");
  EXPECT_THAT(parsed.server_names, ::testing::ElementsAre("localhost", "127.0.0.1"));
  EXPECT_EQ(parsed.default_ttl, absl::Hours(1));
  EXPECT_EQ(parsed.min_ttl, absl::Minutes(1));
  EXPECT_EQ(parsed.max_ttl, absl::Hours(24));
  EXPECT_EQ(parsed.node_ttl, absl::Hours(24));
  EXPECT_EQ(parsed.crl_url, "http://ca.example.org/crl");
  EXPECT_EQ(parsed.ocsp_url, "");
  EXPECT_EQ(parsed.rate_limit.per_node_burst, 100);
  EXPECT_EQ(parsed.store_max_size_mb, 16384);
}

TEST(CaConfigTest, RenderedConfigCommentsEveryKey) {
  CaConfig config;
  config.trust_domain = "example.org";
  std::string text = RenderCaConfig(config);
  for (const char* key :
       {"trust_domain:", "listen:", "http_listen:", "server_names:",
        "default_ttl:", "min_ttl:", "max_ttl:", "node_ttl:", "crl_url:",
        "ocsp_url:", "rate_limit:", "store:"}) {
    EXPECT_THAT(text, HasSubstr(key));
  }
  EXPECT_THAT(text, HasSubstr("# "));
}

TEST(CaConfigTest, UnknownKeyNamesKeyAndLine) {
  EXPECT_THAT(ParseCaConfig("trust_domain: example.org\ndefualt_ttl: 1h\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("ca.yaml line 2: unknown key \"defualt_ttl\"")));
  EXPECT_THAT(
      ParseCaConfig("trust_domain: example.org\nrate_limit:\n  burst: 3\n"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("line 3: unknown key \"burst\" in rate_limit")));
}

TEST(CaConfigTest, BadValuesNameKeyAndReason) {
  EXPECT_THAT(ParseCaConfig("trust_domain: example.org\nmax_ttl: forever\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("line 2: max_ttl: \"forever\" is not a duration")));
  EXPECT_THAT(ParseCaConfig("trust_domain: example.org\nmin_ttl: 2s\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("min_ttl (2s) is below the lowest allowed (5s)")));
  EXPECT_THAT(
      ParseCaConfig("trust_domain: example.org\ndefault_ttl: 48h\n"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("default_ttl (48h) must be between min_ttl")));
  EXPECT_THAT(ParseCaConfig("trust_domain: example.org\nlisten: nowhere\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("listen: address \"nowhere\" must be HOST:PORT")));
  EXPECT_THAT(ParseCaConfig("trust_domain: example.org\nserver_names: x\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("server_names: expected a list")));
}

TEST(CaConfigTest, MissingOrInvalidTrustDomain) {
  EXPECT_THAT(ParseCaConfig("listen: 127.0.0.1:1\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("trust_domain is missing")));
  EXPECT_THAT(ParseCaConfig(""), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("is empty")));
  EXPECT_THAT(ParseCaConfig("trust_domain: Example.ORG\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("trust domain")));
}

TEST(CaConfigTest, BrokenYamlNamesLine) {
  EXPECT_THAT(ParseCaConfig("trust_domain: example.org\nlisten: [a\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not valid YAML")));
}

TEST(CaConfigTest, LowestMinTtlIsAccepted) {
  ASSERT_OK_AND_ASSIGN(
      CaConfig c, ParseCaConfig("trust_domain: example.org\nmin_ttl: 5s\n"
                                "default_ttl: 10s\nlisten: 127.0.0.1:0\n"));
  EXPECT_EQ(c.min_ttl, absl::Seconds(5));
  EXPECT_EQ(c.listen, "127.0.0.1:0");
}

}  // namespace
}  // namespace rotor::ca
