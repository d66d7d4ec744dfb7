#include "bench/rotor_bench/report.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "util/file.h"

namespace rotor::bench {

void LatencyRecorder::Merge(const LatencyRecorder& other) {
  samples_.insert(samples_.end(), other.samples_.begin(),
                  other.samples_.end());
  sorted_ = false;
}

double LatencyRecorder::PercentileMs(double q) {
  if (samples_.empty()) return 0;
  if (!sorted_) {
    std::sort(samples_.begin(), samples_.end());
    sorted_ = true;
  }
  size_t rank = static_cast<size_t>(std::ceil(q * samples_.size()));
  rank = std::clamp<size_t>(rank, 1, samples_.size());
  return samples_[rank - 1];
}

void Report::Add(std::string name, double value) {
  fields_.emplace_back(std::move(name), value);
}

void Report::Add(std::string name, std::string value) {
  fields_.emplace_back(std::move(name), std::move(value));
}

void Report::AddMachine() {
  Add("cores", static_cast<double>(std::thread::hardware_concurrency()));
  absl::StatusOr<std::string> loadavg = ReadFile("/proc/loadavg");
  double load = -1;
  if (loadavg.ok()) {
    std::vector<std::string> parts = absl::StrSplit(*loadavg, ' ');
    if (parts.empty() || !absl::SimpleAtod(parts[0], &load)) load = -1;
  }
  Add("load_average_1m", load);
}

std::string Report::ToJson() const {
  // Fields in the order they were added: each name and value is printed by
  // protobuf's JSON printer (quoting, escaping, number format), the object
  // around them here, because a Struct would print its map in any order.
  std::string json = "{";
  for (const auto& [name, value] : fields_) {
    google::protobuf::Value key;
    key.set_string_value(name);
    google::protobuf::Value v;
    if (const double* number = std::get_if<double>(&value)) {
      // Three decimals are plenty for rates and milliseconds.
      v.set_number_value(std::round(*number * 1000) / 1000);
    } else {
      v.set_string_value(std::get<std::string>(value));
    }
    std::string key_json;
    std::string value_json;
    if (!google::protobuf::util::MessageToJsonString(key, &key_json).ok() ||
        !google::protobuf::util::MessageToJsonString(v, &value_json).ok()) {
      continue;
    }
    if (json.size() > 1) json += ",";
    absl::StrAppend(&json, key_json, ":", value_json);
  }
  json += "}";
  return json;
}

std::string Report::ToText() const {
  std::string text;
  for (const auto& [name, value] : fields_) {
    if (const double* number = std::get_if<double>(&value)) {
      absl::StrAppend(&text, name, ": ",
                      *number == std::floor(*number) && std::fabs(*number) < 1e15
                          ? absl::StrFormat("%.0f", *number)
                          : absl::StrFormat("%.3f", *number),
                      "\n");
    } else {
      absl::StrAppend(&text, name, ": ", std::get<std::string>(value), "\n");
    }
  }
  return text;
}

void PrintReport(const Report& report, bool json) {
  const std::string text = json ? report.ToJson() + "\n" : report.ToText();
  std::fputs(text.c_str(), stdout);
  std::fflush(stdout);
}

bool ParseModeFlags(FlagSet& flags, const std::vector<std::string>& args,
                    int* exit_code) {
  absl::StatusOr<std::vector<std::string>> rest = flags.Parse(args);
  if (!rest.ok()) {
    *exit_code = Fail(rest.status());
    return false;
  }
  if (flags.help_requested()) {
    std::fputs(flags.Help().c_str(), stdout);
    *exit_code = 0;
    return false;
  }
  if (!rest->empty()) {
    *exit_code = Fail(absl::InvalidArgumentError(absl::StrCat(
        "no positional arguments are taken (got \"", rest->front(), "\")")));
    return false;
  }
  return true;
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "rotor-bench: %s\n",
               std::string(status.message()).c_str());
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

std::string RunTag() {
  unsigned char bytes[4] = {};
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    const uint32_t fallback = static_cast<uint32_t>(getpid());
    std::memcpy(bytes, &fallback, sizeof(bytes));
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
}

int64_t ResidentBytes(int pid) {
  absl::StatusOr<std::string> status =
      ReadFile(absl::StrCat("/proc/", pid, "/status"));
  if (!status.ok()) return -1;
  for (absl::string_view line : absl::StrSplit(*status, '\n')) {
    if (!absl::ConsumePrefix(&line, "VmRSS:")) continue;
    line = absl::StripAsciiWhitespace(line);
    absl::ConsumeSuffix(&line, " kB");
    int64_t kib = 0;
    if (absl::SimpleAtoi(line, &kib)) return kib * 1024;
  }
  return -1;
}

absl::Duration ProcessCpuTime(int pid) {
  absl::StatusOr<std::string> stat =
      ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  if (!stat.ok()) return absl::Seconds(-1);
  // The command name (field 2) may hold spaces; fields count from its ')'.
  size_t close = stat->rfind(')');
  if (close == std::string::npos) return absl::Seconds(-1);
  std::vector<absl::string_view> fields = absl::StrSplit(
      absl::string_view(*stat).substr(close + 2), ' ', absl::SkipEmpty());
  // Fields 14 (utime) and 15 (stime) of proc(5); index 0 here is field 3.
  int64_t utime = 0;
  int64_t stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &utime) ||
      !absl::SimpleAtoi(fields[12], &stime)) {
    return absl::Seconds(-1);
  }
  const long ticks = sysconf(_SC_CLK_TCK);
  return absl::Seconds(static_cast<double>(utime + stime) /
                       static_cast<double>(ticks > 0 ? ticks : 100));
}

}  // namespace rotor::bench
