#include "ca/caller.h"

#include <grpc/grpc_security_constants.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pki/certificate_builder.h"
#include "pki/key.h"
#include "pki/random.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_ca.h"

namespace rotor::ca {
namespace {

using ::rotor::testing::StatusIs;
using ::testing::HasSubstr;

// The properties a TLS transport would have set.
class FakeAuthContext final : public grpc::AuthContext {
 public:
  FakeAuthContext(bool authenticated,
                  std::multimap<std::string, std::string> properties)
      : authenticated_(authenticated), properties_(std::move(properties)) {}

  bool IsPeerAuthenticated() const override { return authenticated_; }
  std::vector<grpc::string_ref> GetPeerIdentity() const override { return {}; }
  std::string GetPeerIdentityPropertyName() const override { return ""; }
  std::vector<grpc::string_ref> FindPropertyValues(
      const std::string& name) const override {
    std::vector<grpc::string_ref> out;
    auto [begin, end] = properties_.equal_range(name);
    for (auto it = begin; it != end; ++it) out.emplace_back(it->second);
    return out;
  }
  grpc::AuthPropertyIterator begin() const override { return Iterator(); }
  grpc::AuthPropertyIterator end() const override { return Iterator(); }
  void AddProperty(const std::string&, const grpc::string_ref&) override {}
  bool SetPeerIdentityPropertyName(const std::string&) override {
    return false;
  }

 private:
  struct Iterator : grpc::AuthPropertyIterator {};
  bool authenticated_;
  std::multimap<std::string, std::string> properties_;
};

class CallerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(ca_, testing::MakeTestCa(pki::KeyType::kEcP256,
                                                  absl::Now()));
  }

  std::string LeafPem(const std::string& spiffe_id,
                      std::vector<std::string> dns = {}) {
    pki::PrivateKey key = *pki::PrivateKey::Generate(pki::KeyType::kEcP256);
    pki::LeafTemplate leaf;
    leaf.public_key_der = *key.PublicKeyDer();
    leaf.spiffe_id = spiffe_id;
    leaf.dns_names = std::move(dns);
    absl::StatusOr<pki::Certificate> cert = pki::BuildLeafCertificate(
        leaf, ca_->signer(), absl::Now(), *pki::SystemRandom());
    EXPECT_OK(cert.status());
    last_serial_ = cert->SerialHex();
    return cert->ToPem();
  }

  std::optional<testing::TestCa> ca_;
  std::string last_serial_;
};

TEST_F(CallerTest, NoTransportSecurityIsAnAnonymousCaller) {
  ASSERT_OK_AND_ASSIGN(Caller caller,
                       CallerFromAuthContext(nullptr, "ipv4:127.0.0.1:5555"));
  EXPECT_EQ(caller.peer, "ipv4:127.0.0.1:5555");
  EXPECT_EQ(caller.spiffe_id, "");
  EXPECT_EQ(caller.serial, "");
}

TEST_F(CallerTest, TlsWithoutClientCertificateIsAnonymous) {
  FakeAuthContext auth(false, {});
  ASSERT_OK_AND_ASSIGN(Caller caller, CallerFromAuthContext(&auth, "p"));
  EXPECT_EQ(caller.spiffe_id, "");
  EXPECT_EQ(caller.serial, "");
}

TEST_F(CallerTest, VerifiedCertificateGivesSpiffeIdAndSerial) {
  FakeAuthContext auth(
      true, {{GRPC_X509_PEM_CERT_PROPERTY_NAME,
              LeafPem("spiffe://example.org/rotor/node/web-1")}});
  ASSERT_OK_AND_ASSIGN(Caller caller, CallerFromAuthContext(&auth, "p"));
  EXPECT_EQ(caller.spiffe_id, "spiffe://example.org/rotor/node/web-1");
  EXPECT_EQ(caller.serial, last_serial_);
  EXPECT_EQ(caller.peer, "p");
}

TEST_F(CallerTest, SameCertificateAgainGivesSameIdentityAndItsOwnPeer) {
  const std::string pem = LeafPem("spiffe://example.org/rotor/node/web-2");
  const std::string serial = last_serial_;
  FakeAuthContext auth(true, {{GRPC_X509_PEM_CERT_PROPERTY_NAME, pem}});
  ASSERT_OK_AND_ASSIGN(Caller first, CallerFromAuthContext(&auth, "p1"));
  ASSERT_OK_AND_ASSIGN(Caller second, CallerFromAuthContext(&auth, "p2"));
  EXPECT_EQ(second.spiffe_id, "spiffe://example.org/rotor/node/web-2");
  EXPECT_EQ(second.serial, serial);
  EXPECT_EQ(first.peer, "p1");
  EXPECT_EQ(second.peer, "p2");
}

TEST_F(CallerTest, EachCertificateGivesItsOwnIdentity) {
  FakeAuthContext a(true, {{GRPC_X509_PEM_CERT_PROPERTY_NAME,
                            LeafPem("spiffe://example.org/rotor/node/a")}});
  const std::string serial_a = last_serial_;
  FakeAuthContext b(true, {{GRPC_X509_PEM_CERT_PROPERTY_NAME,
                            LeafPem("spiffe://example.org/rotor/node/b")}});
  const std::string serial_b = last_serial_;
  ASSERT_OK_AND_ASSIGN(Caller caller_a, CallerFromAuthContext(&a, "p"));
  ASSERT_OK_AND_ASSIGN(Caller caller_b, CallerFromAuthContext(&b, "p"));
  ASSERT_OK_AND_ASSIGN(Caller again_a, CallerFromAuthContext(&a, "p"));
  EXPECT_EQ(caller_a.spiffe_id, "spiffe://example.org/rotor/node/a");
  EXPECT_EQ(caller_b.spiffe_id, "spiffe://example.org/rotor/node/b");
  EXPECT_EQ(again_a.spiffe_id, "spiffe://example.org/rotor/node/a");
  EXPECT_EQ(caller_a.serial, serial_a);
  EXPECT_EQ(caller_b.serial, serial_b);
  EXPECT_EQ(again_a.serial, serial_a);
}

TEST_F(CallerTest, RefusesTheSameBadCertificateEveryTime) {
  FakeAuthContext auth(true, {{GRPC_X509_PEM_CERT_PROPERTY_NAME,
                               LeafPem("", {"db.internal"})}});
  for (int i = 0; i < 2; ++i) {
    EXPECT_THAT(CallerFromAuthContext(&auth, "p"),
                StatusIs(absl::StatusCode::kUnauthenticated,
                         HasSubstr("client certificate " + last_serial_ +
                                   " has no URI SAN")));
  }
}

TEST_F(CallerTest, RefusesCertificateWithoutUriSan) {
  FakeAuthContext auth(true, {{GRPC_X509_PEM_CERT_PROPERTY_NAME,
                               LeafPem("", {"web.internal"})}});
  EXPECT_THAT(CallerFromAuthContext(&auth, "p"),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("client certificate " + last_serial_ +
                                 " has no URI SAN")));
}

TEST_F(CallerTest, RefusesUnreadableCertificate) {
  FakeAuthContext auth(true,
                       {{GRPC_X509_PEM_CERT_PROPERTY_NAME, "not a pem"}});
  EXPECT_THAT(CallerFromAuthContext(&auth, "p"),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("cannot read the client certificate")));
}

}  // namespace
}  // namespace rotor::ca
