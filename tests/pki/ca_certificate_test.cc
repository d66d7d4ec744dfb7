#include "pki/ca_certificate.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <string>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pki/certificate_builder.h"
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
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1800000000);

CaCertificateOptions RootOptions() {
  CaCertificateOptions options;
  options.common_name = "rotor root CA example.org";
  options.trust_domain = "example.org";
  options.validity = absl::Hours(24 * 365 * 10);
  return options;
}

CaCertificateOptions IntermediateOptions() {
  CaCertificateOptions options;
  options.common_name = "rotor intermediate CA example.org";
  options.trust_domain = "example.org";
  options.validity = absl::Hours(24 * 365);
  return options;
}

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

long PathLength(const Certificate& cert) {
  return X509_get_pathlen(cert.get());
}

TEST(CaCertificateTest, RootHasTheRootProfile) {
  ASSERT_OK_AND_ASSIGN(PrivateKey key, PrivateKey::Generate(KeyType::kEcP256));
  FakeRandom random;
  ASSERT_OK_AND_ASSIGN(Certificate root,
                       BuildRootCertificate(key, RootOptions(), kNow, random));

  EXPECT_EQ(X509_get_version(root.get()), X509_VERSION_3);
  EXPECT_EQ(root.Subject(), "CN=rotor root CA example.org,O=rotor");
  EXPECT_EQ(root.Issuer(), root.Subject());
  EXPECT_TRUE(root.IsCa());
  EXPECT_EQ(PathLength(root), -1);
  EXPECT_EQ(Criticality(root, NID_basic_constraints), 1);
  EXPECT_EQ(Criticality(root, NID_key_usage), 1);
  EXPECT_EQ(X509_get_key_usage(root.get()),
            static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  EXPECT_EQ(Criticality(root, NID_ext_key_usage), -1);
  EXPECT_EQ(Criticality(root, NID_subject_key_identifier), 0);
  EXPECT_EQ(Bytes(X509_get0_subject_key_id(root.get())),
            Sha1OfPublicKeyBits(root));
  EXPECT_EQ(Criticality(root, NID_authority_key_identifier), -1);
  EXPECT_EQ(Criticality(root, NID_subject_alt_name), 0);
  EXPECT_THAT(root.UriSans(), ElementsAre("spiffe://example.org"));
  EXPECT_EQ(root.NotBefore(), kNow - kBackdate);
  EXPECT_EQ(root.NotAfter(), kNow + absl::Hours(24 * 365 * 10));
  EXPECT_TRUE(key.Matches(root.PublicKey()));
  EXPECT_EQ(X509_verify(root.get(), key.get()), 1);  // self-signed
}

TEST(CaCertificateTest, IntermediateHasTheIntermediateProfile) {
  ASSERT_OK_AND_ASSIGN(PrivateKey root_key,
                       PrivateKey::Generate(KeyType::kEcP384));
  ASSERT_OK_AND_ASSIGN(PrivateKey key, PrivateKey::Generate(KeyType::kEcP256));
  FakeRandom random;
  ASSERT_OK_AND_ASSIGN(
      Certificate root,
      BuildRootCertificate(root_key, RootOptions(), kNow, random));
  ASSERT_OK_AND_ASSIGN(
      Certificate intermediate,
      BuildIntermediateCertificate(key.get(), IntermediateOptions(),
                                   Signer{root, root_key}, kNow, random));

  EXPECT_EQ(X509_get_version(intermediate.get()), X509_VERSION_3);
  EXPECT_EQ(intermediate.Subject(),
            "CN=rotor intermediate CA example.org,O=rotor");
  EXPECT_EQ(intermediate.Issuer(), root.Subject());
  EXPECT_TRUE(intermediate.IsCa());
  EXPECT_EQ(PathLength(intermediate), 0);
  EXPECT_EQ(Criticality(intermediate, NID_basic_constraints), 1);
  EXPECT_EQ(Criticality(intermediate, NID_key_usage), 1);
  EXPECT_EQ(X509_get_key_usage(intermediate.get()),
            static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN |
                                  KU_DIGITAL_SIGNATURE));
  EXPECT_EQ(Bytes(X509_get0_subject_key_id(intermediate.get())),
            Sha1OfPublicKeyBits(intermediate));
  EXPECT_EQ(Criticality(intermediate, NID_authority_key_identifier), 0);
  EXPECT_EQ(Bytes(X509_get0_authority_key_id(intermediate.get())),
            Bytes(X509_get0_subject_key_id(root.get())));
  EXPECT_THAT(intermediate.UriSans(), ElementsAre("spiffe://example.org"));
  EXPECT_EQ(intermediate.NotBefore(), kNow - kBackdate);
  EXPECT_EQ(intermediate.NotAfter(), kNow + absl::Hours(24 * 365));
  EXPECT_NE(intermediate.SerialHex(), root.SerialHex());
  EXPECT_TRUE(key.Matches(intermediate.PublicKey()));
  EXPECT_EQ(X509_verify(intermediate.get(), root_key.get()), 1);
  EXPECT_EQ(X509_check_issued(root.get(), intermediate.get()), X509_V_OK);
}

TEST(CaCertificateTest, IntermediateValidityIsCappedAtTheParents) {
  ASSERT_OK_AND_ASSIGN(PrivateKey root_key,
                       PrivateKey::Generate(KeyType::kEd25519));
  FakeRandom random;
  CaCertificateOptions root_options = RootOptions();
  root_options.validity = absl::Hours(48);
  ASSERT_OK_AND_ASSIGN(
      Certificate root,
      BuildRootCertificate(root_key, root_options, kNow, random));
  ASSERT_OK_AND_ASSIGN(PrivateKey key, PrivateKey::Generate(KeyType::kEd25519));
  ASSERT_OK_AND_ASSIGN(
      Certificate intermediate,
      BuildIntermediateCertificate(key.get(), IntermediateOptions(),
                                   Signer{root, root_key},
                                   kNow + absl::Hours(1), random));
  EXPECT_EQ(intermediate.NotAfter(), root.NotAfter());
  EXPECT_EQ(intermediate.NotBefore(), kNow + absl::Hours(1) - kBackdate);
}

TEST(CaCertificateTest, RsaIntermediateUsesSha256WithRsa) {
  ASSERT_OK_AND_ASSIGN(TestCa ca, MakeTestCa(KeyType::kRsa2048, kNow));
  EXPECT_EQ(X509_get_signature_nid(ca.root.get()), NID_sha256WithRSAEncryption);
  EXPECT_EQ(X509_get_signature_nid(ca.intermediate.get()),
            NID_sha256WithRSAEncryption);
}

TEST(CaCertificateTest, SignatureAlgorithmFollowsTheSignerKey) {
  ASSERT_OK_AND_ASSIGN(TestCa p384, MakeTestCa(KeyType::kEcP384, kNow));
  EXPECT_EQ(X509_get_signature_nid(p384.intermediate.get()),
            NID_ecdsa_with_SHA384);
  ASSERT_OK_AND_ASSIGN(TestCa ed, MakeTestCa(KeyType::kEd25519, kNow));
  EXPECT_EQ(X509_get_signature_nid(ed.intermediate.get()), NID_ED25519);
}

TEST(CaCertificateTest, RootRefusesBadTrustDomain) {
  ASSERT_OK_AND_ASSIGN(PrivateKey key, PrivateKey::Generate(KeyType::kEcP256));
  FakeRandom random;
  CaCertificateOptions options = RootOptions();
  options.trust_domain = "Example.org";
  EXPECT_THAT(BuildRootCertificate(key, options, kNow, random),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("bad trust domain: ")));
  options.trust_domain = "";
  EXPECT_THAT(BuildRootCertificate(key, options, kNow, random),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("bad trust domain: ")));
}

TEST(CaCertificateTest, RootRefusesNonPositiveValidity) {
  ASSERT_OK_AND_ASSIGN(PrivateKey key, PrivateKey::Generate(KeyType::kEcP256));
  FakeRandom random;
  CaCertificateOptions options = RootOptions();
  options.validity = absl::ZeroDuration();
  EXPECT_THAT(BuildRootCertificate(key, options, kNow, random),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("CA validity must be positive, got 0")));
  options.validity = -absl::Hours(1);
  EXPECT_THAT(BuildRootCertificate(key, options, kNow, random),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("CA validity must be positive, got -1h")));
}

TEST(CaCertificateTest, RootRefusesEmptyOrLongCommonName) {
  ASSERT_OK_AND_ASSIGN(PrivateKey key, PrivateKey::Generate(KeyType::kEcP256));
  FakeRandom random;
  CaCertificateOptions options = RootOptions();
  options.common_name = "";
  EXPECT_THAT(BuildRootCertificate(key, options, kNow, random),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("CA common name is empty")));
  options.common_name = std::string(65, 'x');
  EXPECT_THAT(BuildRootCertificate(key, options, kNow, random),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is longer than 64 characters")));
}

TEST(CaCertificateTest, RootRefusesWeakKey) {
  SslPtr<EVP_PKEY> weak(
      EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(1024)));
  ASSERT_NE(weak, nullptr);
  PrivateKey key = PrivateKey::Adopt(std::move(weak));
  FakeRandom random;
  EXPECT_THAT(BuildRootCertificate(key, RootOptions(), kNow, random),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("RSA key of 1024 bits is below the 2048-bit "
                                 "minimum")));
}

TEST(CaCertificateTest, RandomFailurePropagates) {
  ASSERT_OK_AND_ASSIGN(PrivateKey key, PrivateKey::Generate(KeyType::kEcP256));
  FakeRandom random;
  random.set_fail(true);
  EXPECT_THAT(BuildRootCertificate(key, RootOptions(), kNow, random),
              StatusIs(absl::StatusCode::kInternal,
                       HasSubstr("fake random source failed")));
}

TEST(CaCertificateTest, IntermediateRefusesExpiredParent) {
  ASSERT_OK_AND_ASSIGN(TestCa ca, MakeTestCa(KeyType::kEcP256, kNow));
  ASSERT_OK_AND_ASSIGN(PrivateKey key, PrivateKey::Generate(KeyType::kEcP256));
  FakeRandom random;
  EXPECT_THAT(
      BuildIntermediateCertificate(key.get(), IntermediateOptions(),
                                   ca.root_signer(), ca.root.NotAfter(),
                                   random),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("parent CA certificate \"CN=rotor test root CA,"
                         "O=rotor\" expired at ")));
}

TEST(CaCertificateTest, IntermediateRefusesParentKeyMismatch) {
  ASSERT_OK_AND_ASSIGN(TestCa ca, MakeTestCa(KeyType::kEcP256, kNow));
  ASSERT_OK_AND_ASSIGN(PrivateKey key, PrivateKey::Generate(KeyType::kEcP256));
  FakeRandom random;
  // The root certificate with the intermediate's key.
  EXPECT_THAT(BuildIntermediateCertificate(key.get(), IntermediateOptions(),
                                           Signer{ca.root, ca.intermediate_key},
                                           kNow, random),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("parent private key does not match the parent "
                                 "certificate")));
}

TEST(CaCertificateTest, IntermediateRefusesNonCaParent) {
  ASSERT_OK_AND_ASSIGN(TestCa ca, MakeTestCa(KeyType::kEcP256, kNow));
  ASSERT_OK_AND_ASSIGN(PrivateKey leaf_key,
                       PrivateKey::Generate(KeyType::kEcP256));
  LeafTemplate leaf;
  ASSERT_OK_AND_ASSIGN(leaf.public_key_der, leaf_key.PublicKeyDer());
  leaf.spiffe_id = "spiffe://example.org/web";
  FakeRandom random;
  ASSERT_OK_AND_ASSIGN(Certificate leaf_cert,
                       BuildLeafCertificate(leaf, ca.signer(), kNow, random));
  ASSERT_OK_AND_ASSIGN(PrivateKey key, PrivateKey::Generate(KeyType::kEcP256));
  EXPECT_THAT(
      BuildIntermediateCertificate(key.get(), IntermediateOptions(),
                                   Signer{leaf_cert, leaf_key}, kNow, random),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("parent certificate \"\" is not a CA")));
}

TEST(CaCertificateTest, IntermediateRefusesMissingPublicKey) {
  ASSERT_OK_AND_ASSIGN(TestCa ca, MakeTestCa(KeyType::kEcP256, kNow));
  FakeRandom random;
  EXPECT_THAT(BuildIntermediateCertificate(nullptr, IntermediateOptions(),
                                           ca.root_signer(), kNow, random),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("intermediate public key is missing")));
}

}  // namespace
}  // namespace rotor::pki
