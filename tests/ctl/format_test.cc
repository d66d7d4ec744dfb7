#include "ctl/format.h"

#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace rotor::ctl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

const absl::Time kNow = absl::FromUnixSeconds(1800000000);  // 2027-01-15

google::protobuf::Timestamp At(absl::Time t) {
  google::protobuf::Timestamp out;
  out.set_seconds(absl::ToUnixSeconds(t));
  return out;
}

rotor::v1::CertificateInfo Info(std::string serial, std::string node,
                                std::string spiffe_id, absl::Time not_after) {
  rotor::v1::CertificateInfo info;
  info.set_serial(std::move(serial));
  info.set_node_name(std::move(node));
  info.set_spiffe_id(std::move(spiffe_id));
  *info.mutable_not_after() = At(not_after);
  return info;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  EXPECT_EQ(lines.back(), "") << "output must end in a newline";
  lines.pop_back();
  return lines;
}

TEST(FormatTableTest, AlignsColumnsToTheWidestCellWithoutTrailingSpaces) {
  const std::string table = FormatTable(
      {"A", "LONG HEADER", "C"}, {{"wide cell", "x", "last"}, {"y", "z", "l"}});
  EXPECT_THAT(Lines(table), ElementsAre("A          LONG HEADER  C",
                                        "wide cell  x            last",
                                        "y          z            l"));
}

TEST(FormatTableTest, PrintsOnlyTheHeaderForNoRows) {
  EXPECT_EQ(FormatTable({"ID", "NODE"}, {}), "ID  NODE\n");
}

TEST(FormatTimeTest, PrintsUtcRfc3339AndADashWhenUnset) {
  EXPECT_EQ(FormatTime(At(kNow)), "2027-01-15T08:00:00Z");
  EXPECT_EQ(FormatTime(google::protobuf::Timestamp()), "-");
}

TEST(ProtoDurationTest, RoundTripsSecondsAndNanos) {
  const absl::Duration d = absl::Hours(1) + absl::Milliseconds(250);
  google::protobuf::Duration proto = ToProtoDuration(d);
  EXPECT_EQ(proto.seconds(), 3600);
  EXPECT_EQ(proto.nanos(), 250000000);
  EXPECT_EQ(FromProtoDuration(proto), d);
}

TEST(CertificateStatusTest, SaysValidExpiredOrRevokedWithReason) {
  rotor::v1::CertificateInfo info =
      Info("ab", "web-1", "spiffe://example.org/web", kNow + absl::Hours(1));
  EXPECT_EQ(CertificateStatus(info, kNow), "valid");
  EXPECT_EQ(CertificateStatus(info, kNow + absl::Hours(1)), "expired");
  info.set_revoked(true);
  EXPECT_EQ(CertificateStatus(info, kNow), "revoked (unspecified)");
  info.set_revocation_reason("keyCompromise");
  EXPECT_EQ(CertificateStatus(info, kNow + absl::Hours(2)),
            "revoked (keyCompromise)");
}

TEST(FormatCertificateTableTest, HasTheContractColumnsAligned) {
  google::protobuf::RepeatedPtrField<rotor::v1::CertificateInfo> certs;
  *certs.Add() = Info("5f3a9c00112233445566778899aabbcc", "web-1",
                      "spiffe://example.org/web", kNow + absl::Hours(1));
  rotor::v1::CertificateInfo revoked =
      Info("1", "db-10", "spiffe://example.org/rotor/node/db-10",
           kNow - absl::Hours(1));
  revoked.set_revoked(true);
  revoked.set_revocation_reason("superseded");
  *certs.Add() = revoked;
  *certs.Add() = Info("2", "", "", kNow - absl::Hours(1));

  EXPECT_THAT(
      Lines(FormatCertificateTable(certs, kNow)),
      ElementsAre(
          "SERIAL                            NODE   SPIFFE ID              "
          "                EXPIRES               STATUS",
          "5f3a9c00112233445566778899aabbcc  web-1  spiffe://example.org/web"
          "               2027-01-15T09:00:00Z  valid",
          "1                                 db-10  "
          "spiffe://example.org/rotor/node/db-10  2027-01-15T07:00:00Z  "
          "revoked (superseded)",
          "2                                 -      -                      "
          "                2027-01-15T07:00:00Z  expired"));
}

TEST(FormatCertificateDetailTest, ShowsEveryFieldAndRevocation) {
  rotor::v1::CertificateInfo info =
      Info("ab", "web-1", "spiffe://example.org/web", kNow + absl::Hours(1));
  info.set_kind("workload");
  info.add_dns_names("web.internal");
  info.add_dns_names("web");
  info.set_revoked(true);
  info.set_revocation_reason("keyCompromise");
  *info.mutable_revoked_at() = At(kNow);
  info.set_revoked_by("spiffe://example.org/rotor/admin/init");
  const std::string detail = FormatCertificateDetail(info, kNow);
  EXPECT_THAT(
      Lines(detail),
      ElementsAre("serial:      ab", "kind:        workload",
                  "node:        web-1", "spiffe id:   spiffe://example.org/web",
                  "dns names:   web.internal, web", "not before:  -",
                  "not after:   2027-01-15T09:00:00Z", "issued at:   -",
                  "status:      revoked (keyCompromise)",
                  "revoked at:  2027-01-15T08:00:00Z",
                  "revoked by:  spiffe://example.org/rotor/admin/init"));
}

TEST(FormatCertificateDetailTest, FlagsDerThatDoesNotParse) {
  rotor::v1::CertificateInfo info = Info("ab", "n", "s", kNow);
  info.set_der("not der");
  EXPECT_THAT(FormatCertificateDetail(info, kNow),
              HasSubstr("fingerprint:  (unparsable DER)"));
}

TEST(FormatEntryTableTest, ListsDnsNamesAndMaxTtl) {
  google::protobuf::RepeatedPtrField<rotor::v1::Entry> entries;
  rotor::v1::Entry* web = entries.Add();
  web->set_id("e1");
  web->set_node_glob("web-*");
  web->set_spiffe_id("spiffe://example.org/web");
  web->add_dns_names("web.internal");
  web->add_dns_names("web");
  *web->mutable_max_ttl() = ToProtoDuration(absl::Hours(24));
  rotor::v1::Entry* db = entries.Add();
  db->set_id("entry-2");
  db->set_node_glob("*");
  db->set_spiffe_id("spiffe://example.org/db");
  db->mutable_max_ttl();  // set but zero, as the CA may send "unset"
  EXPECT_THAT(Lines(FormatEntryTable(entries)),
              ElementsAre("ID       NODE   SPIFFE ID                 DNS NAMES"
                          "         MAX TTL",
                          "e1       web-*  spiffe://example.org/web  "
                          "web.internal,web  24h",
                          "entry-2  *      spiffe://example.org/db   -     "
                          "            default"));
}

TEST(FormatJsonTest, UsesJsonNamesAndPrintsFalseAndEmptyFields) {
  rotor::v1::CertificateInfo info =
      Info("ab", "web-1", "spiffe://example.org/web", kNow);
  ASSERT_OK_AND_ASSIGN(std::string json, FormatJson(info));
  EXPECT_THAT(json, HasSubstr("\"serial\": \"ab\""));
  EXPECT_THAT(json, HasSubstr("\"nodeName\": \"web-1\""));
  EXPECT_THAT(json, HasSubstr("\"notAfter\": \"2027-01-15T08:00:00Z\""));
  EXPECT_THAT(json, HasSubstr("\"revoked\": false"));
  EXPECT_THAT(json, HasSubstr("\"dnsNames\": []"));
  EXPECT_THAT(json, Not(HasSubstr("node_name")));
  EXPECT_EQ(json.back(), '\n');
}

TEST(FormatJsonTest, EncodesBytesAsBase64) {
  rotor::v1::Crl crl;
  crl.add_der("\x30\x82");
  crl.set_number(7);
  ASSERT_OK_AND_ASSIGN(std::string json, FormatJson(crl));
  EXPECT_THAT(json, HasSubstr("\"MII=\""));
  EXPECT_THAT(json, HasSubstr("\"number\": \"7\""));  // uint64 is a string
}

}  // namespace
}  // namespace rotor::ctl
