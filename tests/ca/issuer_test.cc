#include "ca/issuer.h"

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pki/certificate_builder.h"
#include "pki/key.h"
#include "pki/ssl_ptr.h"
#include "pki/verify.h"
#include "tests/testing/fakes.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_ca.h"

namespace rotor::ca {
namespace {

using ::rotor::testing::FakeRandom;
using ::rotor::testing::IsOk;
using ::rotor::testing::MakeTestCa;
using ::rotor::testing::StatusIs;
using ::rotor::testing::TestCa;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const absl::Time kNow = absl::FromUnixSeconds(1800000000);
constexpr char kCrlUrl[] = "http://ca.example.org:8080/crl";

pki::PrivateKey CloneKey(const pki::PrivateKey& key) {
  absl::StatusOr<pki::SecretString> pem = key.ToPem();
  EXPECT_TRUE(pem.ok());
  absl::StatusOr<pki::PrivateKey> copy = pki::PrivateKey::FromPem(pem->view());
  EXPECT_TRUE(copy.ok());
  return *std::move(copy);
}

// The CRL distribution point URI of `cert`, or "" without one.
std::string CrlDistributionPoint(const pki::Certificate& cert) {
  pki::SslPtr<CRL_DIST_POINTS> points(static_cast<CRL_DIST_POINTS*>(
      X509_get_ext_d2i(cert.get(), NID_crl_distribution_points, nullptr,
                       nullptr)));
  if (points == nullptr || sk_DIST_POINT_num(points.get()) != 1) return "";
  DIST_POINT* point = sk_DIST_POINT_value(points.get(), 0);
  if (point->distpoint == nullptr || point->distpoint->type != 0) return "";
  GENERAL_NAMES* names = point->distpoint->name.fullname;
  if (sk_GENERAL_NAME_num(names) != 1) return "";
  GENERAL_NAME* name = sk_GENERAL_NAME_value(names, 0);
  if (name->type != GEN_URI) return "";
  const ASN1_IA5STRING* uri = name->d.uniformResourceIdentifier;
  return std::string(reinterpret_cast<const char*>(uri->data),
                     static_cast<size_t>(uri->length));
}

class IssuerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(ca_, MakeTestCa(pki::KeyType::kEcP256, kNow));
    ASSERT_OK_AND_ASSIGN(
        issuer_, Issuer::Create(ca_->intermediate,
                                CloneKey(ca_->intermediate_key), kCrlUrl));
    ASSERT_OK_AND_ASSIGN(pki::PrivateKey key,
                         pki::PrivateKey::Generate(pki::KeyType::kEcP256));
    ASSERT_OK_AND_ASSIGN(public_key_der_, key.PublicKeyDer());
    leaf_key_.emplace(std::move(key));
  }

  absl::Status Verify(const pki::Certificate& cert, pki::VerifyPurpose purpose,
                      absl::Time at = kNow) {
    return pki::VerifyCertificate(cert, {ca_->intermediate}, {ca_->root}, at,
                                  purpose);
  }

  std::optional<TestCa> ca_;
  std::unique_ptr<Issuer> issuer_;
  std::optional<pki::PrivateKey> leaf_key_;
  std::string public_key_der_;
  FakeRandom random_;
};

TEST_F(IssuerTest, IssuesWorkloadCertificate) {
  ASSERT_OK_AND_ASSIGN(
      pki::Certificate cert,
      issuer_->IssueWorkload(public_key_der_, "spiffe://example.org/web",
                             {"web.internal", "*.web.internal"},
                             absl::Hours(1), kNow, random_));
  EXPECT_THAT(cert.UriSans(), ElementsAre("spiffe://example.org/web"));
  EXPECT_THAT(cert.DnsSans(), ElementsAre("web.internal", "*.web.internal"));
  EXPECT_THAT(cert.IpSans(), IsEmpty());
  EXPECT_FALSE(cert.IsCa());
  EXPECT_EQ(X509_get_extended_key_usage(cert.get()),
            static_cast<uint32_t>(XKU_SSL_SERVER | XKU_SSL_CLIENT));
  EXPECT_EQ(cert.NotBefore(), kNow - pki::kBackdate);
  EXPECT_EQ(cert.NotAfter(), kNow + absl::Hours(1));
  EXPECT_TRUE(leaf_key_->Matches(cert.PublicKey()));
  EXPECT_EQ(CrlDistributionPoint(cert), kCrlUrl);
  EXPECT_THAT(Verify(cert, pki::VerifyPurpose::kTlsServer), IsOk());
  EXPECT_THAT(Verify(cert, pki::VerifyPurpose::kTlsClient), IsOk());
}

TEST_F(IssuerTest, IssuesNodeCertificateForClientAuthOnly) {
  ASSERT_OK_AND_ASSIGN(
      pki::Certificate cert,
      issuer_->IssueNode(public_key_der_,
                         "spiffe://example.org/rotor/node/web-1",
                         absl::Hours(24), kNow, random_));
  EXPECT_THAT(cert.UriSans(),
              ElementsAre("spiffe://example.org/rotor/node/web-1"));
  EXPECT_THAT(cert.DnsSans(), IsEmpty());
  EXPECT_EQ(X509_get_extended_key_usage(cert.get()),
            static_cast<uint32_t>(XKU_SSL_CLIENT));
  EXPECT_THAT(Verify(cert, pki::VerifyPurpose::kTlsClient), IsOk());
  EXPECT_THAT(Verify(cert, pki::VerifyPurpose::kTlsServer),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unsuitable certificate purpose")));
}

TEST_F(IssuerTest, IssuesServerCertificateWithIpAddresses) {
  ASSERT_OK_AND_ASSIGN(
      pki::Certificate cert,
      issuer_->IssueServer(public_key_der_, {"localhost"}, {"127.0.0.1", "::1"},
                           absl::Hours(24), kNow, random_));
  EXPECT_THAT(cert.UriSans(), IsEmpty());
  EXPECT_THAT(cert.DnsSans(), ElementsAre("localhost"));
  EXPECT_EQ(cert.IpSans().size(), 2u);
  EXPECT_EQ(X509_get_extended_key_usage(cert.get()),
            static_cast<uint32_t>(XKU_SSL_SERVER));
  EXPECT_THAT(Verify(cert, pki::VerifyPurpose::kTlsServer), IsOk());
}

TEST_F(IssuerTest, NotAfterNeverPassesTheIssuer) {
  ASSERT_OK_AND_ASSIGN(
      pki::Certificate cert,
      issuer_->IssueWorkload(public_key_der_, "spiffe://example.org/web", {},
                             absl::Hours(24 * 1000), kNow, random_));
  EXPECT_EQ(cert.NotAfter(), ca_->intermediate.NotAfter());
}

TEST_F(IssuerTest, EachCertificateGetsANewSerial) {
  ASSERT_OK_AND_ASSIGN(
      pki::Certificate a,
      issuer_->IssueWorkload(public_key_der_, "spiffe://example.org/web", {},
                             absl::Hours(1), kNow, random_));
  ASSERT_OK_AND_ASSIGN(
      pki::Certificate b,
      issuer_->IssueWorkload(public_key_der_, "spiffe://example.org/web", {},
                             absl::Hours(1), kNow, random_));
  EXPECT_NE(a.SerialHex(), b.SerialHex());
}

TEST_F(IssuerTest, RefusesToSignAfterTheCaExpired) {
  EXPECT_THAT(
      issuer_->IssueWorkload(public_key_der_, "spiffe://example.org/web", {},
                             absl::Hours(1),
                             ca_->intermediate.NotAfter() + absl::Seconds(1),
                             random_),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("expired at")));
}

TEST_F(IssuerTest, RandomFailurePassesThrough) {
  random_.set_fail(true);
  EXPECT_THAT(
      issuer_->IssueWorkload(public_key_der_, "spiffe://example.org/web", {},
                             absl::Hours(1), kNow, random_),
      StatusIs(absl::StatusCode::kInternal,
               HasSubstr("fake random source failed")));
}

TEST_F(IssuerTest, CreateRefusesKeyOfAnotherCertificate) {
  EXPECT_THAT(Issuer::Create(ca_->intermediate, CloneKey(ca_->root_key), ""),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("issuing key does not match the issuing "
                                 "certificate")));
}

TEST_F(IssuerTest, CreateRefusesNonCaCertificate) {
  ASSERT_OK_AND_ASSIGN(
      pki::Certificate leaf,
      issuer_->IssueWorkload(public_key_der_, "spiffe://example.org/web", {},
                             absl::Hours(1), kNow, random_));
  EXPECT_THAT(Issuer::Create(leaf, CloneKey(*leaf_key_), ""),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is not a CA")));
}

// --- The re-check against the request ---

class CheckIssuedTest : public IssuerTest {
 protected:
  void SetUp() override {
    IssuerTest::SetUp();
    leaf_.public_key_der = public_key_der_;
    leaf_.spiffe_id = "spiffe://example.org/web";
    leaf_.dns_names = {"web.internal"};
    leaf_.usage = pki::CertificateUsage::kWorkload;
    leaf_.ttl = absl::Hours(1);
    ASSERT_OK_AND_ASSIGN(cert_, issuer_->Issue(leaf_, kNow, random_));
  }
  pki::LeafTemplate leaf_;
  std::optional<pki::Certificate> cert_;
};

TEST_F(CheckIssuedTest, AcceptsWhatWasAsked) {
  leaf_.crl_url = kCrlUrl;
  EXPECT_THAT(CheckIssued(*cert_, leaf_, ca_->intermediate, kNow), IsOk());
}

TEST_F(CheckIssuedTest, CatchesOtherUri) {
  leaf_.spiffe_id = "spiffe://example.org/db";
  EXPECT_THAT(CheckIssued(*cert_, leaf_, ca_->intermediate, kNow),
              StatusIs(absl::StatusCode::kInternal,
                       "issued certificate does not match the request: URI "
                       "SANs [spiffe://example.org/web], asked for "
                       "[spiffe://example.org/db]"));
}

TEST_F(CheckIssuedTest, CatchesExtraDnsName) {
  leaf_.dns_names = {};
  EXPECT_THAT(CheckIssued(*cert_, leaf_, ca_->intermediate, kNow),
              StatusIs(absl::StatusCode::kInternal,
                       HasSubstr("DNS SANs [web.internal], asked for []")));
}

TEST_F(CheckIssuedTest, CatchesMissingIp) {
  leaf_.ip_addresses = {"10.0.0.1"};
  EXPECT_THAT(CheckIssued(*cert_, leaf_, ca_->intermediate, kNow),
              StatusIs(absl::StatusCode::kInternal,
                       HasSubstr("IP SANs [], asked for [10.0.0.1]")));
}

TEST_F(CheckIssuedTest, CatchesWrongEku) {
  leaf_.usage = pki::CertificateUsage::kNode;
  EXPECT_THAT(CheckIssued(*cert_, leaf_, ca_->intermediate, kNow),
              StatusIs(absl::StatusCode::kInternal,
                       HasSubstr("extendedKeyUsage flags 0x3, expected 0x2")));
}

TEST_F(CheckIssuedTest, CatchesOtherPublicKey) {
  ASSERT_OK_AND_ASSIGN(pki::PrivateKey other,
                       pki::PrivateKey::Generate(pki::KeyType::kEcP256));
  ASSERT_OK_AND_ASSIGN(leaf_.public_key_der, other.PublicKeyDer());
  EXPECT_THAT(CheckIssued(*cert_, leaf_, ca_->intermediate, kNow),
              StatusIs(absl::StatusCode::kInternal,
                       HasSubstr("the public key is not the requested one")));
}

TEST_F(CheckIssuedTest, CatchesOtherIssuer) {
  EXPECT_THAT(CheckIssued(*cert_, leaf_, ca_->root, kNow),
              StatusIs(absl::StatusCode::kInternal,
                       HasSubstr("is not the issuing CA")));
}

TEST_F(CheckIssuedTest, CatchesLongerLifetime) {
  leaf_.ttl = absl::Minutes(30);
  EXPECT_THAT(CheckIssued(*cert_, leaf_, ca_->intermediate, kNow),
              StatusIs(absl::StatusCode::kInternal,
                       HasSubstr("is past the requested TTL")));
}

TEST_F(CheckIssuedTest, CatchesCaCertificate) {
  // The intermediate has the SANs of this request, but is a CA.
  leaf_.spiffe_id = "spiffe://example.org";
  leaf_.dns_names = {};
  EXPECT_THAT(CheckIssued(ca_->intermediate, leaf_, ca_->root, kNow),
              StatusIs(absl::StatusCode::kInternal,
                       "issued certificate does not match the request: it is "
                       "a CA certificate"));
}

}  // namespace
}  // namespace rotor::ca
