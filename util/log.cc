#include "util/log.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace rotor {
namespace {

absl::Mutex log_mu;
std::string* log_program = new std::string("rotor");
LogLevel min_level = LogLevel::kInfo;

absl::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "DEBUG";
    case LogLevel::kInfo:
      return "INFO";
    case LogLevel::kWarning:
      return "WARN";
    case LogLevel::kError:
      return "ERROR";
  }
  return "INFO";
}

bool NeedsQuotes(absl::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || c == '\n' || c == '\t') return true;
  }
  return false;
}

std::string Quote(absl::string_view v) {
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace

void SetLogProgram(absl::string_view program) {
  absl::MutexLock lock(&log_mu);
  *log_program = std::string(program);
}

void SetLogLevel(LogLevel level) {
  absl::MutexLock lock(&log_mu);
  min_level = level;
}

std::string FormatLogLine(LogLevel level, absl::string_view program,
                          absl::string_view message,
                          std::initializer_list<LogField> fields) {
  std::string line = absl::StrCat(LevelName(level), " ", program, ": ", message);
  for (const auto& [key, value] : fields) {
    absl::StrAppend(&line, " ", key, "=",
                    NeedsQuotes(value) ? Quote(value) : value);
  }
  return line;
}

void Log(LogLevel level, absl::string_view message,
         std::initializer_list<LogField> fields) {
  std::string program;
  {
    absl::MutexLock lock(&log_mu);
    if (level < min_level) return;
    program = *log_program;
  }
  std::string line = absl::StrCat(
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()),
      " ", FormatLogLine(level, program, message, fields), "\n");
  absl::MutexLock lock(&log_mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace rotor
