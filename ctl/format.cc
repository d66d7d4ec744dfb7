#include "ctl/format.h"

#include <algorithm>
#include <cstddef>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/json_util.h"
#include "pki/certificate.h"
#include "util/command_line.h"

namespace rotor::ctl {
namespace {

std::string OrDash(const std::string& s) { return s.empty() ? "-" : s; }

// An unset (or zero) max_ttl means the CA's max_ttl.
std::string MaxTtlCell(const rotor::v1::Entry& entry) {
  const absl::Duration max_ttl = FromProtoDuration(entry.max_ttl());
  if (max_ttl <= absl::ZeroDuration()) return "default";
  return FormatDurationFlag(max_ttl);
}

}  // namespace

std::string FormatTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths(header.size());
  for (size_t c = 0; c < header.size(); ++c) widths[c] = header[c].size();
  for (const std::vector<std::string>& row : rows) {
    for (size_t c = 0; c < row.size() && c < widths.size(); ++c) {
      widths[c] = std::max(widths[c], row[c].size());
    }
  }
  std::string out;
  auto append_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      if (c > 0) line += "  ";
      line += row[c];
      if (c + 1 < row.size()) line.append(widths[c] - row[c].size(), ' ');
    }
    out += line;
    out += "\n";
  };
  append_row(header);
  for (const std::vector<std::string>& row : rows) append_row(row);
  return out;
}

absl::Time FromProtoTime(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

absl::Duration FromProtoDuration(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

google::protobuf::Duration ToProtoDuration(absl::Duration d) {
  google::protobuf::Duration out;
  const int64_t seconds = absl::IDivDuration(d, absl::Seconds(1), &d);
  out.set_seconds(seconds);
  out.set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(d)));
  return out;
}

std::string FormatTime(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", FromProtoTime(t),
                          absl::UTCTimeZone());
}

std::string CertificateStatus(const rotor::v1::CertificateInfo& info,
                              absl::Time now) {
  if (info.revoked()) {
    return absl::StrCat("revoked (",
                        info.revocation_reason().empty()
                            ? "unspecified"
                            : info.revocation_reason(),
                        ")");
  }
  if (info.has_not_after() && FromProtoTime(info.not_after()) <= now) {
    return "expired";
  }
  return "valid";
}

std::string FormatCertificateTable(
    const google::protobuf::RepeatedPtrField<rotor::v1::CertificateInfo>&
        certificates,
    absl::Time now) {
  std::vector<std::vector<std::string>> rows;
  rows.reserve(certificates.size());
  for (const rotor::v1::CertificateInfo& info : certificates) {
    rows.push_back({OrDash(info.serial()), OrDash(info.node_name()),
                    OrDash(info.spiffe_id()), FormatTime(info.not_after()),
                    CertificateStatus(info, now)});
  }
  return FormatTable({"SERIAL", "NODE", "SPIFFE ID", "EXPIRES", "STATUS"},
                     rows);
}

std::string FormatCertificateDetail(const rotor::v1::CertificateInfo& info,
                                    absl::Time now) {
  std::vector<std::pair<std::string, std::string>> fields = {
      {"serial", OrDash(info.serial())},
      {"kind", OrDash(info.kind())},
      {"node", OrDash(info.node_name())},
      {"spiffe id", OrDash(info.spiffe_id())},
      {"dns names", OrDash(absl::StrJoin(info.dns_names(), ", "))},
      {"not before", FormatTime(info.not_before())},
      {"not after", FormatTime(info.not_after())},
      {"issued at", FormatTime(info.issued_at())},
      {"status", CertificateStatus(info, now)},
  };
  if (info.revoked()) {
    fields.push_back({"revoked at", FormatTime(info.revoked_at())});
    fields.push_back({"revoked by", OrDash(info.revoked_by())});
  }
  if (!info.der().empty()) {
    absl::StatusOr<pki::Certificate> cert =
        pki::Certificate::FromDer(info.der());
    fields.push_back(
        {"fingerprint", cert.ok() ? cert->Fingerprint() : "(unparsable DER)"});
  }
  size_t width = 0;
  for (const auto& [name, value] : fields) {
    width = std::max(width, name.size());
  }
  std::string out;
  for (const auto& [name, value] : fields) {
    absl::StrAppend(&out, name, ":", std::string(width - name.size() + 2, ' '),
                    value, "\n");
  }
  return out;
}

std::string FormatEntryTable(
    const google::protobuf::RepeatedPtrField<rotor::v1::Entry>& entries) {
  std::vector<std::vector<std::string>> rows;
  rows.reserve(entries.size());
  for (const rotor::v1::Entry& entry : entries) {
    rows.push_back({OrDash(entry.id()), OrDash(entry.node_glob()),
                    OrDash(entry.spiffe_id()),
                    OrDash(absl::StrJoin(entry.dns_names(), ",")),
                    MaxTtlCell(entry)});
  }
  return FormatTable({"ID", "NODE", "SPIFFE ID", "DNS NAMES", "MAX TTL"}, rows);
}

absl::StatusOr<std::string> FormatJson(const google::protobuf::Message& msg) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  std::string out;
  auto status = google::protobuf::util::MessageToJsonString(msg, &out, options);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("cannot print ", msg.GetTypeName(),
                                            " as JSON: ", status.ToString()));
  }
  if (out.empty() || out.back() != '\n') out += "\n";
  return out;
}

}  // namespace rotor::ctl
