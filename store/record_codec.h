// Conversions between the store's C++ records (store/store.h) and their
// on-disk form, the versioned protobuf messages of proto/rotor/v1/store.proto,
// plus the checks on keys that every backend shares.
//
// Encoding writes the current record version (kRecordVersion). Decoding
// refuses bytes that do not parse, and records whose version is 0 or newer
// than this binary knows, with DataLoss naming the record.
//
// Thread-safety: all functions are pure and safe from any thread.
#ifndef ROTOR_STORE_RECORD_CODEC_H_
#define ROTOR_STORE_RECORD_CODEC_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "rotor/v1/store.pb.h"
#include "store/store.h"

namespace rotor::store {

// The version written into every record's `version` field.
inline constexpr uint32_t kRecordVersion = 1;

// Longest serial: 20 octets (RFC 5280) in hex.
inline constexpr size_t kMaxSerialLength = 40;

// InvalidArgument unless `serial` is canonical: 1 to 40 lowercase hex
// digits without leading zeros ("serial \"00ab\" is not canonical: ...").
absl::Status ValidateSerial(absl::string_view serial);

// DataLoss unless 1 <= version <= kRecordVersion. `what` names the record
// ("certificate 1a2b").
absl::Status CheckRecordVersion(uint32_t version, absl::string_view what);

// Times are kept to the nanosecond; InfinitePast/InfiniteFuture round-trip.
void TimeToProto(absl::Time time, google::protobuf::Timestamp* out);
absl::Time TimeFromProto(const google::protobuf::Timestamp& ts);
void DurationToProto(absl::Duration d, google::protobuf::Duration* out);
absl::Duration DurationFromProto(const google::protobuf::Duration& d);

std::string EncodeCertificate(const CertificateRecord& record);
absl::StatusOr<CertificateRecord> DecodeCertificate(absl::string_view bytes);

std::string EncodeEntry(const RegistrationEntry& entry);
absl::StatusOr<RegistrationEntry> DecodeEntry(absl::string_view bytes);

std::string EncodeAudit(const AuditRecord& record);
absl::StatusOr<AuditRecord> DecodeAudit(absl::string_view bytes);

// Sets the record's version.
std::string EncodeJoinToken(v1::JoinTokenRecord record);
absl::StatusOr<v1::JoinTokenRecord> DecodeJoinToken(absl::string_view bytes);

std::string EncodeCounter(uint64_t value);
absl::StatusOr<uint64_t> DecodeCounter(absl::string_view bytes,
                                       absl::string_view what);

}  // namespace rotor::store

#endif  // ROTOR_STORE_RECORD_CODEC_H_
