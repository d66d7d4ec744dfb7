#include "pki/certificate.h"

#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pki/certificate_builder.h"
#include "pki/fingerprint.h"
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
using ::rotor::testing::StatusIs;
using ::rotor::testing::TempDir;
using ::rotor::testing::TestCa;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const absl::Time kNow = absl::FromUnixSeconds(1800000000);

class CertificateTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<TestCa> ca = MakeTestCa(KeyType::kEcP256, kNow);
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = new TestCa(*std::move(ca));
    absl::StatusOr<PrivateKey> key = PrivateKey::Generate(KeyType::kEcP256);
    ASSERT_TRUE(key.ok()) << key.status();
    LeafTemplate leaf;
    leaf.public_key_der = *key->PublicKeyDer();
    leaf.spiffe_id = "spiffe://example.org/web";
    leaf.dns_names = {"web.internal", "web.example.org"};
    leaf.ip_addresses = {"192.0.2.7", "2001:db8::42"};
    leaf.common_name_from_dns = true;
    FakeRandom random;
    absl::StatusOr<Certificate> cert =
        BuildLeafCertificate(leaf, ca_->signer(), kNow, random);
    ASSERT_TRUE(cert.ok()) << cert.status();
    leaf_ = new Certificate(*std::move(cert));
    leaf_key_ = new PrivateKey(*std::move(key));
  }
  static void TearDownTestSuite() {
    delete leaf_;
    delete leaf_key_;
    delete ca_;
    leaf_ = nullptr;
    leaf_key_ = nullptr;
    ca_ = nullptr;
  }

  static TestCa* ca_;
  static Certificate* leaf_;
  static PrivateKey* leaf_key_;
};

TestCa* CertificateTest::ca_ = nullptr;
Certificate* CertificateTest::leaf_ = nullptr;
PrivateKey* CertificateTest::leaf_key_ = nullptr;

TEST_F(CertificateTest, FromDerRoundTrips) {
  ASSERT_OK_AND_ASSIGN(Certificate parsed, Certificate::FromDer(leaf_->der()));
  EXPECT_EQ(parsed.der(), leaf_->der());
  EXPECT_EQ(parsed.SerialHex(), leaf_->SerialHex());
  EXPECT_EQ(parsed.Fingerprint(), leaf_->Fingerprint());
  EXPECT_EQ(X509_cmp(parsed.get(), leaf_->get()), 0);
}

TEST_F(CertificateTest, FromDerRefusesTrailingBytes) {
  EXPECT_THAT(Certificate::FromDer(leaf_->der() + "abc"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("certificate has 3 trailing bytes after its "
                                 "DER")));
}

TEST_F(CertificateTest, FromDerRefusesEmptyAndGarbage) {
  EXPECT_THAT(Certificate::FromDer(""),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("certificate is empty")));
  EXPECT_THAT(Certificate::FromDer("\x30\x03garbage"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("certificate is not valid DER")));
  // A truncated certificate.
  EXPECT_THAT(Certificate::FromDer(leaf_->der().substr(0, 100)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("certificate is not valid DER")));
}

TEST_F(CertificateTest, PemRoundTripsAndChainsKeepTheirOrder) {
  std::string pem = ChainToPem({*leaf_, ca_->intermediate, ca_->root});
  EXPECT_EQ(pem,
            leaf_->ToPem() + ca_->intermediate.ToPem() + ca_->root.ToPem());
  ASSERT_OK_AND_ASSIGN(Certificate first, Certificate::FromPem(pem));
  EXPECT_EQ(first.der(), leaf_->der());
  ASSERT_OK_AND_ASSIGN(std::vector<Certificate> chain,
                       Certificate::ChainFromPem(pem));
  ASSERT_EQ(chain.size(), 3u);
  EXPECT_EQ(chain[0].der(), leaf_->der());
  EXPECT_EQ(chain[1].der(), ca_->intermediate.der());
  EXPECT_EQ(chain[2].der(), ca_->root.der());
}

TEST_F(CertificateTest, ChainFromPemIgnoresTextAroundBlocks) {
  std::string pem =
      absl::StrCat("subject=web\n", leaf_->ToPem(), "\n# the intermediate\n",
                   ca_->intermediate.ToPem(), "trailing words\n");
  ASSERT_OK_AND_ASSIGN(std::vector<Certificate> chain,
                       Certificate::ChainFromPem(pem));
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(chain[1].der(), ca_->intermediate.der());
}

TEST_F(CertificateTest, ChainFromPemRefusesGarbage) {
  EXPECT_THAT(Certificate::ChainFromPem("not a certificate"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("no certificate found (expected a -----BEGIN "
                                 "CERTIFICATE----- block)")));
  EXPECT_THAT(Certificate::FromPem(""),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("no certificate found")));
  std::string broken =
      "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  EXPECT_THAT(Certificate::ChainFromPem(leaf_->ToPem() + broken),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("certificate 2 of the PEM text does not "
                                 "parse")));
}

TEST_F(CertificateTest, LoadChainNamesThePath) {
  TempDir dir;
  std::string path = dir.Path("chain.pem");
  ASSERT_OK(WriteFileAtomically(path, ChainToPem({*leaf_, ca_->intermediate}),
                                0644, WriteMode::kReplace));
  ASSERT_OK_AND_ASSIGN(std::vector<Certificate> chain,
                       Certificate::LoadChain(path));
  EXPECT_EQ(chain.size(), 2u);

  std::string junk = dir.Path("junk.pem");
  ASSERT_OK(WriteFileAtomically(junk, "junk", 0644, WriteMode::kReplace));
  EXPECT_THAT(
      Certificate::LoadChain(junk),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr(absl::StrCat("failed to load certificates "
                                      "from ",
                                      junk, ": no certificate found"))));
  EXPECT_THAT(Certificate::LoadChain(dir.Path("missing.pem")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing.pem")));
}

TEST_F(CertificateTest, SanAccessorsReturnEachKindInOrder) {
  EXPECT_THAT(leaf_->UriSans(), ElementsAre("spiffe://example.org/web"));
  EXPECT_THAT(leaf_->DnsSans(), ElementsAre("web.internal", "web.example.org"));
  EXPECT_THAT(leaf_->IpSans(),
              ElementsAre("192.0.2.7", "2001:db8:0:0:0:0:0:42"));
  // Kinds a certificate does not have come back empty: the root has only a
  // URI.
  EXPECT_THAT(ca_->root.DnsSans(), IsEmpty());
  EXPECT_THAT(ca_->root.IpSans(), IsEmpty());
}

TEST_F(CertificateTest, NamesValidityAndCaFlag) {
  EXPECT_EQ(leaf_->Subject(), "CN=web.internal");
  EXPECT_EQ(leaf_->Issuer(), "CN=rotor test intermediate CA,O=rotor");
  EXPECT_EQ(leaf_->NotBefore(), kNow - absl::Seconds(60));
  EXPECT_EQ(leaf_->NotAfter(), kNow + absl::Hours(1));
  EXPECT_FALSE(leaf_->IsCa());
  EXPECT_TRUE(ca_->intermediate.IsCa());
  EXPECT_TRUE(ca_->root.IsCa());
}

TEST_F(CertificateTest, SerialIsCanonicalHex) {
  std::string serial = leaf_->SerialHex();
  EXPECT_FALSE(serial.empty());
  EXPECT_NE(serial[0], '0');
  EXPECT_EQ(serial, absl::AsciiStrToLower(serial));
  EXPECT_LE(serial.size(), 32u);
}

TEST_F(CertificateTest, FingerprintMatchesTheOpenSslCli) {
  TempDir dir;
  std::string path = dir.Path("leaf.pem");
  ASSERT_OK(
      WriteFileAtomically(path, leaf_->ToPem(), 0644, WriteMode::kReplace));
  std::string output;
  ASSERT_EQ(RunCommand(absl::StrCat("openssl x509 -noout -fingerprint -sha256 "
                                    "-in ",
                                    path),
                       &output),
            0)
      << output;
  // "sha256 Fingerprint=AB:CD:..." (older versions: "SHA256 Fingerprint=").
  std::vector<std::string> parts =
      absl::StrSplit(absl::StripAsciiWhitespace(output), '=');
  ASSERT_EQ(parts.size(), 2u) << output;
  ASSERT_OK_AND_ASSIGN(std::string cli,
                       NormalizeFingerprint(absl::StrCat("sha256:", parts[1])));
  EXPECT_EQ(leaf_->Fingerprint(), cli);
  EXPECT_EQ(leaf_->Fingerprint(), Sha256Fingerprint(leaf_->der()));
}

TEST_F(CertificateTest, SerialMatchesTheOpenSslCli) {
  TempDir dir;
  std::string path = dir.Path("leaf.pem");
  ASSERT_OK(
      WriteFileAtomically(path, leaf_->ToPem(), 0644, WriteMode::kReplace));
  std::string output;
  ASSERT_EQ(RunCommand(absl::StrCat("openssl x509 -noout -serial -in ", path),
                       &output),
            0)
      << output;
  absl::string_view printed = absl::StripAsciiWhitespace(output);
  ASSERT_TRUE(absl::ConsumePrefix(&printed, "serial=")) << output;
  std::string cli = absl::AsciiStrToLower(printed);
  cli.erase(0, cli.find_first_not_of('0'));
  EXPECT_EQ(leaf_->SerialHex(), cli);
}

TEST_F(CertificateTest, CopiesShareTheCertificate) {
  Certificate copy = *leaf_;
  EXPECT_EQ(copy.get(), leaf_->get());
  EXPECT_EQ(copy.der(), leaf_->der());

  // A copy outlives its source.
  std::optional<Certificate> source =
      Certificate::FromDer(leaf_->der()).value();
  Certificate survivor = *source;
  source.reset();
  EXPECT_EQ(survivor.der(), leaf_->der());
  EXPECT_EQ(survivor.SerialHex(), leaf_->SerialHex());

  // Assignment replaces, self-assignment keeps.
  Certificate assigned = ca_->root;
  assigned = *leaf_;
  EXPECT_EQ(assigned.get(), leaf_->get());
  Certificate& alias = assigned;
  assigned = alias;
  EXPECT_EQ(assigned.der(), leaf_->der());

  // Moving keeps the same X509.
  X509* raw = assigned.get();
  Certificate moved = std::move(assigned);
  EXPECT_EQ(moved.get(), raw);
}

TEST_F(CertificateTest, PublicKeyOfABuiltLeafDecodesOnceAcrossThreads) {
  ASSERT_OK_AND_ASSIGN(PrivateKey key, PrivateKey::Generate(KeyType::kEd25519));
  LeafTemplate leaf;
  leaf.public_key_der = *key.PublicKeyDer();
  leaf.spiffe_id = "spiffe://example.org/ed";
  FakeRandom random;
  ASSERT_OK_AND_ASSIGN(Certificate cert,
                       BuildLeafCertificate(leaf, ca_->signer(), kNow, random));
  Certificate copy = cert;
  std::vector<EVP_PKEY*> seen(4, nullptr);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back(
        [&, i] { seen[i] = (i % 2 == 0 ? cert : copy).PublicKey(); });
  }
  for (std::thread& thread : threads) thread.join();
  ASSERT_NE(seen[0], nullptr);
  for (EVP_PKEY* k : seen) EXPECT_EQ(k, seen[0]);
  EXPECT_TRUE(key.Matches(seen[0]));
}

TEST_F(CertificateTest, PublicKeyOfAParsedCertificate) {
  ASSERT_OK_AND_ASSIGN(Certificate parsed, Certificate::FromDer(leaf_->der()));
  ASSERT_NE(parsed.PublicKey(), nullptr);
  EXPECT_EQ(parsed.PublicKey(), X509_get0_pubkey(parsed.get()));
  EXPECT_TRUE(leaf_key_->Matches(parsed.PublicKey()));
  EXPECT_TRUE(leaf_key_->Matches(leaf_->PublicKey()));
  EXPECT_TRUE(ca_->intermediate_key.Matches(ca_->intermediate.PublicKey()));
}

TEST(Asn1TimeTest, ConvertsAndReportsUnreadableTimes) {
  SslPtr<ASN1_STRING> t(ASN1_TIME_set(nullptr, 1800000000));
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Asn1TimeToTime(t.get()), absl::FromUnixSeconds(1800000000));
  EXPECT_EQ(Asn1TimeToTime(nullptr), absl::InfinitePast());
}

}  // namespace
}  // namespace rotor::pki
