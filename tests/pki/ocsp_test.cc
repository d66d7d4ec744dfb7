#include "pki/ocsp.h"

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pki/certificate.h"
#include "pki/certificate_builder.h"
#include "pki/key.h"
#include "pki/random.h"
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
using ::rotor::testing::RunCommand;
using ::rotor::testing::StatusIs;
using ::rotor::testing::TempDir;
using ::rotor::testing::TestCa;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

const absl::Time kNow = absl::FromUnixSeconds(1800000000);

OcspOptions Options() {
  OcspOptions options;
  options.now = kNow;
  return options;
}

// A CERTID for `serial` (canonical hex) issued by `issuer`, hashed with `md`.
SslPtr<OCSP_CERTID> IdFor(const Certificate& issuer, const std::string& serial,
                          const EVP_MD* md = EVP_sha1()) {
  absl::StatusOr<SslPtr<ASN1_INTEGER>> number = SerialToAsn1(serial);
  EXPECT_TRUE(number.ok()) << number.status();
  if (!number.ok()) return nullptr;
  SslPtr<OCSP_CERTID> id(OCSP_cert_id_new(md,
                                          X509_get_subject_name(issuer.get()),
                                          X509_get0_pubkey_bitstr(issuer.get()),
                                          number->get()));
  EXPECT_NE(id, nullptr);
  return id;
}

// A DER OCSPRequest asking about `ids`, with a random nonce if `nonce`.
std::string RequestDer(const std::vector<const OCSP_CERTID*>& ids,
                       bool nonce = true) {
  SslPtr<OCSP_REQUEST> request(OCSP_REQUEST_new());
  EXPECT_NE(request, nullptr);
  for (const OCSP_CERTID* id : ids) {
    OCSP_CERTID* copy = OCSP_CERTID_dup(id);
    EXPECT_NE(OCSP_request_add0_id(request.get(), copy), nullptr);
  }
  if (nonce) {
    EXPECT_EQ(OCSP_request_add1_nonce(request.get(), nullptr, -1), 1);
  }
  unsigned char* der = nullptr;
  int len = i2d_OCSP_REQUEST(request.get(), &der);
  EXPECT_GT(len, 0);
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

SslPtr<OCSP_REQUEST> ParseRequest(const std::string& der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  return SslPtr<OCSP_REQUEST>(
      d2i_OCSP_REQUEST(nullptr, &p, static_cast<long>(der.size())));
}

SslPtr<OCSP_RESPONSE> ParseResponse(const std::string& der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  SslPtr<OCSP_RESPONSE> response(
      d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(der.size())));
  EXPECT_NE(response, nullptr);
  EXPECT_EQ(p, reinterpret_cast<const unsigned char*>(der.data()) + der.size());
  return response;
}

// The basic response of a successful OCSPResponse, or null (with a test
// failure) if it is not one.
SslPtr<OCSP_BASICRESP> Basic(const std::string& der) {
  SslPtr<OCSP_RESPONSE> response = ParseResponse(der);
  if (response == nullptr) return nullptr;
  EXPECT_EQ(OCSP_response_status(response.get()),
            OCSP_RESPONSE_STATUS_SUCCESSFUL);
  SslPtr<OCSP_BASICRESP> basic(OCSP_response_get1_basic(response.get()));
  EXPECT_NE(basic, nullptr);
  return basic;
}

// What the response says about one CERTID.
struct SingleStatus {
  int status = -1;  // V_OCSP_CERTSTATUS_*
  int reason = -2;  // OCSP_REVOKED_STATUS_NOSTATUS (-1) when absent
  absl::Time revoked_at;
  absl::Time this_update;
  absl::Time next_update;
};

std::optional<SingleStatus> Find(OCSP_BASICRESP* basic, OCSP_CERTID* id) {
  SingleStatus out;
  ASN1_GENERALIZEDTIME* revoked_at = nullptr;
  ASN1_GENERALIZEDTIME* this_update = nullptr;
  ASN1_GENERALIZEDTIME* next_update = nullptr;
  if (OCSP_resp_find_status(basic, id, &out.status, &out.reason, &revoked_at,
                            &this_update, &next_update) != 1) {
    return std::nullopt;
  }
  if (revoked_at != nullptr) out.revoked_at = Asn1TimeToTime(revoked_at);
  out.this_update = Asn1TimeToTime(this_update);
  out.next_update = Asn1TimeToTime(next_update);
  return out;
}

// Verifies the response signature and its signer's chain up to `root`,
// at `at`.
bool VerifiesWithRoot(OCSP_BASICRESP* basic, const Certificate& root,
                      absl::Time at) {
  SslPtr<X509_STORE> store(X509_STORE_new());
  if (store == nullptr || X509_STORE_add_cert(store.get(), root.get()) != 1) {
    return false;
  }
  X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(store.get()),
                             absl::ToTimeT(at));
  int ok = OCSP_basic_verify(basic, /*certs=*/nullptr, store.get(), 0);
  if (ok != 1) {
    ADD_FAILURE() << "OCSP_basic_verify: " << ERR_error_string(ERR_get_error(), nullptr);
  }
  ERR_clear_error();
  return ok == 1;
}

// A lookup over a fixed table; records the serials it was asked about.
class FakeLookup {
 public:
  void Set(const std::string& serial, OcspStatus status) {
    table_.emplace_back(serial, status);
  }
  OcspStatus operator()(absl::string_view serial) {
    asked_.emplace_back(serial);
    for (const auto& [known, status] : table_) {
      if (known == serial) return status;
    }
    return OcspStatus{};
  }
  const std::vector<std::string>& asked() const { return asked_; }

 private:
  std::vector<std::pair<std::string, OcspStatus>> table_;
  std::vector<std::string> asked_;
};

OcspStatus Good() { return OcspStatus{OcspStatus::Kind::kGood, {}, {}}; }
OcspStatus Revoked(absl::Time at, RevocationReason reason) {
  return OcspStatus{OcspStatus::Kind::kRevoked, at, reason};
}

std::string KeyTypeTestName(const ::testing::TestParamInfo<KeyType>& param) {
  std::string name(KeyTypeName(param.param));
  for (char& c : name) {
    if (!absl::ascii_isalnum(c)) c = '_';
  }
  return name;
}

class OcspTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<TestCa> ca = MakeTestCa(KeyType::kEcP256, kNow - absl::Hours(1));
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_.emplace(*std::move(ca));
  }
  Signer signer() const { return ca_->signer(); }
  const Certificate& issuer() const { return ca_->intermediate; }

  absl::StatusOr<std::string> Answer(const std::string& request,
                                     const OcspOptions& options = Options()) {
    return AnswerOcspRequest(
        request, signer(),
        [this](absl::string_view serial) { return lookup_(serial); }, options);
  }

  std::optional<TestCa> ca_;
  FakeLookup lookup_;
};

// Tests run for every signing key type rotor supports.
class OcspSignerTest : public ::testing::TestWithParam<KeyType> {
 protected:
  void SetUp() override {
    absl::StatusOr<TestCa> ca = MakeTestCa(GetParam(), kNow - absl::Hours(1));
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_.emplace(*std::move(ca));
  }
  std::optional<TestCa> ca_;
};

TEST_P(OcspSignerTest, GoodResponseIsSignedByTheIntermediateAndVerifiesWithRoot) {
  FakeLookup lookup;
  lookup.Set("1a2b3c", Good());
  SslPtr<OCSP_CERTID> id = IdFor(ca_->intermediate, "1a2b3c");
  ASSERT_OK_AND_ASSIGN(
      std::string der,
      AnswerOcspRequest(RequestDer({id.get()}), ca_->signer(),
                        [&](absl::string_view s) { return lookup(s); },
                        Options()));
  SslPtr<OCSP_BASICRESP> basic = Basic(der);
  ASSERT_NE(basic, nullptr);
  std::optional<SingleStatus> status = Find(basic.get(), id.get());
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->status, V_OCSP_CERTSTATUS_GOOD);
  EXPECT_EQ(status->this_update, kNow);
  EXPECT_EQ(status->next_update, kNow + absl::Hours(1));
  EXPECT_EQ(Asn1TimeToTime(OCSP_resp_get0_produced_at(basic.get())), kNow);
  EXPECT_TRUE(VerifiesWithRoot(basic.get(), ca_->root, kNow));

  // Responder ID by key hash; the signer certificate is included.
  const ASN1_OCTET_STRING* key_id = nullptr;
  const X509_NAME* name = nullptr;
  ASSERT_EQ(OCSP_resp_get0_id(basic.get(), &key_id, &name), 1);
  EXPECT_NE(key_id, nullptr);
  EXPECT_EQ(name, nullptr);
  const STACK_OF(X509)* certs = OCSP_resp_get0_certs(basic.get());
  ASSERT_EQ(sk_X509_num(certs), 1);
  EXPECT_EQ(X509_cmp(sk_X509_value(certs, 0), ca_->intermediate.get()), 0);
  EXPECT_THAT(lookup.asked(), ElementsAre("1a2b3c"));
}

TEST_P(OcspSignerTest, RevokedResponseCarriesTimeAndReason) {
  const absl::Time revoked_at = kNow - absl::Minutes(17);
  FakeLookup lookup;
  lookup.Set("42", Revoked(revoked_at, RevocationReason::kKeyCompromise));
  SslPtr<OCSP_CERTID> id = IdFor(ca_->intermediate, "42");
  ASSERT_OK_AND_ASSIGN(
      std::string der,
      AnswerOcspRequest(RequestDer({id.get()}), ca_->signer(),
                        [&](absl::string_view s) { return lookup(s); },
                        Options()));
  SslPtr<OCSP_BASICRESP> basic = Basic(der);
  ASSERT_NE(basic, nullptr);
  std::optional<SingleStatus> status = Find(basic.get(), id.get());
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->status, V_OCSP_CERTSTATUS_REVOKED);
  EXPECT_EQ(status->reason, OCSP_REVOKED_STATUS_KEYCOMPROMISE);
  EXPECT_EQ(status->revoked_at, revoked_at);
  EXPECT_TRUE(VerifiesWithRoot(basic.get(), ca_->root, kNow));
}

// The openssl CLI checks the response times against the wall clock, so this
// test issues everything at the real current time.
TEST_P(OcspSignerTest, OpenSslCliVerifiesGoodAndRevokedAnswers) {
  const absl::Time now = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()));
  ASSERT_OK_AND_ASSIGN(TestCa ca, MakeTestCa(GetParam(), now));
  ASSERT_OK_AND_ASSIGN(PrivateKey leaf_key, PrivateKey::Generate(KeyType::kEcP256));
  LeafTemplate leaf_template;
  ASSERT_OK_AND_ASSIGN(leaf_template.public_key_der, leaf_key.PublicKeyDer());
  leaf_template.spiffe_id = "spiffe://example.org/web";
  ASSERT_OK_AND_ASSIGN(
      Certificate leaf, BuildLeafCertificate(leaf_template, ca.signer(), now,
                                             *SystemRandom()));
  TempDir dir;
  ASSERT_OK(WriteFileAtomically(dir.Path("root.pem"), ca.root.ToPem(), 0644));
  ASSERT_OK(WriteFileAtomically(dir.Path("intermediate.pem"),
                                ca.intermediate.ToPem(), 0644));
  ASSERT_OK(WriteFileAtomically(dir.Path("leaf.pem"), leaf.ToPem(), 0644));

  // The request comes from the CLI, with a nonce.
  std::string output;
  ASSERT_EQ(RunCommand(absl::StrCat("openssl ocsp -issuer ",
                                    dir.Path("intermediate.pem"), " -cert ",
                                    dir.Path("leaf.pem"), " -reqout ",
                                    dir.Path("req.der")),
                       &output),
            0)
      << output;
  ASSERT_OK_AND_ASSIGN(std::string request, ReadFile(dir.Path("req.der")));

  OcspOptions options;
  options.now = now;
  // Checks the signature, the chain to the root and that the nonce of
  // req.der came back. (With -cert the CLI would make a new request with a
  // new nonce, so the per-certificate status is printed by a second run.)
  const std::string verify_nonce =
      absl::StrCat("openssl ocsp -reqin ", dir.Path("req.der"), " -respin ",
                   dir.Path("resp.der"), " -CAfile ", dir.Path("root.pem"));
  const std::string verify_status = absl::StrCat(
      "openssl ocsp -respin ", dir.Path("resp.der"), " -issuer ",
      dir.Path("intermediate.pem"), " -cert ", dir.Path("leaf.pem"),
      " -CAfile ", dir.Path("root.pem"), " -no_nonce");

  struct Case {
    OcspStatus status;
    std::vector<std::string> want;
  };
  const Case cases[] = {
      {Good(), {absl::StrCat(dir.Path("leaf.pem"), ": good")}},
      {Revoked(now - absl::Minutes(5), RevocationReason::kKeyCompromise),
       {absl::StrCat(dir.Path("leaf.pem"), ": revoked"),
        "Reason: keyCompromise", "Revocation Time:"}},
  };
  for (const Case& c : cases) {
    FakeLookup lookup;
    lookup.Set(leaf.SerialHex(), c.status);
    ASSERT_OK_AND_ASSIGN(
        std::string response,
        AnswerOcspRequest(request, ca.signer(),
                          [&](absl::string_view s) { return lookup(s); },
                          options));
    ASSERT_OK(WriteFileAtomically(dir.Path("resp.der"), response, 0644));

    ASSERT_EQ(RunCommand(verify_nonce, &output), 0) << output;
    EXPECT_THAT(output, HasSubstr("Response verify OK"));
    EXPECT_THAT(output, Not(HasSubstr("WARNING")));
    EXPECT_THAT(output, Not(HasSubstr("Nonce Verify error")));

    ASSERT_EQ(RunCommand(verify_status, &output), 0) << output;
    EXPECT_THAT(output, HasSubstr("Response verify OK"));
    for (const std::string& want : c.want) EXPECT_THAT(output, HasSubstr(want));
    EXPECT_THAT(output, Not(HasSubstr("WARNING")));
    EXPECT_THAT(lookup.asked(), ElementsAre(leaf.SerialHex()));
  }
}

INSTANTIATE_TEST_SUITE_P(KeyTypes, OcspSignerTest,
                         ::testing::Values(KeyType::kEcP256, KeyType::kEcP384,
                                           KeyType::kEd25519,
                                           KeyType::kRsa2048),
                         KeyTypeTestName);

TEST_F(OcspTest, RevokedWithUnspecifiedReasonOmitsTheReason) {
  lookup_.Set("42", Revoked(kNow, RevocationReason::kUnspecified));
  SslPtr<OCSP_CERTID> id = IdFor(issuer(), "42");
  ASSERT_OK_AND_ASSIGN(std::string der, Answer(RequestDer({id.get()})));
  SslPtr<OCSP_BASICRESP> basic = Basic(der);
  ASSERT_NE(basic, nullptr);
  std::optional<SingleStatus> status = Find(basic.get(), id.get());
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->status, V_OCSP_CERTSTATUS_REVOKED);
  EXPECT_EQ(status->reason, OCSP_REVOKED_STATUS_NOSTATUS);
  EXPECT_EQ(status->revoked_at, kNow);
}

TEST_F(OcspTest, RevokedWithInvalidReasonCodeOmitsTheReason) {
  lookup_.Set("42", Revoked(kNow, static_cast<RevocationReason>(7)));
  SslPtr<OCSP_CERTID> id = IdFor(issuer(), "42");
  ASSERT_OK_AND_ASSIGN(std::string der, Answer(RequestDer({id.get()})));
  SslPtr<OCSP_BASICRESP> basic = Basic(der);
  ASSERT_NE(basic, nullptr);
  std::optional<SingleStatus> status = Find(basic.get(), id.get());
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->status, V_OCSP_CERTSTATUS_REVOKED);
  EXPECT_EQ(status->reason, OCSP_REVOKED_STATUS_NOSTATUS);
}

TEST_F(OcspTest, UnknownSerialIsUnknown) {
  SslPtr<OCSP_CERTID> id = IdFor(issuer(), "abcdef");
  ASSERT_OK_AND_ASSIGN(std::string der, Answer(RequestDer({id.get()})));
  SslPtr<OCSP_BASICRESP> basic = Basic(der);
  ASSERT_NE(basic, nullptr);
  std::optional<SingleStatus> status = Find(basic.get(), id.get());
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->status, V_OCSP_CERTSTATUS_UNKNOWN);
  EXPECT_THAT(lookup_.asked(), ElementsAre("abcdef"));
}

TEST_F(OcspTest, OtherIssuerIsUnknownWithoutLookup) {
  ASSERT_OK_AND_ASSIGN(TestCa other,
                       MakeTestCa(KeyType::kEcP256, kNow - absl::Hours(1)));
  lookup_.Set("1234", Good());
  // Same serial, but issued by another CA (other name and key), and by our
  // root rather than our intermediate.
  SslPtr<OCSP_CERTID> other_id = IdFor(other.intermediate, "1234");
  SslPtr<OCSP_CERTID> root_id = IdFor(ca_->root, "1234");
  ASSERT_OK_AND_ASSIGN(std::string der,
                       Answer(RequestDer({other_id.get(), root_id.get()})));
  SslPtr<OCSP_BASICRESP> basic = Basic(der);
  ASSERT_NE(basic, nullptr);
  for (OCSP_CERTID* id : {other_id.get(), root_id.get()}) {
    std::optional<SingleStatus> status = Find(basic.get(), id);
    ASSERT_TRUE(status.has_value());
    EXPECT_EQ(status->status, V_OCSP_CERTSTATUS_UNKNOWN);
  }
  EXPECT_THAT(lookup_.asked(), IsEmpty());
}

TEST_F(OcspTest, MatchesIssuerHashedWithSha256) {
  lookup_.Set("77", Good());
  SslPtr<OCSP_CERTID> id = IdFor(issuer(), "77", EVP_sha256());
  ASSERT_OK_AND_ASSIGN(std::string der, Answer(RequestDer({id.get()})));
  SslPtr<OCSP_BASICRESP> basic = Basic(der);
  ASSERT_NE(basic, nullptr);
  std::optional<SingleStatus> status = Find(basic.get(), id.get());
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->status, V_OCSP_CERTSTATUS_GOOD);
}

TEST_F(OcspTest, AnswersEveryEntryInOrder) {
  lookup_.Set("1", Good());
  lookup_.Set("2", Revoked(kNow, RevocationReason::kSuperseded));
  SslPtr<OCSP_CERTID> id1 = IdFor(issuer(), "1");
  SslPtr<OCSP_CERTID> id2 = IdFor(issuer(), "2");
  SslPtr<OCSP_CERTID> id3 = IdFor(issuer(), "3");
  ASSERT_OK_AND_ASSIGN(std::string der,
                       Answer(RequestDer({id1.get(), id2.get(), id3.get()})));
  SslPtr<OCSP_BASICRESP> basic = Basic(der);
  ASSERT_NE(basic, nullptr);
  ASSERT_EQ(OCSP_resp_count(basic.get()), 3);
  std::vector<int> statuses;
  for (int i = 0; i < 3; ++i) {
    int reason = 0;
    statuses.push_back(OCSP_single_get0_status(OCSP_resp_get0(basic.get(), i),
                                               &reason, nullptr, nullptr,
                                               nullptr));
  }
  EXPECT_THAT(statuses,
              ElementsAre(V_OCSP_CERTSTATUS_GOOD, V_OCSP_CERTSTATUS_REVOKED,
                          V_OCSP_CERTSTATUS_UNKNOWN));
  EXPECT_THAT(lookup_.asked(), ElementsAre("1", "2", "3"));
}

TEST_F(OcspTest, LooksUpCanonicalSerials) {
  // A 16-byte serial with a high first byte and one with leading zero bytes.
  SslPtr<OCSP_CERTID> id1 = IdFor(issuer(), "7fffffffffffffffffffffffffffff01");
  SslPtr<OCSP_CERTID> id2 = IdFor(issuer(), "ab");
  ASSERT_OK(Answer(RequestDer({id1.get(), id2.get()})));
  EXPECT_THAT(lookup_.asked(),
              ElementsAre("7fffffffffffffffffffffffffffff01", "ab"));
}

TEST_F(OcspTest, EchoesTheNonce) {
  lookup_.Set("5", Good());
  SslPtr<OCSP_CERTID> id = IdFor(issuer(), "5");
  std::string request = RequestDer({id.get()}, /*nonce=*/true);
  ASSERT_OK_AND_ASSIGN(std::string der, Answer(request));
  SslPtr<OCSP_BASICRESP> basic = Basic(der);
  ASSERT_NE(basic, nullptr);
  SslPtr<OCSP_REQUEST> parsed = ParseRequest(request);
  ASSERT_NE(parsed, nullptr);
  EXPECT_EQ(OCSP_check_nonce(parsed.get(), basic.get()), 1);  // equal nonces
}

TEST_F(OcspTest, NoNonceWhenTheRequestHasNone) {
  SslPtr<OCSP_CERTID> id = IdFor(issuer(), "5");
  std::string request = RequestDer({id.get()}, /*nonce=*/false);
  ASSERT_OK_AND_ASSIGN(std::string der, Answer(request));
  SslPtr<OCSP_BASICRESP> basic = Basic(der);
  ASSERT_NE(basic, nullptr);
  SslPtr<OCSP_REQUEST> parsed = ParseRequest(request);
  ASSERT_NE(parsed, nullptr);
  EXPECT_EQ(OCSP_check_nonce(parsed.get(), basic.get()), 2);  // both absent
}

TEST_F(OcspTest, ValiditySetsNextUpdate) {
  SslPtr<OCSP_CERTID> id = IdFor(issuer(), "5");
  OcspOptions options = Options();
  options.validity = absl::Minutes(10);
  ASSERT_OK_AND_ASSIGN(std::string der, Answer(RequestDer({id.get()}), options));
  SslPtr<OCSP_BASICRESP> basic = Basic(der);
  ASSERT_NE(basic, nullptr);
  std::optional<SingleStatus> status = Find(basic.get(), id.get());
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->this_update, kNow);
  EXPECT_EQ(status->next_update, kNow + absl::Minutes(10));
}

int ResponseStatus(const std::string& der) {
  SslPtr<OCSP_RESPONSE> response = ParseResponse(der);
  if (response == nullptr) return -1;
  EXPECT_EQ(OCSP_response_get1_basic(response.get()), nullptr);
  ERR_clear_error();
  return OCSP_response_status(response.get());
}

TEST_F(OcspTest, GarbageIsMalformedRequest) {
  for (const std::string& request :
       {std::string("not an OCSP request"), std::string(), std::string(1, '\0'),
        std::string("\x30\x82\xff\xff", 4)}) {
    ASSERT_OK_AND_ASSIGN(std::string der, Answer(request));
    EXPECT_EQ(ResponseStatus(der), OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
  }
  EXPECT_THAT(lookup_.asked(), IsEmpty());
}

TEST_F(OcspTest, TrailingBytesAreMalformedRequest) {
  SslPtr<OCSP_CERTID> id = IdFor(issuer(), "5");
  ASSERT_OK_AND_ASSIGN(std::string der,
                       Answer(RequestDer({id.get()}) + std::string("\0", 1)));
  EXPECT_EQ(ResponseStatus(der), OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
  EXPECT_THAT(lookup_.asked(), IsEmpty());
}

TEST_F(OcspTest, OversizedRequestIsMalformedRequest) {
  SslPtr<OCSP_CERTID> id = IdFor(issuer(), "5");
  std::string request = RequestDer({id.get()});
  OcspOptions options = Options();
  options.max_request_bytes = request.size() - 1;
  ASSERT_OK_AND_ASSIGN(std::string der, Answer(request, options));
  EXPECT_EQ(ResponseStatus(der), OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
  options.max_request_bytes = request.size();
  ASSERT_OK_AND_ASSIGN(der, Answer(request, options));
  EXPECT_NE(Basic(der), nullptr);
}

TEST_F(OcspTest, RequestWithoutEntriesIsMalformedRequest) {
  ASSERT_OK_AND_ASSIGN(std::string der, Answer(RequestDer({})));
  EXPECT_EQ(ResponseStatus(der), OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
}

TEST_F(OcspTest, InternalErrorResponse) {
  ASSERT_OK_AND_ASSIGN(std::string der, OcspInternalErrorResponse());
  EXPECT_EQ(ResponseStatus(der), OCSP_RESPONSE_STATUS_INTERNALERROR);
}

TEST_F(OcspTest, SignerKeyMismatchIsInternal) {
  SslPtr<OCSP_CERTID> id = IdFor(issuer(), "5");
  Signer mismatched{ca_->intermediate, ca_->root_key};
  EXPECT_THAT(AnswerOcspRequest(
                  RequestDer({id.get()}), mismatched,
                  [](absl::string_view) { return OcspStatus{}; }, Options()),
              StatusIs(absl::StatusCode::kInternal,
                       HasSubstr("cannot sign the OCSP response")));
}

}  // namespace
}  // namespace rotor::pki
