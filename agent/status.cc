#include "agent/status.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "util/clock.h"

namespace rotor::agent {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

std::string TimeText(absl::Time t) {
  if (t == absl::InfinitePast()) return "";
  return FormatUtc(t);
}

absl::Time ParseTime(const std::string& text) {
  absl::Time t;
  std::string err;
  if (text.empty() ||
      !absl::ParseTime("%Y-%m-%dT%H:%M:%SZ", text, absl::UTCTimeZone(), &t,
                       &err)) {
    return absl::InfinitePast();
  }
  return t;
}

Value Str(const std::string& s) {
  Value v;
  v.set_string_value(s);
  return v;
}

Value Num(int64_t n) {
  Value v;
  v.set_number_value(static_cast<double>(n));
  return v;
}

Struct ToStruct(const CertificateStatus& c) {
  Struct s;
  auto& f = *s.mutable_fields();
  f["name"] = Str(c.name);
  f["spiffe_id"] = Str(c.spiffe_id);
  f["dir"] = Str(c.dir);
  f["serial"] = Str(c.serial);
  f["not_after"] = Str(TimeText(c.not_after));
  f["next_renewal"] = Str(TimeText(c.next_renewal));
  f["last_error"] = Str(c.last_error);
  f["rotations"] = Num(c.rotations);
  f["failures"] = Num(c.failures);
  f["hook_failures"] = Num(c.hook_failures);
  return s;
}

std::string GetString(const Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  return it == s.fields().end() ? "" : it->second.string_value();
}

int64_t GetNumber(const Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  return it == s.fields().end() ? 0
                                : static_cast<int64_t>(it->second.number_value());
}

CertificateStatus FromStruct(const Struct& s) {
  CertificateStatus c;
  c.name = GetString(s, "name");
  c.spiffe_id = GetString(s, "spiffe_id");
  c.dir = GetString(s, "dir");
  c.serial = GetString(s, "serial");
  c.not_after = ParseTime(GetString(s, "not_after"));
  c.next_renewal = ParseTime(GetString(s, "next_renewal"));
  c.last_error = GetString(s, "last_error");
  c.rotations = GetNumber(s, "rotations");
  c.failures = GetNumber(s, "failures");
  c.hook_failures = GetNumber(s, "hook_failures");
  return c;
}

}  // namespace

std::string FormatShortDuration(absl::Duration d) {
  if (d < absl::ZeroDuration()) return absl::StrCat("-", FormatShortDuration(-d));
  int64_t seconds = absl::ToInt64Seconds(d);
  const int64_t days = seconds / 86400;
  const int64_t hours = seconds / 3600 % 24;
  const int64_t minutes = seconds / 60 % 60;
  seconds %= 60;
  std::string out;
  if (days > 0) absl::StrAppend(&out, days, "d");
  if (hours > 0) absl::StrAppend(&out, hours, "h");
  if (minutes > 0 && days == 0) absl::StrAppend(&out, minutes, "m");
  if ((seconds > 0 || out.empty()) && days == 0 && hours == 0) {
    absl::StrAppend(&out, seconds, "s");
  }
  return out;
}

std::string StatusToJson(const AgentStatus& status) {
  Struct root;
  auto& f = *root.mutable_fields();
  f["updated_at"] = Str(TimeText(status.updated_at));
  f["pid"] = Num(status.pid);
  *f["node"].mutable_struct_value() = ToStruct(status.node);
  auto* list = f["certificates"].mutable_list_value();
  for (const CertificateStatus& c : status.certificates) {
    *list->add_values()->mutable_struct_value() = ToStruct(c);
  }
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  (void)google::protobuf::util::MessageToJsonString(root, &json, options);
  return json;
}

absl::StatusOr<AgentStatus> StatusFromJson(const std::string& json) {
  Struct root;
  google::protobuf::util::Status parsed =
      google::protobuf::util::JsonStringToMessage(json, &root);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("agent status is not valid JSON: ", parsed.ToString()));
  }
  AgentStatus status;
  status.updated_at = ParseTime(GetString(root, "updated_at"));
  status.pid = GetNumber(root, "pid");
  auto node = root.fields().find("node");
  if (node != root.fields().end()) {
    status.node = FromStruct(node->second.struct_value());
  }
  auto certs = root.fields().find("certificates");
  if (certs != root.fields().end()) {
    for (const Value& v : certs->second.list_value().values()) {
      status.certificates.push_back(FromStruct(v.struct_value()));
    }
  }
  return status;
}

std::string FormatStatusTable(const AgentStatus& status, absl::Time now) {
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "SPIFFE ID", "SERIAL", "EXPIRES IN", "NEXT RENEWAL",
       "LAST ERROR"}};
  std::vector<const CertificateStatus*> all = {&status.node};
  for (const CertificateStatus& c : status.certificates) all.push_back(&c);
  for (const CertificateStatus* c : all) {
    std::string expires = "-";
    if (c->not_after != absl::InfinitePast()) {
      expires = c->not_after <= now
                    ? absl::StrCat("expired ",
                                   FormatShortDuration(now - c->not_after),
                                   " ago")
                    : FormatShortDuration(c->not_after - now);
    }
    std::string renewal = "-";
    if (c->next_renewal != absl::InfinitePast()) {
      renewal = c->next_renewal <= now
                    ? "now"
                    : absl::StrCat("in ",
                                   FormatShortDuration(c->next_renewal - now));
    }
    rows.push_back({c->name, c->spiffe_id.empty() ? "-" : c->spiffe_id,
                    c->serial.empty() ? "-" : c->serial, expires, renewal,
                    c->last_error.empty() ? "-" : c->last_error});
  }
  std::vector<size_t> widths(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      absl::StrAppend(&line, row[i]);
      if (i + 1 < row.size()) {
        line.append(widths[i] - row[i].size() + 2, ' ');
      }
    }
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

}  // namespace rotor::agent
