// Checks rotor's certificates with the `openssl` command-line tool, as an
// independent verifier: for every key type, a root, an intermediate and
// leaves all of that type must pass `openssl verify -x509_strict` for the
// purposes their usage allows, and fail for the others.
#include <map>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pki/certificate_builder.h"
#include "pki/key.h"
#include "tests/testing/fakes.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_ca.h"
#include "util/file.h"

namespace rotor::pki {
namespace {

using ::rotor::testing::FakeRandom;
using ::rotor::testing::MakeTestCa;
using ::rotor::testing::RunCommand;
using ::rotor::testing::TempDir;
using ::rotor::testing::TestCa;
using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1800000000);

// A CA and a leaf key of one type. RSA-4096 keys take seconds to generate,
// so each type's are made once and shared by its tests.
struct KeyTypeFixture {
  TestCa ca;
  PrivateKey leaf_key;
};

const KeyTypeFixture* FixtureFor(KeyType type) {
  static auto* fixtures =
      new std::map<KeyType, std::unique_ptr<KeyTypeFixture>>;
  auto it = fixtures->find(type);
  if (it != fixtures->end()) return it->second.get();
  absl::StatusOr<TestCa> ca = MakeTestCa(type, kNow);
  absl::StatusOr<PrivateKey> key = PrivateKey::Generate(type);
  if (!ca.ok() || !key.ok()) {
    ADD_FAILURE() << "cannot make a " << KeyTypeName(type)
                  << " CA: " << ca.status() << " / " << key.status();
    return nullptr;
  }
  auto& fixture = (*fixtures)[type];
  fixture = std::make_unique<KeyTypeFixture>(
      KeyTypeFixture{*std::move(ca), *std::move(key)});
  return fixture.get();
}

class OpenSslInteropTest : public ::testing::TestWithParam<KeyType> {
 protected:
  void SetUp() override {
    const KeyTypeFixture* fixture = FixtureFor(GetParam());
    ASSERT_NE(fixture, nullptr);
    ca_ = &fixture->ca;
    key_ = &fixture->leaf_key;
    ASSERT_OK(
        WriteFileAtomically(dir_.Path("root.pem"), ca_->root.ToPem(), 0644));
    ASSERT_OK(WriteFileAtomically(dir_.Path("intermediate.pem"),
                                  ca_->intermediate.ToPem(), 0644));
  }

  // Builds a leaf for `usage` with this test's key and writes it to
  // leaf.pem.
  void WriteLeaf(CertificateUsage usage) {
    LeafTemplate leaf;
    leaf.public_key_der = *key_->PublicKeyDer();
    leaf.spiffe_id = usage == CertificateUsage::kNode
                         ? "spiffe://example.org/rotor/node/web-1"
                         : "spiffe://example.org/web";
    if (usage != CertificateUsage::kNode) {
      leaf.dns_names = {"web.internal"};
      leaf.ip_addresses = {"127.0.0.1"};
    }
    leaf.usage = usage;
    leaf.crl_url = "http://127.0.0.1:8080/crl";
    FakeRandom random;
    absl::StatusOr<Certificate> cert =
        BuildLeafCertificate(leaf, ca_->signer(), kNow, random);
    ASSERT_TRUE(cert.ok()) << cert.status();
    ASSERT_OK(WriteFileAtomically(dir_.Path("leaf.pem"), cert->ToPem(), 0644));
  }

  // Runs `openssl verify` on leaf.pem for `purpose` ("sslserver" or
  // "sslclient") a minute after issuance; returns its exit code and output.
  int Verify(absl::string_view purpose, std::string* output) {
    std::string command = absl::StrCat(
        "openssl verify -x509_strict -attime ",
        absl::ToUnixSeconds(kNow + absl::Minutes(1)), " -purpose ", purpose,
        " -CAfile ", dir_.Path("root.pem"), " -untrusted ",
        dir_.Path("intermediate.pem"), " ", dir_.Path("leaf.pem"));
    return RunCommand(command, output);
  }

  TempDir dir_;
  const TestCa* ca_ = nullptr;
  const PrivateKey* key_ = nullptr;
};

TEST_P(OpenSslInteropTest, WorkloadCertificateIsATlsServerAndClient) {
  ASSERT_NO_FATAL_FAILURE(WriteLeaf(CertificateUsage::kWorkload));
  std::string output;
  EXPECT_EQ(Verify("sslserver", &output), 0) << output;
  EXPECT_THAT(output, HasSubstr("leaf.pem: OK"));
  EXPECT_EQ(Verify("sslclient", &output), 0) << output;
  EXPECT_THAT(output, HasSubstr("leaf.pem: OK"));
}

TEST_P(OpenSslInteropTest, NodeCertificateIsATlsClientOnly) {
  ASSERT_NO_FATAL_FAILURE(WriteLeaf(CertificateUsage::kNode));
  std::string output;
  EXPECT_EQ(Verify("sslclient", &output), 0) << output;
  EXPECT_THAT(output, HasSubstr("leaf.pem: OK"));
  EXPECT_NE(Verify("sslserver", &output), 0) << output;
  EXPECT_THAT(output, HasSubstr("unsuitable certificate purpose"));
}

TEST_P(OpenSslInteropTest, ServerCertificateIsATlsServerOnly) {
  ASSERT_NO_FATAL_FAILURE(WriteLeaf(CertificateUsage::kServer));
  std::string output;
  EXPECT_EQ(Verify("sslserver", &output), 0) << output;
  EXPECT_THAT(output, HasSubstr("leaf.pem: OK"));
  EXPECT_NE(Verify("sslclient", &output), 0) << output;
  EXPECT_THAT(output, HasSubstr("unsuitable certificate purpose"));
}

TEST_P(OpenSslInteropTest, IntermediateVerifiesAgainstTheRoot) {
  std::string output;
  std::string command =
      absl::StrCat("openssl verify -x509_strict -attime ",
                   absl::ToUnixSeconds(kNow + absl::Minutes(1)), " -CAfile ",
                   dir_.Path("root.pem"), " ", dir_.Path("intermediate.pem"));
  EXPECT_EQ(RunCommand(command, &output), 0) << output;
  EXPECT_THAT(output, HasSubstr("intermediate.pem: OK"));
}

INSTANTIATE_TEST_SUITE_P(
    AllKeyTypes, OpenSslInteropTest,
    ::testing::Values(KeyType::kEcP256, KeyType::kEcP384, KeyType::kEd25519,
                      KeyType::kRsa2048, KeyType::kRsa3072, KeyType::kRsa4096),
    [](const ::testing::TestParamInfo<KeyType>& param_info) {
      std::string name(KeyTypeName(param_info.param));
      for (char& c : name) {
        if (c == '-') c = '_';
      }
      return name;
    });

}  // namespace
}  // namespace rotor::pki
