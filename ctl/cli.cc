#include "ctl/cli.h"

#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "ctl/commands.h"
#include "ctl/usage_error.h"
#include "util/command_line.h"
#include "util/status_macros.h"

namespace rotor::ctl {
namespace {

// One line per command for the top-level and group help.
struct CommandSummary {
  const char* group;  // "cert", or the command itself for crl and bundle
  const char* name;   // "revoke", or "" for crl and bundle
  const char* summary;
};

constexpr CommandSummary kCommands[] = {
    {"token", "create", "create a single-use join token for a node"},
    {"entry", "create", "allow matching nodes to obtain an identity"},
    {"entry", "list", "list registration entries"},
    {"entry", "delete", "delete a registration entry"},
    {"cert", "list", "list issued certificates (all pages)"},
    {"cert", "show", "show one certificate"},
    {"cert", "revoke", "revoke a certificate (CRL, OCSP and its agent)"},
    {"crl", "", "fetch the current CRL"},
    {"bundle", "", "fetch the trust bundle (PEM)"},
};

constexpr char kCommonHelp[] =
    "Every command takes --ca HOST:PORT (or ROTOR_CA), --credentials DIR (or\n"
    "ROTOR_CREDENTIALS; the folder rotor-ca init writes to DATA_DIR/admin),\n"
    "--json for machine-readable output and --timeout.\n";

std::string Usage(absl::string_view group) {
  std::string commands;
  for (const CommandSummary& c : kCommands) {
    if (!group.empty() && group != c.group) continue;
    std::string left = absl::StrCat("  ", c.group, *c.name ? " " : "", c.name);
    left.resize(std::max<size_t>(left.size() + 2, 18), ' ');
    absl::StrAppend(&commands, left, c.summary, "\n");
  }
  const std::string command =
      group.empty() ? "<command>" : absl::StrCat(group, " <command>");
  return absl::StrCat(
      "usage: rotorctl ", command,
      " [flags]\n\nrotorctl operates a rotor CA through its AdminService "
      "(mTLS with admin\ncredentials).\n\ncommands:\n",
      commands, "\n", kCommonHelp, "Run 'rotorctl ", command,
      " --help' for a command's flags.\n");
}

// The flags every command has.
struct CommonFlags {
  std::string ca;
  std::string credentials;
  bool json = false;
  absl::Duration timeout = absl::Seconds(30);
};

void AddCommonFlags(FlagSet& flags, CommonFlags* common) {
  flags.AddString("ca", &common->ca,
                  absl::StrCat("the CA's gRPC address; default $", kCaEnv),
                  "HOST:PORT");
  flags.AddString("credentials", &common->credentials,
                  absl::StrCat("folder with admin.crt, admin.key and "
                               "bundle.crt; default $",
                               kCredentialsEnv),
                  "DIR");
  flags.AddBool("json", &common->json,
                "print the response message as JSON (protobuf JSON mapping)");
  flags.AddDuration("timeout", &common->timeout,
                    "deadline for each call to the CA");
}

// A parsed command line: either --help was asked for, or the positionals.
struct Parsed {
  bool help = false;
  std::vector<std::string> positionals;
};

// Parses `args` and checks that exactly the named positionals are there.
absl::StatusOr<Parsed> ParseCommand(
    FlagSet& flags, const std::string& command,
    absl::Span<const std::string> args,
    const std::vector<std::string>& positional_names) {
  absl::StatusOr<std::vector<std::string>> rest = flags.Parse(args);
  if (!rest.ok()) return AsUsageError(rest.status());
  Parsed parsed;
  if (flags.help_requested()) {
    parsed.help = true;
    return parsed;
  }
  const std::string see_help = absl::StrCat("see '", command, " --help'");
  if (rest->size() < positional_names.size()) {
    return UsageError(absl::StrCat(
        command, ": missing ", positional_names[rest->size()], "; ", see_help));
  }
  if (rest->size() > positional_names.size()) {
    return UsageError(absl::StrCat(command, ": unexpected argument \"",
                                   (*rest)[positional_names.size()], "\"; ",
                                   see_help));
  }
  parsed.positionals = *std::move(rest);
  return parsed;
}

// An optional duration flag (registered as a string so "unset" differs from
// 0s): empty text stays unset.
absl::Status ParseOptionalDuration(const std::string& command,
                                   absl::string_view flag,
                                   const std::string& text,
                                   std::optional<absl::Duration>* out) {
  if (text.empty()) return absl::OkStatus();
  absl::StatusOr<absl::Duration> d = ParseDurationFlag(text);
  if (!d.ok()) {
    return UsageError(absl::StrCat(command, ": bad value for --", flag, ": ",
                                   d.status().message()));
  }
  *out = *d;
  return absl::OkStatus();
}

class Runner {
 public:
  explicit Runner(const CliContext& context) : context_(context) {}

  absl::Status Run(absl::Span<const std::string> args);

 private:
  using Body = std::function<absl::Status(AdminClient&, const Output&)>;

  // Resolves the connection, connects and runs `body`.
  absl::Status Execute(const CommonFlags& common, const Body& body) {
    ROTOR_ASSIGN_OR_RETURN(
        ConnectionOptions options,
        ResolveConnection(common.ca, common.credentials, context_.env));
    options.timeout = common.timeout;
    absl::StatusOr<std::unique_ptr<AdminClient>> client =
        context_.connect(options);
    if (!client.ok()) {
      return absl::Status(
          client.status().code(),
          absl::StrCat(client.status().message(), "; check --credentials (or ",
                       kCredentialsEnv, ")"));
    }
    Output output{.out = *context_.out,
                  .err = *context_.err,
                  .json = common.json,
                  .now = context_.clock->Now()};
    return body(**client, output);
  }

  absl::Status PrintHelp(const FlagSet& flags) {
    *context_.out << flags.Help() << "\n" << kCommonHelp;
    return absl::OkStatus();
  }

  absl::Status TokenCreateCommand(absl::Span<const std::string> args);
  absl::Status EntryCreateCommand(absl::Span<const std::string> args);
  absl::Status EntryListCommand(absl::Span<const std::string> args);
  absl::Status EntryDeleteCommand(absl::Span<const std::string> args);
  absl::Status CertListCommand(absl::Span<const std::string> args);
  absl::Status CertShowCommand(absl::Span<const std::string> args);
  absl::Status CertRevokeCommand(absl::Span<const std::string> args);
  absl::Status CrlCommand(absl::Span<const std::string> args);
  absl::Status BundleCommand(absl::Span<const std::string> args);

  const CliContext& context_;
};

absl::Status Runner::TokenCreateCommand(absl::Span<const std::string> args) {
  const std::string command = "rotorctl token create";
  TokenCreateFlags f;
  CommonFlags common;
  FlagSet flags(command, "--node NAME [--ttl DURATION] [flags]",
                "Creates a single-use join token that lets one agent attest "
                "as node NAME, and\nprints only the token on stdout. The CA "
                "keeps only its hash.");
  flags.AddString("node", &f.node, "the node name the token binds", "NAME");
  flags.AddDuration("ttl", &f.ttl, "how long the token stays usable");
  flags.Require("node");
  AddCommonFlags(flags, &common);
  ROTOR_ASSIGN_OR_RETURN(Parsed parsed, ParseCommand(flags, command, args, {}));
  if (parsed.help) return PrintHelp(flags);
  return Execute(common, [&](AdminClient& client, const Output& output) {
    return TokenCreate(client, f, output);
  });
}

absl::Status Runner::EntryCreateCommand(absl::Span<const std::string> args) {
  const std::string command = "rotorctl entry create";
  EntryCreateFlags f;
  std::string max_ttl;
  CommonFlags common;
  FlagSet flags(command,
                "--node GLOB --spiffe-id ID [--dns NAME]... "
                "[--max-ttl DURATION] [flags]",
                "Registers an entry: nodes whose name matches GLOB (fnmatch: "
                "web-*, db-?, *) may\nobtain certificates for ID and the "
                "given DNS names. Prints the entry's ID.");
  flags.AddString("node", &f.node_glob, "node name pattern", "GLOB");
  flags.AddString("spiffe-id", &f.spiffe_id,
                  "the SPIFFE ID granted, spiffe://TD/path", "ID");
  flags.AddStringList("dns", &f.dns_names, "a DNS name granted", "NAME");
  flags.AddString("max-ttl", &max_ttl,
                  "longest certificate lifetime (e.g. 24h); default the "
                  "CA's max_ttl",
                  "DURATION");
  flags.Require("node");
  flags.Require("spiffe-id");
  AddCommonFlags(flags, &common);
  ROTOR_ASSIGN_OR_RETURN(Parsed parsed, ParseCommand(flags, command, args, {}));
  if (parsed.help) return PrintHelp(flags);
  ROTOR_RETURN_IF_ERROR(
      ParseOptionalDuration(command, "max-ttl", max_ttl, &f.max_ttl));
  return Execute(common, [&](AdminClient& client, const Output& output) {
    return EntryCreate(client, f, output);
  });
}

absl::Status Runner::EntryListCommand(absl::Span<const std::string> args) {
  const std::string command = "rotorctl entry list";
  CommonFlags common;
  FlagSet flags(command, "[flags]", "Lists every registration entry.");
  AddCommonFlags(flags, &common);
  ROTOR_ASSIGN_OR_RETURN(Parsed parsed, ParseCommand(flags, command, args, {}));
  if (parsed.help) return PrintHelp(flags);
  return Execute(common, [&](AdminClient& client, const Output& output) {
    return EntryList(client, output);
  });
}

absl::Status Runner::EntryDeleteCommand(absl::Span<const std::string> args) {
  const std::string command = "rotorctl entry delete";
  CommonFlags common;
  FlagSet flags(command, "ID [flags]",
                "Deletes a registration entry. Certificates already issued "
                "under it stay valid\nuntil they expire or are revoked.");
  AddCommonFlags(flags, &common);
  ROTOR_ASSIGN_OR_RETURN(Parsed parsed,
                         ParseCommand(flags, command, args, {"ID"}));
  if (parsed.help) return PrintHelp(flags);
  return Execute(common, [&](AdminClient& client, const Output& output) {
    return EntryDelete(client, parsed.positionals[0], output);
  });
}

absl::Status Runner::CertListCommand(absl::Span<const std::string> args) {
  const std::string command = "rotorctl cert list";
  CertListFlags f;
  std::string expiring_within;
  CommonFlags common;
  FlagSet flags(command,
                "[--node NAME] [--spiffe-id ID] [--expiring-within DURATION] "
                "[--revoked] [--limit N] [flags]",
                "Lists issued certificates, newest first as the CA orders "
                "them, fetching every\npage unless --limit is given.");
  flags.AddString("node", &f.node, "only certificates issued to this node",
                  "NAME");
  flags.AddString("spiffe-id", &f.spiffe_id,
                  "only certificates for this SPIFFE ID", "ID");
  flags.AddString("expiring-within", &expiring_within,
                  "only certificates whose notAfter is within DURATION from "
                  "now",
                  "DURATION");
  flags.AddBool("revoked", &f.revoked_only, "only revoked certificates");
  flags.AddInt("limit", &f.limit, "print at most N certificates; 0: all");
  AddCommonFlags(flags, &common);
  ROTOR_ASSIGN_OR_RETURN(Parsed parsed, ParseCommand(flags, command, args, {}));
  if (parsed.help) return PrintHelp(flags);
  ROTOR_RETURN_IF_ERROR(ParseOptionalDuration(
      command, "expiring-within", expiring_within, &f.expiring_within));
  if (f.limit < 0) {
    return UsageError(absl::StrCat(command, ": bad value for --limit: ",
                                   f.limit, " is negative; 0 means all"));
  }
  return Execute(common, [&](AdminClient& client, const Output& output) {
    return CertList(client, f, output);
  });
}

absl::Status Runner::CertShowCommand(absl::Span<const std::string> args) {
  const std::string command = "rotorctl cert show";
  bool pem = false;
  CommonFlags common;
  FlagSet flags(command, "SERIAL [--pem] [flags]",
                "Shows one certificate. SERIAL is hex in any case, with or "
                "without colons or\nleading zeros, as openssl and browsers "
                "print it.");
  flags.AddBool("pem", &pem, "print only the certificate as PEM");
  AddCommonFlags(flags, &common);
  ROTOR_ASSIGN_OR_RETURN(Parsed parsed,
                         ParseCommand(flags, command, args, {"SERIAL"}));
  if (parsed.help) return PrintHelp(flags);
  // Checked before connecting, so a typo is a usage error whatever the CA.
  ROTOR_ASSIGN_OR_RETURN(std::string serial,
                         ParseSerialArgument(parsed.positionals[0]));
  return Execute(common, [&](AdminClient& client, const Output& output) {
    return CertShow(client, serial, pem, output);
  });
}

absl::Status Runner::CertRevokeCommand(absl::Span<const std::string> args) {
  const std::string command = "rotorctl cert revoke";
  std::string reason;
  CommonFlags common;
  FlagSet flags(command, "SERIAL [--reason REASON] [flags]",
                "Revokes a certificate: the CRL is reissued, OCSP answers "
                "revoked, and the agent\nholding it is told. SERIAL is hex in "
                "any case, with or without colons or\nleading zeros.");
  flags.AddString("reason", &reason,
                  "RFC 5280 reason: keyCompromise, superseded, "
                  "cessationOfOperation, ...\n                            "
                  "(key-compromise works too); default unspecified",
                  "REASON");
  AddCommonFlags(flags, &common);
  ROTOR_ASSIGN_OR_RETURN(Parsed parsed,
                         ParseCommand(flags, command, args, {"SERIAL"}));
  if (parsed.help) return PrintHelp(flags);
  // Checked before connecting, so a typo is a usage error whatever the CA.
  ROTOR_ASSIGN_OR_RETURN(std::string serial,
                         ParseSerialArgument(parsed.positionals[0]));
  ROTOR_ASSIGN_OR_RETURN(std::string rfc_reason, ParseReasonArgument(reason));
  return Execute(common, [&](AdminClient& client, const Output& output) {
    return CertRevoke(client, serial, rfc_reason, output);
  });
}

absl::Status Runner::CrlCommand(absl::Span<const std::string> args) {
  const std::string command = "rotorctl crl";
  std::string out;
  CommonFlags common;
  FlagSet flags(command, "[--out FILE] [flags]",
                "Fetches the current CRLs. Without --out, prints every CRL of "
                "the chain as PEM\n(the intermediate's first, then the root's "
                "over the intermediate), the form\nnginx's ssl_crl wants. "
                "With --out, writes the intermediate's CRL as DER to\nFILE, "
                "the form GET /crl serves.");
  flags.AddString("out", &out, "write the intermediate's CRL (DER) here",
                  "FILE");
  AddCommonFlags(flags, &common);
  ROTOR_ASSIGN_OR_RETURN(Parsed parsed, ParseCommand(flags, command, args, {}));
  if (parsed.help) return PrintHelp(flags);
  return Execute(common, [&](AdminClient& client, const Output& output) {
    return FetchCrl(client, out, output);
  });
}

absl::Status Runner::BundleCommand(absl::Span<const std::string> args) {
  const std::string command = "rotorctl bundle";
  std::string out;
  CommonFlags common;
  FlagSet flags(command, "[--out FILE] [flags]",
                "Fetches the CA's trust roots as PEM, to stdout or FILE.");
  flags.AddString("out", &out, "write the PEM bundle here", "FILE");
  AddCommonFlags(flags, &common);
  ROTOR_ASSIGN_OR_RETURN(Parsed parsed, ParseCommand(flags, command, args, {}));
  if (parsed.help) return PrintHelp(flags);
  return Execute(common, [&](AdminClient& client, const Output& output) {
    return FetchBundle(client, out, output);
  });
}

bool IsHelp(absl::string_view arg) {
  return arg == "--help" || arg == "-h" || arg == "help";
}

absl::Status Runner::Run(absl::Span<const std::string> args) {
  if (args.empty()) {
    *context_.err << Usage("");
    return UsageError("no command given");
  }
  if (IsHelp(args[0])) {
    *context_.out << Usage("");
    return absl::OkStatus();
  }
  const std::string group = args[0];
  args.remove_prefix(1);
  if (group == "crl") return CrlCommand(args);
  if (group == "bundle") return BundleCommand(args);

  using Handler = absl::Status (Runner::*)(absl::Span<const std::string>);
  struct Sub {
    const char* group;
    const char* name;
    Handler handler;
  };
  static constexpr Sub kSubs[] = {
      {"token", "create", &Runner::TokenCreateCommand},
      {"entry", "create", &Runner::EntryCreateCommand},
      {"entry", "list", &Runner::EntryListCommand},
      {"entry", "delete", &Runner::EntryDeleteCommand},
      {"cert", "list", &Runner::CertListCommand},
      {"cert", "show", &Runner::CertShowCommand},
      {"cert", "revoke", &Runner::CertRevokeCommand},
  };
  bool known_group = false;
  for (const Sub& sub : kSubs) known_group |= group == sub.group;
  if (!known_group) {
    *context_.err << Usage("");
    return UsageError(absl::StrCat("unknown command \"", group, "\""));
  }
  if (args.empty()) {
    *context_.err << Usage(group);
    return UsageError(absl::StrCat("rotorctl ", group, " needs a command"));
  }
  if (IsHelp(args[0])) {
    *context_.out << Usage(group);
    return absl::OkStatus();
  }
  const std::string name = args[0];
  args.remove_prefix(1);
  for (const Sub& sub : kSubs) {
    if (group == sub.group && name == sub.name) {
      return (this->*sub.handler)(args);
    }
  }
  *context_.err << Usage(group);
  return UsageError(absl::StrCat("unknown command \"", group, " ", name, "\""));
}

}  // namespace

int RunRotorctl(absl::Span<const std::string> args, const CliContext& context) {
  absl::Status status = Runner(context).Run(args);
  if (!status.ok()) {
    // Parser messages already name the command ("rotorctl cert list: ...").
    absl::string_view message = status.message();
    if (absl::StartsWith(message, "rotorctl ")) {
      *context.err << message << "\n";
    } else {
      *context.err << "rotorctl: " << message << "\n";
    }
  }
  return ExitCode(status);
}

}  // namespace rotor::ctl
