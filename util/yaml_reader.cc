#include "util/yaml_reader.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "util/command_line.h"
#include "util/status_macros.h"

namespace rotor {

absl::Status YamlReader::Error(const YAML::Node& node, absl::string_view key,
                               absl::string_view what) const {
  return absl::InvalidArgumentError(absl::StrCat(
      source_, " line ", node.Mark().line + 1, ": ", key, ": ", what));
}

absl::Status YamlReader::String(const YAML::Node& node, absl::string_view key,
                                std::string* out) const {
  if (!node.IsScalar()) return Error(node, key, "expected a single value");
  *out = node.Scalar();
  return absl::OkStatus();
}

absl::Status YamlReader::NonEmptyString(const YAML::Node& node,
                                        absl::string_view key,
                                        std::string* out) const {
  std::string value;
  ROTOR_RETURN_IF_ERROR(String(node, key, &value));
  if (value.empty()) return Error(node, key, "must not be empty");
  *out = std::move(value);
  return absl::OkStatus();
}

absl::Status YamlReader::Duration(const YAML::Node& node, absl::string_view key,
                                  absl::Duration* out) const {
  std::string text;
  ROTOR_RETURN_IF_ERROR(String(node, key, &text));
  absl::StatusOr<absl::Duration> d = ParseDurationFlag(text);
  if (!d.ok()) return Error(node, key, d.status().message());
  *out = *d;
  return absl::OkStatus();
}

absl::Status YamlReader::PositiveDuration(const YAML::Node& node,
                                          absl::string_view key,
                                          absl::Duration* out) const {
  absl::Duration d;
  ROTOR_RETURN_IF_ERROR(Duration(node, key, &d));
  if (d <= absl::ZeroDuration()) return Error(node, key, "must be longer than 0s");
  *out = d;
  return absl::OkStatus();
}

absl::Status YamlReader::Int(const YAML::Node& node, absl::string_view key,
                             int64_t* out) const {
  std::string text;
  ROTOR_RETURN_IF_ERROR(String(node, key, &text));
  int64_t value = 0;
  if (!absl::SimpleAtoi(text, &value) || value < 0) {
    return Error(node, key,
                 absl::StrCat("\"", text, "\" is not a whole number >= 0"));
  }
  *out = value;
  return absl::OkStatus();
}

absl::Status YamlReader::Double(const YAML::Node& node, absl::string_view key,
                                double* out) const {
  std::string text;
  ROTOR_RETURN_IF_ERROR(String(node, key, &text));
  double value = 0;
  if (!absl::SimpleAtod(text, &value) || value < 0) {
    return Error(node, key, absl::StrCat("\"", text, "\" is not a number >= 0"));
  }
  *out = value;
  return absl::OkStatus();
}

absl::Status YamlReader::StringList(const YAML::Node& node,
                                    absl::string_view key,
                                    absl::string_view example,
                                    std::vector<std::string>* out) const {
  if (!node.IsSequence()) {
    return Error(node, key, absl::StrCat("expected a list, e.g. ", example));
  }
  out->clear();
  for (const YAML::Node& item : node) {
    std::string value;
    ROTOR_RETURN_IF_ERROR(NonEmptyString(item, key, &value));
    out->push_back(std::move(value));
  }
  return absl::OkStatus();
}

absl::Status YamlReader::Map(
    const YAML::Node& node, absl::string_view where,
    const std::map<std::string, Handler>& handlers) const {
  if (!node.IsMap()) {
    return Error(node, where.empty() ? "config" : where,
                 "expected a mapping of key: value");
  }
  // YAML parsers keep either of two equal keys; a config that says two
  // things is refused instead. key -> the line it is first on.
  std::map<std::string, int> seen;
  for (const auto& entry : node) {
    if (!entry.first.IsScalar()) {
      return Error(entry.first, where.empty() ? "config" : where,
                   "keys must be plain names");
    }
    const std::string& key = entry.first.Scalar();
    const int line = entry.first.Mark().line + 1;
    if (auto [first, inserted] = seen.emplace(key, line); !inserted) {
      return absl::InvalidArgumentError(absl::StrCat(
          source_, " line ", line, ": key \"", key, "\"",
          where.empty() ? "" : absl::StrCat(" in ", where),
          " is given twice (first on line ", first->second,
          "); keep one"));
    }
    auto it = handlers.find(key);
    if (it == handlers.end()) {
      std::vector<std::string> known;
      for (const auto& [name, unused] : handlers) known.push_back(name);
      return absl::InvalidArgumentError(absl::StrCat(
          source_, " line ", entry.first.Mark().line + 1, ": unknown key \"",
          key, "\"", where.empty() ? "" : absl::StrCat(" in ", where),
          "; known keys: ", absl::StrJoin(known, ", ")));
    }
    ROTOR_RETURN_IF_ERROR(it->second(entry.second));
  }
  return absl::OkStatus();
}

}  // namespace rotor
