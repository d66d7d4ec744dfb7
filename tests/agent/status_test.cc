#include "agent/status.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace rotor::agent {
namespace {

using ::rotor::testing::StatusIs;
using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1800000000);

AgentStatus Sample() {
  AgentStatus status;
  status.updated_at = kNow;
  status.pid = 4242;
  status.node.name = "node";
  status.node.spiffe_id = "spiffe://example.org/rotor/node/web-1";
  status.node.serial = "1a2b";
  status.node.not_after = kNow + absl::Hours(24);
  status.node.next_renewal = kNow + absl::Hours(12);
  CertificateStatus web;
  web.name = "web";
  web.spiffe_id = "spiffe://example.org/web";
  web.dir = "/run/rotor/certs/web";
  web.serial = "3c4d";
  web.not_after = kNow + absl::Minutes(59);
  web.next_renewal = kNow - absl::Seconds(3);
  web.last_error = "SignWorkload: cannot reach the CA at 127.0.0.1:8443";
  web.rotations = 7;
  web.failures = 2;
  web.hook_failures = 1;
  status.certificates.push_back(web);
  CertificateStatus api;
  api.name = "api";
  api.spiffe_id = "spiffe://example.org/api";
  status.certificates.push_back(api);
  return status;
}

TEST(AgentStatusTest, JsonRoundTrips) {
  const AgentStatus status = Sample();
  const std::string json = StatusToJson(status);
  EXPECT_THAT(json, HasSubstr("\"not_after\": \"2027-01-15T08:59:00Z\""));
  ASSERT_OK_AND_ASSIGN(AgentStatus back, StatusFromJson(json));
  EXPECT_EQ(back.updated_at, kNow);
  EXPECT_EQ(back.pid, 4242);
  EXPECT_EQ(back.node.serial, "1a2b");
  ASSERT_EQ(back.certificates.size(), 2u);
  const CertificateStatus& web = back.certificates[0];
  EXPECT_EQ(web.name, "web");
  EXPECT_EQ(web.dir, "/run/rotor/certs/web");
  EXPECT_EQ(web.not_after, kNow + absl::Minutes(59));
  EXPECT_EQ(web.next_renewal, kNow - absl::Seconds(3));
  EXPECT_EQ(web.last_error, status.certificates[0].last_error);
  EXPECT_EQ(web.rotations, 7);
  EXPECT_EQ(web.failures, 2);
  EXPECT_EQ(web.hook_failures, 1);
  EXPECT_EQ(back.certificates[1].not_after, absl::InfinitePast());
  EXPECT_TRUE(back == status);
}

TEST(AgentStatusTest, RefusesJsonThatIsNotAStatus) {
  EXPECT_THAT(StatusFromJson("{not json"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("agent status is not valid JSON")));
}

TEST(AgentStatusTest, TableShowsOneLinePerCertificate) {
  const std::string table = FormatStatusTable(Sample(), kNow);
  EXPECT_EQ(table,
            "NAME  SPIFFE ID                              SERIAL  EXPIRES IN  "
            "NEXT RENEWAL  LAST ERROR\n"
            "node  spiffe://example.org/rotor/node/web-1  1a2b    1d          "
            "in 12h        -\n"
            "web   spiffe://example.org/web               3c4d    59m         "
            "now           SignWorkload: cannot reach the CA at 127.0.0.1:8443\n"
            "api   spiffe://example.org/api               -       -           "
            "-             -\n");
  AgentStatus expired = Sample();
  expired.certificates[0].not_after = kNow - absl::Seconds(90);
  EXPECT_THAT(FormatStatusTable(expired, kNow), HasSubstr("expired 1m30s ago"));
}

TEST(AgentStatusTest, ShortDurations) {
  EXPECT_EQ(FormatShortDuration(absl::Seconds(45)), "45s");
  EXPECT_EQ(FormatShortDuration(absl::Seconds(3725)), "1h2m");
  EXPECT_EQ(FormatShortDuration(absl::Hours(49)), "2d1h");
  EXPECT_EQ(FormatShortDuration(absl::ZeroDuration()), "0s");
  EXPECT_EQ(FormatShortDuration(-absl::Seconds(5)), "-5s");
}

}  // namespace
}  // namespace rotor::agent
