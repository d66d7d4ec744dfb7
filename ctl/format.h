// rotorctl's output: aligned tables and key/value blocks for people, and
// JSON (protobuf's canonical JSON mapping, via MessageToJsonString) for
// scripts. Functions that depend on the time ("expired") take it as a
// parameter.
//
// Thread-safety: pure functions.
#ifndef ROTOR_CTL_FORMAT_H_
#define ROTOR_CTL_FORMAT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/message.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "google/protobuf/timestamp.pb.h"
#include "rotor/v1/ca.pb.h"

namespace rotor::ctl {

// Columns separated by two spaces, each as wide as its widest cell; the
// last column is not padded, so no line ends in spaces. `rows` may be empty
// (then only the header is printed). Every line ends in "\n".
// REQUIRES: every row has header.size() cells.
std::string FormatTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows);

// Conversions between protobuf's well-known types and absl.
absl::Time FromProtoTime(const google::protobuf::Timestamp& t);
absl::Duration FromProtoDuration(const google::protobuf::Duration& d);
google::protobuf::Duration ToProtoDuration(absl::Duration d);

// "2026-03-01T12:00:00Z" (UTC, whole seconds); "-" for an unset timestamp.
std::string FormatTime(const google::protobuf::Timestamp& t);

// "valid", "expired" (notAfter at or before `now`) or "revoked (REASON)".
std::string CertificateStatus(const rotor::v1::CertificateInfo& info,
                              absl::Time now);

// SERIAL, NODE, SPIFFE ID, EXPIRES, STATUS; "-" for an empty cell.
std::string FormatCertificateTable(
    const google::protobuf::RepeatedPtrField<rotor::v1::CertificateInfo>&
        certificates,
    absl::Time now);

// Every field of one certificate as "name: value" lines, aligned, including
// its SHA-256 fingerprint when `info.der` parses.
std::string FormatCertificateDetail(const rotor::v1::CertificateInfo& info,
                                    absl::Time now);

// ID, NODE, SPIFFE ID, DNS NAMES, MAX TTL; "-" for an empty cell, "default"
// for an unset max_ttl (the CA's max_ttl applies).
std::string FormatEntryTable(
    const google::protobuf::RepeatedPtrField<rotor::v1::Entry>& entries);

// The message as indented JSON, named as protobuf's JSON mapping names
// fields (lowerCamelCase), with scalar and repeated fields printed even when
// empty (so `revoked: false` is there to test), ending in "\n".
// Internal if protobuf cannot print it.
absl::StatusOr<std::string> FormatJson(const google::protobuf::Message& msg);

}  // namespace rotor::ctl

#endif  // ROTOR_CTL_FORMAT_H_
