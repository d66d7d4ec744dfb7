#include "agent/ca_client.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_ca.h"

namespace rotor::agent {
namespace {

using ::rotor::testing::StatusIs;
using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1800000000);

class PinnedBundleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<testing::TestCa> ca =
        testing::MakeTestCa(pki::KeyType::kEcP256, kNow);
    ASSERT_OK(ca);
    ca_ = std::make_unique<testing::TestCa>(*std::move(ca));
    absl::StatusOr<testing::TestCa> other =
        testing::MakeTestCa(pki::KeyType::kEcP256, kNow);
    ASSERT_OK(other);
    other_ = std::make_unique<testing::TestCa>(*std::move(other));
  }
  std::unique_ptr<testing::TestCa> ca_;
  std::unique_ptr<testing::TestCa> other_;
};

TEST_F(PinnedBundleTest, AcceptsABundleWithThePinnedRoot) {
  rotor::v1::TrustBundle bundle;
  bundle.add_root_der(other_->root.der());
  bundle.add_root_der(ca_->root.der());
  ASSERT_OK_AND_ASSIGN(
      std::vector<pki::Certificate> roots,
      VerifyPinnedBundle(bundle, {ca_->root.Fingerprint()}, "ca:1"));
  ASSERT_EQ(roots.size(), 2u);
  EXPECT_EQ(roots[1].der(), ca_->root.der());
  ASSERT_OK_AND_ASSIGN(std::string pem, BundleToPem(bundle));
  EXPECT_EQ(pem, other_->root.ToPem() + ca_->root.ToPem());
}

TEST_F(PinnedBundleTest, RefusesABundleWithoutThePinnedRoot) {
  rotor::v1::TrustBundle bundle;
  bundle.add_root_der(other_->root.der());
  EXPECT_THAT(
      VerifyPinnedBundle(bundle, {ca_->root.Fingerprint()}, "ca.example:8443"),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               HasSubstr("the CA at ca.example:8443 presented roots " +
                         other_->root.Fingerprint() +
                         " which do not match trust_anchor " +
                         ca_->root.Fingerprint())));
}

TEST_F(PinnedBundleTest, RefusesAnIntermediatePinnedInsteadOfTheRoot) {
  rotor::v1::TrustBundle bundle;
  bundle.add_root_der(ca_->root.der());
  EXPECT_THAT(VerifyPinnedBundle(bundle, {ca_->intermediate.Fingerprint()}, "x:1"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("do not match trust_anchor")));
}

TEST_F(PinnedBundleTest, RefusesEmptyAndMalformedBundles) {
  rotor::v1::TrustBundle bundle;
  EXPECT_THAT(VerifyPinnedBundle(bundle, {ca_->root.Fingerprint()}, "x:1"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("the CA at x:1 sent an empty trust bundle")));
  bundle.add_root_der("not a certificate");
  EXPECT_THAT(VerifyPinnedBundle(bundle, {ca_->root.Fingerprint()}, "x:1"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("a root that does not parse")));
}

TEST(GrpcCaClientTest, CallsBeforeTrustIsEstablishedFail) {
  GrpcCaClient client({.address = "127.0.0.1:1"});
  EXPECT_THAT(client.SignWorkload("csr", absl::ZeroDuration()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("trust roots are not known yet")));
  EXPECT_THAT(client.SetCredentials("", pki::SecretString(), ""),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("no trust roots")));
}

TEST(GrpcCaClientTest, UnreachableCaIsUnavailableNamingTheAddress) {
  GrpcCaClientOptions options;
  options.address = "127.0.0.1:1";
  options.rpc_timeout = absl::Seconds(5);
  GrpcCaClient client(options);
  EXPECT_THAT(client.FetchBundleUnverified(),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("GetBundle: cannot reach the CA at 127.0.0.1:1")));
}

}  // namespace
}  // namespace rotor::agent
