// What every rotor-bench mode shares: latency percentiles, the one-line
// JSON (or plain text) report with the machine's state beside each figure,
// and the flag handling of a mode (--help, errors, exit codes).
//
// Thread-safety: LatencyRecorder and Report are thread-compatible (one per
// thread, merged at the end); the free functions are safe from any thread.
#ifndef ROTOR_BENCH_ROTOR_BENCH_REPORT_H_
#define ROTOR_BENCH_ROTOR_BENCH_REPORT_H_

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "util/command_line.h"

namespace rotor::bench {

// Latency samples of one run, kept whole (a run has at most a few million).
class LatencyRecorder {
 public:
  void Add(absl::Duration d) { samples_.push_back(absl::ToDoubleMilliseconds(d)); }
  void Merge(const LatencyRecorder& other);
  size_t count() const { return samples_.size(); }
  // The q-quantile (0 < q <= 1) in milliseconds, nearest rank; 0 when empty.
  // Sorts the samples on first use after an Add.
  double PercentileMs(double q);

 private:
  std::vector<double> samples_;
  bool sorted_ = false;
};

// An ordered set of named figures, printed as one JSON object on one line
// (protobuf's JSON printer over a google.protobuf.Struct) or as "name: value"
// lines for a person.
class Report {
 public:
  void Add(std::string name, double value);
  void Add(std::string name, std::string value);
  // Adds the machine's state now: "cores", "load_average_1m" (from
  // /proc/loadavg), so every figure is read beside how busy the machine was.
  void AddMachine();

  std::string ToJson() const;
  std::string ToText() const;

 private:
  std::vector<std::pair<std::string, std::variant<double, std::string>>>
      fields_;
};

// Prints the report on stdout: ToJson() with --json, else ToText().
void PrintReport(const Report& report, bool json);

// Parses a mode's flags. Returns true when the mode should run; otherwise
// *exit_code is 0 after --help (printed on stdout) or 2 after a usage error
// (printed on stderr as "rotor-bench: <message>").
bool ParseModeFlags(FlagSet& flags, const std::vector<std::string>& args,
                    int* exit_code);

// Prints "rotor-bench: <message>" on stderr; returns 1 (the run failed) or
// 2 for InvalidArgument (usage).
int Fail(const absl::Status& status);

// A random 8-hex-digit tag, so names a run creates on a CA (nodes, SPIFFE
// IDs) never collide with an earlier run's.
std::string RunTag();

// The process's resident memory in bytes (VmRSS of /proc/PID/status), or
// -1 when it cannot be read.
int64_t ResidentBytes(int pid);

// Consumed CPU time (user + system) of process `pid` from /proc/PID/stat, or
// a negative duration when it cannot be read.
absl::Duration ProcessCpuTime(int pid);

}  // namespace rotor::bench

#endif  // ROTOR_BENCH_ROTOR_BENCH_REPORT_H_
