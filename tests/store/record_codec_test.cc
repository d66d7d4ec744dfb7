#include "store/record_codec.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/store/test_records.h"
#include "tests/testing/status_matchers.h"

namespace rotor::store {
namespace {

using ::rotor::store::testing::IsOkAndHolds;
using ::rotor::store::testing::kT0;
using ::rotor::store::testing::MakeRecord;
using ::rotor::testing::IsOk;
using ::rotor::testing::StatusIs;
using ::testing::HasSubstr;

TEST(RecordCodecTest, CertificateRoundTripsEveryField) {
  CertificateRecord record = MakeRecord("1a2b");
  record.kind = CertificateKind::kServer;
  record.not_before = kT0 + absl::Nanoseconds(123456789);
  record.revoked = true;
  record.revoked_at = kT0 + absl::Hours(1);
  record.revocation_reason = pki::RevocationReason::kAaCompromise;
  record.revoked_by = "admin";
  EXPECT_THAT(DecodeCertificate(EncodeCertificate(record)),
              IsOkAndHolds(record));
}

TEST(RecordCodecTest, EncodedCertificateCarriesTheRecordVersion) {
  v1::CertificateRecord proto;
  ASSERT_TRUE(proto.ParseFromString(EncodeCertificate(MakeRecord("1"))));
  EXPECT_EQ(proto.version(), kRecordVersion);
  EXPECT_EQ(proto.kind(), v1::CERTIFICATE_KIND_WORKLOAD);
}

TEST(RecordCodecTest, EntryAndAuditRoundTrip) {
  RegistrationEntry entry;
  entry.id = "e-1";
  entry.node_glob = "web-*";
  entry.spiffe_id = "spiffe://td/web";
  entry.dns_names = {"a", "b"};
  entry.max_ttl = absl::Minutes(90) + absl::Nanoseconds(5);
  entry.created_at = kT0;
  entry.created_by = "admin";
  EXPECT_THAT(DecodeEntry(EncodeEntry(entry)), IsOkAndHolds(entry));

  AuditRecord audit{7, kT0, "actor", "action", "target", "ok", "detail"};
  EXPECT_THAT(DecodeAudit(EncodeAudit(audit)), IsOkAndHolds(audit));
}

TEST(RecordCodecTest, InfiniteTimesRoundTrip) {
  google::protobuf::Timestamp ts;
  TimeToProto(absl::InfiniteFuture(), &ts);
  EXPECT_EQ(TimeFromProto(ts), absl::InfiniteFuture());
  TimeToProto(absl::InfinitePast(), &ts);
  EXPECT_EQ(TimeFromProto(ts), absl::InfinitePast());
  TimeToProto(absl::FromUnixSeconds(-1) + absl::Milliseconds(250), &ts);
  EXPECT_EQ(ts.seconds(), -1);
  EXPECT_EQ(ts.nanos(), 250000000);
}

TEST(RecordCodecTest, RefusesRecordsOfUnknownVersion) {
  v1::AuditRecord proto;
  proto.set_version(0);
  EXPECT_THAT(DecodeAudit(proto.SerializeAsString()),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("stored audit record has version 0")));
  proto.set_version(kRecordVersion + 1);
  EXPECT_THAT(DecodeAudit(proto.SerializeAsString()),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("this rotor-ca reads versions 1 to 1")));
}

TEST(RecordCodecTest, RefusesUnknownKindAndReason) {
  v1::CertificateRecord proto;
  proto.set_version(kRecordVersion);
  proto.set_serial("ab");
  proto.set_kind(static_cast<v1::CertificateKind>(9));
  EXPECT_THAT(DecodeCertificate(proto.SerializeAsString()),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("stored certificate ab has unknown kind 9")));
  proto.set_kind(v1::CERTIFICATE_KIND_NODE);
  proto.set_revoked(true);
  proto.set_revocation_reason(7);
  EXPECT_THAT(
      DecodeCertificate(proto.SerializeAsString()),
      StatusIs(absl::StatusCode::kDataLoss,
               HasSubstr("stored certificate ab has unknown revocation "
                         "reason 7")));
}

TEST(RecordCodecTest, ValidateSerialAcceptsOnlyCanonicalHex) {
  EXPECT_THAT(ValidateSerial("0"), IsOk());
  EXPECT_THAT(ValidateSerial("1a2b"), IsOk());
  EXPECT_THAT(ValidateSerial(std::string(40, 'f')), IsOk());
  EXPECT_THAT(ValidateSerial(""), StatusIs(absl::StatusCode::kInvalidArgument,
                                           "serial is empty"));
  EXPECT_THAT(ValidateSerial("01"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("leading zero")));
  EXPECT_THAT(ValidateSerial("1A"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("only lowercase hex digits")));
  EXPECT_THAT(ValidateSerial(std::string(41, 'f')),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("longer than 40 hex digits")));
}

}  // namespace
}  // namespace rotor::store
