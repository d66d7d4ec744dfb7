// One-line logs a person can grep: a UTC timestamp, a level, the program,
// a message, then key=value fields.
//
//   2026-11-29T12:00:00.123Z INFO rotor-ca: issued serial=1a2b node=web-1
//       spiffe_id=spiffe://example.org/web ttl=1h outcome=ok
//
// Values with spaces or quotes are quoted. Logs go to stderr. Never log key
// material or join tokens.
//
// Thread-safety: every function is safe from any thread; lines never
// interleave.
#ifndef ROTOR_UTIL_LOG_H_
#define ROTOR_UTIL_LOG_H_

#include <initializer_list>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"

namespace rotor {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

using LogField = std::pair<absl::string_view, std::string>;

// Sets the program name shown in every line (default "rotor").
void SetLogProgram(absl::string_view program);

// Lines below `level` are dropped (default kInfo).
void SetLogLevel(LogLevel level);

void Log(LogLevel level, absl::string_view message,
         std::initializer_list<LogField> fields = {});

inline void LogInfo(absl::string_view message,
                    std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kInfo, message, fields);
}
inline void LogWarning(absl::string_view message,
                       std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kWarning, message, fields);
}
inline void LogError(absl::string_view message,
                     std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kError, message, fields);
}

// The text of one line without the timestamp, for tests:
// "INFO prog: message k=v".
std::string FormatLogLine(LogLevel level, absl::string_view program,
                          absl::string_view message,
                          std::initializer_list<LogField> fields);

}  // namespace rotor

#endif  // ROTOR_UTIL_LOG_H_
