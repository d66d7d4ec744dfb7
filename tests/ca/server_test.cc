// CaServer in process with a fake clock: what the daemon does by itself.
#include "ca/server.h"

#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "ca/data_dir.h"
#include "ca/init.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pki/random.h"
#include "tests/testing/fakes.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "util/file.h"
#include "util/log.h"

namespace rotor::ca {
namespace {

using ::rotor::testing::FakeClock;
using ::rotor::testing::FileMode;
using ::rotor::testing::StatusIs;
using ::rotor::testing::TempDir;
using ::testing::HasSubstr;

class CaServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetLogLevel(LogLevel::kWarning);
    clock_.Set(absl::Now());
    InitOptions init;
    init.data_dir = tmp_.Path("data");
    init.trust_domain = "example.org";
    ASSERT_OK(InitCa(init, clock_.Now(), *pki::SystemRandom()).status());
    options_.data_dir = init.data_dir;
    options_.listen = "127.0.0.1:0";
    options_.http_listen = "127.0.0.1:0";
    options_.renew_check_interval = absl::Milliseconds(20);
  }

  TempDir tmp_;
  FakeClock clock_;
  ServeOptions options_;
};

TEST_F(CaServerTest, RenewsItsOwnCertificateWhenHalfItsLifeHasPassed) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<CaServer> server,
                       CaServer::Start(options_, &clock_, pki::SystemRandom()));
  const pki::Certificate first = server->tls().certificate();
  EXPECT_EQ(first.NotAfter() - first.NotBefore(),
            server->config().server_cert_ttl + absl::Seconds(60));
  EXPECT_EQ(FileMode(server->tls().key_path()), 0600);

  // Due at half of its 24h life.
  EXPECT_EQ(server->tls().renew_time(),
            first.NotBefore() + (first.NotAfter() - first.NotBefore()) / 2);
  clock_.Advance(absl::Hours(11));
  EXPECT_GT(server->tls().renew_time(), clock_.Now());

  // Past half of 24h: renewed by the server itself.
  clock_.Advance(absl::Hours(2));
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (server->tls().certificate().SerialHex() == first.SerialHex() &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));  // polling the renewer
  }
  const pki::Certificate second = server->tls().certificate();
  ASSERT_NE(second.SerialHex(), first.SerialHex());
  EXPECT_GE(second.NotBefore(), first.NotBefore() + absl::Hours(12));
  EXPECT_EQ(server->metrics().server_cert_renewals().Value("ok"), 1);
  EXPECT_EQ(server->metrics().issued().Value("server"), 2);
  // The file the TLS layer reads holds the new certificate.
  ASSERT_OK_AND_ASSIGN(std::vector<pki::Certificate> chain,
                       pki::Certificate::LoadChain(server->tls().cert_path()));
  EXPECT_EQ(chain.front().SerialHex(), second.SerialHex());
  // Both are recorded in the store as server certificates.
  ASSERT_OK_AND_ASSIGN(std::optional<store::CertificateRecord> record,
                       server->store().GetCertificate(second.SerialHex()));
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->kind, store::CertificateKind::kServer);
}

TEST_F(CaServerTest, ReportsTheRealPortsAndTheReadyLine) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<CaServer> server,
                       CaServer::Start(options_, &clock_, pki::SystemRandom()));
  EXPECT_GT(server->grpc_port(), 0);
  EXPECT_GT(server->http_port(), 0);
  EXPECT_EQ(server->ReadyLine(),
            absl::StrCat("rotor-ca: serving grpc=127.0.0.1:",
                         server->grpc_port(),
                         " http=127.0.0.1:", server->http_port()));
}

TEST_F(CaServerTest, FlagsOverrideTheConfigAndAreValidated) {
  options_.listen = "127.0.0.1:99999";
  EXPECT_THAT(CaServer::Start(options_, &clock_, pki::SystemRandom()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("127.0.0.1:99999")));
}

TEST_F(CaServerTest, RefusesAMissingConfigFileByPath) {
  options_.config_file = tmp_.Path("nope.yaml");
  EXPECT_THAT(CaServer::Start(options_, &clock_, pki::SystemRandom()),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("nope.yaml")));
}

TEST_F(CaServerTest, ASecondServerOnTheFolderIsRefusedAndTheFirstKeepsItsKey) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<CaServer> first,
                       CaServer::Start(options_, &clock_, pki::SystemRandom()));
  EXPECT_THAT(CaServer::Start(options_, &clock_, pki::SystemRandom()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("another rotor-ca is using")));
  // After the first stops, the folder is free again.
  first.reset();
  EXPECT_OK(CaServer::Start(options_, &clock_, pki::SystemRandom()).status());
}

}  // namespace
}  // namespace rotor::ca
