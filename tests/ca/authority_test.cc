#include "ca/authority.h"

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "ca/crl_publisher.h"
#include "ca/policy.h"
#include "ca/update_hub.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "pki/ssl_ptr.h"
#include "pki/verify.h"
#include "store/lmdb_store.h"
#include "tests/ca/fault_store.h"
#include "tests/testing/fakes.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_ca.h"

namespace rotor::ca {
namespace {

using ::rotor::ca::testing::FaultStore;
using ::rotor::testing::FakeClock;
using ::rotor::testing::FakeRandom;
using ::rotor::testing::IsOk;
using ::rotor::testing::MakeTestCa;
using ::rotor::testing::StatusIs;
using ::rotor::testing::TempDir;
using ::rotor::testing::TestCa;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::StartsWith;

const absl::Time kStart = absl::FromUnixSeconds(1800000000);
constexpr absl::Duration kDeadline = absl::Seconds(10);
constexpr char kTokenFix[] =
    "create a new one with rotorctl token create --node NAME";

pki::PrivateKey CloneKey(const pki::PrivateKey& key) {
  absl::StatusOr<pki::SecretString> pem = key.ToPem();
  EXPECT_TRUE(pem.ok());
  absl::StatusOr<pki::PrivateKey> copy = pki::PrivateKey::FromPem(pem->view());
  EXPECT_TRUE(copy.ok());
  return *std::move(copy);
}

CaKeys KeysOf(const TestCa& ca) {
  return CaKeys{.roots = {ca.root},
                .root_key = CloneKey(ca.root_key),
                .intermediate = ca.intermediate,
                .intermediate_key = CloneKey(ca.intermediate_key)};
}

CaConfig TestConfig() {
  CaConfig config;
  config.trust_domain = "example.org";
  config.default_ttl = absl::Hours(1);
  config.min_ttl = absl::Minutes(1);
  config.max_ttl = absl::Hours(24);
  config.node_ttl = absl::Hours(24);
  config.server_cert_ttl = absl::Hours(12);
  config.crl_url = "http://127.0.0.1:8080/crl";
  config.rate_limit.per_node_per_second = 1;
  config.rate_limit.per_node_burst = 100;
  config.rate_limit.attest_concurrency_per_source = 1;
  return config;
}

const Caller kAdmin{"spiffe://example.org/rotor/admin/test", "a1", "ipv4:10.0.0.9:1"};

// Store counts, comparable in assertions ("the store did not change").
struct Counts : store::StoreStats {
  friend bool operator==(const Counts& a, const Counts& b) {
    return a.certificates == b.certificates &&
           a.revoked_certificates == b.revoked_certificates &&
           a.join_tokens == b.join_tokens && a.entries == b.entries &&
           a.audit_records == b.audit_records;
  }
  friend void PrintTo(const Counts& s, std::ostream* os) {
    *os << "{certificates=" << s.certificates
        << " revoked=" << s.revoked_certificates
        << " tokens=" << s.join_tokens << " entries=" << s.entries
        << " audit=" << s.audit_records << "}";
  }
};

// The refusal of `spiffe_id` to `node` when no entry grants it.
::testing::Matcher<absl::Status> NoEntryGrants(const std::string& node,
                                               const std::string& spiffe_id) {
  return StatusIs(absl::StatusCode::kPermissionDenied,
                  absl::StrCat("node ", node, " is not allowed ", spiffe_id,
                               ": no entry grants it"));
}

class AuthorityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(ca_, MakeTestCa(pki::KeyType::kEcP256, kStart));
    ASSERT_OK_AND_ASSIGN(lmdb_, store::LmdbStore::Open(dir_.Path("store")));
    store_ = std::make_unique<FaultStore>(lmdb_.get());
    ASSERT_OK_AND_ASSIGN(
        authority_, Authority::Create(KeysOf(*ca_), config_, store_.get(),
                                      &clock_, &random_));
  }

  Counts Stats() {
    absl::StatusOr<store::StoreStats> stats = store_->GetStats();
    EXPECT_THAT(stats, IsOk());
    Counts counts;
    if (stats.ok()) static_cast<store::StoreStats&>(counts) = *stats;
    return counts;
  }

  // A DER CSR for a new EC key with these SANs.
  std::string Csr(const std::string& spiffe_id,
                  const std::vector<std::string>& dns = {}) {
    absl::StatusOr<pki::PrivateKey> key =
        pki::PrivateKey::Generate(pki::KeyType::kEcP256);
    EXPECT_THAT(key, IsOk());
    absl::StatusOr<std::string> csr = pki::BuildCsr(*key, spiffe_id, dns);
    EXPECT_THAT(csr, IsOk());
    return csr.ok() ? *csr : "";
  }

  std::string Token(const std::string& node,
                    absl::Duration ttl = absl::Hours(1)) {
    absl::StatusOr<JoinToken> token =
        authority_->CreateJoinToken(kAdmin, node, ttl);
    EXPECT_THAT(token, IsOk());
    return token.ok() ? token->token : "";
  }

  // Attests `node` and returns the Caller its node certificate makes.
  Caller AttestNode(const std::string& node,
                    const std::string& peer = "ipv4:10.0.0.1:5555") {
    absl::StatusOr<IssuedCertificate> issued = authority_->Attest(
        Caller{"", "", peer}, Token(node), Csr("spiffe://example.org/x"));
    EXPECT_THAT(issued, IsOk());
    if (!issued.ok()) return Caller{};
    return Caller{issued->leaf.UriSans().front(), issued->leaf.SerialHex(),
                  peer};
  }

  // PurgeExpiredJoinTokens, which must succeed: how many it removed.
  uint64_t Purge() {
    absl::StatusOr<uint64_t> removed = authority_->PurgeExpiredJoinTokens();
    EXPECT_THAT(removed, IsOk());
    return removed.value_or(UINT64_MAX);
  }

  // SignWorkload of `spiffe_id` as `node`, with the default TTL.
  absl::Status Sign(const Caller& node, const std::string& spiffe_id) {
    return authority_->SignWorkload(node, Csr(spiffe_id), std::nullopt)
        .status();
  }

  // Creates the entry web-* -> spiffe://example.org/web; its id.
  std::string CreateWebEntry() {
    absl::StatusOr<store::RegistrationEntry> entry = authority_->CreateEntry(
        kAdmin, EntryRequest{"web-*", "spiffe://example.org/web", {}, {}});
    EXPECT_THAT(entry, IsOk());
    return entry.ok() ? entry->id : "";
  }

  void AddEntry(const std::string& glob, const std::string& spiffe_id,
                std::vector<std::string> dns = {},
                absl::Duration max_ttl = absl::ZeroDuration()) {
    EntryRequest request{glob, spiffe_id, std::move(dns), max_ttl};
    ASSERT_OK(authority_->CreateEntry(kAdmin, request).status());
  }

  absl::Status VerifyChain(const IssuedCertificate& issued,
                           pki::VerifyPurpose purpose) {
    return pki::VerifyCertificate(issued.leaf, issued.chain,
                                  authority_->GetBundle().roots, clock_.Now(),
                                  purpose);
  }

  TempDir dir_;
  FakeClock clock_{kStart};
  FakeRandom random_;
  CaConfig config_ = TestConfig();
  std::optional<TestCa> ca_;
  std::unique_ptr<store::LmdbStore> lmdb_;
  std::unique_ptr<FaultStore> store_;
  std::unique_ptr<Authority> authority_;
};

// --- Create ---

TEST_F(AuthorityTest, CreateRefusesExpiredIntermediate) {
  FakeClock late(ca_->intermediate.NotAfter() + absl::Seconds(1));
  EXPECT_THAT(Authority::Create(KeysOf(*ca_), config_, store_.get(), &late,
                                &random_),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("expired at")));
}

TEST_F(AuthorityTest, CreateRefusesKeyNotMatchingIntermediate) {
  CaKeys keys = KeysOf(*ca_);
  keys.intermediate_key = CloneKey(ca_->root_key);
  EXPECT_THAT(
      Authority::Create(std::move(keys), config_, store_.get(), &clock_,
                        &random_),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("the intermediate key does not match intermediate")));
}

TEST_F(AuthorityTest, CreateRefusesIntermediateOfAnotherRoot) {
  ASSERT_OK_AND_ASSIGN(TestCa other, MakeTestCa(pki::KeyType::kEcP256, kStart));
  CaKeys keys = KeysOf(*ca_);
  keys.roots = {other.root};
  keys.root_key = CloneKey(other.root_key);
  EXPECT_THAT(Authority::Create(std::move(keys), config_, store_.get(),
                                &clock_, &random_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is not signed by any root in the bundle")));
}

TEST_F(AuthorityTest, GetBundleServesTheRoots) {
  TrustBundle bundle = authority_->GetBundle();
  ASSERT_THAT(bundle.roots, SizeIs(1));
  EXPECT_EQ(bundle.roots[0].der(), ca_->root.der());
  EXPECT_EQ(bundle.version, 1u);
}

// --- Join tokens and Attest ---

TEST_F(AuthorityTest, JoinTokenIsRandomAndStoredOnlyAsHash) {
  Counts before = Stats();
  ASSERT_OK_AND_ASSIGN(JoinToken token, authority_->CreateJoinToken(
                                            kAdmin, "web-1", absl::Hours(2)));
  EXPECT_THAT(token.token, StartsWith("rotor-"));
  EXPECT_EQ(token.token.size(), 6u + 64u);
  for (char c : token.token.substr(6)) {
    EXPECT_TRUE(absl::ascii_isxdigit(c)) << token.token;
  }
  EXPECT_EQ(token.node_name, "web-1");
  EXPECT_EQ(token.expires_at, kStart + absl::Hours(2));
  EXPECT_EQ(Stats().join_tokens, before.join_tokens + 1);
  ASSERT_OK_AND_ASSIGN(JoinToken second, authority_->CreateJoinToken(
                                             kAdmin, "web-1", absl::Hours(2)));
  EXPECT_NE(second.token, token.token);
}

TEST_F(AuthorityTest, CreateJoinTokenRefusesBadNodeName) {
  Counts before = Stats();
  EXPECT_THAT(authority_->CreateJoinToken(kAdmin, "../x", absl::Hours(1)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("node name \"../x\" has the character '/'")));
  EXPECT_THAT(authority_->CreateJoinToken(kAdmin, "", absl::Hours(1)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "node name is empty"));
  EXPECT_THAT(
      authority_->CreateJoinToken(kAdmin, std::string("a\0b", 3),
                                  absl::Hours(1)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'\\x00'")));
  EXPECT_EQ(Stats(), before);
}

TEST_F(AuthorityTest, CreateJoinTokenRefusesNonPositiveTtl) {
  Counts before = Stats();
  EXPECT_THAT(authority_->CreateJoinToken(kAdmin, "web-1", absl::ZeroDuration()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "join token TTL must be positive, got 0"));
  EXPECT_EQ(Stats(), before);
}

TEST_F(AuthorityTest, AttestIssuesNodeCertificateForTheTokensNode) {
  std::string token = Token("web-1");
  Counts before = Stats();
  // The CSR asks for another identity; the token's node name wins.
  ASSERT_OK_AND_ASSIGN(
      IssuedCertificate issued,
      authority_->Attest(Caller{"", "", "ipv4:10.0.0.1:5555"}, token,
                         Csr("spiffe://example.org/rotor/admin/evil",
                             {"evil.example.org"})));
  EXPECT_THAT(issued.leaf.UriSans(),
              ElementsAre("spiffe://example.org/rotor/node/web-1"));
  EXPECT_THAT(issued.leaf.DnsSans(), IsEmpty());
  EXPECT_EQ(X509_get_extended_key_usage(issued.leaf.get()),
            static_cast<uint32_t>(XKU_SSL_CLIENT));
  EXPECT_EQ(issued.leaf.NotAfter(), kStart + config_.node_ttl);
  ASSERT_THAT(issued.chain, SizeIs(1));
  EXPECT_EQ(issued.chain[0].der(), ca_->intermediate.der());
  EXPECT_THAT(VerifyChain(issued, pki::VerifyPurpose::kTlsClient), IsOk());
  EXPECT_THAT(VerifyChain(issued, pki::VerifyPurpose::kTlsServer),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unsuitable certificate purpose")));

  // Durable before it was returned.
  EXPECT_EQ(Stats().certificates, before.certificates + 1);
  ASSERT_OK_AND_ASSIGN(std::optional<store::CertificateRecord> record,
                       store_->GetCertificate(issued.leaf.SerialHex()));
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->kind, store::CertificateKind::kNode);
  EXPECT_EQ(record->node_name, "web-1");
  EXPECT_EQ(record->spiffe_id, "spiffe://example.org/rotor/node/web-1");
  EXPECT_EQ(record->der, issued.leaf.der());
  EXPECT_EQ(record->issued_at, kStart);
}

TEST_F(AuthorityTest, AttestRefusesUsedToken) {
  std::string token = Token("web-1");
  ASSERT_OK(authority_
                ->Attest(Caller{"", "", "p"}, token,
                         Csr("spiffe://example.org/x"))
                .status());
  Counts before = Stats();
  EXPECT_THAT(authority_->Attest(Caller{"", "", "p"}, token,
                                 Csr("spiffe://example.org/x")),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       absl::StrCat("join token already used; ", kTokenFix)));
  EXPECT_EQ(Stats(), before);
}

TEST_F(AuthorityTest, AttestRefusesExpiredToken) {
  std::string token = Token("web-1", absl::Minutes(10));
  clock_.Advance(absl::Minutes(10));
  Counts before = Stats();
  EXPECT_THAT(authority_->Attest(Caller{"", "", "p"}, token,
                                 Csr("spiffe://example.org/x")),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       absl::StrCat("join token expired; ", kTokenFix)));
  EXPECT_EQ(Stats(), before);
}

// --- Purge of expired join tokens ---

TEST_F(AuthorityTest, PurgeKeepsTokensForADayAfterTheyExpire) {
  const std::string used = Token("web-1", absl::Minutes(10));
  ASSERT_OK(authority_
                ->Attest(Caller{"", "", "p"}, used,
                         Csr("spiffe://example.org/x"))
                .status());
  const std::string unused = Token("web-2", absl::Minutes(10));
  const std::string later = Token("web-3", absl::Minutes(20));
  ASSERT_OK_AND_ASSIGN(store::AuditPage before, store_->ListAudit(0, 0));
  const uint64_t last_audit = before.records.back().sequence;

  // Expired exactly a day ago: kept, and still refused as expired.
  clock_.Advance(absl::Minutes(10) + kJoinTokenRetention);
  EXPECT_EQ(Purge(), 0);
  EXPECT_EQ(Stats().join_tokens, 3);
  EXPECT_THAT(authority_->Attest(Caller{"", "", "p"}, unused,
                                 Csr("spiffe://example.org/x")),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       absl::StrCat("join token expired; ", kTokenFix)));
  ASSERT_OK_AND_ASSIGN(store::AuditPage nothing,
                       store_->ListAudit(last_audit, 0));
  EXPECT_THAT(nothing.records, IsEmpty());

  // A moment later both ten-minute tokens go, used or not; the other stays.
  clock_.Advance(absl::Microseconds(1));
  EXPECT_EQ(Purge(), 2);
  EXPECT_EQ(Stats().join_tokens, 1);
  EXPECT_THAT(authority_->Attest(Caller{"", "", "p"}, unused,
                                 Csr("spiffe://example.org/x")),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       absl::StrCat("unknown join token; ", kTokenFix)));
  EXPECT_THAT(authority_->Attest(Caller{"", "", "p"}, later,
                                 Csr("spiffe://example.org/x")),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       absl::StrCat("join token expired; ", kTokenFix)));
  ASSERT_OK_AND_ASSIGN(store::AuditPage audit,
                       store_->ListAudit(last_audit, 0));
  ASSERT_THAT(audit.records, SizeIs(1));
  EXPECT_EQ(audit.records[0].action, store::kAuditPurgeJoinTokens);
  EXPECT_EQ(audit.records[0].actor, "rotor-ca");
  EXPECT_EQ(audit.records[0].time, clock_.Now());
  EXPECT_THAT(audit.records[0].detail, HasSubstr("removed 2 (1 used, 1 unused)"));
}

TEST_F(AuthorityTest, PurgeReportsAStoreFailureAndDeletesNothing) {
  Token("web-1", absl::Minutes(10));
  clock_.Advance(absl::Hours(48));
  const Counts before = Stats();
  store_->fail_purge = true;
  EXPECT_THAT(authority_->PurgeExpiredJoinTokens(),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("injected fault")));
  EXPECT_EQ(Stats(), before);
  store_->fail_purge = false;
  EXPECT_EQ(Purge(), 1);
}

TEST_F(AuthorityTest, AttestRefusesUnknownAndEmptyToken) {
  Counts before = Stats();
  EXPECT_THAT(authority_->Attest(Caller{"", "", "p"}, "rotor-00",
                                 Csr("spiffe://example.org/x")),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       absl::StrCat("unknown join token; ", kTokenFix)));
  EXPECT_THAT(
      authority_->Attest(Caller{"", "", "p"}, "", Csr("spiffe://example.org/x")),
      StatusIs(absl::StatusCode::kUnauthenticated,
               absl::StrCat("join token is empty; ", kTokenFix)));
  EXPECT_EQ(Stats(), before);
}

TEST_F(AuthorityTest, AttestWithBadCsrKeepsTheToken) {
  std::string token = Token("web-1");
  Counts before = Stats();
  EXPECT_THAT(authority_->Attest(Caller{"", "", "p"}, token, "not a csr"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("CSR is not valid DER PKCS#10")));
  EXPECT_EQ(Stats(), before);
  EXPECT_THAT(authority_->Attest(Caller{"", "", "p"}, token,
                                 Csr("spiffe://example.org/x")),
              IsOk());
}

TEST_F(AuthorityTest, AttestLimitsConcurrentCallsPerSource) {
  std::string token = Token("web-1");
  std::string csr = Csr("spiffe://example.org/x");
  std::optional<absl::StatusOr<IssuedCertificate>> inner_same;
  std::optional<absl::StatusOr<IssuedCertificate>> inner_v6;
  std::optional<absl::StatusOr<IssuedCertificate>> inner_other;
  // While the first Attest is in flight (inside the store), a second from
  // the same address (another connection, so another port) is refused; one
  // from another address is not.
  bool fired = false;
  store_->before_consume = [&] {
    if (fired) return;
    fired = true;
    inner_same = authority_->Attest(Caller{"", "", "ipv4:10.0.0.1:6666"},
                                    "rotor-00", csr);
    inner_other = authority_->Attest(Caller{"", "", "ipv4:10.0.0.2:5555"},
                                     "rotor-00", csr);
  };
  EXPECT_THAT(
      authority_->Attest(Caller{"", "", "ipv4:10.0.0.1:5555"}, token, csr),
      IsOk());
  ASSERT_TRUE(inner_same.has_value());
  EXPECT_THAT(*inner_same,
              StatusIs(absl::StatusCode::kResourceExhausted,
                       "too many Attest calls in flight from "
                       "ipv4:10.0.0.1 (limit 1); retry in a moment"));
  ASSERT_TRUE(inner_other.has_value());
  EXPECT_THAT(*inner_other, StatusIs(absl::StatusCode::kUnauthenticated,
                                     HasSubstr("unknown join token")));
  fired = false;
  store_->before_consume = [&] {
    if (fired) return;
    fired = true;
    inner_v6 = authority_->Attest(Caller{"", "", "ipv6:[::1]:2"}, "rotor-00",
                                  csr);
  };
  EXPECT_THAT(authority_->Attest(Caller{"", "", "ipv6:[::1]:1"},
                                 Token("web-3"), csr),
              IsOk());
  ASSERT_TRUE(inner_v6.has_value());
  EXPECT_THAT(*inner_v6, StatusIs(absl::StatusCode::kResourceExhausted,
                                  HasSubstr("from ipv6:[::1] (limit 1)")));
  store_->before_consume = nullptr;
  // The permit is released: the source may attest again.
  EXPECT_THAT(authority_->Attest(Caller{"", "", "ipv4:10.0.0.1:5555"},
                                 Token("web-2"), csr),
              IsOk());
}

TEST_F(AuthorityTest, AttestStoresNothingWhenTheStoreFails) {
  std::string token = Token("web-1");
  Counts before = Stats();
  store_->fail_put = true;
  EXPECT_THAT(authority_->Attest(Caller{"", "", "p"}, token,
                                 Csr("spiffe://example.org/x")),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("injected fault")));
  EXPECT_EQ(Stats().certificates, before.certificates);
  EXPECT_EQ(authority_->stats().issued, 0u);
}

// --- Node authentication and RenewNode ---

TEST_F(AuthorityTest, RenewNodeIssuesForTheCallingNode) {
  Caller node = AttestNode("web-1");
  ASSERT_OK_AND_ASSIGN(
      IssuedCertificate renewed,
      authority_->RenewNode(node, Csr("spiffe://example.org/rotor/node/db-1")));
  EXPECT_THAT(renewed.leaf.UriSans(),
              ElementsAre("spiffe://example.org/rotor/node/web-1"));
  EXPECT_NE(renewed.leaf.SerialHex(), node.serial);
  EXPECT_THAT(VerifyChain(renewed, pki::VerifyPurpose::kTlsClient), IsOk());
  ASSERT_OK_AND_ASSIGN(std::optional<store::CertificateRecord> record,
                       store_->GetCertificate(renewed.leaf.SerialHex()));
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->kind, store::CertificateKind::kNode);
  EXPECT_EQ(record->node_name, "web-1");
}

TEST_F(AuthorityTest, NodeCallsNeedAClientCertificate) {
  Counts before = Stats();
  EXPECT_THAT(
      authority_->RenewNode(Caller{"", "", "p"}, Csr("spiffe://example.org/x")),
      StatusIs(absl::StatusCode::kUnauthenticated,
               "this call needs the node's client certificate; attest first "
               "with a join token"));
  EXPECT_THAT(authority_->SignWorkload(Caller{"", "", "p"},
                                       Csr("spiffe://example.org/web"),
                                       std::nullopt),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("needs the node's client certificate")));
  EXPECT_EQ(Stats(), before);
}

TEST_F(AuthorityTest, NodeCallsRefuseNonNodeIdentity) {
  Counts before = Stats();
  EXPECT_THAT(authority_->RenewNode(kAdmin, Csr("spiffe://example.org/x")),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       "caller spiffe://example.org/rotor/admin/test is not a "
                       "node identity (spiffe://example.org/rotor/node/NAME)"));
  EXPECT_EQ(Stats(), before);
}

TEST_F(AuthorityTest, NodeCallsRefuseCertificateUnknownToTheStore) {
  Caller forged{"spiffe://example.org/rotor/node/web-1", "deadbeef", "p"};
  Counts before = Stats();
  EXPECT_THAT(authority_->RenewNode(forged, Csr("spiffe://example.org/x")),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       "client certificate deadbeef is not a node certificate "
                       "this CA issued; attest with a join token"));
  EXPECT_EQ(Stats(), before);
}

TEST_F(AuthorityTest, NodeCallsRefuseAnotherNodesSerial) {
  Caller web = AttestNode("web-1");
  // db-1 presenting web-1's serial under its own name.
  Caller spoof{"spiffe://example.org/rotor/node/db-1", web.serial, "p"};
  EXPECT_THAT(authority_->RenewNode(spoof, Csr("spiffe://example.org/x")),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("is not a node certificate this CA issued")));
}

TEST_F(AuthorityTest, RevokedNodeIsRefusedEverywhere) {
  Caller node = AttestNode("web-1");
  AddEntry("web-*", "spiffe://example.org/web");
  ASSERT_OK(authority_->RevokeCertificate(kAdmin, node.serial, "").status());
  Counts before = Stats();
  const std::string message =
      absl::StrCat("node certificate ", node.serial,
                   " was revoked; attest again with a new join token");
  EXPECT_THAT(authority_->RenewNode(node, Csr("spiffe://example.org/x")),
              StatusIs(absl::StatusCode::kPermissionDenied, message));
  EXPECT_THAT(authority_->SignWorkload(node, Csr("spiffe://example.org/web"),
                                       std::nullopt),
              StatusIs(absl::StatusCode::kPermissionDenied, message));
  EXPECT_THAT(authority_->AuthenticateNode(node),
              StatusIs(absl::StatusCode::kPermissionDenied, message));
  EXPECT_EQ(Stats(), before);

  // A new token brings the node back.
  Caller again = AttestNode("web-1");
  EXPECT_THAT(authority_->SignWorkload(again, Csr("spiffe://example.org/web"),
                                       std::nullopt),
              IsOk());
}

// --- What the Authority remembers between calls (ca/read_cache.h) ---

TEST_F(AuthorityTest, SignWorkloadReadsTheNodeAndItsEntriesOnce) {
  AddEntry("web-*", "spiffe://example.org/web");
  Caller node = AttestNode("web-1");
  ASSERT_OK(authority_
                ->SignWorkload(node, Csr("spiffe://example.org/web"),
                               std::nullopt)
                .status());
  const int gets = store_->get_certificate_calls;
  const int matches = store_->match_entries_calls;
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK(authority_
                  ->SignWorkload(node, Csr("spiffe://example.org/web"),
                                 std::nullopt)
                  .status());
  }
  EXPECT_EQ(store_->get_certificate_calls, gets);
  EXPECT_EQ(store_->match_entries_calls, matches);
}

TEST_F(AuthorityTest, RevokedNodeIsRefusedAtOnceAfterItWasRemembered) {
  AddEntry("web-*", "spiffe://example.org/web");
  Caller node = AttestNode("web-1");
  Caller other = AttestNode("web-2");
  for (const Caller& caller : {node, other}) {
    ASSERT_OK(authority_
                  ->SignWorkload(caller, Csr("spiffe://example.org/web"),
                                 std::nullopt)
                  .status());
  }
  ASSERT_OK(authority_->RevokeCertificate(kAdmin, node.serial, "").status());
  Counts before = Stats();
  const std::string message =
      absl::StrCat("node certificate ", node.serial,
                   " was revoked; attest again with a new join token");
  EXPECT_THAT(authority_->SignWorkload(node, Csr("spiffe://example.org/web"),
                                       std::nullopt),
              StatusIs(absl::StatusCode::kPermissionDenied, message));
  EXPECT_THAT(authority_->RenewNode(node, Csr("spiffe://example.org/x")),
              StatusIs(absl::StatusCode::kPermissionDenied, message));
  EXPECT_THAT(authority_->AuthenticateNode(node),
              StatusIs(absl::StatusCode::kPermissionDenied, message));
  EXPECT_EQ(Stats(), before);
  // The other node, remembered too, is not affected.
  EXPECT_THAT(authority_->SignWorkload(other, Csr("spiffe://example.org/web"),
                                       std::nullopt),
              IsOk());
}

TEST_F(AuthorityTest, NodeRevokedWhileItsRecordWasReadIsRefusedNext) {
  AddEntry("web-*", "spiffe://example.org/web");
  Caller node = AttestNode("web-1");
  // The revocation lands after this call read the (unrevoked) record and
  // before it finished: that call may still pass, no later one.
  store_->after_get_certificate = [&] {
    store_->after_get_certificate = nullptr;
    ASSERT_OK(authority_->RevokeCertificate(kAdmin, node.serial, "").status());
  };
  EXPECT_THAT(authority_->AuthenticateNode(node), IsOk());
  Counts before = Stats();
  EXPECT_THAT(authority_->SignWorkload(node, Csr("spiffe://example.org/web"),
                                       std::nullopt),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       absl::StrCat("node certificate ", node.serial,
                                    " was revoked; attest again with a new "
                                    "join token")));
  EXPECT_EQ(Stats(), before);
}

TEST_F(AuthorityTest, RememberedNodeIsStillCheckedAgainstTheCallersIdentity) {
  AddEntry("*", "spiffe://example.org/web");
  Caller web = AttestNode("web-1");
  ASSERT_OK(authority_->AuthenticateNode(web).status());
  // The serial of web-1's certificate presented with another node's name.
  Caller spoof{"spiffe://example.org/rotor/node/db-1", web.serial, web.peer};
  Counts before = Stats();
  EXPECT_THAT(authority_->SignWorkload(spoof, Csr("spiffe://example.org/web"),
                                       std::nullopt),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       absl::StrCat("client certificate ", web.serial,
                                    " is not a node certificate this CA "
                                    "issued; attest with a join token")));
  EXPECT_EQ(Stats(), before);
}

TEST_F(AuthorityTest, DeletedEntryIsNotGrantedAfterItWasRemembered) {
  const std::string entry = CreateWebEntry();
  Caller node = AttestNode("web-1");
  ASSERT_OK(Sign(node, "spiffe://example.org/web"));
  ASSERT_OK(authority_->DeleteEntry(kAdmin, entry));
  Counts before = Stats();
  EXPECT_THAT(Sign(node, "spiffe://example.org/web"),
              NoEntryGrants("web-1", "spiffe://example.org/web"));
  EXPECT_EQ(Stats(), before);
}

TEST_F(AuthorityTest, CreatedEntryIsGrantedAfterTheNodesEntriesWereRemembered) {
  AddEntry("web-*", "spiffe://example.org/web");
  Caller node = AttestNode("web-1");
  ASSERT_OK(Sign(node, "spiffe://example.org/web"));
  Counts before = Stats();
  EXPECT_THAT(Sign(node, "spiffe://example.org/api"),
              NoEntryGrants("web-1", "spiffe://example.org/api"));
  EXPECT_EQ(Stats(), before);
  AddEntry("web-1", "spiffe://example.org/api");
  EXPECT_OK(Sign(node, "spiffe://example.org/api"));
}

TEST_F(AuthorityTest, EntriesReadWhileOneWasDeletedAreNotRemembered) {
  const std::string entry = CreateWebEntry();
  Caller node = AttestNode("web-1");
  // The entry is deleted after this SignWorkload read the entries and
  // before it finished: that call may still use what it read, no later one.
  store_->after_match = [&] {
    store_->after_match = nullptr;
    ASSERT_OK(authority_->DeleteEntry(kAdmin, entry));
  };
  EXPECT_OK(Sign(node, "spiffe://example.org/web"));
  Counts before = Stats();
  EXPECT_THAT(Sign(node, "spiffe://example.org/web"),
              NoEntryGrants("web-1", "spiffe://example.org/web"));
  EXPECT_EQ(Stats(), before);
}

TEST_F(AuthorityTest, FailedEntryDeletionChangesNoGrant) {
  const std::string entry = CreateWebEntry();
  Caller node = AttestNode("web-1");
  ASSERT_OK(Sign(node, "spiffe://example.org/web"));
  store_->fail_entries = true;
  Counts before = Stats();
  EXPECT_THAT(authority_->DeleteEntry(kAdmin, entry),
              StatusIs(absl::StatusCode::kUnavailable,
                       "store is not writable (injected fault)"));
  EXPECT_THAT(authority_->CreateEntry(
                  kAdmin, EntryRequest{"web-*", "spiffe://example.org/api",
                                       {}, {}}),
              StatusIs(absl::StatusCode::kUnavailable,
                       "store is not writable (injected fault)"));
  EXPECT_EQ(Stats(), before);
  store_->fail_entries = false;
  EXPECT_OK(Sign(node, "spiffe://example.org/web"));
  EXPECT_THAT(Sign(node, "spiffe://example.org/api"),
              NoEntryGrants("web-1", "spiffe://example.org/api"));
}

TEST_F(AuthorityTest, RevocationSurvivesARestart) {
  Caller node = AttestNode("web-1");
  ASSERT_OK(authority_->RevokeCertificate(kAdmin, node.serial, "").status());
  authority_.reset();
  ASSERT_OK_AND_ASSIGN(authority_,
                       Authority::Create(KeysOf(*ca_), config_, store_.get(),
                                         &clock_, &random_));
  EXPECT_THAT(authority_->AuthenticateNode(node),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("was revoked")));
}

TEST_F(AuthorityTest, CreateReadsTheRevokedCertificatesOnce) {
  // An admin credential, revoked, that expired two days before the restart:
  // still refused (from the revoked set), no longer on the CRL.
  store::CertificateRecord admin;
  admin.serial = "ad1";
  admin.der = "der";
  admin.spiffe_id = "spiffe://example.org/rotor/admin/old";
  admin.not_before = kStart - absl::Hours(1);
  admin.not_after = kStart + absl::Hours(1);
  admin.kind = store::CertificateKind::kAdmin;
  ASSERT_OK(store_->PutCertificate(admin));
  ASSERT_OK(authority_->RevokeCertificate(kAdmin, "ad1", "").status());
  Caller node = AttestNode("web-1");
  ASSERT_OK(authority_->RevokeCertificate(kAdmin, node.serial, "").status());

  authority_.reset();
  clock_.Advance(absl::Hours(49));
  store_->list_revoked_calls = 0;
  ASSERT_OK_AND_ASSIGN(authority_,
                       Authority::Create(KeysOf(*ca_), config_, store_.get(),
                                         &clock_, &random_));
  EXPECT_EQ(store_->list_revoked_calls, 1);
  EXPECT_THAT(authority_->AuthorizeAdmin(
                  Caller{admin.spiffe_id, "ad1", "ipv4:10.0.0.9:1"}),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       "admin certificate ad1 was revoked"));
  EXPECT_THAT(authority_->AuthenticateNode(node),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("was revoked")));
  // The node certificate (24 h) expired 25 h ago, the admin one 48 h ago:
  // both past the CRL's grace, so the first CRL lists neither.
  const CrlSet crl = authority_->GetCrl();
  ASSERT_FALSE(crl.der.empty());
  const auto* p = reinterpret_cast<const unsigned char*>(crl.der[0].data());
  pki::SslPtr<X509_CRL> parsed(
      d2i_X509_CRL(nullptr, &p, static_cast<long>(crl.der[0].size())));
  ASSERT_NE(parsed, nullptr);
  STACK_OF(X509_REVOKED)* entries = X509_CRL_get_REVOKED(parsed.get());
  EXPECT_TRUE(entries == nullptr || sk_X509_REVOKED_num(entries) == 0);
}

// --- SignWorkload ---

TEST_F(AuthorityTest, SignWorkloadIssuesWhatTheEntryGrants) {
  AddEntry("web-*", "spiffe://example.org/web", {"web.internal"},
           absl::Hours(4));
  Caller node = AttestNode("web-1");
  Counts before = Stats();
  ASSERT_OK_AND_ASSIGN(
      IssuedCertificate issued,
      authority_->SignWorkload(
          node, Csr("spiffe://example.org/web", {"web.internal"}),
          absl::Hours(2)));
  EXPECT_THAT(issued.leaf.UriSans(), ElementsAre("spiffe://example.org/web"));
  EXPECT_THAT(issued.leaf.DnsSans(), ElementsAre("web.internal"));
  EXPECT_FALSE(issued.leaf.IsCa());
  EXPECT_EQ(X509_get_extended_key_usage(issued.leaf.get()),
            static_cast<uint32_t>(XKU_SSL_SERVER | XKU_SSL_CLIENT));
  EXPECT_EQ(issued.leaf.NotBefore(), kStart - absl::Seconds(60));
  EXPECT_EQ(issued.leaf.NotAfter(), kStart + absl::Hours(2));
  EXPECT_THAT(VerifyChain(issued, pki::VerifyPurpose::kTlsServer), IsOk());
  EXPECT_THAT(VerifyChain(issued, pki::VerifyPurpose::kTlsClient), IsOk());

  EXPECT_EQ(Stats().certificates, before.certificates + 1);
  ASSERT_OK_AND_ASSIGN(std::optional<store::CertificateRecord> record,
                       store_->GetCertificate(issued.leaf.SerialHex()));
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->kind, store::CertificateKind::kWorkload);
  EXPECT_EQ(record->node_name, "web-1");
  EXPECT_EQ(record->spiffe_id, "spiffe://example.org/web");
  EXPECT_THAT(record->dns_names, ElementsAre("web.internal"));
  EXPECT_EQ(record->not_after, kStart + absl::Hours(2));
}

TEST_F(AuthorityTest, SignWorkloadDefaultTtlIsLoweredToTheEntryMax) {
  AddEntry("*", "spiffe://example.org/short", {}, absl::Minutes(20));
  AddEntry("*", "spiffe://example.org/long");
  Caller node = AttestNode("web-1");
  ASSERT_OK_AND_ASSIGN(
      IssuedCertificate short_cert,
      authority_->SignWorkload(node, Csr("spiffe://example.org/short"),
                               std::nullopt));
  EXPECT_EQ(short_cert.leaf.NotAfter(), kStart + absl::Minutes(20));
  ASSERT_OK_AND_ASSIGN(
      IssuedCertificate long_cert,
      authority_->SignWorkload(node, Csr("spiffe://example.org/long"),
                               std::nullopt));
  EXPECT_EQ(long_cert.leaf.NotAfter(), kStart + config_.default_ttl);
}

TEST_F(AuthorityTest, NodeCannotGetAnIdentityGrantedOnlyToAnotherNode) {
  AddEntry("db-*", "spiffe://example.org/db", {"db.internal"});
  AddEntry("web-*", "spiffe://example.org/web", {"web.internal"});
  Caller web = AttestNode("web-1");
  Caller db = AttestNode("db-1");
  Counts before = Stats();
  EXPECT_THAT(authority_->SignWorkload(web, Csr("spiffe://example.org/db"),
                                       std::nullopt),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       "node web-1 is not allowed spiffe://example.org/db: no "
                       "entry grants it"));
  // Nor another node's DNS name under its own identity.
  EXPECT_THAT(
      authority_->SignWorkload(
          web, Csr("spiffe://example.org/web", {"db.internal"}), std::nullopt),
      StatusIs(absl::StatusCode::kPermissionDenied,
               "node web-1 is not allowed DNS name db.internal with "
               "spiffe://example.org/web: no entry grants it"));
  EXPECT_EQ(Stats(), before);
  // The owner gets it.
  EXPECT_THAT(authority_->SignWorkload(db, Csr("spiffe://example.org/db"),
                                       std::nullopt),
              IsOk());
}

TEST_F(AuthorityTest, SignWorkloadRefusesBadRequests) {
  AddEntry("web-*", "spiffe://example.org/web", {"web.internal"});
  Caller node = AttestNode("web-1");
  Counts before = Stats();
  EXPECT_THAT(authority_->SignWorkload(node, Csr("spiffe://example.org/web"),
                                       absl::Hours(48)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "TTL 48h is outside the allowed range [1m, 24h]"));
  EXPECT_THAT(authority_->SignWorkload(node, Csr("spiffe://example.org/web"),
                                       absl::Seconds(5)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "TTL 5s is outside the allowed range [1m, 24h]"));
  EXPECT_THAT(authority_->SignWorkload(node, Csr("spiffe://other.org/x"),
                                       std::nullopt),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "SPIFFE ID spiffe://other.org/x is outside trust "
                       "domain example.org"));
  EXPECT_THAT(authority_->SignWorkload(node, Csr("", {"web.internal"}),
                                       std::nullopt),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("CSR has 0 URI SANs")));
  EXPECT_THAT(authority_->SignWorkload(
                  node, Csr("spiffe://example.org/rotor/node/web-1"),
                  std::nullopt),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is reserved")));
  EXPECT_THAT(authority_->SignWorkload(node, "garbage", std::nullopt),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("CSR is not valid DER PKCS#10")));
  EXPECT_THAT(authority_->SignWorkload(node, std::string(20000, 'x'),
                                       std::nullopt),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("exceeds the 16384-byte limit")));
  EXPECT_EQ(Stats(), before);
}

TEST_F(AuthorityTest, SignWorkloadRateLimitPerNode) {
  config_.rate_limit.per_node_burst = 5;
  authority_.reset();
  ASSERT_OK_AND_ASSIGN(authority_,
                       Authority::Create(KeysOf(*ca_), config_, store_.get(),
                                         &clock_, &random_));
  AddEntry("*", "spiffe://example.org/web");
  Caller web1 = AttestNode("web-1");
  Caller web2 = AttestNode("web-2");
  const std::string csr = Csr("spiffe://example.org/web");
  for (int i = 0; i < config_.rate_limit.per_node_burst; ++i) {
    ASSERT_OK(authority_->SignWorkload(web1, csr, std::nullopt).status()) << i;
  }
  Counts before = Stats();
  EXPECT_THAT(authority_->SignWorkload(web1, csr, std::nullopt),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       "rate limit for node web-1 exceeded; retry in 1.0s"));
  clock_.Advance(absl::Milliseconds(600));
  EXPECT_THAT(authority_->SignWorkload(web1, csr, std::nullopt),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       "rate limit for node web-1 exceeded; retry in 0.4s"));
  // RenewNode draws from the same bucket.
  EXPECT_THAT(authority_->RenewNode(web1, csr),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("rate limit for node web-1 exceeded")));
  EXPECT_EQ(Stats(), before);
  // Other nodes are not affected.
  EXPECT_THAT(authority_->SignWorkload(web2, csr, std::nullopt), IsOk());
  clock_.Advance(absl::Milliseconds(400));
  EXPECT_THAT(authority_->SignWorkload(web1, csr, std::nullopt), IsOk());
}

TEST_F(AuthorityTest, SignWorkloadStoresNothingWhenTheStoreFails) {
  AddEntry("*", "spiffe://example.org/web");
  Caller node = AttestNode("web-1");
  Counts before = Stats();
  const uint64_t issued = authority_->stats().issued;
  store_->fail_put = true;
  EXPECT_THAT(authority_->SignWorkload(node, Csr("spiffe://example.org/web"),
                                       std::nullopt),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("injected fault")));
  EXPECT_EQ(Stats(), before);
  EXPECT_EQ(authority_->stats().issued, issued);
}

TEST_F(AuthorityTest, FullStoreIsUnavailableNotRateLimited) {
  AddEntry("*", "spiffe://example.org/web");
  Caller node = AttestNode("web-1");
  Counts before = Stats();
  store_->full = true;
  EXPECT_THAT(authority_->SignWorkload(node, Csr("spiffe://example.org/web"),
                                       std::nullopt),
              StatusIs(absl::StatusCode::kUnavailable,
                       "certificate store is not writable: store reached its "
                       "size limit (store_max_size_mb 1)"));
  EXPECT_EQ(Stats(), before);
}

// --- AdminService ---

TEST_F(AuthorityTest, NonAdminIsRefusedOnAdminCalls) {
  Caller node = AttestNode("web-1");
  Counts before = Stats();
  const std::string message =
      "caller spiffe://example.org/rotor/node/web-1 is not an admin "
      "(spiffe://example.org/rotor/admin/*)";
  auto denied = StatusIs(absl::StatusCode::kPermissionDenied, message);
  EXPECT_THAT(authority_->CreateJoinToken(node, "web-9", absl::Hours(1)),
              denied);
  EXPECT_THAT(authority_->CreateEntry(
                  node, EntryRequest{"*", "spiffe://example.org/web", {}, {}}),
              denied);
  EXPECT_THAT(authority_->ListEntries(node), denied);
  EXPECT_THAT(authority_->DeleteEntry(node, "e-1"), denied);
  EXPECT_THAT(authority_->ListCertificates(node, CertificateQuery{}), denied);
  EXPECT_THAT(authority_->GetCertificate(node, node.serial), denied);
  EXPECT_THAT(authority_->RevokeCertificate(node, node.serial, ""), denied);
  // A workload identity, another trust domain's admin, nobody.
  EXPECT_THAT(authority_->AuthorizeAdmin(
                  Caller{"spiffe://example.org/web", "1", "p"}),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("is not an admin")));
  EXPECT_THAT(authority_->AuthorizeAdmin(
                  Caller{"spiffe://other.org/rotor/admin/x", "1", "p"}),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("is not an admin")));
  EXPECT_THAT(authority_->ListEntries(Caller{}),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("need an admin client certificate")));
  EXPECT_EQ(Stats(), before);
  EXPECT_GE(authority_->stats().refused_by_code.at(
                absl::StatusCode::kPermissionDenied),
            7u);
}

TEST_F(AuthorityTest, EntriesAreCreatedListedAndDeleted) {
  ASSERT_OK_AND_ASSIGN(
      store::RegistrationEntry entry,
      authority_->CreateEntry(
          kAdmin, EntryRequest{"web-*", "spiffe://example.org/web",
                               {"web.internal"}, absl::Hours(2)}));
  EXPECT_THAT(entry.id, StartsWith("e-"));
  EXPECT_EQ(entry.id.size(), 2u + 16u);
  EXPECT_EQ(entry.created_by, kAdmin.spiffe_id);
  EXPECT_EQ(entry.created_at, kStart);
  ASSERT_OK_AND_ASSIGN(std::vector<store::RegistrationEntry> entries,
                       authority_->ListEntries(kAdmin));
  ASSERT_THAT(entries, SizeIs(1));
  EXPECT_EQ(entries[0], entry);

  ASSERT_OK(authority_->DeleteEntry(kAdmin, entry.id));
  ASSERT_OK_AND_ASSIGN(entries, authority_->ListEntries(kAdmin));
  EXPECT_THAT(entries, IsEmpty());
  Counts before = Stats();
  EXPECT_THAT(authority_->DeleteEntry(kAdmin, entry.id),
              StatusIs(absl::StatusCode::kNotFound,
                       absl::StrCat("entry ", entry.id, " not found")));
  EXPECT_THAT(authority_->DeleteEntry(kAdmin, ""),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "entry id is empty"));
  EXPECT_EQ(Stats(), before);
}

TEST_F(AuthorityTest, CreateEntryRefusesWhatPolicyForbids) {
  Counts before = Stats();
  EXPECT_THAT(authority_->CreateEntry(
                  kAdmin, EntryRequest{"*",
                                       "spiffe://example.org/rotor/admin/x",
                                       {}, {}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is reserved")));
  EXPECT_THAT(authority_->CreateEntry(
                  kAdmin, EntryRequest{"*", "spiffe://other.org/web", {}, {}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "SPIFFE ID spiffe://other.org/web is outside trust "
                       "domain example.org"));
  EXPECT_THAT(authority_->CreateEntry(
                  kAdmin, EntryRequest{"*", "spiffe://example.org/web", {},
                                       absl::Hours(100)}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "max_ttl 100h is above the CA's max_ttl (24h)"));
  EXPECT_EQ(Stats(), before);
}

TEST_F(AuthorityTest, GetCertificateAcceptsPastedSerials) {
  Caller node = AttestNode("web-1");
  std::string pasted = absl::AsciiStrToUpper(absl::StrCat("00", node.serial));
  ASSERT_OK_AND_ASSIGN(store::CertificateRecord record,
                       authority_->GetCertificate(kAdmin, pasted));
  EXPECT_EQ(record.serial, node.serial);
  EXPECT_THAT(authority_->GetCertificate(kAdmin, "abcdef"),
              StatusIs(absl::StatusCode::kNotFound,
                       "certificate abcdef not found"));
  EXPECT_THAT(authority_->GetCertificate(kAdmin, "xyz"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("serial \"xyz\" is not hexadecimal")));
}

TEST_F(AuthorityTest, ListCertificatesFilters) {
  AddEntry("*", "spiffe://example.org/web");
  Caller web = AttestNode("web-1");
  Caller db = AttestNode("db-1");
  ASSERT_OK_AND_ASSIGN(
      IssuedCertificate workload,
      authority_->SignWorkload(web, Csr("spiffe://example.org/web"),
                               absl::Minutes(30)));
  ASSERT_OK(authority_->RevokeCertificate(kAdmin, db.serial, "").status());

  ASSERT_OK_AND_ASSIGN(store::CertificatePage all,
                       authority_->ListCertificates(kAdmin, {}));
  EXPECT_THAT(all.records, SizeIs(3));

  CertificateQuery by_node;
  by_node.node_name = "web-1";
  ASSERT_OK_AND_ASSIGN(store::CertificatePage page,
                       authority_->ListCertificates(kAdmin, by_node));
  EXPECT_THAT(page.records, SizeIs(2));

  CertificateQuery revoked;
  revoked.revoked_only = true;
  ASSERT_OK_AND_ASSIGN(page, authority_->ListCertificates(kAdmin, revoked));
  ASSERT_THAT(page.records, SizeIs(1));
  EXPECT_EQ(page.records[0].serial, db.serial);

  CertificateQuery expiring;
  expiring.expiring_within = absl::Hours(1);
  ASSERT_OK_AND_ASSIGN(page, authority_->ListCertificates(kAdmin, expiring));
  ASSERT_THAT(page.records, SizeIs(1));
  EXPECT_EQ(page.records[0].serial, workload.leaf.SerialHex());

  CertificateQuery paged;
  paged.page_size = 2;
  ASSERT_OK_AND_ASSIGN(page, authority_->ListCertificates(kAdmin, paged));
  EXPECT_THAT(page.records, SizeIs(2));
  ASSERT_FALSE(page.next_cursor.empty());
  paged.page_token = page.next_cursor;
  ASSERT_OK_AND_ASSIGN(page, authority_->ListCertificates(kAdmin, paged));
  EXPECT_THAT(page.records, SizeIs(1));

  CertificateQuery negative;
  negative.expiring_within = -absl::Hours(1);
  EXPECT_THAT(authority_->ListCertificates(kAdmin, negative),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "expiring_within must not be negative, got -1h"));
}

// --- Revocation ---

TEST_F(AuthorityTest, RevokeRecordsReasonAndRefusesRepeats) {
  Caller node = AttestNode("web-1");
  ASSERT_OK_AND_ASSIGN(
      store::CertificateRecord record,
      authority_->RevokeCertificate(kAdmin, node.serial, "key-compromise"));
  EXPECT_TRUE(record.revoked);
  EXPECT_EQ(record.revocation_reason, pki::RevocationReason::kKeyCompromise);
  EXPECT_EQ(record.revoked_at, kStart);
  EXPECT_EQ(record.revoked_by, kAdmin.spiffe_id);
  EXPECT_EQ(authority_->stats().revoked, 1u);

  Counts before = Stats();
  EXPECT_THAT(authority_->RevokeCertificate(kAdmin, node.serial, ""),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr(absl::StrCat("certificate ", node.serial,
                                              " is already revoked"))));
  EXPECT_THAT(authority_->RevokeCertificate(kAdmin, "abcdef", ""),
              StatusIs(absl::StatusCode::kNotFound,
                       "certificate abcdef not found"));
  EXPECT_THAT(authority_->RevokeCertificate(kAdmin, "abcdef", "bogus"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unknown revocation reason \"bogus\"")));
  EXPECT_THAT(authority_->RevokeCertificate(kAdmin, "not hex", ""),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("serial \"not hex\" is not hexadecimal")));
  EXPECT_EQ(Stats(), before);
}

TEST_F(AuthorityTest, RevokedSerialIsOnTheCrlWithinASecond) {
  AddEntry("*", "spiffe://example.org/web");
  Caller node = AttestNode("web-1");
  ASSERT_OK_AND_ASSIGN(
      IssuedCertificate workload,
      authority_->SignWorkload(node, Csr("spiffe://example.org/web"),
                               std::nullopt));
  const CrlSet before = authority_->GetCrl();
  ASSERT_THAT(before.der, SizeIs(2));
  EXPECT_THAT(pki::VerifyCertificate(workload.leaf, workload.chain,
                                     authority_->GetBundle().roots,
                                     clock_.Now(),
                                     pki::VerifyPurpose::kTlsServer,
                                     before.der),
              IsOk());

  const absl::Time start = absl::Now();  // the test's own stopwatch
  ASSERT_OK(authority_
                ->RevokeCertificate(kAdmin, workload.leaf.SerialHex(),
                                    "superseded")
                .status());
  ASSERT_TRUE(authority_->crl_publisher().WaitForNumberAbove(before.number,
                                                             kDeadline));
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));

  const CrlSet after = authority_->GetCrl();
  EXPECT_GT(after.number, before.number);
  EXPECT_THAT(pki::VerifyCertificate(workload.leaf, workload.chain,
                                     authority_->GetBundle().roots,
                                     clock_.Now(),
                                     pki::VerifyPurpose::kTlsServer, after.der),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("certificate revoked (depth 0)")));
  // The node's own certificate is still good.
  ASSERT_OK_AND_ASSIGN(store::CertificateRecord node_record,
                       authority_->GetCertificate(kAdmin, node.serial));
  EXPECT_FALSE(node_record.revoked);
}

TEST_F(AuthorityTest, RevocationIsToldOnlyToTheHoldersNode) {
  AddEntry("*", "spiffe://example.org/web");
  Caller web1 = AttestNode("web-1");
  Caller web2 = AttestNode("web-2");
  auto sub1 = authority_->updates().Subscribe("web-1", nullptr);
  auto sub2 = authority_->updates().Subscribe("web-2", nullptr);
  ASSERT_OK_AND_ASSIGN(
      IssuedCertificate workload,
      authority_->SignWorkload(web1, Csr("spiffe://example.org/web"),
                               std::nullopt));
  const uint64_t crl_before = authority_->GetCrl().number;
  ASSERT_OK(authority_
                ->RevokeCertificate(kAdmin, workload.leaf.SerialHex(),
                                    "keyCompromise")
                .status());
  ASSERT_TRUE(
      authority_->crl_publisher().WaitForNumberAbove(crl_before, kDeadline));

  auto drain = [](UpdateHub::Subscription& sub) {
    std::vector<rotor::v1::Update> out;
    while (auto u = sub.Next()) out.push_back(*std::move(u));
    return out;
  };
  std::vector<rotor::v1::Update> got1 = drain(*sub1);
  std::vector<rotor::v1::Update> got2 = drain(*sub2);
  int revoked1 = 0;
  for (const rotor::v1::Update& u : got1) {
    if (!u.has_revoked()) continue;
    ++revoked1;
    EXPECT_EQ(u.revoked().serial(), workload.leaf.SerialHex());
    EXPECT_EQ(u.revoked().reason(), "keyCompromise");
    EXPECT_EQ(u.revoked().revoked_at().seconds(), absl::ToUnixSeconds(kStart));
  }
  EXPECT_EQ(revoked1, 1);
  for (const rotor::v1::Update& u : got2) {
    EXPECT_FALSE(u.has_revoked()) << "web-2 was told of web-1's revocation";
  }
  // Both hear of the new CRL.
  auto has_crl_above = [&](const std::vector<rotor::v1::Update>& updates) {
    for (const rotor::v1::Update& u : updates) {
      if (u.has_crl() && u.crl().number() > crl_before) return true;
    }
    return false;
  };
  EXPECT_TRUE(has_crl_above(got1));
  EXPECT_TRUE(has_crl_above(got2));
}

// --- The CA's server certificate ---

TEST_F(AuthorityTest, IssuesAndRecordsTheServerCertificate) {
  ASSERT_OK_AND_ASSIGN(pki::PrivateKey key,
                       pki::PrivateKey::Generate(pki::KeyType::kEcP256));
  ASSERT_OK_AND_ASSIGN(std::string public_key_der, key.PublicKeyDer());
  ASSERT_OK_AND_ASSIGN(
      IssuedCertificate issued,
      authority_->IssueServerCertificate(public_key_der,
                                         {"localhost", "127.0.0.1", "::1"}));
  EXPECT_THAT(issued.leaf.DnsSans(), ElementsAre("localhost"));
  EXPECT_THAT(issued.leaf.IpSans(), SizeIs(2));
  EXPECT_THAT(issued.leaf.UriSans(), IsEmpty());
  EXPECT_EQ(issued.leaf.NotAfter(), kStart + config_.server_cert_ttl);
  EXPECT_THAT(VerifyChain(issued, pki::VerifyPurpose::kTlsServer), IsOk());
  ASSERT_OK_AND_ASSIGN(std::optional<store::CertificateRecord> record,
                       store_->GetCertificate(issued.leaf.SerialHex()));
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->kind, store::CertificateKind::kServer);

  Counts before = Stats();
  EXPECT_THAT(authority_->IssueServerCertificate(public_key_der, {}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("needs at least one name")));
  EXPECT_THAT(authority_->IssueServerCertificate(public_key_der, {"bad_name"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("DNS name \"bad_name\"")));
  EXPECT_EQ(Stats(), before);
}

}  // namespace
}  // namespace rotor::ca
