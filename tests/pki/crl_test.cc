#include "pki/crl.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <chrono>
#include <ctime>
#include <cstdint>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pki/certificate.h"
#include "pki/key.h"
#include "pki/revocation.h"
#include "pki/serial.h"
#include "pki/ssl_ptr.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_ca.h"
#include "util/file.h"

namespace rotor::pki {
namespace {

using ::rotor::testing::MakeTestCa;
using ::rotor::testing::StatusIs;
using ::rotor::testing::TempDir;
using ::rotor::testing::TestCa;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

const absl::Time kNow = absl::FromUnixSeconds(1800000000);

CrlOptions Options(uint64_t number = 7) {
  CrlOptions options;
  options.number = number;
  options.this_update = kNow;
  options.next_update = kNow + absl::Hours(24);
  return options;
}

SslPtr<X509_CRL> ParseCrl(const std::string& der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  SslPtr<X509_CRL> crl(d2i_X509_CRL(nullptr, &p, static_cast<long>(der.size())));
  EXPECT_NE(crl, nullptr);
  EXPECT_EQ(p, reinterpret_cast<const unsigned char*>(der.data()) + der.size());
  return crl;
}

// What a parsed CRL entry says, for comparisons.
struct Entry {
  std::string serial;
  absl::Time revoked_at;
  int reason;  // -1: no reasonCode extension
  bool operator==(const Entry& other) const {
    return serial == other.serial && revoked_at == other.revoked_at &&
           reason == other.reason;
  }
  friend std::ostream& operator<<(std::ostream& os, const Entry& e) {
    return os << "{" << e.serial << ", " << absl::FormatTime(e.revoked_at)
              << ", reason " << e.reason << "}";
  }
};

std::vector<Entry> Entries(X509_CRL* crl) {
  std::vector<Entry> out;
  STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl);
  for (int i = 0; i < sk_X509_REVOKED_num(revoked); ++i) {
    X509_REVOKED* r = sk_X509_REVOKED_value(revoked, i);
    Entry entry{Asn1ToSerial(X509_REVOKED_get0_serialNumber(r)),
                Asn1TimeToTime(X509_REVOKED_get0_revocationDate(r)), -1};
    int critical = 0;
    SslPtr<ASN1_STRING> reason(static_cast<ASN1_ENUMERATED*>(
        X509_REVOKED_get_ext_d2i(r, NID_crl_reason, &critical, nullptr)));
    if (reason != nullptr) {
      entry.reason = static_cast<int>(ASN1_ENUMERATED_get(reason.get()));
      EXPECT_EQ(critical, 0);
    }
    out.push_back(entry);
  }
  return out;
}

class CrlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<TestCa> ca = MakeTestCa(KeyType::kEcP256, kNow - absl::Hours(1));
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_.emplace(*std::move(ca));
  }
  Signer signer() const { return ca_->signer(); }

  std::optional<TestCa> ca_;
};

TEST_F(CrlTest, ParsesBackWithNumberDatesAndIssuer) {
  ASSERT_OK_AND_ASSIGN(std::string der, BuildCrl(signer(), {}, Options(42)));
  SslPtr<X509_CRL> crl = ParseCrl(der);
  ASSERT_NE(crl, nullptr);
  EXPECT_EQ(X509_CRL_get_version(crl.get()), X509_CRL_VERSION_2);
  EXPECT_EQ(X509_NAME_cmp(X509_CRL_get_issuer(crl.get()),
                          X509_get_subject_name(ca_->intermediate.get())),
            0);
  EXPECT_EQ(Asn1TimeToTime(X509_CRL_get0_lastUpdate(crl.get())), kNow);
  EXPECT_EQ(Asn1TimeToTime(X509_CRL_get0_nextUpdate(crl.get())),
            kNow + absl::Hours(24));

  int critical = -1;
  SslPtr<ASN1_STRING> number(static_cast<ASN1_INTEGER*>(
      X509_CRL_get_ext_d2i(crl.get(), NID_crl_number, &critical, nullptr)));
  ASSERT_NE(number, nullptr);
  EXPECT_EQ(critical, 0);
  uint64_t value = 0;
  ASSERT_EQ(ASN1_INTEGER_get_uint64(&value, number.get()), 1);
  EXPECT_EQ(value, 42u);
}

TEST_F(CrlTest, LargeCrlNumberRoundTrips) {
  ASSERT_OK_AND_ASSIGN(std::string der,
                       BuildCrl(signer(), {}, Options(UINT64_MAX)));
  SslPtr<X509_CRL> crl = ParseCrl(der);
  ASSERT_NE(crl, nullptr);
  SslPtr<ASN1_STRING> number(static_cast<ASN1_INTEGER*>(
      X509_CRL_get_ext_d2i(crl.get(), NID_crl_number, nullptr, nullptr)));
  ASSERT_NE(number, nullptr);
  uint64_t value = 0;
  ASSERT_EQ(ASN1_INTEGER_get_uint64(&value, number.get()), 1);
  EXPECT_EQ(value, UINT64_MAX);
}

TEST_F(CrlTest, AuthorityKeyIdIsTheSignerSki) {
  ASSERT_OK_AND_ASSIGN(std::string der, BuildCrl(signer(), {}, Options()));
  SslPtr<X509_CRL> crl = ParseCrl(der);
  ASSERT_NE(crl, nullptr);
  int critical = -1;
  SslPtr<AUTHORITY_KEYID> aki(static_cast<AUTHORITY_KEYID*>(X509_CRL_get_ext_d2i(
      crl.get(), NID_authority_key_identifier, &critical, nullptr)));
  ASSERT_NE(aki, nullptr);
  EXPECT_EQ(critical, 0);
  const ASN1_OCTET_STRING* ski =
      X509_get0_subject_key_id(ca_->intermediate.get());
  ASSERT_NE(ski, nullptr);
  ASSERT_NE(aki->keyid, nullptr);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(aki->keyid, ski), 0);
}

TEST_F(CrlTest, ListsEntriesInSerialOrderWithDatesAndReasons) {
  const absl::Time t1 = kNow - absl::Minutes(30);
  const absl::Time t2 = kNow - absl::Minutes(20);
  const absl::Time t3 = kNow - absl::Minutes(10);
  std::vector<RevokedCertificate> revoked = {
      {"7f00aa", t1, RevocationReason::kKeyCompromise},
      {"1b", t2, RevocationReason::kSuperseded},
      {"fe", t3, RevocationReason::kUnspecified},
      {"100", t3, RevocationReason::kAaCompromise},
  };
  ASSERT_OK_AND_ASSIGN(std::string der, BuildCrl(signer(), revoked, Options()));
  SslPtr<X509_CRL> crl = ParseCrl(der);
  ASSERT_NE(crl, nullptr);
  EXPECT_THAT(Entries(crl.get()),
              ElementsAre(Entry{"1b", t2, 4}, Entry{"fe", t3, -1},
                          Entry{"100", t3, 10}, Entry{"7f00aa", t1, 1}));
}

TEST_F(CrlTest, NormalisesSerials) {
  std::vector<RevokedCertificate> revoked = {
      {"00:AB:CD", kNow, RevocationReason::kSuperseded}};
  ASSERT_OK_AND_ASSIGN(std::string der, BuildCrl(signer(), revoked, Options()));
  SslPtr<X509_CRL> crl = ParseCrl(der);
  ASSERT_NE(crl, nullptr);
  EXPECT_THAT(Entries(crl.get()), ElementsAre(Entry{"abcd", kNow, 4}));
}

TEST_F(CrlTest, EmptyCrlHasNoEntries) {
  ASSERT_OK_AND_ASSIGN(std::string der, BuildCrl(signer(), {}, Options()));
  SslPtr<X509_CRL> crl = ParseCrl(der);
  ASSERT_NE(crl, nullptr);
  EXPECT_THAT(Entries(crl.get()), IsEmpty());
  EXPECT_EQ(X509_CRL_verify(crl.get(), ca_->intermediate.PublicKey()), 1);
}

TEST_F(CrlTest, RefusesBadSerial) {
  std::vector<RevokedCertificate> revoked = {
      {"12zz", kNow, RevocationReason::kSuperseded}};
  EXPECT_THAT(BuildCrl(signer(), revoked, Options()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("serial \"12zz\" is not hexadecimal")));
  revoked[0].serial = "";
  EXPECT_THAT(BuildCrl(signer(), revoked, Options()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("serial is empty")));
  revoked[0].serial = std::string(42, 'a');
  EXPECT_THAT(BuildCrl(signer(), revoked, Options()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("longer than 20 bytes")));
}

TEST_F(CrlTest, RefusesDuplicateSerial) {
  std::vector<RevokedCertificate> revoked = {
      {"abcd", kNow, RevocationReason::kSuperseded},
      {"12", kNow, RevocationReason::kSuperseded},
      {"00abcd", kNow, RevocationReason::kKeyCompromise}};
  EXPECT_THAT(BuildCrl(signer(), revoked, Options()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("serial abcd is listed twice in the CRL")));
}

TEST_F(CrlTest, RefusesNextUpdateNotAfterThisUpdate) {
  CrlOptions options = Options();
  options.next_update = options.this_update;
  EXPECT_THAT(BuildCrl(signer(), {}, options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("must be after thisUpdate")));
  options.next_update = options.this_update - absl::Seconds(1);
  EXPECT_THAT(BuildCrl(signer(), {}, options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("must be after thisUpdate")));
  options.next_update = absl::InfiniteFuture();
  EXPECT_THAT(BuildCrl(signer(), {}, options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("must be finite times")));
}

TEST_F(CrlTest, RefusesInfiniteRevocationTime) {
  std::vector<RevokedCertificate> revoked = {
      {"abcd", absl::InfinitePast(), RevocationReason::kSuperseded}};
  EXPECT_THAT(BuildCrl(signer(), revoked, Options()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("revocation time of serial abcd")));
}

TEST_F(CrlTest, RefusesReasonCodeSeven) {
  std::vector<RevokedCertificate> revoked = {
      {"abcd", kNow, static_cast<RevocationReason>(7)}};
  EXPECT_THAT(BuildCrl(signer(), revoked, Options()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("revocation reason code 7 is not a CRLReason")));
}

TEST_F(CrlTest, RefusesSignerKeyThatDoesNotMatchCertificate) {
  Signer mismatched{ca_->intermediate, ca_->root_key};
  EXPECT_THAT(BuildCrl(mismatched, {}, Options()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("does not match the certificate of")));
}

TEST_F(CrlTest, DerToPemRoundTrips) {
  ASSERT_OK_AND_ASSIGN(std::string der, BuildCrl(signer(), {}, Options()));
  ASSERT_OK_AND_ASSIGN(std::string pem, CrlDerToPem(der));
  EXPECT_THAT(pem, StartsWith("-----BEGIN X509 CRL-----\n"));
  EXPECT_THAT(pem, HasSubstr("-----END X509 CRL-----\n"));
  SslPtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  SslPtr<X509_CRL> crl(
      PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr));
  ASSERT_NE(crl, nullptr);
  unsigned char* again = nullptr;
  int len = i2d_X509_CRL(crl.get(), &again);
  ASSERT_GT(len, 0);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(again), len), der);
  OPENSSL_free(again);
}

TEST_F(CrlTest, DerToPemRefusesGarbageAndTrailingBytes) {
  EXPECT_THAT(CrlDerToPem("not a crl"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("CRL does not parse as DER")));
  ASSERT_OK_AND_ASSIGN(std::string der, BuildCrl(signer(), {}, Options()));
  EXPECT_THAT(CrlDerToPem(der + "xy"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("CRL has 2 trailing bytes")));
}

std::string KeyTypeTestName(const ::testing::TestParamInfo<KeyType>& param) {
  std::string name(KeyTypeName(param.param));
  for (char& c : name) {
    if (!absl::ascii_isalnum(c)) c = '_';
  }
  return name;
}

// Every signing key type rotor supports.
class CrlSignerTest : public ::testing::TestWithParam<KeyType> {};

TEST_P(CrlSignerTest, SignatureVerifiesWithTheIntermediateKey) {
  ASSERT_OK_AND_ASSIGN(TestCa ca, MakeTestCa(GetParam(), kNow - absl::Hours(1)));
  std::vector<RevokedCertificate> revoked = {
      {"0123456789abcdef", kNow, RevocationReason::kKeyCompromise}};
  ASSERT_OK_AND_ASSIGN(std::string der,
                       BuildCrl(ca.signer(), revoked, Options()));
  SslPtr<X509_CRL> crl = ParseCrl(der);
  ASSERT_NE(crl, nullptr);
  EXPECT_EQ(X509_CRL_verify(crl.get(), ca.intermediate.PublicKey()), 1);
  EXPECT_NE(X509_CRL_verify(crl.get(), ca.root.PublicKey()), 1);
  ERR_clear_error();
}

TEST_P(CrlSignerTest, OpenSslCliVerifiesAndPrintsEntries) {
  ASSERT_OK_AND_ASSIGN(TestCa ca, MakeTestCa(GetParam(), kNow - absl::Hours(1)));
  std::vector<RevokedCertificate> revoked = {
      {"1a2b3c4d", kNow - absl::Minutes(5), RevocationReason::kKeyCompromise},
      {"0e0f", kNow, RevocationReason::kCessationOfOperation}};
  ASSERT_OK_AND_ASSIGN(std::string der,
                       BuildCrl(ca.signer(), revoked, Options(3)));
  TempDir dir;
  ASSERT_OK(WriteFileAtomically(dir.Path("crl.der"), der, 0644));
  ASSERT_OK(WriteFileAtomically(
      dir.Path("chain.pem"),
      absl::StrCat(ca.intermediate.ToPem(), ca.root.ToPem()), 0644));

  std::string output;
  ASSERT_EQ(rotor::testing::RunCommand(
                absl::StrCat("openssl crl -inform DER -in ", dir.Path("crl.der"),
                             " -CAfile ", dir.Path("chain.pem"), " -noout"),
                &output),
            0)
      << output;
  EXPECT_THAT(output, HasSubstr("verify OK"));

  ASSERT_EQ(rotor::testing::RunCommand(
                absl::StrCat("openssl crl -inform DER -in ", dir.Path("crl.der"),
                             " -noout -text"),
                &output),
            0)
      << output;
  EXPECT_THAT(output, HasSubstr("Serial Number: 1A2B3C4D"));
  EXPECT_THAT(output, HasSubstr("Key Compromise"));
  EXPECT_THAT(output, HasSubstr("Serial Number: 0E0F"));
  EXPECT_THAT(output, HasSubstr("Cessation Of Operation"));
  EXPECT_THAT(output, HasSubstr("X509v3 CRL Number: \n                3"));
  EXPECT_THAT(output, HasSubstr("rotor test intermediate CA"));
}

INSTANTIATE_TEST_SUITE_P(KeyTypes, CrlSignerTest,
                         ::testing::Values(KeyType::kEcP256, KeyType::kEcP384,
                                           KeyType::kEd25519,
                                           KeyType::kRsa2048),
                         KeyTypeTestName);

// Scale check, run by hand:
//   rotor_pki_test --gtest_also_run_disabled_tests
//       --gtest_filter='*Builds100000Entries*'
TEST_F(CrlTest, DISABLED_Builds100000Entries) {
  std::vector<RevokedCertificate> revoked;
  revoked.reserve(100000);
  for (int i = 0; i < 100000; ++i) {
    // Random-looking 16-byte serials, not in order.
    uint64_t x = static_cast<uint64_t>(i) * 0x9e3779b97f4a7c15ull;
    revoked.push_back({absl::StrCat(absl::Hex(x | (1ull << 62)),
                                    absl::Hex(x ^ 0x5555555555555555ull,
                                              absl::kZeroPad16)),
                       kNow - absl::Seconds(i),
                       i % 3 == 0 ? RevocationReason::kUnspecified
                                  : RevocationReason::kSuperseded});
  }
  // Wall time, and this process's CPU time, which a busy machine distorts
  // less.
  auto start = std::chrono::steady_clock::now();
  std::clock_t cpu_start = std::clock();
  ASSERT_OK_AND_ASSIGN(std::string der, BuildCrl(signer(), revoked, Options()));
  std::clock_t cpu_end = std::clock();
  auto elapsed = std::chrono::steady_clock::now() - start;
  std::cout << "BuildCrl with 100000 entries: "
            << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed)
                   .count()
            << " ms wall, " << (cpu_end - cpu_start) * 1000 / CLOCKS_PER_SEC
            << " ms CPU, " << der.size() << " bytes" << std::endl;
  SslPtr<X509_CRL> crl = ParseCrl(der);
  ASSERT_NE(crl, nullptr);
  EXPECT_EQ(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl.get())), 100000);
  EXPECT_EQ(X509_CRL_verify(crl.get(), ca_->intermediate.PublicKey()), 1);
}

}  // namespace
}  // namespace rotor::pki
