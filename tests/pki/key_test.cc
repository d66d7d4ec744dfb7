#include "pki/key.h"

#include <dirent.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "util/file.h"

namespace rotor::pki {
namespace {

using ::rotor::testing::FileMode;
using ::rotor::testing::StatusIs;
using ::rotor::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

// The names in a folder, sorted, without "." and "..".
std::vector<std::string> ListDir(const std::string& path) {
  std::vector<std::string> names;
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir(path.c_str()), closedir);
  if (dir == nullptr) return names;
  while (dirent* entry = readdir(dir.get())) {
    std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

PrivateKey MustGenerate(KeyType type) {
  absl::StatusOr<PrivateKey> key = PrivateKey::Generate(type);
  EXPECT_TRUE(key.ok()) << key.status();
  return *std::move(key);
}

// An RSA public key with a modulus of `bits` bits, built without the cost of
// generating one (only its size matters to CheckKeyAllowed).
SslPtr<EVP_PKEY> RsaPublicKeyOfBits(int bits) {
  SslPtr<BIGNUM> n(BN_new());
  BN_set_bit(n.get(), bits - 1);
  BN_set_bit(n.get(), 0);
  SslPtr<BIGNUM> e(BN_new());
  BN_set_word(e.get(), 65537);
  std::unique_ptr<OSSL_PARAM_BLD, void (*)(OSSL_PARAM_BLD*)> builder(
      OSSL_PARAM_BLD_new(), OSSL_PARAM_BLD_free);
  OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_N, n.get());
  OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_E, e.get());
  std::unique_ptr<OSSL_PARAM, void (*)(OSSL_PARAM*)> params(
      OSSL_PARAM_BLD_to_param(builder.get()), OSSL_PARAM_free);
  SslPtr<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  EVP_PKEY* key = nullptr;
  EXPECT_EQ(EVP_PKEY_fromdata_init(ctx.get()), 1);
  EXPECT_EQ(
      EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()), 1);
  return SslPtr<EVP_PKEY>(key);
}

// ---- key types --------------------------------------------------------------

TEST(KeyTypeTest, ParsesEveryNameBack) {
  for (KeyType type :
       {KeyType::kEcP256, KeyType::kEcP384, KeyType::kEd25519,
        KeyType::kRsa2048, KeyType::kRsa3072, KeyType::kRsa4096}) {
    ASSERT_OK_AND_ASSIGN(KeyType parsed, ParseKeyType(KeyTypeName(type)));
    EXPECT_EQ(parsed, type) << KeyTypeName(type);
  }
  EXPECT_EQ(KeyTypeName(KeyType::kEcP256), "ec-p256");
  EXPECT_EQ(KeyTypeName(KeyType::kRsa4096), "rsa-4096");
}

TEST(KeyTypeTest, RefusesUnknownNameListingTheAcceptedOnes) {
  EXPECT_THAT(ParseKeyType("rsa-1024"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "unknown key type \"rsa-1024\"; use one of ec-p256, "
                       "ec-p384, ed25519, rsa-2048, rsa-3072, rsa-4096"));
  EXPECT_THAT(ParseKeyType("EC-P256"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unknown key type \"EC-P256\"")));
}

// ---- generation -------------------------------------------------------------

struct GenerateCase {
  KeyType type;
  KeyAlgorithm algorithm;
  int bits;
  const char* curve;
  const char* describe;
  const EVP_MD* (*digest)();  // nullptr: no digest (Ed25519)
};

void PrintTo(const GenerateCase& c, std::ostream* os) {
  *os << KeyTypeName(c.type);
}

class GenerateTest : public ::testing::TestWithParam<GenerateCase> {};

TEST_P(GenerateTest, GeneratesAllowedKeyOfThatType) {
  const GenerateCase& c = GetParam();
  ASSERT_OK_AND_ASSIGN(PrivateKey key, PrivateKey::Generate(c.type));
  KeyInfo info = key.info();
  EXPECT_EQ(info.algorithm, c.algorithm);
  EXPECT_EQ(info.bits, c.bits);
  EXPECT_EQ(info.curve, c.curve);
  EXPECT_EQ(info.Describe(), c.describe);
  EXPECT_EQ(DescribeKey(key.get()).Describe(), c.describe);
  EXPECT_OK(CheckKeyAllowed(key.get()));
  EXPECT_EQ(SignatureDigest(key.get()),
            c.digest == nullptr ? nullptr : c.digest());
  EXPECT_EQ(EVP_PKEY_get_bits(key.get()), c.bits);
}

INSTANTIATE_TEST_SUITE_P(
    EveryKeyType, GenerateTest,
    ::testing::Values(GenerateCase{KeyType::kEcP256, KeyAlgorithm::kEc, 256,
                                   "P-256", "EC P-256", EVP_sha256},
                      GenerateCase{KeyType::kEcP384, KeyAlgorithm::kEc, 384,
                                   "P-384", "EC P-384", EVP_sha384},
                      GenerateCase{KeyType::kEd25519, KeyAlgorithm::kEd25519,
                                   256, "", "Ed25519", nullptr},
                      GenerateCase{KeyType::kRsa2048, KeyAlgorithm::kRsa, 2048,
                                   "", "RSA 2048", EVP_sha256},
                      GenerateCase{KeyType::kRsa3072, KeyAlgorithm::kRsa, 3072,
                                   "", "RSA 3072", EVP_sha256},
                      GenerateCase{KeyType::kRsa4096, KeyAlgorithm::kRsa, 4096,
                                   "", "RSA 4096", EVP_sha256}),
    [](const ::testing::TestParamInfo<GenerateCase>& param_info) {
      std::string name(KeyTypeName(param_info.param.type));
      name.erase(std::remove(name.begin(), name.end(), '-'), name.end());
      return name;
    });

TEST(KeyTest, GeneratesADifferentKeyEachTime) {
  PrivateKey a = MustGenerate(KeyType::kEcP256);
  PrivateKey b = MustGenerate(KeyType::kEcP256);
  EXPECT_FALSE(a.Matches(b.get()));
  EXPECT_TRUE(a.Matches(a.get()));
}

TEST(KeyTest, MatchesItsOwnPublicHalfOnly) {
  PrivateKey key = MustGenerate(KeyType::kEd25519);
  ASSERT_OK_AND_ASSIGN(std::string der, key.PublicKeyDer());
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  SslPtr<EVP_PKEY> public_key(
      d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
  ASSERT_NE(public_key, nullptr);
  EXPECT_TRUE(key.Matches(public_key.get()));
  EXPECT_FALSE(MustGenerate(KeyType::kEd25519).Matches(public_key.get()));
  // A key of another type never matches.
  EXPECT_FALSE(MustGenerate(KeyType::kEcP256).Matches(public_key.get()));
}

// ---- PEM --------------------------------------------------------------------

TEST(KeyTest, PemRoundTripKeepsTheKey) {
  for (KeyType type : {KeyType::kEcP256, KeyType::kEcP384, KeyType::kEd25519,
                       KeyType::kRsa2048}) {
    SCOPED_TRACE(KeyTypeName(type));
    PrivateKey key = MustGenerate(type);
    ASSERT_OK_AND_ASSIGN(SecretString pem, key.ToPem());
    EXPECT_THAT(std::string(pem.view()),
                StartsWith("-----BEGIN PRIVATE KEY-----\n"));
    ASSERT_OK_AND_ASSIGN(PrivateKey parsed, PrivateKey::FromPem(pem.view()));
    EXPECT_TRUE(parsed.Matches(key.get()));
    EXPECT_EQ(parsed.info().Describe(), key.info().Describe());
    ASSERT_OK_AND_ASSIGN(SecretString again, parsed.ToPem());
    EXPECT_EQ(again.view(), pem.view());
  }
}

TEST(KeyTest, ReadsTraditionalPem) {
  PrivateKey key = MustGenerate(KeyType::kEcP256);
  SslPtr<BIO> bio(BIO_new(BIO_s_mem()));
  ASSERT_EQ(PEM_write_bio_PrivateKey_traditional(bio.get(), key.get(), nullptr,
                                                 nullptr, 0, nullptr, nullptr),
            1);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  std::string pem(data, static_cast<size_t>(len));
  ASSERT_THAT(pem, StartsWith("-----BEGIN EC PRIVATE KEY-----"));
  ASSERT_OK_AND_ASSIGN(PrivateKey parsed, PrivateKey::FromPem(pem));
  EXPECT_TRUE(parsed.Matches(key.get()));
}

TEST(KeyTest, EncryptedPemRoundTripWithPassphrase) {
  PrivateKey key = MustGenerate(KeyType::kEcP384);
  ASSERT_OK_AND_ASSIGN(SecretString pem, key.ToPem("correct horse"));
  EXPECT_THAT(std::string(pem.view()),
              StartsWith("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
  ASSERT_OK_AND_ASSIGN(PrivateKey parsed,
                       PrivateKey::FromPem(pem.view(), "correct horse"));
  EXPECT_TRUE(parsed.Matches(key.get()));
}

TEST(KeyTest, EncryptsWithPbes2Pbkdf2HmacSha256AndAes256Cbc) {
  PrivateKey key = MustGenerate(KeyType::kEcP256);
  ASSERT_OK_AND_ASSIGN(SecretString pem, key.ToPem("passphrase"));
  SslPtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  std::unique_ptr<X509_SIG, void (*)(X509_SIG*)> p8(
      PEM_read_bio_PKCS8(bio.get(), nullptr, nullptr, nullptr), X509_SIG_free);
  ASSERT_NE(p8, nullptr);
  const X509_ALGOR* algorithm = nullptr;
  X509_SIG_get0(p8.get(), &algorithm, nullptr);
  ASSERT_EQ(OBJ_obj2nid(algorithm->algorithm), NID_pbes2);
  std::unique_ptr<PBE2PARAM, void (*)(PBE2PARAM*)> pbe2(
      static_cast<PBE2PARAM*>(ASN1_TYPE_unpack_sequence(
          ASN1_ITEM_rptr(PBE2PARAM), algorithm->parameter)),
      PBE2PARAM_free);
  ASSERT_NE(pbe2, nullptr);
  EXPECT_EQ(OBJ_obj2nid(pbe2->encryption->algorithm), NID_aes_256_cbc);
  ASSERT_EQ(OBJ_obj2nid(pbe2->keyfunc->algorithm), NID_id_pbkdf2);
  std::unique_ptr<PBKDF2PARAM, void (*)(PBKDF2PARAM*)> kdf(
      static_cast<PBKDF2PARAM*>(ASN1_TYPE_unpack_sequence(
          ASN1_ITEM_rptr(PBKDF2PARAM), pbe2->keyfunc->parameter)),
      PBKDF2PARAM_free);
  ASSERT_NE(kdf, nullptr);
  // An absent PRF would mean the default, HMAC-SHA1.
  ASSERT_NE(kdf->prf, nullptr);
  EXPECT_EQ(OBJ_obj2nid(kdf->prf->algorithm), NID_hmacWithSHA256);
}

TEST(KeyTest, RefusesWrongPassphrase) {
  PrivateKey key = MustGenerate(KeyType::kEcP256);
  ASSERT_OK_AND_ASSIGN(SecretString pem, key.ToPem("right"));
  EXPECT_THAT(PrivateKey::FromPem(pem.view(), "wrong"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("cannot decrypt private key (wrong "
                                  "passphrase?): ")));
}

TEST(KeyTest, RefusesMissingPassphraseForEncryptedKey) {
  PrivateKey key = MustGenerate(KeyType::kEcP256);
  ASSERT_OK_AND_ASSIGN(SecretString pem, key.ToPem("secret"));
  EXPECT_THAT(PrivateKey::FromPem(pem.view()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "private key is encrypted; a passphrase is needed to "
                       "read it"));
}

TEST(KeyTest, LongestPassphraseRoundTrips) {
  PrivateKey key = MustGenerate(KeyType::kEcP256);
  std::string passphrase(kMaxPassphraseBytes, 'p');
  ASSERT_OK_AND_ASSIGN(SecretString pem, key.ToPem(passphrase));
  ASSERT_OK_AND_ASSIGN(PrivateKey parsed,
                       PrivateKey::FromPem(pem.view(), passphrase));
  EXPECT_TRUE(parsed.Matches(key.get()));
}

TEST(KeyTest, RefusesPassphraseTooLongToReadBack) {
  PrivateKey key = MustGenerate(KeyType::kEcP256);
  // Encrypting with a passphrase the PEM reader cannot take back would lock
  // the key away for good.
  EXPECT_THAT(key.ToPem(std::string(kMaxPassphraseBytes + 1, 'p')),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "passphrase of 1025 bytes is longer than the 1024-byte "
                       "limit"));
  ASSERT_OK_AND_ASSIGN(SecretString pem, key.ToPem("short"));
  EXPECT_THAT(PrivateKey::FromPem(pem.view(), std::string(5000, 'p')),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "passphrase of 5000 bytes is longer than the 1024-byte "
                       "limit"));
}

TEST(KeyTest, RefusesTextThatIsNotAPrivateKey) {
  EXPECT_THAT(PrivateKey::FromPem("hello"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "not a PEM private key (no -----BEGIN line)"));
  EXPECT_THAT(PrivateKey::FromPem("-----BEGIN CERTIFICATE-----\nMIIB\n"
                                  "-----END CERTIFICATE-----\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "PEM holds no private key (expected a BEGIN PRIVATE "
                       "KEY block)"));
  EXPECT_THAT(PrivateKey::FromPem("-----BEGIN PRIVATE KEY-----\nnot base64!\n"
                                  "-----END PRIVATE KEY-----\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("cannot parse private key: ")));
}

// ---- files ------------------------------------------------------------------

TEST(KeyTest, SaveCreatesFileWithMode0600ByDefault) {
  TempDir dir;
  PrivateKey key = MustGenerate(KeyType::kEcP256);
  std::string path = dir.Path("key.pem");
  ASSERT_OK(key.Save(path));
  EXPECT_EQ(FileMode(path), 0600);
  ASSERT_OK_AND_ASSIGN(PrivateKey loaded, PrivateKey::Load(path));
  EXPECT_TRUE(loaded.Matches(key.get()));
  EXPECT_THAT(ListDir(dir.path()), ElementsAre("key.pem"));
}

TEST(KeyTest, SaveUsesTheGivenMode) {
  TempDir dir;
  PrivateKey key = MustGenerate(KeyType::kEcP256);
  std::string path = dir.Path("key.pem");
  ASSERT_OK(key.Save(path, 0640));
  EXPECT_EQ(FileMode(path), 0640);
}

TEST(KeyTest, SaveAndLoadEncrypted) {
  TempDir dir;
  PrivateKey key = MustGenerate(KeyType::kEd25519);
  std::string path = dir.Path("ca.key");
  ASSERT_OK(key.Save(path, 0600, "at rest"));
  ASSERT_OK_AND_ASSIGN(std::string text, ReadFile(path));
  EXPECT_THAT(text, HasSubstr("ENCRYPTED PRIVATE KEY"));
  ASSERT_OK_AND_ASSIGN(PrivateKey loaded, PrivateKey::Load(path, "at rest"));
  EXPECT_TRUE(loaded.Matches(key.get()));
  EXPECT_THAT(
      PrivateKey::Load(path, "not it"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr(absl::StrCat(
                   "failed to load private key from ", path,
                   ": cannot decrypt private key (wrong passphrase?)"))));
}

TEST(KeyTest, SaveIntoMissingFolderFailsAndLeavesNothing) {
  TempDir dir;
  PrivateKey key = MustGenerate(KeyType::kEcP256);
  std::string path = dir.Path("missing/key.pem");
  EXPECT_THAT(key.Save(path), StatusIs(absl::StatusCode::kNotFound,
                                       HasSubstr(dir.Path("missing"))));
  EXPECT_THAT(ListDir(dir.path()), IsEmpty());
}

TEST(KeyTest, SaveOverAFolderFailsAndLeavesNoTemporaryFile) {
  TempDir dir;
  PrivateKey key = MustGenerate(KeyType::kEcP256);
  std::string path = dir.Path("key.pem");
  ASSERT_OK(MakeDirectory(path, 0700));
  EXPECT_THAT(key.Save(path), StatusIs(absl::StatusCode::kInternal,
                                       HasSubstr("cannot replace " + path)));
  EXPECT_THAT(ListDir(dir.path()), ElementsAre("key.pem"));
  EXPECT_THAT(ListDir(path), IsEmpty());
}

TEST(KeyTest, SaveCreateOnlyRefusesToOverwrite) {
  TempDir dir;
  std::string path = dir.Path("key.pem");
  PrivateKey first = MustGenerate(KeyType::kEcP256);
  ASSERT_OK(first.Save(path, 0600, "", WriteMode::kCreateOnly));
  PrivateKey second = MustGenerate(KeyType::kEcP256);
  EXPECT_THAT(second.Save(path, 0600, "", WriteMode::kCreateOnly),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       HasSubstr("already exists; refusing to overwrite it")));
  ASSERT_OK_AND_ASSIGN(PrivateKey loaded, PrivateKey::Load(path));
  EXPECT_TRUE(loaded.Matches(first.get()));
  EXPECT_THAT(ListDir(dir.path()), ElementsAre("key.pem"));
}

TEST(KeyTest, LoadErrorNamesThePath) {
  TempDir dir;
  std::string missing = dir.Path("nope.pem");
  EXPECT_THAT(PrivateKey::Load(missing),
              StatusIs(absl::StatusCode::kNotFound,
                       absl::StrCat("failed to load private key from ", missing,
                                    ": cannot open ", missing,
                                    ": No such file or directory")));
  std::string garbage = dir.Path("garbage.pem");
  ASSERT_OK(WriteFileAtomically(garbage, "not a key", 0600));
  EXPECT_THAT(PrivateKey::Load(garbage),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       absl::StrCat("failed to load private key from ", garbage,
                                    ": not a PEM private key (no -----BEGIN "
                                    "line)")));
}

// ---- what rotor accepts -----------------------------------------------------

TEST(CheckKeyAllowedTest, RefusesSmallRsa) {
  SslPtr<EVP_PKEY> key(
      EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{1024}));
  ASSERT_NE(key, nullptr);
  EXPECT_THAT(CheckKeyAllowed(key.get()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "RSA key of 1024 bits is below the 2048-bit minimum"));
}

TEST(CheckKeyAllowedTest, RsaLimitsAreInclusive) {
  EXPECT_THAT(CheckKeyAllowed(RsaPublicKeyOfBits(2047).get()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "RSA key of 2047 bits is below the 2048-bit minimum"));
  EXPECT_OK(CheckKeyAllowed(RsaPublicKeyOfBits(2048).get()));
  EXPECT_OK(CheckKeyAllowed(RsaPublicKeyOfBits(4096).get()));
  EXPECT_THAT(CheckKeyAllowed(RsaPublicKeyOfBits(8192).get()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "RSA key of 8192 bits is above the 4096-bit maximum"));
}

TEST(CheckKeyAllowedTest, RefusesOtherCurves) {
  for (const char* curve : {"secp256k1", "P-521", "brainpoolP256r1"}) {
    SslPtr<EVP_PKEY> key(EVP_EC_gen(curve));
    ASSERT_NE(key, nullptr) << curve;
    EXPECT_THAT(
        CheckKeyAllowed(key.get()),
        StatusIs(absl::StatusCode::kInvalidArgument,
                 absl::StrCat("EC curve ", curve,
                              " is not supported; use P-256 or P-384")));
  }
}

TEST(CheckKeyAllowedTest, RefusesOtherAlgorithms) {
  SslPtr<EVP_PKEY> ed448(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED448"));
  ASSERT_NE(ed448, nullptr);
  EXPECT_THAT(CheckKeyAllowed(ed448.get()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "ED448 keys are not supported; use EC P-256, EC P-384, "
                       "Ed25519 or RSA 2048-4096"));
  SslPtr<EVP_PKEY> x25519(EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519"));
  ASSERT_NE(x25519, nullptr);
  EXPECT_THAT(CheckKeyAllowed(x25519.get()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("X25519 keys are not supported")));
}

TEST(CheckKeyAllowedTest, RefusesDsaAndDescribesIt) {
  SslPtr<EVP_PKEY_CTX> param_ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, "DSA", nullptr));
  ASSERT_EQ(EVP_PKEY_paramgen_init(param_ctx.get()), 1);
  ASSERT_EQ(EVP_PKEY_CTX_set_dsa_paramgen_bits(param_ctx.get(), 2048), 1);
  EVP_PKEY* raw_params = nullptr;
  ASSERT_EQ(EVP_PKEY_paramgen(param_ctx.get(), &raw_params), 1);
  SslPtr<EVP_PKEY> params(raw_params);
  SslPtr<EVP_PKEY_CTX> key_ctx(EVP_PKEY_CTX_new(params.get(), nullptr));
  ASSERT_EQ(EVP_PKEY_keygen_init(key_ctx.get()), 1);
  EVP_PKEY* raw_key = nullptr;
  ASSERT_EQ(EVP_PKEY_keygen(key_ctx.get(), &raw_key), 1);
  SslPtr<EVP_PKEY> key(raw_key);

  EXPECT_EQ(DescribeKey(key.get()).Describe(), "DSA 2048");
  EXPECT_EQ(DescribeKey(key.get()).algorithm, KeyAlgorithm::kOther);
  EXPECT_THAT(CheckKeyAllowed(key.get()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "DSA keys are not supported; use EC P-256, EC P-384, "
                       "Ed25519 or RSA 2048-4096"));
}

}  // namespace
}  // namespace rotor::pki
