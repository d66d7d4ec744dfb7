#include "pki/certificate_builder.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pki/key.h"
#include "pki/random.h"
#include "pki/verify.h"
#include "tests/testing/fakes.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_ca.h"

namespace rotor::pki {
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
constexpr char kSpiffeId[] = "spiffe://example.org/ns/prod/web";

// -1 if the extension is absent, else its critical flag (0 or 1).
int Criticality(const Certificate& cert, int nid) {
  int index = X509_get_ext_by_NID(cert.get(), nid, -1);
  if (index < 0) return -1;
  return X509_EXTENSION_get_critical(X509_get_ext(cert.get(), index));
}

std::string Bytes(const ASN1_STRING* s) {
  if (s == nullptr) return "";
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
}

std::string Sha1OfPublicKeyBits(const Certificate& cert) {
  const ASN1_BIT_STRING* bits = X509_get0_pubkey_bitstr(cert.get());
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(ASN1_STRING_get0_data(bits),
       static_cast<size_t>(ASN1_STRING_length(bits)), digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof(digest));
}

// The extended key usages, as short names, in order.
std::vector<std::string> Ekus(const Certificate& cert) {
  std::vector<std::string> out;
  SslPtr<EXTENDED_KEY_USAGE> eku(static_cast<EXTENDED_KEY_USAGE*>(
      X509_get_ext_d2i(cert.get(), NID_ext_key_usage, nullptr, nullptr)));
  if (eku == nullptr) return out;
  for (int i = 0; i < sk_ASN1_OBJECT_num(eku.get()); ++i) {
    out.push_back(OBJ_nid2sn(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku.get(), i))));
  }
  return out;
}

// The full-name URIs of the CRL distribution points.
std::vector<std::string> CrlUris(const Certificate& cert) {
  std::vector<std::string> out;
  SslPtr<CRL_DIST_POINTS> points(static_cast<CRL_DIST_POINTS*>(X509_get_ext_d2i(
      cert.get(), NID_crl_distribution_points, nullptr, nullptr)));
  if (points == nullptr) return out;
  for (int i = 0; i < sk_DIST_POINT_num(points.get()); ++i) {
    const DIST_POINT* point = sk_DIST_POINT_value(points.get(), i);
    if (point->distpoint == nullptr || point->distpoint->type != 0) continue;
    GENERAL_NAMES* names = point->distpoint->name.fullname;
    for (int j = 0; j < sk_GENERAL_NAME_num(names); ++j) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, j);
      if (name->type == GEN_URI) {
        out.push_back(Bytes(name->d.uniformResourceIdentifier));
      }
    }
  }
  return out;
}

std::string SpkiOf(const Certificate& cert) {
  unsigned char* der = nullptr;
  int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert.get()), &der);
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

class CertificateBuilderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<TestCa> ca = MakeTestCa(KeyType::kEcP256, kNow);
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = new TestCa(*std::move(ca));
    absl::StatusOr<PrivateKey> key = PrivateKey::Generate(KeyType::kEcP256);
    ASSERT_TRUE(key.ok()) << key.status();
    ec_key_ = new PrivateKey(*std::move(key));
  }
  static void TearDownTestSuite() {
    delete ca_;
    delete ec_key_;
    ca_ = nullptr;
    ec_key_ = nullptr;
  }

  static LeafTemplate Template(const PrivateKey& key) {
    LeafTemplate leaf;
    leaf.public_key_der = *key.PublicKeyDer();
    leaf.spiffe_id = kSpiffeId;
    leaf.dns_names = {"web.internal", "web.example.org"};
    leaf.ttl = absl::Hours(1);
    return leaf;
  }

  absl::StatusOr<Certificate> Build(const LeafTemplate& leaf,
                                    absl::Time now = kNow) {
    return BuildLeafCertificate(leaf, ca_->signer(), now, random_);
  }

  static TestCa* ca_;
  static PrivateKey* ec_key_;
  FakeRandom random_;
};

TestCa* CertificateBuilderTest::ca_ = nullptr;
PrivateKey* CertificateBuilderTest::ec_key_ = nullptr;

TEST_F(CertificateBuilderTest, WorkloadLeafHasTheProfile) {
  LeafTemplate leaf = Template(*ec_key_);
  ASSERT_OK_AND_ASSIGN(Certificate cert, Build(leaf));

  EXPECT_EQ(X509_get_version(cert.get()), X509_VERSION_3);
  EXPECT_EQ(cert.Issuer(), ca_->intermediate.Subject());
  EXPECT_EQ(cert.Subject(), "");
  EXPECT_EQ(X509_NAME_entry_count(X509_get_subject_name(cert.get())), 0);
  EXPECT_FALSE(cert.IsCa());
  EXPECT_EQ(Criticality(cert, NID_basic_constraints), 1);
  EXPECT_EQ(X509_get_pathlen(cert.get()), -1);
  EXPECT_EQ(Criticality(cert, NID_key_usage), 1);
  EXPECT_EQ(X509_get_key_usage(cert.get()),
            static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
  EXPECT_EQ(Criticality(cert, NID_ext_key_usage), 0);
  EXPECT_THAT(Ekus(cert), ElementsAre("serverAuth", "clientAuth"));
  EXPECT_EQ(Criticality(cert, NID_subject_key_identifier), 0);
  EXPECT_EQ(Criticality(cert, NID_authority_key_identifier), 0);
  EXPECT_EQ(Criticality(cert, NID_subject_alt_name), 1);
  EXPECT_THAT(cert.UriSans(), ElementsAre(kSpiffeId));
  EXPECT_THAT(cert.DnsSans(), ElementsAre("web.internal", "web.example.org"));
  EXPECT_THAT(cert.IpSans(), IsEmpty());
  EXPECT_EQ(Criticality(cert, NID_crl_distribution_points), -1);
  EXPECT_EQ(X509_get_ext_count(cert.get()), 6);
  EXPECT_EQ(X509_get_extension_flags(cert.get()) & EXFLAG_INVALID, 0u);
  EXPECT_EQ(X509_get_signature_nid(cert.get()), NID_ecdsa_with_SHA256);
  EXPECT_EQ(X509_verify(cert.get(), ca_->intermediate_key.get()), 1);
  EXPECT_EQ(X509_check_issued(ca_->intermediate.get(), cert.get()), X509_V_OK);
  EXPECT_OK(CheckLeafProfile(cert, leaf, ca_->signer(), kNow));
}

TEST_F(CertificateBuilderTest, SkiIsSha1OfKeyBitsAndAkiIsTheSignersSki) {
  ASSERT_OK_AND_ASSIGN(Certificate cert, Build(Template(*ec_key_)));
  // Also from a parsed copy, so the check does not rely on the builder's
  // in-memory structures.
  ASSERT_OK_AND_ASSIGN(Certificate parsed, Certificate::FromDer(cert.der()));
  for (const Certificate* c : {&cert, &parsed}) {
    EXPECT_EQ(Bytes(X509_get0_subject_key_id(c->get())),
              Sha1OfPublicKeyBits(*c));
    EXPECT_EQ(Bytes(X509_get0_authority_key_id(c->get())),
              Bytes(X509_get0_subject_key_id(ca_->intermediate.get())));
    EXPECT_EQ(X509_get0_authority_issuer(c->get()), nullptr);
    EXPECT_EQ(X509_get0_authority_serial(c->get()), nullptr);
  }
  EXPECT_EQ(Bytes(X509_get0_subject_key_id(parsed.get())).size(), 20u);
}

TEST_F(CertificateBuilderTest, PublicKeyIsCopiedByteForByte) {
  LeafTemplate leaf = Template(*ec_key_);
  ASSERT_OK_AND_ASSIGN(Certificate cert, Build(leaf));
  ASSERT_OK_AND_ASSIGN(Certificate parsed, Certificate::FromDer(cert.der()));
  EXPECT_EQ(SpkiOf(parsed), leaf.public_key_der);
  // The built certificate decodes its key on first use.
  ASSERT_NE(cert.PublicKey(), nullptr);
  EXPECT_TRUE(ec_key_->Matches(cert.PublicKey()));
  EXPECT_TRUE(ec_key_->Matches(parsed.PublicKey()));
}

TEST_F(CertificateBuilderTest, RsaLeafAddsKeyEncipherment) {
  ASSERT_OK_AND_ASSIGN(PrivateKey key, PrivateKey::Generate(KeyType::kRsa2048));
  LeafTemplate leaf = Template(key);
  ASSERT_OK_AND_ASSIGN(Certificate cert, Build(leaf));
  EXPECT_EQ(Criticality(cert, NID_key_usage), 1);
  EXPECT_EQ(X509_get_key_usage(cert.get()),
            static_cast<uint32_t>(KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
  EXPECT_TRUE(key.Matches(cert.PublicKey()));
  EXPECT_OK(CheckLeafProfile(cert, leaf, ca_->signer(), kNow));
}

TEST_F(CertificateBuilderTest, NonRsaLeavesHaveDigitalSignatureOnly) {
  for (KeyType type : {KeyType::kEcP384, KeyType::kEd25519}) {
    SCOPED_TRACE(KeyTypeName(type));
    ASSERT_OK_AND_ASSIGN(PrivateKey key, PrivateKey::Generate(type));
    LeafTemplate leaf = Template(key);
    ASSERT_OK_AND_ASSIGN(Certificate cert, Build(leaf));
    EXPECT_EQ(X509_get_key_usage(cert.get()),
              static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
    EXPECT_TRUE(key.Matches(cert.PublicKey()));
    EXPECT_OK(CheckLeafProfile(cert, leaf, ca_->signer(), kNow));
  }
}

TEST_F(CertificateBuilderTest, NodeLeafIsClientAuthOnly) {
  LeafTemplate leaf = Template(*ec_key_);
  leaf.usage = CertificateUsage::kNode;
  leaf.dns_names.clear();
  leaf.spiffe_id = "spiffe://example.org/rotor/node/web-1";
  ASSERT_OK_AND_ASSIGN(Certificate cert, Build(leaf));
  EXPECT_THAT(Ekus(cert), ElementsAre("clientAuth"));
  EXPECT_EQ(X509_get_extended_key_usage(cert.get()),
            static_cast<uint32_t>(XKU_SSL_CLIENT));
  EXPECT_OK(CheckLeafProfile(cert, leaf, ca_->signer(), kNow));
}

TEST_F(CertificateBuilderTest, ServerLeafIsServerAuthOnly) {
  LeafTemplate leaf = Template(*ec_key_);
  leaf.usage = CertificateUsage::kServer;
  leaf.spiffe_id.clear();
  leaf.dns_names = {"localhost"};
  leaf.ip_addresses = {"127.0.0.1"};
  ASSERT_OK_AND_ASSIGN(Certificate cert, Build(leaf));
  EXPECT_THAT(Ekus(cert), ElementsAre("serverAuth"));
  EXPECT_EQ(X509_get_extended_key_usage(cert.get()),
            static_cast<uint32_t>(XKU_SSL_SERVER));
  EXPECT_THAT(cert.UriSans(), IsEmpty());
  EXPECT_OK(CheckLeafProfile(cert, leaf, ca_->signer(), kNow));
}

TEST_F(CertificateBuilderTest, NotBeforeIsBackdatedAndNotAfterIsNowPlusTtl) {
  LeafTemplate leaf = Template(*ec_key_);
  leaf.ttl = absl::Minutes(90);
  // Sub-second parts of `now` are dropped (X.509 times have seconds).
  absl::Time now = kNow + absl::Milliseconds(700);
  ASSERT_OK_AND_ASSIGN(Certificate cert, Build(leaf, now));
  EXPECT_EQ(cert.NotBefore(), kNow - absl::Seconds(60));
  EXPECT_EQ(cert.NotAfter(), kNow + absl::Minutes(90));
  EXPECT_EQ(kBackdate, absl::Seconds(60));
  EXPECT_OK(CheckLeafProfile(cert, leaf, ca_->signer(), now));
}

TEST_F(CertificateBuilderTest, NotAfterIsCappedAtTheSignersNotAfter) {
  LeafTemplate leaf = Template(*ec_key_);
  leaf.ttl = absl::Hours(24);
  absl::Time now = ca_->intermediate.NotAfter() - absl::Hours(2);
  ASSERT_OK_AND_ASSIGN(Certificate cert, Build(leaf, now));
  EXPECT_EQ(cert.NotAfter(), ca_->intermediate.NotAfter());
  EXPECT_EQ(cert.NotBefore(), now - kBackdate);
  EXPECT_OK(CheckLeafProfile(cert, leaf, ca_->signer(), now));
}

TEST_F(CertificateBuilderTest, CommonNameFromDnsMakesTheSanNonCritical) {
  LeafTemplate leaf = Template(*ec_key_);
  leaf.common_name_from_dns = true;
  ASSERT_OK_AND_ASSIGN(Certificate cert, Build(leaf));
  EXPECT_EQ(cert.Subject(), "CN=web.internal");
  EXPECT_EQ(Criticality(cert, NID_subject_alt_name), 0);
  EXPECT_THAT(cert.DnsSans(), ElementsAre("web.internal", "web.example.org"));
  EXPECT_OK(CheckLeafProfile(cert, leaf, ca_->signer(), kNow));
}

TEST_F(CertificateBuilderTest, CrlDistributionPointWhenUrlIsSet) {
  LeafTemplate leaf = Template(*ec_key_);
  leaf.crl_url = "http://ca.example.org:8080/crl";
  ASSERT_OK_AND_ASSIGN(Certificate cert, Build(leaf));
  EXPECT_EQ(Criticality(cert, NID_crl_distribution_points), 0);
  EXPECT_THAT(CrlUris(cert), ElementsAre("http://ca.example.org:8080/crl"));
  EXPECT_EQ(X509_get_ext_count(cert.get()), 7);
  EXPECT_OK(CheckLeafProfile(cert, leaf, ca_->signer(), kNow));

  leaf.crl_url.clear();
  ASSERT_OK_AND_ASSIGN(Certificate without, Build(leaf));
  EXPECT_EQ(Criticality(without, NID_crl_distribution_points), -1);
  EXPECT_THAT(CrlUris(without), IsEmpty());
}

TEST_F(CertificateBuilderTest, IpAddressSans) {
  LeafTemplate leaf = Template(*ec_key_);
  leaf.ip_addresses = {"10.1.2.3", "2001:db8::1"};
  ASSERT_OK_AND_ASSIGN(Certificate cert, Build(leaf));
  EXPECT_THAT(cert.IpSans(), ElementsAre("10.1.2.3", "2001:db8:0:0:0:0:0:1"));
  EXPECT_THAT(cert.UriSans(), ElementsAre(kSpiffeId));
  EXPECT_OK(CheckLeafProfile(cert, leaf, ca_->signer(), kNow));
}

TEST_F(CertificateBuilderTest, SerialComesFromTheRandomSource) {
  // FakeRandom yields byte i = i * 37 + 11 (mod 256); the top bit of the
  // first byte is cleared to keep the serial positive.
  std::string bytes;
  for (int i = 0; i < 16; ++i) bytes.push_back(static_cast<char>(i * 37 + 11));
  bytes[0] = static_cast<char>(bytes[0] & 0x7f);
  // Canonical form: lowercase hex without leading zeros.
  std::string expected = absl::BytesToHexString(bytes);
  expected.erase(0, expected.find_first_not_of('0'));

  LeafTemplate leaf = Template(*ec_key_);
  FakeRandom first;
  ASSERT_OK_AND_ASSIGN(Certificate a,
                       BuildLeafCertificate(leaf, ca_->signer(), kNow, first));
  EXPECT_EQ(a.SerialHex(), expected);
  FakeRandom again;
  ASSERT_OK_AND_ASSIGN(Certificate b,
                       BuildLeafCertificate(leaf, ca_->signer(), kNow, again));
  EXPECT_EQ(b.SerialHex(), expected);
  // The next certificate from the same source gets the next bytes.
  ASSERT_OK_AND_ASSIGN(Certificate c,
                       BuildLeafCertificate(leaf, ca_->signer(), kNow, first));
  EXPECT_NE(c.SerialHex(), expected);
  EXPECT_EQ(ASN1_STRING_length(X509_get0_serialNumber(a.get())), 16);
}

TEST_F(CertificateBuilderTest, RandomFailurePropagates) {
  FakeRandom random;
  random.set_fail(true);
  EXPECT_THAT(
      BuildLeafCertificate(Template(*ec_key_), ca_->signer(), kNow, random),
      StatusIs(absl::StatusCode::kInternal,
               HasSubstr("fake random source failed")));
}

TEST_F(CertificateBuilderTest, RefusesNonPositiveTtl) {
  LeafTemplate leaf = Template(*ec_key_);
  leaf.ttl = absl::ZeroDuration();
  EXPECT_THAT(Build(leaf),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("certificate TTL must be positive, got 0")));
  leaf.ttl = -absl::Minutes(5);
  EXPECT_THAT(Build(leaf),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("certificate TTL must be positive, got -5m")));
}

TEST_F(CertificateBuilderTest, RefusesTemplateWithoutSan) {
  LeafTemplate leaf = Template(*ec_key_);
  leaf.spiffe_id.clear();
  leaf.dns_names.clear();
  EXPECT_THAT(Build(leaf),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("certificate has no subjectAltName")));
}

TEST_F(CertificateBuilderTest, RefusesExpiredSigner) {
  EXPECT_THAT(Build(Template(*ec_key_), ca_->intermediate.NotAfter()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("signer certificate \"CN=rotor test "
                                 "intermediate CA,O=rotor\" expired at")));
}

TEST_F(CertificateBuilderTest, RefusesNonCaSigner) {
  ASSERT_OK_AND_ASSIGN(Certificate leaf_cert, Build(Template(*ec_key_)));
  FakeRandom random;
  EXPECT_THAT(BuildLeafCertificate(Template(*ec_key_),
                                   Signer{leaf_cert, *ec_key_}, kNow, random),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("signer certificate \"\" is not a CA")));
}

TEST_F(CertificateBuilderTest, RefusesPublicKeyThatDoesNotParse) {
  LeafTemplate leaf = Template(*ec_key_);
  leaf.public_key_der = "not a key";
  EXPECT_THAT(Build(leaf), StatusIs(absl::StatusCode::kInvalidArgument,
                                    HasSubstr("subject public key is not a DER "
                                              "SubjectPublicKeyInfo")));
  leaf.public_key_der.clear();
  EXPECT_THAT(Build(leaf), StatusIs(absl::StatusCode::kInvalidArgument,
                                    HasSubstr("subject public key is empty")));
  leaf.public_key_der = *ec_key_->PublicKeyDer() + "xyz";
  EXPECT_THAT(Build(leaf),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("subject public key has 3 trailing bytes")));
}

TEST_F(CertificateBuilderTest, RefusesUnsupportedKeyAlgorithm) {
  SslPtr<EVP_PKEY> x25519(EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519"));
  ASSERT_NE(x25519, nullptr);
  PrivateKey key = PrivateKey::Adopt(std::move(x25519));
  EXPECT_THAT(Build(Template(key)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("subject public key algorithm X25519 is not "
                                 "supported")));
}

TEST_F(CertificateBuilderTest, RefusesMalformedNames) {
  LeafTemplate leaf = Template(*ec_key_);
  leaf.ip_addresses = {"10.0.0.256"};
  EXPECT_THAT(Build(leaf),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("\"10.0.0.256\" is not an IPv4 or IPv6 "
                                 "address")));
  leaf = Template(*ec_key_);
  leaf.spiffe_id = "https://example.org/web";
  EXPECT_THAT(Build(leaf), StatusIs(absl::StatusCode::kInvalidArgument,
                                    HasSubstr("must start with spiffe://")));
  leaf = Template(*ec_key_);
  leaf.dns_names = {"web_internal"};
  EXPECT_THAT(Build(leaf),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("DNS name \"web_internal\" has the character "
                                 "'_'")));
}

TEST_F(CertificateBuilderTest, RefusesCommonNameWithoutUsableDnsName) {
  LeafTemplate leaf = Template(*ec_key_);
  leaf.common_name_from_dns = true;
  leaf.dns_names.clear();
  EXPECT_THAT(Build(leaf),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("common_name_from_dns needs at least one DNS "
                                 "name")));
  leaf.dns_names = {std::string(60, 'a') + ".example.org"};
  EXPECT_THAT(Build(leaf),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is longer than 64 characters and cannot be "
                                 "the common name")));
}

TEST_F(CertificateBuilderTest, ProfileLintCatchesMismatches) {
  LeafTemplate leaf = Template(*ec_key_);
  ASSERT_OK_AND_ASSIGN(Certificate cert, Build(leaf));
  ASSERT_OK(CheckLeafProfile(cert, leaf, ca_->signer(), kNow));

  LeafTemplate node = leaf;
  node.usage = CertificateUsage::kNode;
  EXPECT_THAT(CheckLeafProfile(cert, node, ca_->signer(), kNow),
              StatusIs(absl::StatusCode::kInternal,
                       HasSubstr("certificate does not match the profile: "
                                 "extendedKeyUsage does not match the usage")));
  LeafTemplate longer = leaf;
  longer.ttl = absl::Hours(2);
  EXPECT_THAT(CheckLeafProfile(cert, longer, ca_->signer(), kNow),
              StatusIs(absl::StatusCode::kInternal,
                       HasSubstr("notAfter is not min(now + ttl")));
  LeafTemplate other_name = leaf;
  other_name.dns_names = {"other.internal"};
  EXPECT_THAT(CheckLeafProfile(cert, other_name, ca_->signer(), kNow),
              StatusIs(absl::StatusCode::kInternal,
                       HasSubstr("subjectAltName has 3 names, not the 2")));
  LeafTemplate with_cn = leaf;
  with_cn.common_name_from_dns = true;
  EXPECT_THAT(CheckLeafProfile(cert, with_cn, ca_->signer(), kNow),
              StatusIs(absl::StatusCode::kInternal,
                       HasSubstr("subjectAltName is critical")));
  LeafTemplate other_key = leaf;
  ASSERT_OK_AND_ASSIGN(PrivateKey key, PrivateKey::Generate(KeyType::kEcP256));
  other_key.public_key_der = *key.PublicKeyDer();
  EXPECT_THAT(CheckLeafProfile(cert, other_key, ca_->signer(), kNow),
              StatusIs(absl::StatusCode::kInternal,
                       HasSubstr("subject public key differs")));
  EXPECT_THAT(CheckLeafProfile(cert, leaf, ca_->root_signer(), kNow),
              StatusIs(absl::StatusCode::kInternal,
                       HasSubstr("issuer is not the signer's subject")));
}

TEST_F(CertificateBuilderTest, BuiltLeafVerifiesForItsUsage) {
  LeafTemplate leaf = Template(*ec_key_);
  ASSERT_OK_AND_ASSIGN(Certificate cert, Build(leaf));
  EXPECT_OK(VerifyCertificate(cert, {ca_->intermediate}, {ca_->root}, kNow,
                              VerifyPurpose::kTlsServer));
  EXPECT_OK(VerifyCertificate(cert, {ca_->intermediate}, {ca_->root}, kNow,
                              VerifyPurpose::kTlsClient));
}

TEST_F(CertificateBuilderTest, ConcurrentBuildsWithOneSigner) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 25;
  LeafTemplate leaf = Template(*ec_key_);
  absl::Mutex mu;
  std::set<std::string> serials;
  int failures = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        absl::StatusOr<Certificate> cert =
            BuildLeafCertificate(leaf, ca_->signer(), kNow, *SystemRandom());
        absl::MutexLock lock(&mu);
        if (!cert.ok() ||
            X509_verify(cert->get(), ca_->intermediate.PublicKey()) != 1) {
          ++failures;
          continue;
        }
        serials.insert(cert->SerialHex());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(serials.size(), static_cast<size_t>(kThreads * kPerThread));
}

// Every supported CA key type signs leaves that match the profile, with the
// signature algorithm the CA key calls for.
class LeafForCaKeyTypeTest : public ::testing::TestWithParam<KeyType> {};

TEST_P(LeafForCaKeyTypeTest, SignsWithTheCaKeysAlgorithm) {
  ASSERT_OK_AND_ASSIGN(TestCa ca, MakeTestCa(GetParam(), kNow));
  ASSERT_OK_AND_ASSIGN(PrivateKey key, PrivateKey::Generate(KeyType::kEcP256));
  LeafTemplate leaf;
  leaf.public_key_der = *key.PublicKeyDer();
  leaf.spiffe_id = kSpiffeId;
  FakeRandom random;
  ASSERT_OK_AND_ASSIGN(Certificate cert,
                       BuildLeafCertificate(leaf, ca.signer(), kNow, random));
  int expected_nid = NID_sha256WithRSAEncryption;
  switch (GetParam()) {
    case KeyType::kEcP256:
      expected_nid = NID_ecdsa_with_SHA256;
      break;
    case KeyType::kEcP384:
      expected_nid = NID_ecdsa_with_SHA384;
      break;
    case KeyType::kEd25519:
      expected_nid = NID_ED25519;
      break;
    default:
      break;
  }
  EXPECT_EQ(X509_get_signature_nid(cert.get()), expected_nid);
  EXPECT_OK(CheckLeafProfile(cert, leaf, ca.signer(), kNow));
  EXPECT_OK(VerifyCertificate(cert, {ca.intermediate}, {ca.root}, kNow,
                              VerifyPurpose::kAny));
}

INSTANTIATE_TEST_SUITE_P(
    CaKeyTypes, LeafForCaKeyTypeTest,
    ::testing::Values(KeyType::kEcP256, KeyType::kEcP384, KeyType::kEd25519,
                      KeyType::kRsa2048),
    [](const ::testing::TestParamInfo<KeyType>& param_info) {
      std::string name(KeyTypeName(param_info.param));
      for (char& c : name) {
        if (c == '-') c = '_';
      }
      return name;
    });

}  // namespace
}  // namespace rotor::pki
