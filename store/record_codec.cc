#include "store/record_codec.h"

#include <cstdint>
#include <limits>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/escaping.h"

namespace rotor::store {
namespace {

constexpr int64_t kInfiniteFutureSeconds = std::numeric_limits<int64_t>::max();
constexpr int64_t kInfinitePastSeconds = std::numeric_limits<int64_t>::min();

template <typename Message>
absl::Status Parse(absl::string_view bytes, Message* message,
                   absl::string_view what) {
  if (!message->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError(
        absl::StrCat("stored ", what, " record does not parse (",
                     bytes.size(), " bytes)"));
  }
  return CheckRecordVersion(message->version(), what);
}

v1::CertificateKind KindToProto(CertificateKind kind) {
  switch (kind) {
    case CertificateKind::kWorkload:
      return v1::CERTIFICATE_KIND_WORKLOAD;
    case CertificateKind::kNode:
      return v1::CERTIFICATE_KIND_NODE;
    case CertificateKind::kServer:
      return v1::CERTIFICATE_KIND_SERVER;
    case CertificateKind::kAdmin:
      return v1::CERTIFICATE_KIND_ADMIN;
  }
  return v1::CERTIFICATE_KIND_UNSPECIFIED;
}

absl::StatusOr<CertificateKind> KindFromProto(v1::CertificateKind kind,
                                              absl::string_view serial) {
  switch (kind) {
    case v1::CERTIFICATE_KIND_WORKLOAD:
      return CertificateKind::kWorkload;
    case v1::CERTIFICATE_KIND_NODE:
      return CertificateKind::kNode;
    case v1::CERTIFICATE_KIND_SERVER:
      return CertificateKind::kServer;
    case v1::CERTIFICATE_KIND_ADMIN:
      return CertificateKind::kAdmin;
    default:
      return absl::DataLossError(absl::StrCat(
          "stored certificate ", serial, " has unknown kind ",
          static_cast<int>(kind)));
  }
}

absl::StatusOr<pki::RevocationReason> ReasonFromCode(int32_t code,
                                                     absl::string_view serial) {
  if (code < 0 || code > 10 || code == 7) {
    return absl::DataLossError(absl::StrCat(
        "stored certificate ", serial, " has unknown revocation reason ",
        code));
  }
  return static_cast<pki::RevocationReason>(code);
}

}  // namespace

absl::Status ValidateSerial(absl::string_view serial) {
  if (serial.empty()) {
    return absl::InvalidArgumentError("serial is empty");
  }
  if (serial.size() > kMaxSerialLength) {
    return absl::InvalidArgumentError(absl::StrCat(
        "serial \"", absl::CHexEscape(serial.substr(0, kMaxSerialLength)),
        "...\" is longer than ", kMaxSerialLength, " hex digits"));
  }
  for (char c : serial) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "serial \"", absl::CHexEscape(serial),
          "\" is not canonical: only lowercase hex digits are allowed"));
    }
  }
  if (serial.size() > 1 && serial[0] == '0') {
    return absl::InvalidArgumentError(
        absl::StrCat("serial \"", serial,
                     "\" is not canonical: it has a leading zero"));
  }
  return absl::OkStatus();
}

absl::Status CheckRecordVersion(uint32_t version, absl::string_view what) {
  if (version == 0 || version > kRecordVersion) {
    return absl::DataLossError(absl::StrCat(
        "stored ", what, " record has version ", version,
        "; this rotor-ca reads versions 1 to ", kRecordVersion));
  }
  return absl::OkStatus();
}

void TimeToProto(absl::Time time, google::protobuf::Timestamp* out) {
  if (time == absl::InfiniteFuture()) {
    out->set_seconds(kInfiniteFutureSeconds);
    out->set_nanos(0);
    return;
  }
  if (time == absl::InfinitePast()) {
    out->set_seconds(kInfinitePastSeconds);
    out->set_nanos(0);
    return;
  }
  int64_t seconds = absl::ToUnixSeconds(time);  // rounds down
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(
      absl::ToInt64Nanoseconds(time - absl::FromUnixSeconds(seconds))));
}

absl::Time TimeFromProto(const google::protobuf::Timestamp& ts) {
  if (ts.seconds() == kInfiniteFutureSeconds) return absl::InfiniteFuture();
  if (ts.seconds() == kInfinitePastSeconds) return absl::InfinitePast();
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

void DurationToProto(absl::Duration d, google::protobuf::Duration* out) {
  int64_t seconds = absl::IDivDuration(d, absl::Seconds(1), &d);
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(d)));
}

absl::Duration DurationFromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

std::string EncodeCertificate(const CertificateRecord& record) {
  v1::CertificateRecord proto;
  proto.set_version(kRecordVersion);
  proto.set_serial(record.serial);
  proto.set_der(record.der);
  proto.set_spiffe_id(record.spiffe_id);
  for (const std::string& name : record.dns_names) proto.add_dns_names(name);
  proto.set_node_name(record.node_name);
  TimeToProto(record.not_before, proto.mutable_not_before());
  TimeToProto(record.not_after, proto.mutable_not_after());
  TimeToProto(record.issued_at, proto.mutable_issued_at());
  proto.set_kind(KindToProto(record.kind));
  proto.set_revoked(record.revoked);
  if (record.revoked) {
    TimeToProto(record.revoked_at, proto.mutable_revoked_at());
    proto.set_revocation_reason(static_cast<int32_t>(record.revocation_reason));
    proto.set_revoked_by(record.revoked_by);
  }
  return proto.SerializeAsString();
}

absl::StatusOr<CertificateRecord> DecodeCertificate(absl::string_view bytes) {
  v1::CertificateRecord proto;
  absl::Status status = Parse(bytes, &proto, "certificate");
  if (!status.ok()) return status;
  // Lists decode many records: move the strings out rather than copy them.
  CertificateRecord record;
  record.serial = std::move(*proto.mutable_serial());
  record.der = std::move(*proto.mutable_der());
  record.spiffe_id = std::move(*proto.mutable_spiffe_id());
  record.dns_names.reserve(proto.dns_names_size());
  for (std::string& name : *proto.mutable_dns_names()) {
    record.dns_names.push_back(std::move(name));
  }
  record.node_name = std::move(*proto.mutable_node_name());
  record.not_before = TimeFromProto(proto.not_before());
  record.not_after = TimeFromProto(proto.not_after());
  record.issued_at = TimeFromProto(proto.issued_at());
  absl::StatusOr<CertificateKind> kind =
      KindFromProto(proto.kind(), record.serial);
  if (!kind.ok()) return kind.status();
  record.kind = *kind;
  record.revoked = proto.revoked();
  if (record.revoked) {
    record.revoked_at = TimeFromProto(proto.revoked_at());
    absl::StatusOr<pki::RevocationReason> reason =
        ReasonFromCode(proto.revocation_reason(), record.serial);
    if (!reason.ok()) return reason.status();
    record.revocation_reason = *reason;
    record.revoked_by = proto.revoked_by();
  }
  return record;
}

std::string EncodeEntry(const RegistrationEntry& entry) {
  v1::RegistrationEntryRecord proto;
  proto.set_version(kRecordVersion);
  proto.set_id(entry.id);
  proto.set_node_glob(entry.node_glob);
  proto.set_spiffe_id(entry.spiffe_id);
  for (const std::string& name : entry.dns_names) proto.add_dns_names(name);
  DurationToProto(entry.max_ttl, proto.mutable_max_ttl());
  TimeToProto(entry.created_at, proto.mutable_created_at());
  proto.set_created_by(entry.created_by);
  return proto.SerializeAsString();
}

absl::StatusOr<RegistrationEntry> DecodeEntry(absl::string_view bytes) {
  v1::RegistrationEntryRecord proto;
  absl::Status status = Parse(bytes, &proto, "registration entry");
  if (!status.ok()) return status;
  RegistrationEntry entry;
  entry.id = proto.id();
  entry.node_glob = proto.node_glob();
  entry.spiffe_id = proto.spiffe_id();
  entry.dns_names.assign(proto.dns_names().begin(), proto.dns_names().end());
  entry.max_ttl = DurationFromProto(proto.max_ttl());
  entry.created_at = TimeFromProto(proto.created_at());
  entry.created_by = proto.created_by();
  return entry;
}

std::string EncodeAudit(const AuditRecord& record) {
  v1::AuditRecord proto;
  proto.set_version(kRecordVersion);
  proto.set_sequence(record.sequence);
  TimeToProto(record.time, proto.mutable_time());
  proto.set_actor(record.actor);
  proto.set_action(record.action);
  proto.set_target(record.target);
  proto.set_outcome(record.outcome);
  proto.set_detail(record.detail);
  return proto.SerializeAsString();
}

absl::StatusOr<AuditRecord> DecodeAudit(absl::string_view bytes) {
  v1::AuditRecord proto;
  absl::Status status = Parse(bytes, &proto, "audit");
  if (!status.ok()) return status;
  AuditRecord record;
  record.sequence = proto.sequence();
  record.time = TimeFromProto(proto.time());
  record.actor = proto.actor();
  record.action = proto.action();
  record.target = proto.target();
  record.outcome = proto.outcome();
  record.detail = proto.detail();
  return record;
}

std::string EncodeJoinToken(v1::JoinTokenRecord record) {
  record.set_version(kRecordVersion);
  return record.SerializeAsString();
}

absl::StatusOr<v1::JoinTokenRecord> DecodeJoinToken(absl::string_view bytes) {
  v1::JoinTokenRecord proto;
  absl::Status status = Parse(bytes, &proto, "join token");
  if (!status.ok()) return status;
  return proto;
}

std::string EncodeCounter(uint64_t value) {
  v1::MetaCounter proto;
  proto.set_version(kRecordVersion);
  proto.set_value(value);
  return proto.SerializeAsString();
}

absl::StatusOr<uint64_t> DecodeCounter(absl::string_view bytes,
                                       absl::string_view what) {
  v1::MetaCounter proto;
  absl::Status status = Parse(bytes, &proto, what);
  if (!status.ok()) return status;
  return proto.value();
}

}  // namespace rotor::store
