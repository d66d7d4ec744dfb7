#include "ctl/cli.h"

#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/ctl/fake_admin_service.h"
#include "tests/testing/fakes.h"

namespace rotor::ctl {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

// Runs the CLI in-process against the fake CA and records how it connected.
class CliTest : public ::testing::Test {
 protected:
  int Run(std::vector<std::string> args) {
    out_.str("");
    err_.str("");
    CliContext context{
        .env =
            [this](const std::string& name) {
              auto it = env_.find(name);
              return it == env_.end() ? std::string() : it->second;
            },
        .connect = [this](const ConnectionOptions& options)
            -> absl::StatusOr<std::unique_ptr<AdminClient>> {
          connected_ = options;
          if (!connect_error_.ok()) return connect_error_;
          return admin_.Client();
        },
        .clock = &clock_,
        .out = &out_,
        .err = &err_,
    };
    return RunRotorctl(args, context);
  }

  FakeAdminService& service() { return admin_.service; }

  FakeAdmin admin_;
  testing::FakeClock clock_;
  std::map<std::string, std::string> env_;
  std::optional<ConnectionOptions> connected_;
  absl::Status connect_error_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(CliTest, HelpListsEveryCommandOnStdout) {
  EXPECT_EQ(Run({"--help"}), 0);
  for (const char* command :
       {"token create", "entry create", "entry list", "entry delete",
        "cert list", "cert show", "cert revoke", "crl", "bundle"}) {
    EXPECT_THAT(out_.str(), HasSubstr(command));
  }
  EXPECT_THAT(err_.str(), IsEmpty());
}

TEST_F(CliTest, EveryCommandAndGroupHasHelp) {
  const std::vector<std::vector<std::string>> commands = {
      {"token", "create"}, {"entry", "create"},
      {"entry", "list"},   {"entry", "delete"},
      {"cert", "list"},    {"cert", "show"},
      {"cert", "revoke"},  {"crl"},
      {"bundle"},          {"token"},
      {"entry"},           {"cert"}};
  for (std::vector<std::string> args : commands) {
    std::string command = "rotorctl";
    for (const std::string& word : args) command += " " + word;
    args.push_back("--help");
    EXPECT_EQ(Run(args), 0) << command;
    EXPECT_THAT(out_.str(), StartsWith("usage: " + command)) << command;
    EXPECT_THAT(out_.str(), HasSubstr("ROTOR_CA")) << command;
    EXPECT_THAT(err_.str(), IsEmpty()) << command;
  }
  EXPECT_FALSE(connected_.has_value());
}

TEST_F(CliTest, NoCommandIsAUsageError) {
  EXPECT_EQ(Run({}), 2);
  EXPECT_THAT(err_.str(), AllOf(HasSubstr("usage: rotorctl <command>"),
                                HasSubstr("rotorctl: no command given\n")));
}

TEST_F(CliTest, UnknownCommandIsAUsageError) {
  EXPECT_EQ(Run({"certs", "list"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("rotorctl: unknown command \"certs\"\n"));
  EXPECT_EQ(Run({"cert", "delete"}), 2);
  EXPECT_THAT(err_.str(),
              HasSubstr("rotorctl: unknown command \"cert delete\"\n"));
  EXPECT_EQ(Run({"cert"}), 2);
  EXPECT_THAT(err_.str(), AllOf(HasSubstr("usage: rotorctl cert <command>"),
                                HasSubstr("rotorctl cert needs a command\n")));
}

TEST_F(CliTest, UnknownFlagIsAUsageErrorNamingTheCommand) {
  env_ = {{"ROTOR_CA", "ca:1"}, {"ROTOR_CREDENTIALS", "/c"}};
  EXPECT_EQ(Run({"cert", "list", "--nodes", "x"}), 2);
  EXPECT_EQ(err_.str(),
            "rotorctl cert list: unknown flag --nodes; see 'rotorctl cert "
            "list --help'\n");
  EXPECT_FALSE(connected_.has_value());
}

TEST_F(CliTest, MissingRequiredFlagIsAUsageError) {
  EXPECT_EQ(Run({"token", "create", "--ca", "ca:1", "--credentials", "/c"}), 2);
  EXPECT_EQ(err_.str(),
            "rotorctl token create: missing required flag --node NAME; see "
            "'rotorctl token create --help'\n");
}

TEST_F(CliTest, MissingAndExtraPositionalsAreUsageErrors) {
  env_ = {{"ROTOR_CA", "ca:1"}, {"ROTOR_CREDENTIALS", "/c"}};
  EXPECT_EQ(Run({"cert", "show"}), 2);
  EXPECT_EQ(err_.str(),
            "rotorctl cert show: missing SERIAL; see 'rotorctl cert show "
            "--help'\n");
  EXPECT_EQ(Run({"entry", "delete", "a", "b"}), 2);
  EXPECT_EQ(err_.str(),
            "rotorctl entry delete: unexpected argument \"b\"; see 'rotorctl "
            "entry delete --help'\n");
  EXPECT_FALSE(connected_.has_value());
}

TEST_F(CliTest, MissingCaNamesTheFlagAndTheVariable) {
  EXPECT_EQ(Run({"entry", "list", "--credentials", "/c"}), 2);
  EXPECT_EQ(err_.str(),
            "rotorctl: no CA address: pass --ca HOST:PORT or set ROTOR_CA\n");
  EXPECT_FALSE(connected_.has_value());
}

TEST_F(CliTest, MissingCredentialsNamesTheFlagAndTheVariable) {
  EXPECT_EQ(Run({"entry", "list", "--ca", "ca:1"}), 2);
  EXPECT_THAT(err_.str(),
              AllOf(StartsWith("rotorctl: no credentials folder: pass "
                               "--credentials DIR or set ROTOR_CREDENTIALS"),
                    HasSubstr("DATA_DIR/admin")));
}

TEST_F(CliTest, UsesTheEnvironmentWhenFlagsAreAbsent) {
  env_ = {{"ROTOR_CA", "env-ca:8443"}, {"ROTOR_CREDENTIALS", "/env/admin"}};
  EXPECT_EQ(Run({"entry", "list"}), 0) << err_.str();
  ASSERT_TRUE(connected_.has_value());
  EXPECT_EQ(connected_->address, "env-ca:8443");
  EXPECT_EQ(connected_->credentials_dir, "/env/admin");
  EXPECT_EQ(connected_->timeout, absl::Seconds(30));
}

TEST_F(CliTest, FlagsWinOverTheEnvironment) {
  env_ = {{"ROTOR_CA", "env-ca:8443"}, {"ROTOR_CREDENTIALS", "/env/admin"}};
  EXPECT_EQ(Run({"entry", "list", "--ca=flag-ca:1", "--credentials",
                 "/flag/admin", "--timeout", "5s"}),
            0)
      << err_.str();
  ASSERT_TRUE(connected_.has_value());
  EXPECT_EQ(connected_->address, "flag-ca:1");
  EXPECT_EQ(connected_->credentials_dir, "/flag/admin");
  EXPECT_EQ(connected_->timeout, absl::Seconds(5));
}

TEST_F(CliTest, ServerErrorsGoToStderrWithTheServerMessageAndExitOne) {
  env_ = {{"ROTOR_CA", "ca:1"}, {"ROTOR_CREDENTIALS", "/c"}};
  service().error = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 "node name \"Web 1\" is not a DNS label");
  EXPECT_EQ(Run({"token", "create", "--node", "Web 1"}), 1);
  EXPECT_THAT(out_.str(), IsEmpty());
  EXPECT_EQ(err_.str(), "rotorctl: node name \"Web 1\" is not a DNS label\n");
}

TEST_F(CliTest, CredentialErrorsExitOneAndPointAtTheFlag) {
  env_ = {{"ROTOR_CA", "ca:1"}, {"ROTOR_CREDENTIALS", "/nope"}};
  connect_error_ =
      absl::NotFoundError("cannot open /nope/admin.crt: No such file");
  EXPECT_EQ(Run({"bundle"}), 1);
  EXPECT_EQ(err_.str(),
            "rotorctl: cannot open /nope/admin.crt: No such file; check "
            "--credentials (or ROTOR_CREDENTIALS)\n");
}

TEST_F(CliTest, TokenCreatePrintsOnlyTheTokenOnStdout) {
  env_ = {{"ROTOR_CA", "ca:1"}, {"ROTOR_CREDENTIALS", "/c"}};
  service().token.set_token("tok");
  EXPECT_EQ(Run({"token", "create", "--node", "web-1", "--ttl", "15m"}), 0);
  EXPECT_EQ(out_.str(), "tok\n");
  ASSERT_EQ(service().token_requests.size(), 1u);
  EXPECT_EQ(service().token_requests[0].ttl().seconds(), 900);
}

TEST_F(CliTest, EntryCreateParsesRepeatedDnsAndMaxTtl) {
  env_ = {{"ROTOR_CA", "ca:1"}, {"ROTOR_CREDENTIALS", "/c"}};
  EXPECT_EQ(Run({"entry", "create", "--node", "web-*", "--spiffe-id",
                 "spiffe://example.org/web", "--dns", "a.internal", "--dns",
                 "b.internal", "--max-ttl", "90m"}),
            0)
      << err_.str();
  ASSERT_EQ(service().entry_requests.size(), 1u);
  EXPECT_THAT(service().entry_requests[0].dns_names(),
              ::testing::ElementsAre("a.internal", "b.internal"));
  EXPECT_EQ(service().entry_requests[0].max_ttl().seconds(), 5400);
}

TEST_F(CliTest, BadDurationIsAUsageErrorWithTheExpectedForm) {
  env_ = {{"ROTOR_CA", "ca:1"}, {"ROTOR_CREDENTIALS", "/c"}};
  EXPECT_EQ(Run({"cert", "list", "--expiring-within", "soon"}), 2);
  EXPECT_EQ(err_.str(),
            "rotorctl cert list: bad value for --expiring-within: \"soon\" is "
            "not a duration; write it like 90s, 15m, 24h, 1h30m or 7d\n");
  EXPECT_EQ(Run({"token", "create", "--node", "n", "--ttl", "1 hour"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("bad value for --ttl"));
  EXPECT_EQ(service().calls, 0);
}

TEST_F(CliTest, CertListPassesFiltersAndLimit) {
  env_ = {{"ROTOR_CA", "ca:1"}, {"ROTOR_CREDENTIALS", "/c"}};
  EXPECT_EQ(Run({"cert", "list", "--node", "web-1", "--spiffe-id",
                 "spiffe://example.org/web", "--expiring-within", "7d",
                 "--revoked", "--limit", "3"}),
            0)
      << err_.str();
  ASSERT_EQ(service().list_requests.size(), 1u);
  const rotor::v1::ListCertificatesRequest& sent = service().list_requests[0];
  EXPECT_EQ(sent.node_name(), "web-1");
  EXPECT_EQ(sent.expiring_within().seconds(), 7 * 24 * 3600);
  EXPECT_TRUE(sent.revoked_only());
  EXPECT_EQ(sent.page_size(), 3);
}

TEST_F(CliTest, NegativeLimitIsAUsageError) {
  env_ = {{"ROTOR_CA", "ca:1"}, {"ROTOR_CREDENTIALS", "/c"}};
  EXPECT_EQ(Run({"cert", "list", "--limit", "-5"}), 2);
  EXPECT_EQ(err_.str(),
            "rotorctl cert list: bad value for --limit: -5 is negative; 0 "
            "means all\n");
}

TEST_F(CliTest, BadSerialIsAUsageErrorBeforeConnecting) {
  env_ = {{"ROTOR_CA", "ca:1"}, {"ROTOR_CREDENTIALS", "/c"}};
  EXPECT_EQ(Run({"cert", "revoke", "zz:11"}), 2);
  EXPECT_THAT(err_.str(), StartsWith("rotorctl: serial \"zz:11\""));
  EXPECT_FALSE(connected_.has_value());
}

TEST_F(CliTest, BadReasonIsAUsageErrorBeforeConnecting) {
  env_ = {{"ROTOR_CA", "ca:1"}, {"ROTOR_CREDENTIALS", "/c"}};
  EXPECT_EQ(Run({"cert", "revoke", "ab", "--reason", "oops"}), 2);
  EXPECT_THAT(err_.str(), StartsWith("rotorctl: --reason: "));
  EXPECT_FALSE(connected_.has_value());
}

TEST_F(CliTest, CertRevokeSendsTheCanonicalSerialAndReason) {
  env_ = {{"ROTOR_CA", "ca:1"}, {"ROTOR_CREDENTIALS", "/c"}};
  EXPECT_EQ(Run({"cert", "revoke", "00:AB:CD", "--reason=superseded"}), 0)
      << err_.str();
  ASSERT_EQ(service().revoke_requests.size(), 1u);
  EXPECT_EQ(service().revoke_requests[0].serial(), "abcd");
  EXPECT_EQ(service().revoke_requests[0].reason(), "superseded");
}

TEST_F(CliTest, JsonFlagPrintsJson) {
  env_ = {{"ROTOR_CA", "ca:1"}, {"ROTOR_CREDENTIALS", "/c"}};
  EXPECT_EQ(Run({"entry", "list", "--json"}), 0);
  EXPECT_EQ(out_.str(), "{\n \"entries\": []\n}\n");
}

}  // namespace
}  // namespace rotor::ctl
