#include "ctl/commands.h"

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "ctl/format.h"
#include "ctl/usage_error.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "pki/crl.h"
#include "tests/ctl/fake_admin_service.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_ca.h"
#include "util/file.h"

namespace rotor::ctl {
namespace {

using ::rotor::testing::StatusIs;
using ::rotor::testing::TempDir;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

const absl::Time kNow = absl::FromUnixSeconds(1800000000);

MATCHER_P(IsOkAndHolds, value, "") {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status();
    return false;
  }
  return ::testing::ExplainMatchResult(value, *arg, result_listener);
}

rotor::v1::CertificateInfo Cert(int i) {
  rotor::v1::CertificateInfo info;
  info.set_serial(absl::StrCat(absl::Hex(0x1000 + i)));
  info.set_node_name("web-1");
  info.set_spiffe_id("spiffe://example.org/web");
  info.mutable_not_after()->set_seconds(absl::ToUnixSeconds(kNow) + 3600);
  return info;
}

class CommandsTest : public ::testing::Test {
 protected:
  Output Out(bool json = false) {
    return Output{.out = out_, .err = err_, .json = json, .now = kNow};
  }
  FakeAdminService& service() { return admin_.service; }
  // Lines of stdout, without the final empty one.
  std::vector<std::string> OutLines() {
    std::vector<std::string> lines = absl::StrSplit(out_.str(), '\n');
    lines.pop_back();
    return lines;
  }

  FakeAdmin admin_;
  std::unique_ptr<AdminClient> client_ = admin_.Client();
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(CommandsTest, TokenCreatePrintsOnlyTheToken) {
  service().token.set_token("rotor-jt-abc123");
  service().token.set_node_name("web-1");
  service().token.mutable_expires_at()->set_seconds(absl::ToUnixSeconds(kNow));
  ASSERT_OK(TokenCreate(*client_, {.node = "web-1", .ttl = absl::Minutes(15)},
                        Out()));
  EXPECT_EQ(out_.str(), "rotor-jt-abc123\n");
  EXPECT_EQ(err_.str(),
            "rotorctl: join token for node web-1, single use, expires "
            "2027-01-15T08:00:00Z\n");
  ASSERT_EQ(service().token_requests.size(), 1u);
  EXPECT_EQ(service().token_requests[0].node_name(), "web-1");
  EXPECT_EQ(service().token_requests[0].ttl().seconds(), 900);
}

TEST_F(CommandsTest, TokenCreateJsonPrintsTheResponse) {
  service().token.set_token("rotor-jt-abc123");
  ASSERT_OK(TokenCreate(*client_, {.node = "web-1"}, Out(/*json=*/true)));
  EXPECT_THAT(out_.str(), AllOf(StartsWith("{"),
                                HasSubstr("\"token\": \"rotor-jt-abc123\"")));
}

TEST_F(CommandsTest, EntryCreateSendsEveryFieldAndPrintsTheId) {
  service().entry.set_id("e-42");
  ASSERT_OK(EntryCreate(*client_,
                        {.node_glob = "web-*",
                         .spiffe_id = "spiffe://example.org/web",
                         .dns_names = {"web.internal", "web"},
                         .max_ttl = absl::Hours(2)},
                        Out()));
  EXPECT_EQ(out_.str(), "e-42\n");
  ASSERT_EQ(service().entry_requests.size(), 1u);
  const rotor::v1::CreateEntryRequest& sent = service().entry_requests[0];
  EXPECT_EQ(sent.node_glob(), "web-*");
  EXPECT_EQ(sent.spiffe_id(), "spiffe://example.org/web");
  EXPECT_THAT(sent.dns_names(), ElementsAre("web.internal", "web"));
  EXPECT_EQ(sent.max_ttl().seconds(), 7200);
}

TEST_F(CommandsTest, EntryCreateLeavesMaxTtlUnsetForTheCaDefault) {
  ASSERT_OK(EntryCreate(
      *client_, {.node_glob = "*", .spiffe_id = "spiffe://example.org/x"},
      Out()));
  ASSERT_EQ(service().entry_requests.size(), 1u);
  EXPECT_FALSE(service().entry_requests[0].has_max_ttl());
}

TEST_F(CommandsTest, EntryListPrintsATable) {
  rotor::v1::Entry entry;
  entry.set_id("e-1");
  entry.set_node_glob("db-?");
  entry.set_spiffe_id("spiffe://example.org/db");
  service().entries = {entry};
  ASSERT_OK(EntryList(*client_, Out()));
  EXPECT_THAT(
      OutLines(),
      ElementsAre(StartsWith("ID   NODE  SPIFFE ID"),
                  "e-1  db-?  spiffe://example.org/db  -          default"));
}

TEST_F(CommandsTest, EntryDeleteSendsTheId) {
  ASSERT_OK(EntryDelete(*client_, "e-1", Out()));
  ASSERT_EQ(service().delete_requests.size(), 1u);
  EXPECT_EQ(service().delete_requests[0].id(), "e-1");
  EXPECT_EQ(out_.str(), "deleted entry e-1\n");
}

TEST_F(CommandsTest, EntryDeleteReturnsTheServerError) {
  service().error =
      grpc::Status(grpc::StatusCode::NOT_FOUND, "no entry with ID e-9");
  EXPECT_THAT(EntryDelete(*client_, "e-9", Out()),
              StatusIs(absl::StatusCode::kNotFound, "no entry with ID e-9"));
  EXPECT_THAT(out_.str(), IsEmpty());
}

TEST_F(CommandsTest, CertListPagesThroughEverything) {
  for (int i = 0; i < 1203; ++i) service().certificates.push_back(Cert(i));
  ASSERT_OK(CertList(*client_, {}, Out()));
  ASSERT_EQ(service().list_requests.size(), 3u);
  EXPECT_EQ(service().list_requests[0].page_token(), "");
  EXPECT_EQ(service().list_requests[1].page_token(), "500");
  EXPECT_EQ(service().list_requests[2].page_token(), "1000");
  std::vector<std::string> lines = OutLines();
  ASSERT_EQ(lines.size(), 1204u);  // header + every certificate
  EXPECT_THAT(lines[0], StartsWith("SERIAL"));
  EXPECT_THAT(lines[1], StartsWith("1000    web-1"));
  EXPECT_THAT(lines[1203], StartsWith("14b2    web-1"));
}

TEST_F(CommandsTest, CertListStopsAtTheLimit) {
  for (int i = 0; i < 1203; ++i) service().certificates.push_back(Cert(i));
  ASSERT_OK(CertList(*client_, {.limit = 600}, Out()));
  ASSERT_EQ(service().list_requests.size(), 2u);
  EXPECT_EQ(service().list_requests[0].page_size(), 500);
  EXPECT_EQ(service().list_requests[1].page_size(), 100);
  EXPECT_EQ(OutLines().size(), 601u);
  EXPECT_EQ(err_.str(),
            "rotorctl: showing the first 600 certificates (--limit); there "
            "are more\n");
}

TEST_F(CommandsTest, CertListSendsTheFilters) {
  ASSERT_OK(CertList(*client_,
                     {.node = "web-1",
                      .spiffe_id = "spiffe://example.org/web",
                      .expiring_within = absl::Hours(48),
                      .revoked_only = true},
                     Out()));
  ASSERT_EQ(service().list_requests.size(), 1u);
  const rotor::v1::ListCertificatesRequest& sent = service().list_requests[0];
  EXPECT_EQ(sent.node_name(), "web-1");
  EXPECT_EQ(sent.spiffe_id(), "spiffe://example.org/web");
  EXPECT_EQ(sent.expiring_within().seconds(), 48 * 3600);
  EXPECT_TRUE(sent.revoked_only());
}

TEST_F(CommandsTest, CertListSaysSoWhenNothingMatches) {
  ASSERT_OK(CertList(*client_, {}, Out()));
  EXPECT_THAT(out_.str(), IsEmpty());
  EXPECT_EQ(err_.str(), "rotorctl: no certificates match\n");
}

TEST_F(CommandsTest, CertListJsonMergesThePages) {
  for (int i = 0; i < 501; ++i) service().certificates.push_back(Cert(i));
  ASSERT_OK(CertList(*client_, {}, Out(/*json=*/true)));
  rotor::v1::ListCertificatesResponse parsed;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(out_.str(), &parsed).ok());
  EXPECT_EQ(parsed.certificates_size(), 501);
  EXPECT_EQ(parsed.next_page_token(), "");
}

TEST_F(CommandsTest, CertListRefusesAServerThatRepeatsItsPageToken) {
  service().certificates = {Cert(0)};
  service().repeat_page_token = true;
  EXPECT_THAT(ListAllCertificates(*client_, {}, 0),
              StatusIs(absl::StatusCode::kInternal,
                       HasSubstr("returned page token \"loop\" twice")));
}

TEST_F(CommandsTest, CertListRefusesANegativeLimit) {
  absl::Status status = CertList(*client_, {.limit = -1}, Out());
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument,
                               HasSubstr("--limit must be 0 (all) or more")));
  EXPECT_TRUE(IsUsageError(status));
  EXPECT_EQ(service().calls, 0);
}

TEST_F(CommandsTest, CertShowNormalizesThePastedSerial) {
  service().certificate = Cert(0);
  ASSERT_OK(CertShow(*client_, "00:0A:bC:01", /*pem=*/false, Out()));
  ASSERT_EQ(service().get_requests.size(), 1u);
  EXPECT_EQ(service().get_requests[0].serial(), "abc01");
  EXPECT_THAT(out_.str(), HasSubstr("spiffe id:   spiffe://example.org/web"));
}

TEST_F(CommandsTest, CertShowRefusesANonHexSerialWithoutCalling) {
  absl::Status status = CertShow(*client_, "web-1", /*pem=*/false, Out());
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument,
                               HasSubstr("\"web-1\" is not hexadecimal")));
  EXPECT_TRUE(IsUsageError(status));
  EXPECT_EQ(service().calls, 0);
}

TEST_F(CommandsTest, CertShowPemPrintsTheCertificate) {
  ASSERT_OK_AND_ASSIGN(testing::TestCa ca,
                       testing::MakeTestCa(pki::KeyType::kEcP256, kNow));
  service().certificate.set_der(ca.root.der());
  ASSERT_OK(CertShow(*client_, "1", /*pem=*/true, Out()));
  EXPECT_EQ(out_.str(), ca.root.ToPem());
}

TEST_F(CommandsTest, CertShowReturnsNotFoundFromTheServer) {
  service().error = grpc::Status(grpc::StatusCode::NOT_FOUND,
                                 "no certificate with serial abc");
  EXPECT_THAT(
      CertShow(*client_, "ABC", /*pem=*/false, Out()),
      StatusIs(absl::StatusCode::kNotFound, "no certificate with serial abc"));
}

TEST_F(CommandsTest, CertRevokeSendsTheRfcReasonName) {
  service().certificate = Cert(0);
  service().certificate.set_revoked(true);
  service().certificate.set_revocation_reason("keyCompromise");
  service().certificate.mutable_revoked_at()->set_seconds(
      absl::ToUnixSeconds(kNow));
  ASSERT_OK(CertRevoke(*client_, "10:00", "key-compromise", Out()));
  ASSERT_EQ(service().revoke_requests.size(), 1u);
  EXPECT_EQ(service().revoke_requests[0].serial(), "1000");
  EXPECT_EQ(service().revoke_requests[0].reason(), "keyCompromise");
  EXPECT_EQ(out_.str(),
            "revoked 1000 (keyCompromise) at 2027-01-15T08:00:00Z\n");
}

TEST_F(CommandsTest, CertRevokeWithoutReasonSendsUnspecified) {
  ASSERT_OK(CertRevoke(*client_, "1000", "", Out()));
  ASSERT_EQ(service().revoke_requests.size(), 1u);
  EXPECT_EQ(service().revoke_requests[0].reason(), "");
}

TEST_F(CommandsTest, CertRevokeRefusesAnUnknownReasonWithoutCalling) {
  absl::Status status = CertRevoke(*client_, "1000", "lost-it", Out());
  EXPECT_THAT(status,
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(StartsWith("--reason: "), HasSubstr("lost-it"),
                             HasSubstr("keyCompromise"))));
  EXPECT_TRUE(IsUsageError(status));
  EXPECT_EQ(service().calls, 0);
}

class CrlCommandTest : public CommandsTest {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(ca_, testing::MakeTestCa(pki::KeyType::kEcP256, kNow));
    pki::CrlOptions options{
        .number = 7, .this_update = kNow, .next_update = kNow + absl::Hours(1)};
    pki::RevokedCertificate revoked{.serial = "abcd", .revoked_at = kNow};
    ASSERT_OK_AND_ASSIGN(intermediate_crl_,
                         pki::BuildCrl(ca_->signer(), {revoked}, options));
    ASSERT_OK_AND_ASSIGN(root_crl_,
                         pki::BuildCrl(ca_->root_signer(), {}, options));
    service().crl.add_der(intermediate_crl_);
    service().crl.add_der(root_crl_);
    service().crl.set_number(7);
  }

  std::optional<testing::TestCa> ca_;
  std::string intermediate_crl_;
  std::string root_crl_;
};

TEST_F(CrlCommandTest, PrintsEveryCrlOfTheChainAsPem) {
  ASSERT_OK(FetchCrl(*client_, "", Out()));
  ASSERT_OK_AND_ASSIGN(std::string first, pki::CrlDerToPem(intermediate_crl_));
  ASSERT_OK_AND_ASSIGN(std::string second, pki::CrlDerToPem(root_crl_));
  EXPECT_EQ(out_.str(), first + second);
}

TEST_F(CrlCommandTest, OutWritesTheIntermediatesCrlAsDer) {
  TempDir dir;
  ASSERT_OK(FetchCrl(*client_, dir.Path("crl.der"), Out()));
  ASSERT_OK_AND_ASSIGN(std::string written, ReadFile(dir.Path("crl.der")));
  EXPECT_EQ(written, intermediate_crl_);
  EXPECT_EQ(testing::FileMode(dir.Path("crl.der")), 0644);
  EXPECT_THAT(out_.str(), IsEmpty());
  EXPECT_THAT(err_.str(), HasSubstr("wrote CRL number 7 of the intermediate "
                                    "(DER) to " +
                                    dir.Path("crl.der")));
}

TEST_F(CrlCommandTest, OutFailureNamesTheFile) {
  TempDir dir;
  const std::string path = dir.Path("missing/crl.der");
  EXPECT_THAT(FetchCrl(*client_, path, Out()),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(path)));
}

TEST_F(CommandsTest, CrlRefusesAnEmptyAnswer) {
  EXPECT_THAT(FetchCrl(*client_, "", Out()),
              StatusIs(absl::StatusCode::kInternal,
                       "the CA at fake-ca.test:8443 returned no CRL"));
}

TEST_F(CommandsTest, BundlePrintsTheRootsAsPem) {
  ASSERT_OK_AND_ASSIGN(testing::TestCa ca,
                       testing::MakeTestCa(pki::KeyType::kEcP256, kNow));
  service().bundle.add_root_der(ca.root.der());
  service().bundle.add_root_der(ca.intermediate.der());
  ASSERT_OK(FetchBundle(*client_, "", Out()));
  EXPECT_EQ(out_.str(), ca.root.ToPem() + ca.intermediate.ToPem());

  TempDir dir;
  std::ostringstream().swap(out_);
  ASSERT_OK(FetchBundle(*client_, dir.Path("bundle.pem"), Out()));
  EXPECT_THAT(out_.str(), IsEmpty());
  EXPECT_THAT(ReadFile(dir.Path("bundle.pem")),
              IsOkAndHolds(ca.root.ToPem() + ca.intermediate.ToPem()));
}

TEST_F(CommandsTest, BundleRefusesAnEmptyAnswer) {
  EXPECT_THAT(FetchBundle(*client_, "", Out()),
              StatusIs(absl::StatusCode::kInternal,
                       "the CA at fake-ca.test:8443 returned an empty trust "
                       "bundle"));
}

TEST(ParseSerialArgumentTest, AcceptsSerialsAsPeoplePasteThem) {
  EXPECT_THAT(ParseSerialArgument("00:5F:3A:9C"),
              IsOkAndHolds(std::string("5f3a9c")));
  EXPECT_THAT(ParseSerialArgument("5f3a9c"),
              IsOkAndHolds(std::string("5f3a9c")));
  EXPECT_THAT(ParseSerialArgument("0x005F3A9C"),
              IsOkAndHolds(std::string("5f3a9c")));
  EXPECT_TRUE(IsUsageError(ParseSerialArgument("").status()));
}

TEST(ParseReasonArgumentTest, GivesTheRfcName) {
  EXPECT_THAT(ParseReasonArgument("key_compromise"),
              IsOkAndHolds(std::string("keyCompromise")));
  EXPECT_THAT(ParseReasonArgument("SUPERSEDED"),
              IsOkAndHolds(std::string("superseded")));
  EXPECT_THAT(ParseReasonArgument(""), IsOkAndHolds(std::string()));
}

}  // namespace
}  // namespace rotor::ctl
