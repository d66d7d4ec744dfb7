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
#include "tests/ca/fault_store.h"
#include "tests/testing/fakes.h"
#include "tests/testing/process.h"
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

  // Past half of 24h: renewed by the server itself. The renewer swaps the
  // certificate first and counts the renewal after, so wait for the count:
  // once it is there, everything the renewal does is done.
  clock_.Advance(absl::Hours(2));
  ASSERT_TRUE(rotor::testing::WaitFor(
      [&] {
        return server->metrics().server_cert_renewals().Value("ok") +
                   server->metrics().server_cert_renewals().Value("error") >
               0;
      },
      absl::Seconds(10)))
      << "no renewal within 10 s";
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

TEST_F(CaServerTest, PurgesLongExpiredJoinTokensAtStartAndThenHourly) {
  const absl::Time now = clock_.Now();
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<store::LmdbStore> store,
                         store::LmdbStore::Open(DataDir{options_.data_dir}
                                                    .StoreDir()));
    // Expired over a day ago (used or not), a little under a day ago, and
    // not yet.
    ASSERT_OK(store->CreateJoinToken("stale-used", "web-1",
                                     now - absl::Hours(30),
                                     now - absl::Hours(25), "admin"));
    ASSERT_OK(store->ConsumeJoinToken("stale-used", now - absl::Hours(29)));
    ASSERT_OK(store->CreateJoinToken("stale", "web-2", now - absl::Hours(30),
                                     now - absl::Hours(25), "admin"));
    ASSERT_OK(store->CreateJoinToken("recent", "web-3", now - absl::Hours(30),
                                     now - absl::Minutes(23 * 60 + 30),
                                     "admin"));
    ASSERT_OK(store->CreateJoinToken("fresh", "web-4", now,
                                     now + absl::Hours(1), "admin"));
  }
  auto join_tokens = [](CaServer& server) -> uint64_t {
    absl::StatusOr<store::StoreStats> stats = server.store().GetStats();
    return stats.ok() ? stats->join_tokens : 0;
  };

  // At start-up, before Start returns.
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<CaServer> server,
                       CaServer::Start(options_, &clock_, pki::SystemRandom()));
  EXPECT_EQ(join_tokens(*server), 2);
  EXPECT_EQ(server->metrics().join_token_purges().Value("ok"), 1);
  EXPECT_EQ(server->metrics().join_tokens_purged().Value(), 2);
  ASSERT_OK_AND_ASSIGN(store::AuditPage audit,
                       server->store().ListAudit(0, 0));
  ASSERT_FALSE(audit.records.empty());
  EXPECT_EQ(audit.records.back().action, store::kAuditPurgeJoinTokens);
  EXPECT_EQ(audit.records.back().actor, "rotor-ca");
  EXPECT_EQ(audit.records.back().time, now);

  // The next purge is an hour later; then "recent" has been expired for
  // over a day too.
  EXPECT_EQ(server->next_join_token_purge(), now + kJoinTokenPurgeInterval);
  clock_.Advance(absl::Hours(1));
  ASSERT_TRUE(rotor::testing::WaitFor(
      [&] {
        return server->next_join_token_purge() == now + absl::Hours(2);
      },
      absl::Seconds(10)));
  EXPECT_EQ(server->metrics().join_token_purges().Value("ok"), 2);
  EXPECT_EQ(join_tokens(*server), 1);
  EXPECT_EQ(server->metrics().join_tokens_purged().Value(), 3);
  EXPECT_EQ(server->metrics().join_token_purges().Value("error"), 0);
  ASSERT_OK_AND_ASSIGN(audit, server->store().ListAudit(0, 0));
  EXPECT_EQ(audit.records.back().action, store::kAuditPurgeJoinTokens);
  EXPECT_EQ(audit.records.back().time, now + absl::Hours(1));
}

TEST_F(CaServerTest, AFailedPurgeAtStartIsCountedAndDoesNotStopTheServer) {
  std::unique_ptr<testing::FaultStore> faults;
  options_.wrap_store = [&faults](store::LmdbStore* store) {
    faults = std::make_unique<testing::FaultStore>(store);
    faults->fail_purge = true;
    return faults.get();
  };
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<CaServer> server,
                       CaServer::Start(options_, &clock_, pki::SystemRandom()));
  EXPECT_EQ(server->metrics().join_token_purges().Value("error"), 1);
  EXPECT_EQ(server->metrics().join_token_purges().Value("ok"), 0);
  // Tried again at the next purge.
  EXPECT_EQ(server->next_join_token_purge(),
            clock_.Now() + kJoinTokenPurgeInterval);
  server.reset();  // before the store wrapper goes
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
