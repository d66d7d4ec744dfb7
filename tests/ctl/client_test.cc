#include "ctl/client.h"

#include <map>
#include <string>

#include "ctl/usage_error.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pki/certificate_builder.h"
#include "pki/random.h"
#include "tests/ctl/fake_admin_service.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_ca.h"
#include "util/file.h"

namespace rotor::ctl {
namespace {

using ::rotor::testing::StatusIs;
using ::rotor::testing::TempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;

EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) {
    auto it = vars.find(name);
    return it == vars.end() ? std::string() : it->second;
  };
}

TEST(ResolveConnectionTest, UsesTheFlags) {
  ASSERT_OK_AND_ASSIGN(ConnectionOptions options,
                       ResolveConnection("ca:8443", "/creds", Env({})));
  EXPECT_EQ(options.address, "ca:8443");
  EXPECT_EQ(options.credentials_dir, "/creds");
}

TEST(ResolveConnectionTest, FallsBackToTheEnvironment) {
  ASSERT_OK_AND_ASSIGN(
      ConnectionOptions options,
      ResolveConnection("", "",
                        Env({{"ROTOR_CA", "env-ca:1"},
                             {"ROTOR_CREDENTIALS", "/env-creds"}})));
  EXPECT_EQ(options.address, "env-ca:1");
  EXPECT_EQ(options.credentials_dir, "/env-creds");
}

TEST(ResolveConnectionTest, FlagsWinOverTheEnvironment) {
  ASSERT_OK_AND_ASSIGN(ConnectionOptions options,
                       ResolveConnection("flag-ca:2", "",
                                         Env({{"ROTOR_CA", "env-ca:1"},
                                              {"ROTOR_CREDENTIALS", "/env"}})));
  EXPECT_EQ(options.address, "flag-ca:2");
  EXPECT_EQ(options.credentials_dir, "/env");
}

TEST(ResolveConnectionTest, MissingAddressNamesTheFlagAndTheVariable) {
  absl::StatusOr<ConnectionOptions> options =
      ResolveConnection("", "/creds", Env({}));
  EXPECT_THAT(options, StatusIs(absl::StatusCode::kInvalidArgument,
                                "no CA address: pass --ca HOST:PORT or set "
                                "ROTOR_CA"));
  EXPECT_TRUE(IsUsageError(options.status()));
}

TEST(ResolveConnectionTest, MissingCredentialsNamesTheFlagAndTheVariable) {
  absl::StatusOr<ConnectionOptions> options =
      ResolveConnection("ca:1", "", Env({{"ROTOR_CREDENTIALS", ""}}));
  EXPECT_THAT(options, StatusIs(absl::StatusCode::kInvalidArgument,
                                AllOf(HasSubstr("pass --credentials DIR"),
                                      HasSubstr("set ROTOR_CREDENTIALS"))));
  EXPECT_TRUE(IsUsageError(options.status()));
}

// A credentials folder like the one rotor-ca init writes, from a test CA.
class CredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const absl::Time now = now_;
    ASSERT_OK_AND_ASSIGN(ca_, testing::MakeTestCa(pki::KeyType::kEcP256, now));
    ASSERT_OK_AND_ASSIGN(pki::PrivateKey key,
                         pki::PrivateKey::Generate(pki::KeyType::kEcP256));
    pki::LeafTemplate leaf;
    ASSERT_OK_AND_ASSIGN(leaf.public_key_der, key.PublicKeyDer());
    leaf.spiffe_id = "spiffe://example.org/rotor/admin/init";
    leaf.usage = pki::CertificateUsage::kNode;
    ASSERT_OK_AND_ASSIGN(pki::Certificate cert,
                         pki::BuildLeafCertificate(leaf, ca_->signer(), now,
                                                   *pki::SystemRandom()));
    ASSERT_OK(WriteFileAtomically(dir_.Path("admin.crt"),
                                  cert.ToPem() + ca_->intermediate.ToPem(),
                                  0644));
    ASSERT_OK(key.Save(dir_.Path("admin.key")));
    ASSERT_OK(
        WriteFileAtomically(dir_.Path("bundle.crt"), ca_->root.ToPem(), 0644));
  }

  const absl::Time now_ = absl::Now();
  TempDir dir_;
  std::optional<testing::TestCa> ca_;
};

TEST_F(CredentialsTest, LoadsTheThreeFiles) {
  ASSERT_OK_AND_ASSIGN(AdminCredentials credentials,
                       LoadAdminCredentials(dir_.path()));
  EXPECT_EQ(credentials.roots_pem, ca_->root.ToPem());
  EXPECT_THAT(credentials.cert_chain_pem, HasSubstr(ca_->intermediate.ToPem()));
  EXPECT_THAT(credentials.key_pem, HasSubstr("BEGIN PRIVATE KEY"));
}

TEST_F(CredentialsTest, ConnectBuildsAClientWithoutDialing) {
  ConnectionOptions options{.address = "127.0.0.1:1",
                            .credentials_dir = dir_.path()};
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<AdminClient> client,
                       AdminClient::Connect(options));
  EXPECT_EQ(client->address(), "127.0.0.1:1");
}

TEST_F(CredentialsTest, MissingFileIsNotFoundNamingIt) {
  ASSERT_EQ(unlink(dir_.Path("bundle.crt").c_str()), 0);
  EXPECT_THAT(LoadAdminCredentials(dir_.path()),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr(dir_.Path("bundle.crt"))));
}

TEST_F(CredentialsTest, RefusesABundleWithoutCertificates) {
  // gRPC would trust the system roots for an empty bundle.
  ASSERT_OK(WriteFileAtomically(dir_.Path("bundle.crt"), "", 0644));
  EXPECT_THAT(LoadAdminCredentials(dir_.path()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(dir_.Path("bundle.crt") + ": ")));
}

TEST_F(CredentialsTest, RefusesAKeyThatDoesNotParse) {
  ASSERT_OK(WriteFileAtomically(dir_.Path("admin.key"), "garbage", 0600));
  EXPECT_THAT(LoadAdminCredentials(dir_.path()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(dir_.Path("admin.key") + ": ")));
}

TEST_F(CredentialsTest, RefusesAKeyThatDoesNotMatchTheCertificate) {
  ASSERT_OK_AND_ASSIGN(pki::PrivateKey other,
                       pki::PrivateKey::Generate(pki::KeyType::kEcP256));
  ASSERT_OK(other.Save(dir_.Path("admin.key")));
  EXPECT_THAT(
      LoadAdminCredentials(dir_.path()),
      StatusIs(absl::StatusCode::kInvalidArgument,
               dir_.Path("admin.key") + " does not match the certificate in " +
                   dir_.Path("admin.crt")));
}

// What the CA's TLS handshake would refuse is refused before dialing, with
// the reason: the CA itself can only close the socket.
TEST_F(CredentialsTest, RefusesAnExpiredCertificateSayingHowToGetANewOne) {
  EXPECT_THAT(
      LoadAdminCredentials(dir_.path(), now_ + absl::Hours(2)),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               AllOf(HasSubstr(dir_.Path("admin.crt") +
                               " would be refused by the CA in " +
                               dir_.Path("bundle.crt") + ": it expired at 20"),
                     HasSubstr("rotor-ca admin-credentials"))));
}

TEST_F(CredentialsTest, RefusesACertificateNotYetValidNamingTheClock) {
  EXPECT_THAT(LoadAdminCredentials(dir_.path(), now_ - absl::Hours(24)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("it is not valid before 20"),
                             HasSubstr("check this machine's clock"))));
}

TEST_F(CredentialsTest, RefusesACertificateFromAnotherCa) {
  ASSERT_OK_AND_ASSIGN(testing::TestCa other,
                       testing::MakeTestCa(pki::KeyType::kEcP256, now_));
  ASSERT_OK(
      WriteFileAtomically(dir_.Path("bundle.crt"), other.root.ToPem(), 0644));
  EXPECT_THAT(
      LoadAdminCredentials(dir_.path(), now_),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               AllOf(HasSubstr(dir_.Path("admin.crt") +
                               " would be refused by the CA in " +
                               dir_.Path("bundle.crt")),
                     HasSubstr("unable to get"),
                     HasSubstr("must come from the same rotor-ca init"))));
}

TEST(AdminClientTest, KeepsTheServerCodeAndMessage) {
  FakeAdmin admin;
  admin.service.error = grpc::Status(grpc::StatusCode::NOT_FOUND,
                                     "certificate abcd was never issued");
  std::unique_ptr<AdminClient> client = admin.Client();
  rotor::v1::CertificateInfo info;
  grpc::Status status = client->stub().GetCertificate(
      client->NewContext().get(), rotor::v1::GetCertificateRequest(), &info);
  EXPECT_THAT(client->ToStatus(status),
              StatusIs(absl::StatusCode::kNotFound,
                       "certificate abcd was never issued"));
  EXPECT_FALSE(IsUsageError(client->ToStatus(status)));
}

TEST(AdminClientTest, KeepsAServerUnavailableOnAConnectedChannel) {
  FakeAdmin admin;
  admin.service.error =
      grpc::Status(grpc::StatusCode::UNAVAILABLE, "store is not writable");
  std::unique_ptr<AdminClient> client = admin.Client();
  rotor::v1::Crl crl;
  grpc::Status status = client->stub().GetCrl(client->NewContext().get(),
                                              rotor::v1::GetCrlRequest(), &crl);
  EXPECT_THAT(client->ToStatus(status), StatusIs(absl::StatusCode::kUnavailable,
                                                 "store is not writable"));
}

TEST(AdminClientTest, UnreachableCaNamesTheAddressAndSuggestsCheckingCa) {
  TempDir dir;
  const std::string address = "unix:" + dir.Path("no-such.sock");
  AdminClient client(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()), address,
      absl::Seconds(30));
  rotor::v1::Crl crl;
  grpc::Status status = client.stub().GetCrl(client.NewContext().get(),
                                             rotor::v1::GetCrlRequest(), &crl);
  EXPECT_THAT(client.ToStatus(status),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("cannot reach the CA at " + address),
                             HasSubstr("check --ca (or ROTOR_CA)"))));
}

TEST(ExitCodeTest, TwoForUsageErrorsOneForOthers) {
  EXPECT_EQ(ExitCode(absl::OkStatus()), 0);
  EXPECT_EQ(ExitCode(UsageError("bad flag")), 2);
  EXPECT_EQ(ExitCode(AsUsageError(absl::InvalidArgumentError("x"))), 2);
  EXPECT_EQ(ExitCode(absl::InvalidArgumentError("server said no")), 1);
  EXPECT_EQ(ExitCode(absl::NotFoundError("x")), 1);
  EXPECT_THAT(UsageError("bad flag"),
              StatusIs(absl::StatusCode::kInvalidArgument, "bad flag"));
  EXPECT_TRUE(AsUsageError(absl::OkStatus()).ok());
}

}  // namespace
}  // namespace rotor::ctl
