// The agent's loop driven pass by pass (Agent::RunOnce) with a fake clock, a
// fake CA that signs with an in-memory test CA, and the real file system in
// a temp dir (or a fault-injecting wrapper).
#include "agent/agent.h"

#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "agent/atomic_writer.h"
#include "agent/ca_client.h"
#include "agent/config.h"
#include "agent/filesystem.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pki/certificate.h"
#include "pki/certificate_builder.h"
#include "pki/crl.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "tests/testing/fakes.h"
#include "tests/testing/process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_ca.h"
#include "util/file.h"
#include "util/status_macros.h"

namespace rotor::agent {
namespace {

using ::rotor::testing::FakeClock;
using ::rotor::testing::FakeRandom;
using ::rotor::testing::FileMode;
using ::rotor::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kToken[] = "rotor-good-token";
const absl::Time kStart = absl::FromUnixSeconds(1800000000);

// A CA in memory: checks the token, signs CSRs with the test intermediate at
// the fake clock's time, and can be told to fail every call.
class FakeCa final : public CaClient {
 public:
  FakeCa(const testing::TestCa* ca, const Clock* clock)
      : ca_(ca), clock_(clock) {}

  absl::StatusOr<rotor::v1::TrustBundle> FetchBundleUnverified() override {
    ROTOR_RETURN_IF_ERROR(fail_);
    ++bundle_fetches;
    rotor::v1::TrustBundle bundle;
    bundle.add_root_der(present_root_ != nullptr ? present_root_->der()
                                                 : ca_->root.der());
    bundle.set_version(1);
    return bundle;
  }

  absl::Status SetCredentials(const std::string& roots_pem,
                              const pki::SecretString& key_pem,
                              const std::string& chain_pem) override {
    roots = roots_pem;
    has_identity = !key_pem.empty();
    identity_chain = chain_pem;
    return absl::OkStatus();
  }

  absl::StatusOr<rotor::v1::AttestResponse> Attest(
      const pki::SecretString& token, const std::string& csr_der) override {
    ROTOR_RETURN_IF_ERROR(fail_);
    ++attests;
    if (token.view() != kToken || token_used_) {
      return absl::UnauthenticatedError("join token is unknown, used or expired");
    }
    token_used_ = true;
    rotor::v1::AttestResponse response;
    ROTOR_RETURN_IF_ERROR(Sign(csr_der, absl::Hours(1), /*node=*/true,
                               response.mutable_node()));
    response.mutable_bundle()->add_root_der(ca_->root.der());
    return response;
  }

  absl::StatusOr<rotor::v1::RenewNodeResponse> RenewNode(
      const std::string& csr_der) override {
    ROTOR_RETURN_IF_ERROR(fail_);
    if (!has_identity) return absl::UnauthenticatedError("no client certificate");
    ++node_renewals;
    rotor::v1::RenewNodeResponse response;
    ROTOR_RETURN_IF_ERROR(Sign(csr_der, absl::Hours(1), /*node=*/true,
                               response.mutable_node()));
    response.mutable_bundle()->add_root_der(ca_->root.der());
    return response;
  }

  absl::StatusOr<rotor::v1::SignWorkloadResponse> SignWorkload(
      const std::string& csr_der, absl::Duration ttl) override {
    ROTOR_RETURN_IF_ERROR(fail_);
    if (!has_identity) return absl::UnauthenticatedError("no client certificate");
    rotor::v1::SignWorkloadResponse response;
    ROTOR_RETURN_IF_ERROR(Sign(csr_der,
                               ttl > absl::ZeroDuration() ? ttl : absl::Hours(1),
                               /*node=*/false, response.mutable_certificate()));
    ++signs;
    response.mutable_bundle()->add_root_der(ca_->root.der());
    ROTOR_ASSIGN_OR_RETURN(*response.mutable_crl(), Crl());
    return response;
  }

  absl::Status Watch(
      const std::function<void(const rotor::v1::Update&)>&) override {
    return absl::UnavailableError("not in this test");
  }
  void CancelWatch() override {}

  // The CA's current CRL, listing `revoked_`: built again only after a
  // revocation, as the real CA does.
  absl::StatusOr<rotor::v1::Crl> Crl() {
    if (crl_.der_size() > 0 && crl_.number() == crl_number_) return crl_;
    pki::CrlOptions options;
    options.number = crl_number_;
    options.this_update = clock_->Now() - absl::Minutes(1);
    options.next_update = clock_->Now() + absl::Hours(1);
    ROTOR_ASSIGN_OR_RETURN(std::string der,
                           pki::BuildCrl(ca_->signer(), revoked_, options));
    rotor::v1::Crl crl;
    crl.add_der(der);
    crl.set_number(crl_number_);
    crl_ = crl;
    return crl;
  }

  void Revoke(const std::string& serial) {
    revoked_.push_back({serial, clock_->Now(), pki::RevocationReason::kKeyCompromise});
    ++crl_number_;
  }
  void set_fail(absl::Status status) { fail_ = std::move(status); }
  void present_root(const pki::Certificate* root) { present_root_ = root; }

  // The SANs of every workload CSR signed, in order.
  std::vector<std::vector<std::string>> csr_sans;
  int signs = 0;
  int attests = 0;
  int node_renewals = 0;
  int bundle_fetches = 0;
  std::string roots;
  bool has_identity = false;
  std::string identity_chain;

 private:
  absl::Status Sign(const std::string& csr_der, absl::Duration ttl, bool node,
                    rotor::v1::CertificateChain* out) {
    ROTOR_ASSIGN_OR_RETURN(pki::ParsedCsr csr, pki::ParsedCsr::Parse(csr_der));
    pki::LeafTemplate leaf;
    leaf.public_key_der = csr.public_key_der();
    if (node) {
      leaf.spiffe_id = "spiffe://example.org/rotor/node/web-1";
      leaf.usage = pki::CertificateUsage::kNode;
    } else {
      leaf.spiffe_id = csr.uris().empty() ? "" : csr.uris().front();
      leaf.dns_names = csr.dns_names();
      std::vector<std::string> sans = csr.uris();
      sans.insert(sans.end(), csr.dns_names().begin(), csr.dns_names().end());
      csr_sans.push_back(sans);
    }
    leaf.ttl = ttl;
    ROTOR_ASSIGN_OR_RETURN(pki::Certificate cert,
                           pki::BuildLeafCertificate(leaf, ca_->signer(),
                                                     clock_->Now(),
                                                     *pki::SystemRandom()));
    out->add_der(cert.der());
    out->add_der(ca_->intermediate.der());
    out->set_serial(cert.SerialHex());
    out->mutable_not_after()->set_seconds(absl::ToUnixSeconds(cert.NotAfter()));
    return absl::OkStatus();
  }

  const testing::TestCa* ca_;
  const Clock* clock_;
  absl::Status fail_;
  bool token_used_ = false;
  const pki::Certificate* present_root_ = nullptr;
  std::vector<pki::RevokedCertificate> revoked_;
  uint64_t crl_number_ = 1;
  rotor::v1::Crl crl_;
};

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<testing::TestCa> ca =
        testing::MakeTestCa(pki::KeyType::kEcP256, kStart - absl::Hours(1));
    ASSERT_OK(ca);
    ca_ = std::make_unique<testing::TestCa>(*std::move(ca));
    fake_ca_ = std::make_unique<FakeCa>(ca_.get(), &clock_);
    ASSERT_OK(WriteFileAtomically(tmp_.Path("token"), absl::StrCat(kToken, "\n"),
                                  0600));
    config_.ca = "127.0.0.1:8443";
    config_.trust_anchor = ca_->root.Fingerprint();
    config_.join_token_file = tmp_.Path("token");
    config_.node_name = "web-1";
    config_.state_dir = tmp_.Path("state");
    config_.certificates = {Cert("web", {"web.internal", "www.internal"}),
                            Cert("api", {})};
  }

  CertificateConfig Cert(const std::string& name,
                         std::vector<std::string> dns) {
    CertificateConfig c;
    c.name = name;
    c.spiffe_id = absl::StrCat("spiffe://example.org/", name);
    c.dns_names = std::move(dns);
    c.ttl = absl::Minutes(10);
    c.dir = tmp_.Path(absl::StrCat("certs/", name));
    c.on_rotate.exec = {"reload", name};
    return c;
  }

  std::unique_ptr<Agent> NewAgent(Filesystem* fs = RealFilesystem()) {
    AgentEnv env;
    env.ca = fake_ca_.get();
    env.fs = fs;
    env.clock = &clock_;
    env.random = &random_;
    env.run_hook = [this](const HookConfig& hook, const HookContext& context,
                          std::string*) {
      hooks_.push_back(absl::StrCat(hook.exec.back(), ":", context.reason));
      return hook_status_;
    };
    return std::make_unique<Agent>(config_, env);
  }

  // Runs passes until nothing is due now; returns the next deadline.
  absl::Time Settle(Agent& agent) {
    absl::StatusOr<absl::Time> next;
    for (int i = 0; i < 10; ++i) {
      next = agent.RunOnce();
      EXPECT_OK(next);
      if (!next.ok() || *next > clock_.Now()) break;
    }
    return next.ok() ? *next : absl::InfinitePast();
  }

  std::string Serial(const std::string& name) {
    absl::StatusOr<std::vector<pki::Certificate>> chain =
        pki::Certificate::LoadChain(tmp_.Path(absl::StrCat("certs/", name, "/cert.pem")));
    return chain.ok() ? chain->front().SerialHex() : "";
  }

  std::string File(const std::string& name, const std::string& file) {
    absl::StatusOr<std::string> data =
        ReadFile(tmp_.Path(absl::StrCat("certs/", name, "/", file)));
    return data.ok() ? *data : "";
  }

  const CertificateStatus* StatusOf(const Agent& agent, const std::string& name) {
    static AgentStatus status;
    status = agent.Status();
    if (name == "node") return &status.node;
    for (const CertificateStatus& c : status.certificates) {
      if (c.name == name) return &c;
    }
    return nullptr;
  }

  TempDir tmp_;
  FakeClock clock_{kStart};
  FakeRandom random_;
  std::unique_ptr<testing::TestCa> ca_;
  std::unique_ptr<FakeCa> fake_ca_;
  AgentConfig config_;
  std::vector<std::string> hooks_;
  absl::Status hook_status_;
};

TEST_F(AgentTest, FirstRunAttestsAndIssuesEachCertificateWithExactSans) {
  std::unique_ptr<Agent> agent = NewAgent();
  Settle(*agent);
  EXPECT_EQ(fake_ca_->bundle_fetches, 1);
  EXPECT_EQ(fake_ca_->attests, 1);
  EXPECT_EQ(fake_ca_->signs, 2);
  EXPECT_THAT(fake_ca_->csr_sans,
              ElementsAre(ElementsAre("spiffe://example.org/web",
                                      "web.internal", "www.internal"),
                          ElementsAre("spiffe://example.org/api")));
  EXPECT_TRUE(fake_ca_->has_identity) << "calls after Attest use mTLS";
  EXPECT_EQ(fake_ca_->roots, ca_->root.ToPem());

  // The token is spent and its file emptied.
  EXPECT_EQ(*ReadFile(tmp_.Path("token")), "");
  // State: 0700 folder, node key 0600.
  EXPECT_EQ(FileMode(tmp_.Path("state")), 0700);
  ASSERT_OK_AND_ASSIGN(std::string node_data,
                       RealFilesystem()->ReadLink(tmp_.Path("state/node/..data")));
  EXPECT_EQ(FileMode(tmp_.Path("state/node/" + node_data + "/key.pem")), 0600);

  for (const char* name : {"web", "api"}) {
    ASSERT_OK_AND_ASSIGN(FileSet set, ReadFileSet(*RealFilesystem(),
                                                  tmp_.Path(absl::StrCat("certs/", name))));
    ASSERT_OK_AND_ASSIGN(std::vector<pki::Certificate> chain,
                         pki::Certificate::ChainFromPem(set.cert_pem));
    EXPECT_EQ(chain.size(), 2u) << "leaf then intermediate";
    ASSERT_OK_AND_ASSIGN(pki::PrivateKey key, pki::PrivateKey::FromPem(set.key_pem.view()));
    EXPECT_TRUE(key.Matches(chain.front().PublicKey()));
    EXPECT_EQ(set.bundle_pem, ca_->root.ToPem());
    EXPECT_THAT(set.crl_pem, HasSubstr("-----BEGIN X509 CRL-----"));
    ASSERT_OK_AND_ASSIGN(std::string data,
                         RealFilesystem()->ReadLink(tmp_.Path(absl::StrCat("certs/", name, "/..data"))));
    EXPECT_EQ(FileMode(tmp_.Path(absl::StrCat("certs/", name, "/", data, "/key.pem"))), 0600);
  }
  EXPECT_THAT(hooks_, ElementsAre("web:issued", "api:issued"));
  const CertificateStatus* web = StatusOf(*agent, "web");
  ASSERT_NE(web, nullptr);
  EXPECT_EQ(web->serial, Serial("web"));
  EXPECT_THAT(web->last_error, IsEmpty());
  EXPECT_TRUE(PathExists(tmp_.Path("state/status.json")));
}

TEST_F(AgentTest, RestartKeepsValidMatchingCertificates) {
  Settle(*NewAgent());
  const std::string web = Serial("web");
  const std::string api = Serial("api");
  hooks_.clear();
  clock_.Advance(absl::Minutes(1));

  std::unique_ptr<Agent> restarted = NewAgent();
  const absl::Time next = Settle(*restarted);
  EXPECT_EQ(fake_ca_->attests, 1) << "the node certificate was kept";
  EXPECT_EQ(fake_ca_->signs, 2) << "no certificate was issued again";
  EXPECT_EQ(Serial("web"), web);
  EXPECT_EQ(Serial("api"), api);
  EXPECT_THAT(hooks_, IsEmpty());
  // The next pass is the renewal, around half of the 10 minute lifetime.
  EXPECT_GE(next, kStart + absl::Minutes(4) + absl::Seconds(30));
  EXPECT_LE(next, kStart + absl::Minutes(5) + absl::Seconds(30));
}

TEST_F(AgentTest, RestartWithAChangedConfigReissuesOnlyWhatChanged) {
  Settle(*NewAgent());
  const std::string web = Serial("web");
  const std::string api = Serial("api");
  config_.certificates[1].dns_names = {"api.internal"};
  config_.certificates[0].ttl = absl::Minutes(20);  // applies at renewal
  Settle(*NewAgent());
  EXPECT_EQ(fake_ca_->signs, 3);
  EXPECT_EQ(Serial("web"), web);
  EXPECT_NE(Serial("api"), api);
  EXPECT_THAT(fake_ca_->csr_sans.back(),
              ElementsAre("spiffe://example.org/api", "api.internal"));
}

TEST_F(AgentTest, ReloadReissuesOnlyWhatChangedAndRewritesOnModeChange) {
  std::unique_ptr<Agent> agent = NewAgent();
  Settle(*agent);
  const std::string web = Serial("web");
  const std::string api = Serial("api");
  hooks_.clear();
  AgentConfig next = config_;
  next.certificates[1].key_type = pki::KeyType::kEd25519;
  next.certificates[0].mode = 0640;
  agent->Reload(next);
  Settle(*agent);
  EXPECT_EQ(fake_ca_->signs, 3);
  EXPECT_EQ(Serial("web"), web) << "a mode change rewrites, never reissues";
  EXPECT_NE(Serial("api"), api);
  ASSERT_OK_AND_ASSIGN(std::string data,
                       RealFilesystem()->ReadLink(tmp_.Path("certs/web/..data")));
  EXPECT_EQ(FileMode(tmp_.Path("certs/web/" + data + "/key.pem")), 0640);
  EXPECT_THAT(hooks_, ::testing::UnorderedElementsAre("web:config", "api:issued"));
}

TEST_F(AgentTest, RenewsWithANewKeyAtTheScheduledPoint) {
  config_.certificates.resize(1);
  std::unique_ptr<Agent> agent = NewAgent();
  const absl::Time next = Settle(*agent);
  const std::string key = File("web", "key.pem");
  const std::string serial = Serial("web");
  hooks_.clear();
  clock_.Set(next - absl::Seconds(1));
  Settle(*agent);
  EXPECT_EQ(Serial("web"), serial) << "not due yet";
  clock_.Set(next);
  Settle(*agent);
  EXPECT_NE(Serial("web"), serial);
  EXPECT_NE(File("web", "key.pem"), key) << "every renewal makes a new key";
  EXPECT_THAT(hooks_, ::testing::Contains("web:renewed"));
  EXPECT_EQ(StatusOf(*agent, "web")->rotations, 2);
}

TEST_F(AgentTest, OutageBacksOffKeepsFilesAndRenewsWhenTheCaAnswers) {
  config_.certificates.resize(1);
  std::unique_ptr<Agent> agent = NewAgent();
  absl::Time next = Settle(*agent);
  const std::string serial = Serial("web");
  const std::string cert = File("web", "cert.pem");
  fake_ca_->set_fail(absl::UnavailableError("connection refused"));
  std::vector<absl::Duration> waits;
  for (int i = 0; i < 8; ++i) {
    clock_.Set(next);
    next = Settle(*agent);
    waits.push_back(next - clock_.Now());
  }
  EXPECT_EQ(File("web", "cert.pem"), cert) << "the files stay untouched";
  // Full jitter under a cap that doubles from 1 s to 60 s.
  const absl::Duration caps[] = {absl::Seconds(1),  absl::Seconds(2),
                                 absl::Seconds(4),  absl::Seconds(8),
                                 absl::Seconds(16), absl::Seconds(32),
                                 absl::Seconds(60), absl::Seconds(60)};
  for (size_t i = 0; i < waits.size(); ++i) {
    EXPECT_LE(waits[i], caps[i]) << i;
  }
  const CertificateStatus* web = StatusOf(*agent, "web");
  EXPECT_THAT(web->last_error, HasSubstr("connection refused"));
  EXPECT_GE(web->failures, 8);

  // The CA comes back: a message on the update stream makes the overdue
  // renewal happen at once, not after the backoff.
  fake_ca_->set_fail(absl::OkStatus());
  clock_.Advance(absl::Milliseconds(10));
  ASSERT_GT(next, clock_.Now());
  rotor::v1::Update update;
  update.mutable_bundle()->add_root_der(ca_->root.der());
  agent->OnUpdate(update);
  Settle(*agent);
  EXPECT_NE(Serial("web"), serial);
  EXPECT_THAT(StatusOf(*agent, "web")->last_error, IsEmpty());
}

TEST_F(AgentTest, RevocationRekeysAtOnce) {
  std::unique_ptr<Agent> agent = NewAgent();
  Settle(*agent);
  const std::string serial = Serial("web");
  const std::string api = Serial("api");
  const std::string key = File("web", "key.pem");
  hooks_.clear();
  fake_ca_->Revoke(serial);
  rotor::v1::Update update;
  update.mutable_revoked()->set_serial(serial);
  agent->OnUpdate(update);
  Settle(*agent);
  EXPECT_NE(Serial("web"), serial);
  EXPECT_NE(File("web", "key.pem"), key);
  EXPECT_EQ(Serial("api"), api);
  EXPECT_THAT(hooks_, ::testing::Contains("web:revoked"));
}

TEST_F(AgentTest, CrlListingAHeldCertificateRekeysItAndRewritesEveryCrl) {
  std::unique_ptr<Agent> agent = NewAgent();
  Settle(*agent);
  const std::string serial = Serial("web");
  const std::string api = Serial("api");
  const std::string api_crl = File("api", "crl.pem");
  hooks_.clear();
  // The revocation happened while the stream was down: only the CRL tells.
  fake_ca_->Revoke(serial);
  rotor::v1::Update update;
  ASSERT_OK_AND_ASSIGN(*update.mutable_crl(), fake_ca_->Crl());
  agent->OnUpdate(update);
  Settle(*agent);
  EXPECT_NE(Serial("web"), serial);
  EXPECT_EQ(Serial("api"), api) << "a CRL change rewrites, never reissues";
  EXPECT_NE(File("api", "crl.pem"), api_crl);
  EXPECT_EQ(File("api", "crl.pem"), File("web", "crl.pem"));
  EXPECT_THAT(hooks_, ::testing::UnorderedElementsAre("web:revoked", "api:crl"));
}

// With the loop and hook threads running (Agent::Run): a revocation re-keys
// while the set's previous hook run is still going, and a newer CRL then
// rewrites the files before the hook thread has started the re-key's run.
// The one run that covers both changes reports the new certificate as
// "revoked", not as a mere "crl" rewrite.
TEST_F(AgentTest, OneHookRunForAReKeyAndALaterCrlRewriteReportsTheReKey) {
  config_.certificates = {Cert("web", {"web.internal"})};
  absl::Mutex mu;
  std::vector<std::string> runs;  // "serial:reason", guarded by mu
  absl::Notification first_run_started;
  absl::Notification release_first_run;
  AgentEnv env;
  env.ca = fake_ca_.get();
  env.fs = RealFilesystem();
  env.clock = &clock_;
  env.random = &random_;
  env.run_hook = [&](const HookConfig&, const HookContext& context,
                     std::string*) {
    bool first = false;
    {
      absl::MutexLock lock(&mu);
      runs.push_back(absl::StrCat(context.serial, ":", context.reason));
      first = runs.size() == 1;
    }
    if (first) {
      first_run_started.Notify();
      release_first_run.WaitForNotification();
    }
    return absl::OkStatus();
  };
  Agent agent(config_, env);
  std::thread loop([&agent] { EXPECT_OK(agent.Run()); });
  absl::Cleanup stop = [&] {
    if (!release_first_run.HasBeenNotified()) release_first_run.Notify();
    agent.Stop();
    loop.join();
  };
  const auto disk_serial = [&agent] {
    const AgentStatus status = agent.Status();
    return status.certificates.empty() ? std::string()
                                       : status.certificates.front().serial;
  };

  // The first issuance's hook run starts and holds the hook thread.
  ASSERT_TRUE(
      first_run_started.WaitForNotificationWithTimeout(absl::Seconds(30)));
  const std::string first = Serial("web");
  ASSERT_FALSE(first.empty());
  ASSERT_TRUE(::rotor::testing::WaitFor([&] { return disk_serial() == first; },
                                        absl::Seconds(30)));

  // Revoked: the agent re-keys and queues the run that reports it.
  fake_ca_->Revoke(first);
  rotor::v1::Update revoked;
  revoked.mutable_revoked()->set_serial(first);
  agent.OnUpdate(revoked);
  std::string rekeyed;
  ASSERT_TRUE(::rotor::testing::WaitFor(
      [&] {
        rekeyed = disk_serial();
        return !rekeyed.empty() && rekeyed != first;
      },
      absl::Seconds(30)));

  // A newer CRL than the one the re-key came with: the files are rewritten,
  // and the queued run now covers that too. The loop's pass that handles it
  // is the first at the advanced clock (its status carries that time).
  fake_ca_->Revoke("0a");
  rotor::v1::Update crl;
  ASSERT_OK_AND_ASSIGN(*crl.mutable_crl(), fake_ca_->Crl());
  clock_.Advance(absl::Seconds(1));
  const absl::Time crl_pass = clock_.Now();
  agent.OnUpdate(crl);
  ASSERT_TRUE(::rotor::testing::WaitFor(
      [&] { return agent.Status().updated_at >= crl_pass; },
      absl::Seconds(30)));
  ASSERT_OK_AND_ASSIGN(std::string crl_pem, pki::CrlDerToPem(crl.crl().der(0)));
  EXPECT_EQ(File("web", "crl.pem"), crl_pem);

  release_first_run.Notify();
  ASSERT_TRUE(::rotor::testing::WaitFor(
      [&] {
        absl::MutexLock lock(&mu);
        return runs.size() >= 2;
      },
      absl::Seconds(30)));
  std::move(stop).Invoke();
  absl::MutexLock lock(&mu);
  EXPECT_THAT(runs, ElementsAre(absl::StrCat(first, ":issued"),
                                absl::StrCat(rekeyed, ":revoked")));
}

TEST_F(AgentTest, BundleChangeRewritesEveryBundle) {
  std::unique_ptr<Agent> agent = NewAgent();
  Settle(*agent);
  hooks_.clear();
  ASSERT_OK_AND_ASSIGN(testing::TestCa other,
                       testing::MakeTestCa(pki::KeyType::kEcP256, kStart));
  rotor::v1::Update update;
  update.mutable_bundle()->add_root_der(ca_->root.der());
  update.mutable_bundle()->add_root_der(other.root.der());
  update.mutable_bundle()->set_version(2);
  agent->OnUpdate(update);
  Settle(*agent);
  const std::string both = ca_->root.ToPem() + other.root.ToPem();
  EXPECT_EQ(File("web", "bundle.pem"), both);
  EXPECT_EQ(File("api", "bundle.pem"), both);
  EXPECT_EQ(fake_ca_->roots, both) << "the CA is verified against the new roots";
  EXPECT_THAT(hooks_, ::testing::UnorderedElementsAre("web:bundle", "api:bundle"));
  EXPECT_EQ(fake_ca_->signs, 2);
}

TEST_F(AgentTest, RefusesACaWhoseRootDoesNotMatchThePin) {
  ASSERT_OK_AND_ASSIGN(testing::TestCa impostor,
                       testing::MakeTestCa(pki::KeyType::kEcP256, kStart));
  fake_ca_->present_root(&impostor.root);
  std::unique_ptr<Agent> agent = NewAgent();
  const absl::Time next = Settle(*agent);
  EXPECT_EQ(fake_ca_->attests, 0);
  EXPECT_EQ(fake_ca_->signs, 0);
  EXPECT_THAT(fake_ca_->roots, IsEmpty());
  EXPECT_THAT(StatusOf(*agent, "node")->last_error,
              HasSubstr(absl::StrCat("which do not match trust_anchor ",
                                     ca_->root.Fingerprint())));
  EXPECT_EQ(next - clock_.Now(), absl::Seconds(60)) << "refusals retry slowly";
  EXPECT_EQ(*ReadFile(tmp_.Path("token")), absl::StrCat(kToken, "\n"))
      << "the token was not sent";
}

TEST_F(AgentTest, UsedTokenGivesAnErrorNamingTheFix) {
  ASSERT_OK(WriteFileAtomically(tmp_.Path("token"), "rotor-used-token", 0600));
  std::unique_ptr<Agent> agent = NewAgent();
  Settle(*agent);
  EXPECT_THAT(StatusOf(*agent, "node")->last_error,
              HasSubstr("join token is unknown, used or expired; create a new "
                        "token with rotorctl token create --node web-1 and "
                        "write it to "));
  EXPECT_EQ(fake_ca_->signs, 0);
}

TEST_F(AgentTest, EmptyTokenFileGivesAnErrorNamingTheFix) {
  ASSERT_OK(WriteFileAtomically(tmp_.Path("token"), "", 0600));
  std::unique_ptr<Agent> agent = NewAgent();
  Settle(*agent);
  EXPECT_THAT(StatusOf(*agent, "node")->last_error,
              HasSubstr("is empty (a token is used once); create a new token "
                        "with rotorctl token create --node web-1"));
  EXPECT_EQ(fake_ca_->attests, 0);
}

TEST_F(AgentTest, WriteFailureKeepsTheOldSetAndRetriesWithoutReissuing) {
  config_.certificates.resize(1);
  FaultInjectingFilesystem fs(RealFilesystem());
  std::unique_ptr<Agent> agent = NewAgent(&fs);
  absl::Time next = Settle(*agent);
  const std::string cert = File("web", "cert.pem");
  const int signs = fake_ca_->signs;
  fs.FailAll(FsOp::kRename, absl::ResourceExhaustedError("disk full"));
  clock_.Set(next);
  next = Settle(*agent);
  EXPECT_EQ(File("web", "cert.pem"), cert);
  EXPECT_THAT(StatusOf(*agent, "web")->last_error, HasSubstr("disk full"));
  const int signs_after_failure = fake_ca_->signs;
  EXPECT_GT(signs_after_failure, signs);
  fs.Reset();
  clock_.Set(next);
  Settle(*agent);
  EXPECT_NE(File("web", "cert.pem"), cert);
  EXPECT_EQ(fake_ca_->signs, signs_after_failure)
      << "the certificate already obtained is written, not requested again";
  EXPECT_THAT(StatusOf(*agent, "web")->last_error, IsEmpty());
}

TEST_F(AgentTest, HookFailureIsCountedAndRotationGoesOn) {
  config_.certificates.resize(1);
  hook_status_ = absl::AbortedError("reload failed");
  std::unique_ptr<Agent> agent = NewAgent();
  absl::Time next = Settle(*agent);
  EXPECT_EQ(StatusOf(*agent, "web")->hook_failures, 1);
  const std::string serial = Serial("web");
  clock_.Set(next);
  Settle(*agent);
  EXPECT_NE(Serial("web"), serial);
  EXPECT_GE(StatusOf(*agent, "web")->hook_failures, 2);
}

TEST_F(AgentTest, NodeCertificateRenewsThroughRenewNode) {
  config_.certificates.clear();
  std::unique_ptr<Agent> agent = NewAgent();
  absl::Time next = Settle(*agent);
  const std::string chain = fake_ca_->identity_chain;
  clock_.Set(next);
  Settle(*agent);
  EXPECT_EQ(fake_ca_->attests, 1);
  EXPECT_EQ(fake_ca_->node_renewals, 1);
  EXPECT_NE(fake_ca_->identity_chain, chain) << "calls present the new node certificate";
}

TEST_F(AgentTest, ExpiredCertificateOnDiskIsReplacedAtStart) {
  Settle(*NewAgent());
  const std::string serial = Serial("web");
  clock_.Advance(absl::Minutes(11));  // past the 10 minute workload TTL
  Settle(*NewAgent());
  EXPECT_NE(Serial("web"), serial);
  EXPECT_EQ(fake_ca_->attests, 1) << "the node certificate (1h) is still valid";
}

}  // namespace
}  // namespace rotor::agent
