#include "util/command_line.h"

#include <memory>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace rotor {

FlagSet::FlagSet(std::string command, std::string usage, std::string summary)
    : command_(std::move(command)),
      usage_(std::move(usage)),
      summary_(std::move(summary)) {}

void FlagSet::Add(Flag flag) { flags_.push_back(std::move(flag)); }

FlagSet::Flag* FlagSet::Find(absl::string_view name) {
  for (Flag& flag : flags_) {
    if (flag.name == name) return &flag;
  }
  return nullptr;
}

void FlagSet::AddString(std::string name, std::string* target,
                        std::string help, std::string value_name) {
  Flag flag{.name = std::move(name),
            .help = std::move(help),
            .value_name = std::move(value_name),
            .default_text = *target};
  flag.set = [target](absl::string_view v) {
    *target = std::string(v);
    return absl::OkStatus();
  };
  Add(std::move(flag));
}

void FlagSet::AddStringList(std::string name, std::vector<std::string>* target,
                            std::string help, std::string value_name) {
  Flag flag{.name = std::move(name),
            .help = std::move(help),
            .value_name = std::move(value_name),
            .default_text = absl::StrJoin(*target, ",")};
  flag.repeated = true;
  // The first use replaces the defaults; later uses append.
  auto first = std::make_shared<bool>(true);
  flag.set = [target, first](absl::string_view v) {
    if (*first) target->clear();
    *first = false;
    target->emplace_back(v);
    return absl::OkStatus();
  };
  Add(std::move(flag));
}

void FlagSet::AddBool(std::string name, bool* target, std::string help) {
  Flag flag{.name = std::move(name), .help = std::move(help)};
  flag.set = [target](absl::string_view v) {
    if (v.empty() || v == "true" || v == "1" || v == "yes") {
      *target = true;
    } else if (v == "false" || v == "0" || v == "no") {
      *target = false;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", v, "\" is not true or false"));
    }
    return absl::OkStatus();
  };
  Add(std::move(flag));
}

void FlagSet::AddDuration(std::string name, absl::Duration* target,
                          std::string help) {
  Flag flag{.name = std::move(name),
            .help = std::move(help),
            .value_name = "DURATION",
            .default_text = FormatDurationFlag(*target)};
  flag.set = [target](absl::string_view v) -> absl::Status {
    absl::StatusOr<absl::Duration> d = ParseDurationFlag(v);
    if (!d.ok()) return d.status();
    *target = *d;
    return absl::OkStatus();
  };
  Add(std::move(flag));
}

void FlagSet::AddInt(std::string name, int64_t* target, std::string help) {
  Flag flag{.name = std::move(name),
            .help = std::move(help),
            .value_name = "N",
            .default_text = absl::StrCat(*target)};
  flag.set = [target](absl::string_view v) {
    if (!absl::SimpleAtoi(v, target)) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", v, "\" is not a whole number"));
    }
    return absl::OkStatus();
  };
  Add(std::move(flag));
}

void FlagSet::Require(const std::string& name) {
  if (Flag* flag = Find(name)) flag->required = true;
}

absl::StatusOr<std::vector<std::string>> FlagSet::Parse(
    absl::Span<const std::string> args) {
  std::vector<std::string> positional;
  const std::string see_help = absl::StrCat("see '", command_, " --help'");
  for (size_t i = 0; i < args.size(); ++i) {
    absl::string_view arg = args[i];
    if (arg == "--") {
      for (++i; i < args.size(); ++i) positional.push_back(args[i]);
      break;
    }
    if (arg == "--help" || arg == "-h" || arg == "help") {
      help_requested_ = true;
      return positional;
    }
    if (!absl::StartsWith(arg, "--") || arg.size() == 2) {
      if (absl::StartsWith(arg, "-") && arg.size() > 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            command_, ": unknown option ", arg, "; flags start with --; ",
            see_help));
      }
      positional.emplace_back(arg);
      continue;
    }
    absl::string_view body = absl::StripPrefix(arg, "--");
    absl::string_view name = body;
    absl::string_view value;
    bool has_value = false;
    if (size_t eq = body.find('='); eq != absl::string_view::npos) {
      name = body.substr(0, eq);
      value = body.substr(eq + 1);
      has_value = true;
    }
    Flag* flag = Find(name);
    if (flag == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          command_, ": unknown flag --", name, "; ", see_help));
    }
    if (!has_value && !flag->value_name.empty()) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat(command_, ": flag --", name, " needs a value (--",
                         name, " ", flag->value_name, ")"));
      }
      value = args[++i];
    }
    if (flag->seen && !flag->repeated) {
      return absl::InvalidArgumentError(absl::StrCat(
          command_, ": flag --", name, " is given more than once"));
    }
    flag->seen = true;
    if (absl::Status s = flag->set(value); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          command_, ": bad value for --", name, ": ", s.message()));
    }
  }
  for (const Flag& flag : flags_) {
    if (flag.required && !flag.seen) {
      return absl::InvalidArgumentError(
          absl::StrCat(command_, ": missing required flag --", flag.name, " ",
                       flag.value_name, "; ", see_help));
    }
  }
  return positional;
}

std::string FlagSet::Help() const {
  std::string out = absl::StrCat("usage: ", command_, " ", usage_, "\n\n",
                                 summary_, "\n");
  if (flags_.empty()) return out;
  out += "\nflags:\n";
  for (const Flag& flag : flags_) {
    std::string left = absl::StrCat("  --", flag.name);
    if (!flag.value_name.empty()) absl::StrAppend(&left, " ", flag.value_name);
    if (left.size() < 28) left.resize(28, ' ');
    else absl::StrAppend(&left, "\n", std::string(28, ' '));
    absl::StrAppend(&out, left, flag.help);
    if (flag.required) absl::StrAppend(&out, " (required)");
    if (flag.repeated) absl::StrAppend(&out, " (repeatable)");
    if (!flag.required && !flag.default_text.empty()) {
      absl::StrAppend(&out, " (default ", flag.default_text, ")");
    }
    out += "\n";
  }
  absl::StrAppend(&out, "  --help                    show this help\n");
  return out;
}

absl::StatusOr<absl::Duration> ParseDurationFlag(absl::string_view text) {
  absl::Duration d;
  bool ok = false;
  if (absl::EndsWith(text, "d") && !absl::EndsWith(text, "md")) {
    int64_t days;
    if (absl::SimpleAtoi(text.substr(0, text.size() - 1), &days)) {
      d = absl::Hours(24) * days;
      ok = true;
    }
  } else {
    ok = absl::ParseDuration(text, &d) && text != "inf" && text != "-inf";
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text,
                     "\" is not a duration; write it like 90s, 15m, 24h, "
                     "1h30m or 7d"));
  }
  if (d < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("duration \"", text, "\" is negative"));
  }
  return d;
}

std::string FormatDurationFlag(absl::Duration d) {
  return absl::FormatDuration(d);
}

}  // namespace rotor
