#include "pki/verify.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pki/certificate_builder.h"
#include "pki/crl.h"
#include "pki/key.h"
#include "tests/testing/fakes.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_ca.h"

namespace rotor::pki {
namespace {

using ::rotor::testing::FakeRandom;
using ::rotor::testing::MakeTestCa;
using ::rotor::testing::StatusIs;
using ::rotor::testing::TestCa;
using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1800000000);

class VerifyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<TestCa> ca = MakeTestCa(KeyType::kEcP256, kNow);
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = new TestCa(*std::move(ca));
    absl::StatusOr<TestCa> other = MakeTestCa(KeyType::kEcP256, kNow);
    ASSERT_TRUE(other.ok()) << other.status();
    other_ca_ = new TestCa(*std::move(other));
  }
  static void TearDownTestSuite() {
    delete ca_;
    delete other_ca_;
    ca_ = other_ca_ = nullptr;
  }

  Certificate Leaf(CertificateUsage usage, absl::Duration ttl = absl::Hours(1),
                   absl::Time now = kNow) {
    absl::StatusOr<PrivateKey> key = PrivateKey::Generate(KeyType::kEcP256);
    EXPECT_TRUE(key.ok()) << key.status();
    LeafTemplate leaf;
    leaf.public_key_der = *key->PublicKeyDer();
    leaf.spiffe_id = "spiffe://example.org/web";
    leaf.dns_names = {"web.internal"};
    leaf.usage = usage;
    leaf.ttl = ttl;
    absl::StatusOr<Certificate> cert =
        BuildLeafCertificate(leaf, ca_->signer(), now, random_);
    EXPECT_TRUE(cert.ok()) << cert.status();
    return *std::move(cert);
  }

  absl::Status Verify(const Certificate& leaf, absl::Time at,
                      VerifyPurpose purpose) {
    return VerifyCertificate(leaf, {ca_->intermediate}, {ca_->root}, at,
                             purpose);
  }

  static TestCa* ca_;
  static TestCa* other_ca_;
  FakeRandom random_;
};

TestCa* VerifyTest::ca_ = nullptr;
TestCa* VerifyTest::other_ca_ = nullptr;

TEST_F(VerifyTest, WorkloadLeafVerifiesForEveryPurpose) {
  Certificate leaf = Leaf(CertificateUsage::kWorkload);
  EXPECT_OK(Verify(leaf, kNow, VerifyPurpose::kAny));
  EXPECT_OK(Verify(leaf, kNow, VerifyPurpose::kTlsServer));
  EXPECT_OK(Verify(leaf, kNow, VerifyPurpose::kTlsClient));
}

TEST_F(VerifyTest, ParsedLeafVerifiesToo) {
  Certificate leaf = Leaf(CertificateUsage::kWorkload);
  ASSERT_OK_AND_ASSIGN(Certificate parsed, Certificate::FromPem(leaf.ToPem()));
  EXPECT_OK(Verify(parsed, kNow, VerifyPurpose::kTlsServer));
}

TEST_F(VerifyTest, VerifiesAtTheEdgesOfTheValidity) {
  Certificate leaf = Leaf(CertificateUsage::kWorkload);
  EXPECT_OK(Verify(leaf, leaf.NotBefore(), VerifyPurpose::kAny));
  // OpenSSL counts the notAfter second itself as expired.
  EXPECT_OK(
      Verify(leaf, leaf.NotAfter() - absl::Seconds(1), VerifyPurpose::kAny));
  EXPECT_THAT(Verify(leaf, leaf.NotAfter(), VerifyPurpose::kAny),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("certificate has expired (depth 0)")));
}

TEST_F(VerifyTest, ExpiredLeafFails) {
  Certificate leaf = Leaf(CertificateUsage::kWorkload);
  EXPECT_THAT(Verify(leaf, leaf.NotAfter() + absl::Seconds(1),
                     VerifyPurpose::kTlsServer),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("certificate has expired (depth 0)")));
}

TEST_F(VerifyTest, NotYetValidLeafFails) {
  // Issued an hour after the CA, so only the leaf is not yet valid.
  Certificate leaf =
      Leaf(CertificateUsage::kWorkload, absl::Hours(1), kNow + absl::Hours(1));
  EXPECT_THAT(
      Verify(leaf, leaf.NotBefore() - absl::Seconds(1), VerifyPurpose::kAny),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("certificate is not yet valid (depth 0)")));
}

TEST_F(VerifyTest, ExpiredIntermediateFails) {
  // A leaf lives no longer than the intermediate, so verify one that ends
  // with it, a second after both have expired.
  Certificate leaf = Leaf(CertificateUsage::kWorkload, absl::Hours(24 * 400));
  ASSERT_EQ(leaf.NotAfter(), ca_->intermediate.NotAfter());
  EXPECT_THAT(Verify(leaf, ca_->intermediate.NotAfter() + absl::Seconds(1),
                     VerifyPurpose::kAny),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("certificate has expired (depth ")));
}

TEST_F(VerifyTest, WrongRootFails) {
  Certificate leaf = Leaf(CertificateUsage::kWorkload);
  EXPECT_THAT(VerifyCertificate(leaf, {ca_->intermediate}, {other_ca_->root},
                                kNow, VerifyPurpose::kAny),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unable to get local issuer certificate "
                                 "(depth 1)")));
}

TEST_F(VerifyTest, MissingIntermediateFails) {
  Certificate leaf = Leaf(CertificateUsage::kWorkload);
  EXPECT_THAT(
      VerifyCertificate(leaf, {}, {ca_->root}, kNow, VerifyPurpose::kAny),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("unable to get local issuer certificate "
                         "(depth 0)")));
}

TEST_F(VerifyTest, IntermediateFromAnotherCaFails) {
  Certificate leaf = Leaf(CertificateUsage::kWorkload);
  // Same subject name as the real intermediate, but another key.
  EXPECT_THAT(
      VerifyCertificate(leaf, {other_ca_->intermediate}, {other_ca_->root},
                        kNow, VerifyPurpose::kAny),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("(depth 0)")));
}

TEST_F(VerifyTest, NodeCertificateIsNotATlsServer) {
  Certificate node = Leaf(CertificateUsage::kNode);
  EXPECT_OK(Verify(node, kNow, VerifyPurpose::kTlsClient));
  EXPECT_THAT(Verify(node, kNow, VerifyPurpose::kTlsServer),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unsuitable certificate purpose (depth 0)")));
}

TEST_F(VerifyTest, ServerCertificateIsNotATlsClient) {
  Certificate server = Leaf(CertificateUsage::kServer);
  EXPECT_OK(Verify(server, kNow, VerifyPurpose::kTlsServer));
  EXPECT_THAT(Verify(server, kNow, VerifyPurpose::kTlsClient),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unsuitable certificate purpose (depth 0)")));
}

TEST_F(VerifyTest, RefusesEmptyRoots) {
  Certificate leaf = Leaf(CertificateUsage::kWorkload);
  EXPECT_THAT(VerifyCertificate(leaf, {ca_->intermediate}, {}, kNow,
                                VerifyPurpose::kAny),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("no trusted root to verify against")));
}

TEST_F(VerifyTest, IntermediateAndRootVerifyAsCas) {
  EXPECT_OK(VerifyCertificate(ca_->intermediate, {}, {ca_->root}, kNow,
                              VerifyPurpose::kAny));
  EXPECT_OK(
      VerifyCertificate(ca_->root, {}, {ca_->root}, kNow, VerifyPurpose::kAny));
}

TEST_F(VerifyTest, SeveralRootsAreTried) {
  Certificate leaf = Leaf(CertificateUsage::kWorkload);
  EXPECT_OK(VerifyCertificate(leaf, {ca_->intermediate},
                              {other_ca_->root, ca_->root}, kNow,
                              VerifyPurpose::kTlsServer));
}

// The CRLs rotor publishes: the intermediate's over leaves, the root's over
// the intermediate.
absl::StatusOr<std::vector<std::string>> Crls(
    const TestCa& ca, std::vector<RevokedCertificate> revoked_leaves,
    std::vector<RevokedCertificate> revoked_intermediates) {
  CrlOptions options;
  options.number = 1;
  options.this_update = kNow;
  options.next_update = kNow + absl::Hours(24);
  std::vector<std::string> out;
  for (auto [signer, revoked] :
       {std::make_pair(ca.signer(), revoked_leaves),
        std::make_pair(ca.root_signer(), revoked_intermediates)}) {
    absl::StatusOr<std::string> crl = BuildCrl(signer, revoked, options);
    if (!crl.ok()) return crl.status();
    out.push_back(*std::move(crl));
  }
  return out;
}

TEST_F(VerifyTest, CrlsThatDoNotListTheChainPass) {
  Certificate leaf = Leaf(CertificateUsage::kWorkload);
  ASSERT_OK_AND_ASSIGN(
      std::vector<std::string> crls,
      Crls(*ca_, {{"1234", kNow, RevocationReason::kKeyCompromise}}, {}));
  EXPECT_OK(VerifyCertificate(leaf, {ca_->intermediate}, {ca_->root},
                              kNow + absl::Minutes(1),
                              VerifyPurpose::kTlsServer, crls));
}

TEST_F(VerifyTest, RevokedLeafFailsWithCrls) {
  Certificate leaf = Leaf(CertificateUsage::kWorkload);
  ASSERT_OK_AND_ASSIGN(
      std::vector<std::string> crls,
      Crls(*ca_, {{leaf.SerialHex(), kNow, RevocationReason::kKeyCompromise}},
           {}));
  EXPECT_THAT(
      VerifyCertificate(leaf, {ca_->intermediate}, {ca_->root},
                        kNow + absl::Minutes(1), VerifyPurpose::kAny, crls),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("certificate revoked (depth 0)")));
  // Without CRLs the same chain passes.
  EXPECT_OK(VerifyCertificate(leaf, {ca_->intermediate}, {ca_->root},
                              kNow + absl::Minutes(1), VerifyPurpose::kAny));
}

TEST_F(VerifyTest, RevokedIntermediateFailsWithCrls) {
  Certificate leaf = Leaf(CertificateUsage::kWorkload);
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> crls,
                       Crls(*ca_, {},
                            {{ca_->intermediate.SerialHex(), kNow,
                              RevocationReason::kCaCompromise}}));
  EXPECT_THAT(
      VerifyCertificate(leaf, {ca_->intermediate}, {ca_->root},
                        kNow + absl::Minutes(1), VerifyPurpose::kAny, crls),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("certificate revoked (depth 1)")));
}

TEST_F(VerifyTest, MissingCrlFails) {
  Certificate leaf = Leaf(CertificateUsage::kWorkload);
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> crls, Crls(*ca_, {}, {}));
  crls.pop_back();  // no CRL from the root
  EXPECT_THAT(
      VerifyCertificate(leaf, {ca_->intermediate}, {ca_->root},
                        kNow + absl::Minutes(1), VerifyPurpose::kAny, crls),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("unable to get certificate CRL (depth 1)")));
}

TEST_F(VerifyTest, ExpiredCrlFails) {
  Certificate leaf = Leaf(CertificateUsage::kWorkload);
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> crls, Crls(*ca_, {}, {}));
  EXPECT_THAT(
      VerifyCertificate(leaf, {ca_->intermediate}, {ca_->root},
                        kNow + absl::Hours(25), VerifyPurpose::kAny, crls),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("CRL has expired (depth ")));
}

TEST_F(VerifyTest, RefusesCrlThatDoesNotParse) {
  Certificate leaf = Leaf(CertificateUsage::kWorkload);
  std::vector<std::string> crls = {"garbage"};
  EXPECT_THAT(VerifyCertificate(leaf, {ca_->intermediate}, {ca_->root}, kNow,
                                VerifyPurpose::kAny, crls),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("CRL 1 does not parse")));
}

}  // namespace
}  // namespace rotor::pki
