// Reading typed values out of a YAML document (yaml-cpp) for config files,
// where every error names the file, the line and the key, and a mapping
// refuses keys it does not know.
#ifndef ROTOR_UTIL_YAML_READER_H_
#define ROTOR_UTIL_YAML_READER_H_

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace rotor {

// Every method returns InvalidArgument "SOURCE line N: KEY: what is wrong"
// on a bad value and leaves *out as it was, except where noted.
// Thread-compatible (const methods only).
class YamlReader {
 public:
  // `source` names the document in errors, e.g. the file's path.
  explicit YamlReader(absl::string_view source) : source_(source) {}

  // The error for `key` at `node`'s line.
  absl::Status Error(const YAML::Node& node, absl::string_view key,
                     absl::string_view what) const;

  // A single value (any text, "" included).
  absl::Status String(const YAML::Node& node, absl::string_view key,
                      std::string* out) const;
  absl::Status NonEmptyString(const YAML::Node& node, absl::string_view key,
                              std::string* out) const;
  // "90s", "15m", "24h" (util/command_line.h ParseDurationFlag): >= 0.
  absl::Status Duration(const YAML::Node& node, absl::string_view key,
                        absl::Duration* out) const;
  // As Duration, and refuses 0.
  absl::Status PositiveDuration(const YAML::Node& node, absl::string_view key,
                                absl::Duration* out) const;
  // A whole number >= 0.
  absl::Status Int(const YAML::Node& node, absl::string_view key,
                   int64_t* out) const;
  // A number >= 0.
  absl::Status Double(const YAML::Node& node, absl::string_view key,
                      double* out) const;
  // A list of non-empty values; `example` shows the form in the error, e.g.
  // "[localhost, 127.0.0.1]". *out is replaced (possibly partly filled on
  // error).
  absl::Status StringList(const YAML::Node& node, absl::string_view key,
                          absl::string_view example,
                          std::vector<std::string>* out) const;

  // Calls the handler of each key of a mapping. A key with no handler is
  // refused with its line, `where` ("" at the top level, else e.g.
  // "rate_limit") and the known keys; the first handler error is returned.
  using Handler = std::function<absl::Status(const YAML::Node&)>;
  absl::Status Map(const YAML::Node& node, absl::string_view where,
                   const std::map<std::string, Handler>& handlers) const;

  const std::string& source() const { return source_; }

 private:
  std::string source_;
};

}  // namespace rotor

#endif  // ROTOR_UTIL_YAML_READER_H_
