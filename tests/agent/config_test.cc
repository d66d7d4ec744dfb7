#include "agent/config.h"

#include <signal.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pki/key.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_ca.h"
#include "util/file.h"

namespace rotor::agent {
namespace {

using ::rotor::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kFingerprint[] =
    "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

std::string Minimal(absl::string_view extra = "") {
  return absl::StrCat("ca: 127.0.0.1:8443\n", "trust_anchor: ", kFingerprint,
                      "\n", "node_name: web-1\n",
                      "state_dir: /var/lib/rotor-agent\n", extra);
}

TEST(AgentConfigTest, ParsesTheDesignExample) {
  const std::string yaml = absl::StrCat(R"(ca: 127.0.0.1:8443
trust_anchor: SHA256:)",
                                        std::string(kFingerprint).substr(7),
                                        R"(
join_token_file: /etc/rotor/token
node_name: web-1
state_dir: /var/lib/rotor-agent
renew_at: 0.5
certificates:
  - name: web
    spiffe_id: spiffe://example.org/web
    dns_names: [web.internal]
    key_type: ec-p256
    ttl: 1h
    dir: /run/rotor/certs/web
    mode: "0640"
    owner: www-data
    group: www-data
    on_rotate:
      exec: ["/usr/sbin/nginx", "-s", "reload"]
  - name: db
    spiffe_id: spiffe://example.org/db
    dir: /run/rotor/certs/db/
    on_rotate:
      signal: {name: HUP, pid_file: /run/nginx.pid}
)");
  ASSERT_OK_AND_ASSIGN(AgentConfig c, ParseAgentConfig(yaml));
  EXPECT_EQ(c.ca, "127.0.0.1:8443");
  EXPECT_EQ(c.trust_anchor, kFingerprint);
  EXPECT_EQ(c.join_token_file, "/etc/rotor/token");
  EXPECT_EQ(c.node_name, "web-1");
  EXPECT_EQ(c.state_dir, "/var/lib/rotor-agent");
  EXPECT_EQ(c.renew_at, 0.5);
  EXPECT_EQ(c.backoff_initial, absl::Seconds(1));
  EXPECT_EQ(c.backoff_max, absl::Seconds(60));
  ASSERT_EQ(c.certificates.size(), 2u);
  const CertificateConfig& web = c.certificates[0];
  EXPECT_EQ(web.name, "web");
  EXPECT_EQ(web.spiffe_id, "spiffe://example.org/web");
  EXPECT_THAT(web.dns_names, ElementsAre("web.internal"));
  EXPECT_EQ(web.key_type, pki::KeyType::kEcP256);
  EXPECT_EQ(web.ttl, absl::Hours(1));
  EXPECT_EQ(web.dir, "/run/rotor/certs/web");
  EXPECT_EQ(web.mode, 0640u);
  EXPECT_EQ(web.owner, "www-data");
  EXPECT_EQ(web.group, "www-data");
  EXPECT_THAT(web.on_rotate.exec, ElementsAre("/usr/sbin/nginx", "-s", "reload"));
  EXPECT_EQ(web.on_rotate.timeout, absl::Seconds(30));
  const CertificateConfig& db = c.certificates[1];
  EXPECT_EQ(db.dir, "/run/rotor/certs/db");
  EXPECT_EQ(db.mode, 0600u) << "key.pem defaults to 0600";
  EXPECT_EQ(db.ttl, absl::ZeroDuration());
  EXPECT_EQ(db.on_rotate.signal_name, "HUP");
  EXPECT_EQ(db.on_rotate.signal_number, SIGHUP);
  EXPECT_EQ(db.on_rotate.pid_file, "/run/nginx.pid");
}

TEST(AgentConfigTest, AcceptsBackoffAndTimeoutKeys) {
  ASSERT_OK_AND_ASSIGN(
      AgentConfig c,
      ParseAgentConfig(Minimal("backoff_initial: 500ms\nbackoff_max: 5m\n"
                               "rpc_timeout: 3s\nrenew_at: 0.7\n")));
  EXPECT_EQ(c.backoff_initial, absl::Milliseconds(500));
  EXPECT_EQ(c.backoff_max, absl::Minutes(5));
  EXPECT_EQ(c.rpc_timeout, absl::Seconds(3));
  EXPECT_EQ(c.renew_at, 0.7);
  EXPECT_TRUE(c.certificates.empty());
}

TEST(AgentConfigTest, RefusesUnknownTopLevelKeyWithItsLine) {
  EXPECT_THAT(ParseAgentConfig(Minimal("renew_att: 0.5\n"), "a.yaml"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("a.yaml line 5: unknown key \"renew_att\"")));
}

// Found by the config fuzzer: a second "certificates:" added its list to the
// first, so two certificates had one name and one folder.
TEST(AgentConfigTest, RefusesAKeyGivenTwice) {
  const std::string certificates =
      "certificates:\n"
      "  - name: web\n"
      "    spiffe_id: spiffe://e.org/web\n"
      "    dir: /tmp/x\n";
  EXPECT_THAT(ParseAgentConfig(Minimal(certificates + certificates)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "agent.yaml line 9: key \"certificates\" is given twice "
                       "(first on line 5); keep one"));
}

TEST(AgentConfigTest, RefusesUnknownCertificateKeyWithItsLine) {
  EXPECT_THAT(ParseAgentConfig(Minimal("certificates:\n"
                                       "  - name: web\n"
                                       "    spiffe_id: spiffe://e.org/web\n"
                                       "    dir: /tmp/x\n"
                                       "    dns: [a.b]\n")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("agent.yaml line 9: unknown key \"dns\" in "
                                 "certificates[0]")));
}

TEST(AgentConfigTest, RefusesUnknownHookKeyWithItsLine) {
  EXPECT_THAT(
      ParseAgentConfig(Minimal("certificates:\n"
                               "  - name: web\n"
                               "    spiffe_id: spiffe://e.org/web\n"
                               "    dir: /tmp/x\n"
                               "    on_rotate:\n"
                               "      run: [true]\n")),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("line 10: unknown key \"run\" in "
                         "certificates[0].on_rotate")));
}

TEST(AgentConfigTest, RefusesMissingRequiredKeys) {
  EXPECT_THAT(ParseAgentConfig("ca: 127.0.0.1:8443\nnode_name: a\n"
                               "state_dir: /x\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("missing required key \"trust_anchor\"")));
  EXPECT_THAT(ParseAgentConfig(Minimal("certificates:\n"
                                       "  - name: web\n"
                                       "    dir: /tmp/x\n")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("line 6: certificates[0]: missing required "
                                 "key \"spiffe_id\"")));
}

TEST(AgentConfigTest, RefusesBadValuesNamingKeyAndLine) {
  struct Case {
    std::string extra;
    std::string message;
  };
  const Case cases[] = {
      {"renew_at: 1.5\n", "line 5: renew_at: \"1.5\" must be a fraction"},
      {"renew_at: 0\n", "line 5: renew_at: \"0\" must be a fraction"},
      {"backoff_max: soon\n", "line 5: backoff_max:"},
      {"backoff_initial: 10s\nbackoff_max: 5s\n",
       "line 6: backoff_max: (5s) is below backoff_initial (10s)"},
      {"certificates:\n  - name: web\n    spiffe_id: http://x/y\n    dir: /d\n",
       "line 7: certificates[0].spiffe_id: "},
      {"certificates:\n  - name: web\n    spiffe_id: spiffe://e.org/w\n"
       "    dir: /d\n    mode: \"0999\"\n",
       "line 9: certificates[0].mode: \"0999\" is not an octal file mode"},
      {"certificates:\n  - name: web\n    spiffe_id: spiffe://e.org/w\n"
       "    dir: /d\n    key_type: dsa\n",
       "line 9: certificates[0].key_type:"},
      {"certificates:\n  - name: web\n    spiffe_id: spiffe://e.org/w\n"
       "    dir: /d\n    ttl: -5m\n",
       "line 9: certificates[0].ttl:"},
      {"certificates:\n  - name: web\n    spiffe_id: spiffe://e.org/w\n"
       "    dir: /d\n    dns_names: [\"bad name\"]\n",
       "line 9: certificates[0].dns_names:"},
      {"certificates:\n  - name: web\n    spiffe_id: spiffe://e.org/w\n"
       "    dir: /d\n    on_rotate:\n      signal: {name: BOGUS, pid_file: /p}\n",
       "line 10: certificates[0].on_rotate.signal.name: unknown signal "
       "\"BOGUS\""},
      {"certificates:\n  - name: web\n    spiffe_id: spiffe://e.org/w\n"
       "    dir: /d\n    on_rotate:\n      exec: [a]\n"
       "      signal: {name: HUP, pid_file: /p}\n",
       "line 10: certificates[0].on_rotate: set either exec or signal"},
      {"certificates:\n  - name: web\n    spiffe_id: spiffe://e.org/w\n"
       "    dir: /d\n  - name: web\n    spiffe_id: spiffe://e.org/v\n"
       "    dir: /e\n",
       "line 9: certificates[1].name: \"web\" is used by another certificate"},
      {"certificates:\n  - name: web\n    spiffe_id: spiffe://e.org/w\n"
       "    dir: /d\n  - name: api\n    spiffe_id: spiffe://e.org/v\n"
       "    dir: /d\n",
       "line 9: certificates[1].dir: /d is used by another certificate"},
      {"certificates:\n  - name: \"a/b\"\n    spiffe_id: spiffe://e.org/w\n"
       "    dir: /d\n",
       "line 6: certificates[0].name: \"a/b\" may use only letters"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(ParseAgentConfig(Minimal(c.extra)),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr(c.message)))
        << c.extra;
  }
}

TEST(AgentConfigTest, RefusesBadCaAddressAndFingerprint) {
  EXPECT_THAT(
      ParseAgentConfig("ca: localhost\ntrust_anchor: sha256:00\n"
                       "node_name: a\nstate_dir: /x\n"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("line 1: ca: \"localhost\" must be HOST:PORT")));
  EXPECT_THAT(ParseAgentConfig("ca: localhost:1\ntrust_anchor: sha256:00\n"
                               "node_name: a\nstate_dir: /x\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("line 2: trust_anchor:")));
}

TEST(AgentConfigTest, RefusesInvalidYamlWithLine) {
  EXPECT_THAT(ParseAgentConfig(Minimal("certificates: [\n")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not valid YAML")));
  EXPECT_THAT(ParseAgentConfig(""),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is empty")));
  EXPECT_THAT(ParseAgentConfig("- a\n- b\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("line 1: config: expected a mapping")));
}

TEST(AgentConfigTest, LoadNamesTheFile) {
  testing::TempDir dir;
  EXPECT_THAT(LoadAgentConfig(dir.Path("missing.yaml")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing.yaml")));
  ASSERT_OK(WriteFileAtomically(dir.Path("a.yaml"), Minimal("bogus: 1\n"),
                                0644));
  EXPECT_THAT(LoadAgentConfig(dir.Path("a.yaml")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(absl::StrCat(dir.Path("a.yaml"), " line 5"))));
}

TEST(AgentConfigTest, TrustAnchorFromPemFileGivesTheRootFingerprint) {
  testing::TempDir dir;
  ASSERT_OK_AND_ASSIGN(testing::TestCa ca,
                       testing::MakeTestCa(pki::KeyType::kEcP256,
                                           absl::FromUnixSeconds(1800000000)));
  ASSERT_OK(WriteFileAtomically(dir.Path("root.pem"), ca.root.ToPem(), 0644));
  AgentConfig config;
  config.trust_anchor = dir.Path("root.pem");
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> fps,
                       TrustAnchorFingerprints(config));
  EXPECT_THAT(fps, ElementsAre(ca.root.Fingerprint()));

  config.trust_anchor = kFingerprint;
  ASSERT_OK_AND_ASSIGN(fps, TrustAnchorFingerprints(config));
  EXPECT_THAT(fps, ElementsAre(kFingerprint));

  config.trust_anchor = dir.Path("nope.pem");
  EXPECT_THAT(TrustAnchorFingerprints(config),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("trust_anchor: ")));
}

TEST(AgentConfigTest, SameIdentityComparesIdDnsNamesAsSetAndKeyType) {
  CertificateConfig a;
  a.spiffe_id = "spiffe://e.org/a";
  a.dns_names = {"x", "y"};
  CertificateConfig b = a;
  b.dns_names = {"y", "x"};
  b.ttl = absl::Hours(2);
  b.mode = 0640;
  EXPECT_TRUE(a.SameIdentity(b));
  b.key_type = pki::KeyType::kEd25519;
  EXPECT_FALSE(a.SameIdentity(b));
  b = a;
  b.dns_names.push_back("z");
  EXPECT_FALSE(a.SameIdentity(b));
  b = a;
  b.spiffe_id = "spiffe://e.org/b";
  EXPECT_FALSE(a.SameIdentity(b));
}

TEST(FileModeTest, ParsesOctal) {
  EXPECT_THAT(ParseFileMode("0640"), testing::IsOk());
  EXPECT_EQ(*ParseFileMode("0640"), 0640u);
  EXPECT_EQ(*ParseFileMode("600"), 0600u);
  EXPECT_THAT(ParseFileMode("1777"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("\"1777\" is not an octal file mode")));
  EXPECT_THAT(ParseFileMode("rw"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not an octal file mode")));
}

}  // namespace
}  // namespace rotor::agent
