// rotor-ca: the CA daemon and its administrative subcommands.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ca/init.h"
#include "pki/random.h"
#include "util/clock.h"
#include "util/command_line.h"

namespace rotor::ca {
namespace {

constexpr char kUsage[] =
    "usage: rotor-ca <command> [flags]\n"
    "\n"
    "rotor-ca is rotor's certificate authority.\n"
    "\n"
    "commands:\n"
    "  init     create a new CA (keys, certificates, admin credentials, "
    "ca.yaml)\n"
    "\n"
    "Run 'rotor-ca <command> --help' for a command's flags.\n";

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "rotor-ca: %s\n", std::string(status.message()).c_str());
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

int RunInit(const std::vector<std::string>& args) {
  InitOptions options;
  std::string key_type = "ec-p256";
  FlagSet flags("rotor-ca init",
                "--data-dir DIR --trust-domain TD [--key-type TYPE] "
                "[--upstream-cert F --upstream-key F]",
                "Creates a new CA in DIR (which must be empty or missing) and "
                "prints the root's\nSHA-256 fingerprint, which agents pin as "
                "their trust_anchor. Refuses to overwrite\nanything.");
  flags.AddString("data-dir", &options.data_dir,
                  "folder for keys, certificates, store and ca.yaml", "DIR");
  flags.AddString("trust-domain", &options.trust_domain,
                  "SPIFFE trust domain, e.g. example.org", "TD");
  flags.AddString("key-type", &key_type,
                  "CA key type: ec-p256, ec-p384, ed25519 or rsa-3072", "TYPE");
  flags.AddString("upstream-cert", &options.upstream_cert,
                  "chain the intermediate under this existing CA certificate "
                  "(PEM) instead of creating a root",
                  "FILE");
  flags.AddString("upstream-key", &options.upstream_key,
                  "the upstream CA's private key (PEM); used once, never "
                  "copied",
                  "FILE");
  flags.AddDuration("root-validity", &options.root_validity,
                    "lifetime of the self-signed root");
  flags.AddDuration("intermediate-validity", &options.intermediate_validity,
                    "lifetime of the signing intermediate");
  flags.AddDuration("admin-validity", &options.admin_validity,
                    "lifetime of the admin credentials for rotorctl");
  flags.Require("data-dir");
  flags.Require("trust-domain");
  absl::StatusOr<std::vector<std::string>> rest = flags.Parse(args);
  if (!rest.ok()) return Fail(rest.status());
  if (flags.help_requested()) {
    std::fputs(flags.Help().c_str(), stdout);
    return 0;
  }
  if (!rest->empty()) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "init takes no positional arguments (got \"", rest->front(), "\")")));
  }
  absl::StatusOr<pki::KeyType> type = pki::ParseKeyType(key_type);
  if (!type.ok()) return Fail(type.status());
  options.key_type = *type;

  absl::StatusOr<InitResult> result =
      InitCa(options, RealClock()->Now(), *pki::SystemRandom());
  if (!result.ok()) return Fail(result.status());
  std::fprintf(stderr,
               "rotor-ca: created CA for trust domain %s in %s\n"
               "rotor-ca: admin credentials for rotorctl: %s/admin (%s)\n"
               "rotor-ca: pin this root fingerprint in each agent's "
               "trust_anchor:\n",
               options.trust_domain.c_str(), options.data_dir.c_str(),
               options.data_dir.c_str(), result->admin_spiffe_id.c_str());
  std::printf("%s\n", result->root_fingerprint.c_str());
  return 0;
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" ||
      args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  const std::string command = args[0];
  args.erase(args.begin());
  if (command == "init") return RunInit(args);
  std::fprintf(stderr, "rotor-ca: unknown command \"%s\"\n\n%s",
               command.c_str(), kUsage);
  return 2;
}

}  // namespace
}  // namespace rotor::ca

int main(int argc, char** argv) { return rotor::ca::Main(argc, argv); }
