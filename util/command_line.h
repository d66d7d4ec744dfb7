// Command-line parsing for rotor's binaries, which have subcommands
// (`rotor-ca init`, `rotorctl cert revoke`) each with its own flags, its own
// `--help` and errors that name the command to fix. absl::flags holds one
// global flag set per process, which cannot give per-subcommand help or
// refuse a flag that belongs to another subcommand, hence this small parser.
//
// Accepted forms: `--name value`, `--name=value`, `--bool`, `--bool=false`,
// repeated flags for list values, `--` to end flags, positionals anywhere.
//
// Thread-safety: thread-compatible; used once from main().
#ifndef ROTOR_UTIL_COMMAND_LINE_H_
#define ROTOR_UTIL_COMMAND_LINE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace rotor {

class FlagSet {
 public:
  // `command` is the full command as a person types it ("rotor-ca init");
  // `usage` is its synopsis without the command ("--data-dir DIR ...");
  // `summary` says in a sentence or two what it does.
  FlagSet(std::string command, std::string usage, std::string summary);

  // Registers flags. The target keeps its value when the flag is absent, so
  // set defaults before parsing. `value_name` appears in --help.
  void AddString(std::string name, std::string* target, std::string help,
                 std::string value_name = "VALUE");
  void AddStringList(std::string name, std::vector<std::string>* target,
                     std::string help, std::string value_name = "VALUE");
  void AddBool(std::string name, bool* target, std::string help);
  void AddDuration(std::string name, absl::Duration* target, std::string help);
  void AddInt(std::string name, int64_t* target, std::string help);

  // Marks a registered flag as required.
  void Require(const std::string& name);

  // Parses `args` (without the program and subcommand words). Returns the
  // positional arguments. InvalidArgument naming the flag and the fix for an
  // unknown flag, a missing value, a bad value or a missing required flag.
  // `--help`/`-h` sets help_requested() and returns without checking
  // required flags.
  absl::StatusOr<std::vector<std::string>> Parse(
      absl::Span<const std::string> args);

  bool help_requested() const { return help_requested_; }

  // Multi-line help text: synopsis, summary, flags with their defaults.
  std::string Help() const;

 private:
  struct Flag {
    std::string name;
    std::string help;
    std::string value_name;  // empty for booleans
    std::string default_text;
    bool repeated = false;
    bool required = false;
    bool seen = false;
    std::function<absl::Status(absl::string_view)> set;
  };
  Flag* Find(absl::string_view name);
  void Add(Flag flag);

  std::string command_;
  std::string usage_;
  std::string summary_;
  std::vector<Flag> flags_;
  bool help_requested_ = false;
};

// Parses "90s", "15m", "24h", "1h30m", "500ms" and also "7d" (days).
// InvalidArgument with the expected form otherwise; negative is refused.
absl::StatusOr<absl::Duration> ParseDurationFlag(absl::string_view text);

// "1h30m", "24h", "5s": the inverse of ParseDurationFlag for messages.
std::string FormatDurationFlag(absl::Duration d);

}  // namespace rotor

#endif  // ROTOR_UTIL_COMMAND_LINE_H_
