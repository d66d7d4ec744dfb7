#include "pki/csr.h"

#include <openssl/dsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pki/key.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "util/file.h"

namespace rotor::pki {
namespace {

using ::rotor::testing::IsOk;
using ::rotor::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr absl::string_view kSpiffeId = "spiffe://example.org/web";

// Keys are slow to generate (RSA above all); each test process makes each
// type at most once.
const PrivateKey& TestKey(KeyType type) {
  static auto* keys = new std::map<KeyType, PrivateKey>;
  auto it = keys->find(type);
  if (it == keys->end()) {
    absl::StatusOr<PrivateKey> key = PrivateKey::Generate(type);
    EXPECT_THAT(key, IsOk());
    it = keys->emplace(type, *std::move(key)).first;
  }
  return it->second;
}

std::string Encode(X509_REQ* req) {
  unsigned char* der = nullptr;
  int len = i2d_X509_REQ(req, &der);
  EXPECT_GT(len, 0);
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

// An extension from OpenSSL's config syntax, e.g. (NID_basic_constraints,
// "critical,CA:TRUE") or (NID_subject_alt_name, "IP:10.0.0.1").
SslPtr<X509_EXTENSION> ConfExtension(int nid, const char* value) {
  SslPtr<X509_EXTENSION> ext(X509V3_EXT_conf_nid(nullptr, nullptr, nid, value));
  EXPECT_NE(ext, nullptr) << value;
  return ext;
}

// A SAN extension with one entry of `type` holding exactly `value`, bytes
// that OpenSSL's config syntax cannot express (NUL, control characters).
SslPtr<X509_EXTENSION> RawSanExtension(int type, absl::string_view value) {
  SslPtr<GENERAL_NAMES> names(GENERAL_NAMES_new());
  GENERAL_NAME* name = GENERAL_NAME_new();
  ASN1_IA5STRING* ia5 = ASN1_IA5STRING_new();
  ASN1_STRING_set(ia5, value.data(), static_cast<int>(value.size()));
  GENERAL_NAME_set0_value(name, type, ia5);  // takes ia5
  sk_GENERAL_NAME_push(names.get(), name);   // takes name
  return SslPtr<X509_EXTENSION>(
      X509V3_EXT_i2d(NID_subject_alt_name, 1, names.get()));
}

// A SAN extension whose value is not a GeneralNames sequence.
SslPtr<X509_EXTENSION> MalformedSanExtension() {
  SslPtr<ASN1_STRING> value(ASN1_OCTET_STRING_new());
  const unsigned char kNotASequence[] = {0x04, 0x02, 'h', 'i'};
  ASN1_OCTET_STRING_set(value.get(), kNotASequence, sizeof(kNotASequence));
  return SslPtr<X509_EXTENSION>(X509_EXTENSION_create_by_NID(
      nullptr, NID_subject_alt_name, 0, value.get()));
}

// A CSR signed by `key` requesting `extensions` (no extensionRequest
// attribute at all when empty). Builds what BuildCsr never would.
std::string CustomCsr(EVP_PKEY* key,
                      std::vector<SslPtr<X509_EXTENSION>> extensions,
                      long version = X509_REQ_VERSION_1) {
  SslPtr<X509_REQ> req(X509_REQ_new());
  EXPECT_EQ(X509_REQ_set_version(req.get(), version), 1);
  EXPECT_EQ(X509_REQ_set_pubkey(req.get(), key), 1);
  if (!extensions.empty()) {
    X509ExtensionStack stack(sk_X509_EXTENSION_new_null());
    for (SslPtr<X509_EXTENSION>& ext : extensions) {
      EXPECT_NE(ext, nullptr);
      sk_X509_EXTENSION_push(stack.get(), ext.release());  // takes ext
    }
    EXPECT_EQ(X509_REQ_add_extensions(req.get(), stack.get()), 1);
  }
  EXPECT_GT(X509_REQ_sign(req.get(), key, SignatureDigest(key)), 0);
  return Encode(req.get());
}

std::vector<SslPtr<X509_EXTENSION>> Extensions(SslPtr<X509_EXTENSION> a,
                                               SslPtr<X509_EXTENSION> b = {}) {
  std::vector<SslPtr<X509_EXTENSION>> out;
  out.push_back(std::move(a));
  if (b != nullptr) out.push_back(std::move(b));
  return out;
}

SslPtr<X509_EXTENSION> GoodSan() {
  return ConfExtension(NID_subject_alt_name,
                       "URI:spiffe://example.org/web,DNS:web.internal");
}

std::string ValidCsr() {
  absl::StatusOr<std::string> der = BuildCsr(
      TestKey(KeyType::kEcP256), kSpiffeId, {std::string("web.internal")});
  EXPECT_THAT(der, IsOk());
  return der.value_or("");
}

// ---- BuildCsr -> Parse round trips -----------------------------------------

class CsrRoundTripTest : public ::testing::TestWithParam<KeyType> {};

TEST_P(CsrRoundTripTest, ParsesWhatBuildCsrMakes) {
  const PrivateKey& key = TestKey(GetParam());
  ASSERT_OK_AND_ASSIGN(
      std::string der,
      BuildCsr(key, kSpiffeId, {std::string("web.internal"), "web"}));
  ASSERT_OK_AND_ASSIGN(ParsedCsr csr, ParsedCsr::Parse(der));

  EXPECT_THAT(csr.uris(), ElementsAre(kSpiffeId));
  EXPECT_THAT(csr.dns_names(), ElementsAre("web.internal", "web"));
  ASSERT_OK_AND_ASSIGN(std::string public_key_der, key.PublicKeyDer());
  EXPECT_EQ(csr.public_key_der(), public_key_der);
  EXPECT_TRUE(key.Matches(csr.public_key()));
  EXPECT_EQ(csr.key_info().Describe(), key.info().Describe());
}

INSTANTIATE_TEST_SUITE_P(
    EveryKeyType, CsrRoundTripTest,
    ::testing::Values(KeyType::kEcP256, KeyType::kEcP384, KeyType::kEd25519,
                      KeyType::kRsa2048, KeyType::kRsa3072, KeyType::kRsa4096),
    [](const ::testing::TestParamInfo<KeyType>& param_info) {
      std::string name(KeyTypeName(param_info.param));
      name.erase(std::remove(name.begin(), name.end(), '-'), name.end());
      return name;
    });

TEST(CsrTest, BuildCsrHasEmptySubjectAndCriticalSan) {
  std::string der = ValidCsr();
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  SslPtr<X509_REQ> req(
      d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size())));
  ASSERT_NE(req, nullptr);
  EXPECT_EQ(X509_NAME_entry_count(X509_REQ_get_subject_name(req.get())), 0);
  X509ExtensionStack extensions(X509_REQ_get_extensions(req.get()));
  ASSERT_NE(extensions, nullptr);
  ASSERT_EQ(sk_X509_EXTENSION_num(extensions.get()), 1);
  X509_EXTENSION* san = sk_X509_EXTENSION_value(extensions.get(), 0);
  EXPECT_EQ(OBJ_obj2nid(X509_EXTENSION_get_object(san)), NID_subject_alt_name);
  EXPECT_EQ(X509_EXTENSION_get_critical(san), 1);
}

TEST(CsrTest, BuildCsrWithoutSpiffeIdHasOnlyDnsNames) {
  ASSERT_OK_AND_ASSIGN(std::string der, BuildCsr(TestKey(KeyType::kEcP256), "",
                                                 {std::string("db.internal")}));
  ASSERT_OK_AND_ASSIGN(ParsedCsr csr, ParsedCsr::Parse(der));
  EXPECT_THAT(csr.uris(), IsEmpty());
  EXPECT_THAT(csr.dns_names(), ElementsAre("db.internal"));
}

TEST(CsrTest, BuildCsrRefusesNoNames) {
  EXPECT_THAT(
      BuildCsr(TestKey(KeyType::kEcP256), "", {}),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("needs a SPIFFE ID or at least one DNS name")));
}

TEST(CsrTest, ParsesCsrMadeByOpensslCli) {
  std::string output;
  if (rotor::testing::RunCommand("openssl version", &output) != 0) {
    GTEST_SKIP() << "no openssl command: " << output;
  }
  rotor::testing::TempDir dir;
  std::string key_path = dir.Path("key.pem");
  std::string csr_path = dir.Path("csr.der");
  ASSERT_EQ(rotor::testing::RunCommand(
                absl::StrCat("openssl genpkey -algorithm EC -pkeyopt "
                             "ec_paramgen_curve:P-256 -out ",
                             key_path),
                &output),
            0)
      << output;
  ASSERT_EQ(rotor::testing::RunCommand(
                absl::StrCat("openssl req -new -key ", key_path,
                             " -subj /CN=w.internal -addext "
                             "\"subjectAltName=URI:spiffe://example.org/w,"
                             "DNS:w.internal\" -outform DER -out ",
                             csr_path),
                &output),
            0)
      << output;
  ASSERT_OK_AND_ASSIGN(std::string der, ReadFile(csr_path));
  ASSERT_OK_AND_ASSIGN(ParsedCsr csr, ParsedCsr::Parse(der));
  EXPECT_THAT(csr.uris(), ElementsAre("spiffe://example.org/w"));
  EXPECT_THAT(csr.dns_names(), ElementsAre("w.internal"));
  ASSERT_OK_AND_ASSIGN(PrivateKey key, PrivateKey::Load(key_path));
  ASSERT_OK_AND_ASSIGN(std::string public_key_der, key.PublicKeyDer());
  EXPECT_EQ(csr.public_key_der(), public_key_der);
}

TEST(CsrTest, AcceptsCaFalseAndIgnoresOtherExtensions) {
  EVP_PKEY* key = TestKey(KeyType::kEcP256).get();
  std::vector<SslPtr<X509_EXTENSION>> extensions =
      Extensions(ConfExtension(NID_basic_constraints, "critical,CA:FALSE"),
                 ConfExtension(NID_key_usage, "critical,keyCertSign"));
  extensions.push_back(GoodSan());
  ASSERT_OK_AND_ASSIGN(ParsedCsr csr,
                       ParsedCsr::Parse(CustomCsr(key, std::move(extensions))));
  EXPECT_THAT(csr.uris(), ElementsAre("spiffe://example.org/web"));
}

TEST(CsrTest, KeepsWildcardsAndForeignTrustDomainsForPolicyToDecide) {
  ASSERT_OK_AND_ASSIGN(
      std::string der,
      BuildCsr(TestKey(KeyType::kEcP256), "spiffe://other.org/x",
               {std::string("*.web.internal")}));
  ASSERT_OK_AND_ASSIGN(ParsedCsr csr, ParsedCsr::Parse(der));
  EXPECT_THAT(csr.uris(), ElementsAre("spiffe://other.org/x"));
  EXPECT_THAT(csr.dns_names(), ElementsAre("*.web.internal"));
}

// ---- refusals, in the order Parse checks them ------------------------------

TEST(CsrTest, RefusesEmptyInput) {
  EXPECT_THAT(ParsedCsr::Parse(""),
              StatusIs(absl::StatusCode::kInvalidArgument, "CSR is empty"));
}

TEST(CsrTest, RefusesCsrOver16KiB) {
  std::vector<std::string> dns_names;
  for (int i = 0; i < 600; ++i) {
    dns_names.push_back(
        absl::StrCat("host-", i, ".a-rather-long-zone.internal"));
  }
  ASSERT_OK_AND_ASSIGN(std::string der, BuildCsr(TestKey(KeyType::kEcP256),
                                                 kSpiffeId, dns_names));
  ASSERT_GT(der.size(), kMaxCsrBytes);
  EXPECT_THAT(ParsedCsr::Parse(der),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       absl::StrCat("CSR of ", der.size(),
                                    " bytes exceeds the 16384-byte limit")));
}

TEST(CsrTest, RefusesGarbage) {
  EXPECT_THAT(ParsedCsr::Parse("this is not a CSR"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("CSR is not valid DER PKCS#10: ")));
}

TEST(CsrTest, RefusesPemInsteadOfDer) {
  EXPECT_THAT(ParsedCsr::Parse("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("CSR is not valid DER PKCS#10")));
}

TEST(CsrTest, RefusesTruncatedDer) {
  std::string der = ValidCsr();
  der.resize(der.size() - 10);
  EXPECT_THAT(ParsedCsr::Parse(der),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("CSR is not valid DER PKCS#10")));
}

TEST(CsrTest, RefusesTrailingBytes) {
  std::string der = ValidCsr();
  der.append("\0\0\x01", 3);
  EXPECT_THAT(ParsedCsr::Parse(der),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "CSR has 3 trailing bytes after its DER encoding"));
}

TEST(CsrTest, RefusesUnknownVersion) {
  std::string der =
      CustomCsr(TestKey(KeyType::kEcP256).get(), Extensions(GoodSan()), 2);
  EXPECT_THAT(ParsedCsr::Parse(der),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("CSR has version 3")));
}

TEST(CsrTest, RefusesRsa1024Key) {
  SslPtr<EVP_PKEY> raw(
      EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{1024}));
  ASSERT_NE(raw, nullptr);
  PrivateKey key = PrivateKey::Adopt(std::move(raw));
  ASSERT_OK_AND_ASSIGN(std::string der,
                       BuildCsr(key, kSpiffeId, {std::string("web.internal")}));
  EXPECT_THAT(ParsedCsr::Parse(der),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "RSA key of 1024 bits is below the 2048-bit minimum"));
}

TEST(CsrTest, RefusesSecp256k1Key) {
  SslPtr<EVP_PKEY> raw(EVP_EC_gen("secp256k1"));
  ASSERT_NE(raw, nullptr);
  PrivateKey key = PrivateKey::Adopt(std::move(raw));
  ASSERT_OK_AND_ASSIGN(std::string der, BuildCsr(key, kSpiffeId, {}));
  EXPECT_THAT(ParsedCsr::Parse(der),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "EC curve secp256k1 is not supported; use P-256 or "
                       "P-384"));
}

TEST(CsrTest, RefusesEcPointNotOnTheCurve) {
  const PrivateKey& key = TestKey(KeyType::kEcP256);
  ASSERT_OK_AND_ASSIGN(std::string der, BuildCsr(key, kSpiffeId, {}));
  ASSERT_OK_AND_ASSIGN(std::string spki, key.PublicKeyDer());
  // The uncompressed point (04 || x || y) ends the SubjectPublicKeyInfo;
  // changing y moves it off the curve.
  const std::string point = spki.substr(spki.size() - 65);
  const size_t at = der.find(point);
  ASSERT_NE(at, std::string::npos);
  der[at + 64] = static_cast<char>(der[at + 64] ^ 0x01);
  EXPECT_THAT(ParsedCsr::Parse(der),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("CSR public key cannot be decoded")));
}

TEST(CsrTest, RefusesP384PointNotOnTheCurve) {
  const PrivateKey& key = TestKey(KeyType::kEcP384);
  ASSERT_OK_AND_ASSIGN(std::string der, BuildCsr(key, kSpiffeId, {}));
  ASSERT_OK_AND_ASSIGN(std::string spki, key.PublicKeyDer());
  const std::string point = spki.substr(spki.size() - 97);
  const size_t at = der.find(point);
  ASSERT_NE(at, std::string::npos);
  der[at + 96] = static_cast<char>(der[at + 96] ^ 0x01);
  EXPECT_THAT(ParsedCsr::Parse(der),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("CSR public key cannot be decoded")));
}

TEST(CsrTest, ParsesEcKeysOfEachCurveOnManyThreads) {
  // The curves' parameters are made once and shared by every parse.
  std::vector<std::string> csrs;
  for (KeyType type : {KeyType::kEcP256, KeyType::kEcP384}) {
    ASSERT_OK_AND_ASSIGN(std::string der, BuildCsr(TestKey(type), kSpiffeId, {}));
    csrs.push_back(der);
  }
  std::vector<std::thread> threads;
  std::atomic<int> parsed{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        for (const std::string& der : csrs) {
          if (ParsedCsr::Parse(der).ok()) ++parsed;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(parsed, 4 * 20 * 2);
}

TEST(CsrTest, RefusesDsaKey) {
  SslPtr<EVP_PKEY_CTX> param_ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, "DSA", nullptr));
  ASSERT_NE(param_ctx, nullptr);
  ASSERT_EQ(EVP_PKEY_paramgen_init(param_ctx.get()), 1);
  ASSERT_EQ(EVP_PKEY_CTX_set_dsa_paramgen_bits(param_ctx.get(), 2048), 1);
  EVP_PKEY* raw_params = nullptr;
  ASSERT_EQ(EVP_PKEY_paramgen(param_ctx.get(), &raw_params), 1);
  SslPtr<EVP_PKEY> params(raw_params);
  SslPtr<EVP_PKEY_CTX> key_ctx(EVP_PKEY_CTX_new(params.get(), nullptr));
  ASSERT_EQ(EVP_PKEY_keygen_init(key_ctx.get()), 1);
  EVP_PKEY* raw_key = nullptr;
  ASSERT_EQ(EVP_PKEY_keygen(key_ctx.get(), &raw_key), 1);
  PrivateKey key = PrivateKey::Adopt(SslPtr<EVP_PKEY>(raw_key));

  ASSERT_OK_AND_ASSIGN(std::string der, BuildCsr(key, kSpiffeId, {}));
  EXPECT_THAT(ParsedCsr::Parse(der),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "DSA keys are not supported; use EC P-256, EC P-384, "
                       "Ed25519 or RSA 2048-4096"));
}

TEST(CsrTest, RefusesCorruptedSignature) {
  for (KeyType type :
       {KeyType::kEcP256, KeyType::kEd25519, KeyType::kRsa2048}) {
    SCOPED_TRACE(KeyTypeName(type));
    ASSERT_OK_AND_ASSIGN(std::string der,
                         BuildCsr(TestKey(type), kSpiffeId, {}));
    der.back() ^= 0x01;  // the last byte belongs to the signature
    EXPECT_THAT(ParsedCsr::Parse(der),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         "CSR signature does not verify"));
  }
}

TEST(CsrTest, RefusesSignatureByAnotherKey) {
  // The CSR names the P-256 key but is signed by a different P-256 key.
  SslPtr<EVP_PKEY> other(EVP_EC_gen("P-256"));
  ASSERT_NE(other, nullptr);
  SslPtr<X509_REQ> req(X509_REQ_new());
  ASSERT_EQ(X509_REQ_set_pubkey(req.get(), TestKey(KeyType::kEcP256).get()), 1);
  X509ExtensionStack stack(sk_X509_EXTENSION_new_null());
  sk_X509_EXTENSION_push(stack.get(), GoodSan().release());  // takes it
  ASSERT_EQ(X509_REQ_add_extensions(req.get(), stack.get()), 1);
  ASSERT_GT(X509_REQ_sign(req.get(), other.get(), EVP_sha256()), 0);
  EXPECT_THAT(ParsedCsr::Parse(Encode(req.get())),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "CSR signature does not verify"));
}

TEST(CsrTest, RefusesCaTrue) {
  std::string der = CustomCsr(
      TestKey(KeyType::kEcP256).get(),
      Extensions(ConfExtension(NID_basic_constraints, "critical,CA:TRUE"),
                 GoodSan()));
  EXPECT_THAT(ParsedCsr::Parse(der),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "CSR requests a CA certificate (basicConstraints "
                       "CA:TRUE); rotor issues only end-entity certificates"));
}

TEST(CsrTest, RefusesCaTrueEvenWithoutSan) {
  std::string der = CustomCsr(
      TestKey(KeyType::kEcP256).get(),
      Extensions(ConfExtension(NID_basic_constraints, "CA:TRUE,pathlen:0")));
  EXPECT_THAT(ParsedCsr::Parse(der),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("basicConstraints CA:TRUE")));
}

TEST(CsrTest, RefusesMissingSan) {
  std::string der = CustomCsr(TestKey(KeyType::kEcP256).get(), {});
  EXPECT_THAT(ParsedCsr::Parse(der),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "CSR has no subjectAltName; put the SPIFFE ID in a URI "
                       "SAN"));
}

TEST(CsrTest, RefusesMissingSanWhenOtherExtensionsAreRequested) {
  std::string der =
      CustomCsr(TestKey(KeyType::kEcP256).get(),
                Extensions(ConfExtension(NID_key_usage, "digitalSignature")));
  EXPECT_THAT(ParsedCsr::Parse(der),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("CSR has no subjectAltName")));
}

TEST(CsrTest, RefusesSanRequestedTwice) {
  std::string der = CustomCsr(
      TestKey(KeyType::kEcP256).get(),
      Extensions(GoodSan(),
                 ConfExtension(NID_subject_alt_name, "DNS:evil.internal")));
  EXPECT_THAT(ParsedCsr::Parse(der),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "CSR requests the X509v3 Subject Alternative Name "
                       "extension more than once"));
}

TEST(CsrTest, RefusesMalformedSan) {
  std::string der = CustomCsr(TestKey(KeyType::kEcP256).get(),
                              Extensions(MalformedSanExtension()));
  EXPECT_THAT(ParsedCsr::Parse(der),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("CSR subjectAltName extension is malformed")));
}

struct SanTypeCase {
  const char* conf;  // OpenSSL config syntax for the SAN
  const char* type;  // what the message must name
};

void PrintTo(const SanTypeCase& c, std::ostream* os) { *os << c.conf; }

class CsrSanTypeTest : public ::testing::TestWithParam<SanTypeCase> {};

TEST_P(CsrSanTypeTest, RefusesSanTypeOtherThanUriAndDns) {
  std::string der = CustomCsr(
      TestKey(KeyType::kEcP256).get(),
      Extensions(ConfExtension(NID_subject_alt_name, GetParam().conf)));
  EXPECT_THAT(ParsedCsr::Parse(der),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       absl::StrCat("CSR subjectAltName has an unsupported "
                                    "name type (",
                                    GetParam().type,
                                    "); only URI and DNS names are accepted")));
}

INSTANTIATE_TEST_SUITE_P(
    OtherNameTypes, CsrSanTypeTest,
    ::testing::Values(SanTypeCase{"URI:spiffe://example.org/web,IP:10.0.0.1",
                                  "IP address"},
                      SanTypeCase{"email:web@example.org", "email"},
                      SanTypeCase{"RID:1.2.3.4", "registered ID"},
                      SanTypeCase{"DNS:web.internal,otherName:1.2.3.4;UTF8:web",
                                  "other name"}),
    [](const ::testing::TestParamInfo<SanTypeCase>& param_info) {
      std::string name = param_info.param.type;
      name.erase(std::remove(name.begin(), name.end(), ' '), name.end());
      return name;
    });

TEST(CsrTest, RefusesDirectoryNameSan) {
  SslPtr<GENERAL_NAMES> names(GENERAL_NAMES_new());
  SslPtr<X509_NAME> dir_name(X509_NAME_new());
  ASSERT_EQ(X509_NAME_add_entry_by_txt(
                dir_name.get(), "CN", MBSTRING_ASC,
                reinterpret_cast<const unsigned char*>("web"), -1, -1, 0),
            1);
  GENERAL_NAME* name = GENERAL_NAME_new();
  GENERAL_NAME_set0_value(name, GEN_DIRNAME, dir_name.release());  // takes it
  sk_GENERAL_NAME_push(names.get(), name);                         // takes it
  std::string der = CustomCsr(TestKey(KeyType::kEcP256).get(),
                              Extensions(SslPtr<X509_EXTENSION>(X509V3_EXT_i2d(
                                  NID_subject_alt_name, 1, names.get()))));
  EXPECT_THAT(ParsedCsr::Parse(der),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unsupported name type (directory name)")));
}

TEST(CsrTest, RefusesNulInSan) {
  std::string der = CustomCsr(
      TestKey(KeyType::kEcP256).get(),
      Extensions(RawSanExtension(
          GEN_DNS, absl::string_view("web.internal\0.evil.com", 22))));
  EXPECT_THAT(ParsedCsr::Parse(der),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "CSR subjectAltName DNS name "
                       "\"web.internal\\x00.evil.com\" contains a NUL byte"));
}

TEST(CsrTest, RefusesControlCharacterInUriSan) {
  std::string der = CustomCsr(
      TestKey(KeyType::kEcP256).get(),
      Extensions(RawSanExtension(GEN_URI, "spiffe://example.org/w\neb")));
  EXPECT_THAT(ParsedCsr::Parse(der),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("CSR subjectAltName URI "
                                 "\"spiffe://example.org/w\\neb\" contains a "
                                 "byte that is not printable ASCII (0x0a)")));
}

TEST(CsrTest, RefusesNonAsciiInDnsSan) {
  std::string der =
      CustomCsr(TestKey(KeyType::kEcP256).get(),
                Extensions(RawSanExtension(GEN_DNS, "caf\xc3\xa9.internal")));
  EXPECT_THAT(ParsedCsr::Parse(der),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not printable ASCII (0xc3)")));
}

TEST(CsrTest, RefusesEmptySanString) {
  std::string der = CustomCsr(TestKey(KeyType::kEcP256).get(),
                              Extensions(RawSanExtension(GEN_URI, "")));
  EXPECT_THAT(ParsedCsr::Parse(der),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "CSR subjectAltName has an empty URI"));
}

TEST(CsrTest, ChecksKeyBeforeSignature) {
  // A weak key with a broken signature is reported as a weak key: the
  // cheaper, more useful message comes first.
  SslPtr<EVP_PKEY> raw(EVP_EC_gen("secp256k1"));
  ASSERT_NE(raw, nullptr);
  PrivateKey key = PrivateKey::Adopt(std::move(raw));
  ASSERT_OK_AND_ASSIGN(std::string der, BuildCsr(key, kSpiffeId, {}));
  der.back() ^= 0x01;
  EXPECT_THAT(ParsedCsr::Parse(der),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("secp256k1 is not supported")));
}

}  // namespace
}  // namespace rotor::pki
