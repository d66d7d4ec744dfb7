#include "ca/policy.h"

#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace rotor::ca {
namespace {

using ::rotor::testing::IsOk;
using ::rotor::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Optional;

CaConfig Config() {
  CaConfig config;
  config.trust_domain = "example.org";
  config.default_ttl = absl::Hours(1);
  config.min_ttl = absl::Minutes(1);
  config.max_ttl = absl::Hours(24);
  return config;
}

store::RegistrationEntry Entry(std::string id, std::string glob,
                               std::string spiffe_id,
                               std::vector<std::string> dns = {},
                               absl::Duration max_ttl = absl::ZeroDuration()) {
  store::RegistrationEntry entry;
  entry.id = std::move(id);
  entry.node_glob = std::move(glob);
  entry.spiffe_id = std::move(spiffe_id);
  entry.dns_names = std::move(dns);
  entry.max_ttl = max_ttl;
  return entry;
}

// --- Node names ---

TEST(PolicyTest, AcceptsNodeNames) {
  for (const std::string& name :
       std::vector<std::string>{"web-1", "a", "db_2.internal", "_x", "A9",
                                std::string(63, 'n')}) {
    EXPECT_THAT(ValidateNodeName(name), IsOk()) << name;
  }
}

TEST(PolicyTest, RefusesEmptyNodeName) {
  EXPECT_THAT(ValidateNodeName(""),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "node name is empty"));
}

TEST(PolicyTest, RefusesPathInNodeName) {
  EXPECT_THAT(ValidateNodeName("../x"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("node name \"../x\" has the character '/'")));
}

TEST(PolicyTest, RefusesNulInNodeName) {
  EXPECT_THAT(ValidateNodeName(std::string("web\0x", 5)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("has the character '\\x00'")));
}

TEST(PolicyTest, RefusesDotAndDotDot) {
  EXPECT_THAT(ValidateNodeName("."),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "node name \".\" is not allowed"));
  EXPECT_THAT(ValidateNodeName(".."),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "node name \"..\" is not allowed"));
}

TEST(PolicyTest, RefusesLeadingDotOrDash) {
  EXPECT_THAT(ValidateNodeName(".hidden"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("starts with '.'")));
  EXPECT_THAT(ValidateNodeName("-rf"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("starts with '-'")));
}

TEST(PolicyTest, RefusesLongNodeName) {
  EXPECT_THAT(ValidateNodeName(std::string(64, 'n')),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("64 characters is longer than the "
                                 "63-character limit")));
}

TEST(PolicyTest, RefusesSpaceAndUnicodeInNodeName) {
  EXPECT_THAT(ValidateNodeName("web 1"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("has the character ' '")));
  EXPECT_THAT(ValidateNodeName("w\xc3\xa9"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("has the character '\\xc3'")));
}

// --- Reserved identities ---

TEST(PolicyTest, NodeSpiffeIdRoundTrips) {
  EXPECT_EQ(NodeSpiffeId("example.org", "web-1"),
            "spiffe://example.org/rotor/node/web-1");
  EXPECT_THAT(NodeNameFromSpiffeId("example.org",
                                   "spiffe://example.org/rotor/node/web-1"),
              Optional(std::string("web-1")));
}

TEST(PolicyTest, NodeNameFromSpiffeIdRefusesOthers) {
  for (const char* id :
       {"spiffe://other.org/rotor/node/web-1",
        "spiffe://example.org/rotor/node/web-1/extra",
        "spiffe://example.org/rotor/node/", "spiffe://example.org/rotor/node",
        "spiffe://example.org/rotor/admin/init", "spiffe://example.org/web",
        "spiffe://example.org/rotor/node/-x", "not a uri", ""}) {
    EXPECT_EQ(NodeNameFromSpiffeId("example.org", id), std::nullopt) << id;
  }
}

TEST(PolicyTest, AdminSpiffeIds) {
  EXPECT_TRUE(IsAdminSpiffeId("example.org",
                              "spiffe://example.org/rotor/admin/init"));
  EXPECT_TRUE(IsAdminSpiffeId("example.org",
                              "spiffe://example.org/rotor/admin/ops/alice"));
  EXPECT_FALSE(
      IsAdminSpiffeId("example.org", "spiffe://example.org/rotor/admin"));
  EXPECT_FALSE(
      IsAdminSpiffeId("example.org", "spiffe://other.org/rotor/admin/init"));
  EXPECT_FALSE(IsAdminSpiffeId("example.org",
                               "spiffe://example.org/rotor/node/web-1"));
  EXPECT_FALSE(IsAdminSpiffeId("example.org", ""));
}

// --- Entries ---

TEST(PolicyTest, AcceptsEntry) {
  EXPECT_THAT(ValidateEntry(Config(), "web-*", "spiffe://example.org/web",
                            {"web.internal", "*.web.internal"},
                            absl::Hours(2)),
              IsOk());
  EXPECT_THAT(ValidateEntry(Config(), "db-[0-9]", "spiffe://example.org/db",
                            {}, absl::ZeroDuration()),
              IsOk());
}

TEST(PolicyTest, EntryMayNotGrantRotorIdentities) {
  EXPECT_THAT(
      ValidateEntry(Config(), "*", "spiffe://example.org/rotor/node/web-1", {},
                    absl::ZeroDuration()),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("SPIFFE ID spiffe://example.org/rotor/node/web-1 is "
                         "reserved")));
  EXPECT_THAT(
      ValidateEntry(Config(), "*", "spiffe://example.org/rotor/admin/x", {},
                    absl::ZeroDuration()),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is reserved")));
  EXPECT_THAT(ValidateEntry(Config(), "*", "spiffe://example.org/rotor", {},
                            absl::ZeroDuration()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is reserved")));
}

TEST(PolicyTest, EntryMayNotGrantOtherTrustDomain) {
  EXPECT_THAT(ValidateEntry(Config(), "*", "spiffe://other.org/x", {},
                            absl::ZeroDuration()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "SPIFFE ID spiffe://other.org/x is outside trust "
                       "domain example.org"));
}

TEST(PolicyTest, EntryMayNotGrantBareTrustDomain) {
  EXPECT_THAT(ValidateEntry(Config(), "*", "spiffe://example.org", {},
                            absl::ZeroDuration()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("has no path")));
}

TEST(PolicyTest, EntryRefusesMalformedParts) {
  EXPECT_THAT(ValidateEntry(Config(), "", "spiffe://example.org/web", {},
                            absl::ZeroDuration()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "node glob is empty"));
  EXPECT_THAT(ValidateEntry(Config(), "web/*", "spiffe://example.org/web", {},
                            absl::ZeroDuration()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("node glob \"web/*\" has the character '/'")));
  EXPECT_THAT(ValidateEntry(Config(), "*", "https://example.org/web", {},
                            absl::ZeroDuration()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("must start with spiffe://")));
  EXPECT_THAT(ValidateEntry(Config(), "*", "spiffe://example.org/web",
                            {"bad_name"}, absl::ZeroDuration()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("DNS name \"bad_name\"")));
}

TEST(PolicyTest, EntryMaxTtlWithinCaLimits) {
  EXPECT_THAT(ValidateEntry(Config(), "*", "spiffe://example.org/web", {},
                            absl::Hours(48)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "max_ttl 48h is above the CA's max_ttl (24h)"));
  EXPECT_THAT(ValidateEntry(Config(), "*", "spiffe://example.org/web", {},
                            absl::Seconds(30)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "max_ttl 30s is below the CA's min_ttl (1m)"));
  EXPECT_THAT(ValidateEntry(Config(), "*", "spiffe://example.org/web", {},
                            -absl::Hours(1)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "max_ttl -1h is negative"));
}

// --- TTL ---

TEST(PolicyTest, ChooseTtlDefaultsAndBounds) {
  CaConfig config = Config();
  ASSERT_OK_AND_ASSIGN(absl::Duration ttl,
                       ChooseTtl(config, absl::Hours(24), std::nullopt));
  EXPECT_EQ(ttl, absl::Hours(1));
  // The default is lowered to the entry's max.
  ASSERT_OK_AND_ASSIGN(ttl, ChooseTtl(config, absl::Minutes(10), std::nullopt));
  EXPECT_EQ(ttl, absl::Minutes(10));
  ASSERT_OK_AND_ASSIGN(ttl,
                       ChooseTtl(config, absl::Hours(24), absl::Minutes(1)));
  EXPECT_EQ(ttl, absl::Minutes(1));
  ASSERT_OK_AND_ASSIGN(ttl, ChooseTtl(config, absl::Hours(24), absl::Hours(24)));
  EXPECT_EQ(ttl, absl::Hours(24));
  EXPECT_THAT(ChooseTtl(config, absl::Hours(24), absl::Seconds(59)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "TTL 59s is outside the allowed range [1m, 24h]"));
  EXPECT_THAT(ChooseTtl(config, absl::Hours(2), absl::Hours(3)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "TTL 3h is outside the allowed range [1m, 2h]"));
}

TEST(PolicyTest, EntryMaxTtlFallsBackToCaMax) {
  CaConfig config = Config();
  EXPECT_EQ(EntryMaxTtl(config, Entry("e", "*", "spiffe://example.org/w")),
            absl::Hours(24));
  EXPECT_EQ(EntryMaxTtl(config, Entry("e", "*", "spiffe://example.org/w", {},
                                      absl::Hours(2))),
            absl::Hours(2));
  // A config that lowered max_ttl after the entry was made wins.
  EXPECT_EQ(EntryMaxTtl(config, Entry("e", "*", "spiffe://example.org/w", {},
                                      absl::Hours(48))),
            absl::Hours(24));
}

// --- AuthorizeWorkload ---

class AuthorizeWorkloadTest : public ::testing::Test {
 protected:
  absl::StatusOr<WorkloadGrant> Authorize(
      const std::string& node, std::vector<std::string> uris,
      std::vector<std::string> dns,
      std::optional<absl::Duration> ttl = std::nullopt) {
    return AuthorizeWorkload(config_, node, uris, dns, entries_, ttl);
  }

  CaConfig config_ = Config();
  std::vector<store::RegistrationEntry> entries_ = {
      Entry("e-1", "web-*", "spiffe://example.org/web",
            {"web.internal", "*.web.internal"}, absl::Hours(2)),
      Entry("e-2", "db-1", "spiffe://example.org/db", {"db.internal"}),
      Entry("e-3", "web-*", "spiffe://example.org/web", {}, absl::Hours(12)),
  };
};

TEST_F(AuthorizeWorkloadTest, GrantsWhatAnEntryAllows) {
  ASSERT_OK_AND_ASSIGN(
      WorkloadGrant grant,
      Authorize("web-1", {"spiffe://example.org/web"}, {"web.internal"}));
  EXPECT_EQ(grant.spiffe_id, "spiffe://example.org/web");
  EXPECT_THAT(grant.dns_names, ElementsAre("web.internal"));
  EXPECT_EQ(grant.entry_id, "e-1");
  EXPECT_EQ(grant.ttl, absl::Hours(1));
}

TEST_F(AuthorizeWorkloadTest, PrefersTheEntryWithTheLongestMaxTtl) {
  ASSERT_OK_AND_ASSIGN(WorkloadGrant grant,
                       Authorize("web-1", {"spiffe://example.org/web"}, {},
                                 absl::Hours(10)));
  EXPECT_EQ(grant.entry_id, "e-3");
  EXPECT_EQ(grant.ttl, absl::Hours(10));
}

TEST_F(AuthorizeWorkloadTest, DnsNamesCompareWithoutCase) {
  EXPECT_THAT(
      Authorize("web-1", {"spiffe://example.org/web"}, {"WEB.Internal"}),
      IsOk());
}

TEST_F(AuthorizeWorkloadTest, WildcardOnlyIfGrantedExactly) {
  EXPECT_THAT(
      Authorize("web-1", {"spiffe://example.org/web"}, {"*.web.internal"}),
      IsOk());
  EXPECT_THAT(
      Authorize("web-1", {"spiffe://example.org/web"}, {"*.internal"}),
      StatusIs(absl::StatusCode::kPermissionDenied,
               "node web-1 is not allowed DNS name *.internal with "
               "spiffe://example.org/web: no entry grants it"));
  // An entry's wildcard does not grant a name under it.
  EXPECT_THAT(
      Authorize("web-1", {"spiffe://example.org/web"}, {"a.web.internal"}),
      StatusIs(absl::StatusCode::kPermissionDenied,
               HasSubstr("not allowed DNS name a.web.internal")));
}

TEST_F(AuthorizeWorkloadTest, RefusesIdentityOfAnotherNode) {
  EXPECT_THAT(Authorize("web-1", {"spiffe://example.org/db"}, {}),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       "node web-1 is not allowed spiffe://example.org/db: "
                       "no entry grants it"));
}

TEST_F(AuthorizeWorkloadTest, IgnoresEntriesWhoseGlobDoesNotMatch) {
  // Even when handed an entry for another node, it does not count.
  EXPECT_THAT(Authorize("db-2", {"spiffe://example.org/db"}, {}),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       "node db-2 is not allowed spiffe://example.org/db: "
                       "no entry grants it"));
}

TEST_F(AuthorizeWorkloadTest, AllDnsNamesFromOneEntry) {
  entries_.push_back(Entry("e-4", "web-*", "spiffe://example.org/web",
                           {"api.internal"}));
  // e-1 grants web.internal and e-4 api.internal, but no one entry both.
  EXPECT_THAT(Authorize("web-1", {"spiffe://example.org/web"},
                        {"web.internal", "api.internal"}),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("is not allowed DNS name")));
}

TEST_F(AuthorizeWorkloadTest, NeedsExactlyOneUri) {
  EXPECT_THAT(Authorize("web-1", {}, {"web.internal"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "CSR has 0 URI SANs; a workload CSR needs exactly "
                       "one, its SPIFFE ID"));
  EXPECT_THAT(Authorize("web-1",
                        {"spiffe://example.org/web", "spiffe://example.org/db"},
                        {}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("CSR has 2 URI SANs")));
}

TEST_F(AuthorizeWorkloadTest, RefusesOtherTrustDomain) {
  EXPECT_THAT(Authorize("web-1", {"spiffe://other.org/x"}, {}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "SPIFFE ID spiffe://other.org/x is outside trust "
                       "domain example.org"));
}

TEST_F(AuthorizeWorkloadTest, RefusesRotorIdentities) {
  EXPECT_THAT(
      Authorize("web-1", {"spiffe://example.org/rotor/admin/me"}, {}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is reserved")));
}

TEST_F(AuthorizeWorkloadTest, RefusesMalformedDnsName) {
  EXPECT_THAT(
      Authorize("web-1", {"spiffe://example.org/web"}, {"a.*.internal"}),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("DNS name \"a.*.internal\"")));
}

TEST_F(AuthorizeWorkloadTest, TtlWithinEntryMax) {
  EXPECT_THAT(Authorize("web-1", {"spiffe://example.org/web"},
                        {"web.internal"}, absl::Hours(3)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "TTL 3h is outside the allowed range [1m, 2h]"));
  EXPECT_THAT(Authorize("web-1", {"spiffe://example.org/web"},
                        {"web.internal"}, absl::Seconds(10)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "TTL 10s is outside the allowed range [1m, 2h]"));
}

TEST_F(AuthorizeWorkloadTest, DefaultTtlLoweredToEntryMax) {
  entries_ = {Entry("e-9", "*", "spiffe://example.org/short", {},
                    absl::Minutes(5))};
  ASSERT_OK_AND_ASSIGN(WorkloadGrant grant,
                       Authorize("any", {"spiffe://example.org/short"}, {}));
  EXPECT_EQ(grant.ttl, absl::Minutes(5));
}

}  // namespace
}  // namespace rotor::ca
