// rotor-ca: the CA daemon and its administrative subcommands.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "ca/admin_credentials.h"
#include "ca/data_dir.h"
#include "ca/init.h"
#include "ca/server.h"
#include "pki/random.h"
#include "store/backup.h"
#include "util/clock.h"
#include "util/command_line.h"
#include "util/log.h"

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
    "  serve    run the CA: gRPC API (TLS) and HTTP (bundle, CRL, OCSP, "
    "metrics)\n"
    "  backup   copy the certificate store to one file, also while serving\n"
    "  restore  put a backup in place as the store of a data folder\n"
    "  admin-credentials\n"
    "           issue rotorctl credentials for another operator (or after "
    "revoking\n"
    "           the old ones); run with the CA stopped\n"
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

// Parses `args` into `flags`; returns true when the command should go on,
// with *exit_code set otherwise (help printed, or an error).
bool ParseFlags(FlagSet& flags, const std::vector<std::string>& args,
                absl::string_view command, int* exit_code) {
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
    *exit_code = Fail(absl::InvalidArgumentError(
        absl::StrCat(command, " takes no positional arguments (got \"",
                     rest->front(), "\")")));
    return false;
  }
  return true;
}

int RunServe(const std::vector<std::string>& args) {
  ServeOptions options;
  FlagSet flags("rotor-ca serve",
                "--data-dir DIR [--config FILE] [--listen HOST:PORT] "
                "[--http-listen HOST:PORT]",
                "Runs the CA: the gRPC API over TLS (client certificates "
                "verified) and the HTTP\nendpoints /bundle, /crl, /ocsp, "
                "/metrics and /healthz. Port 0 picks a free port.\nWhen "
                "ready, prints \"rotor-ca: serving grpc=HOST:PORT "
                "http=HOST:PORT\" on stdout.\nSIGTERM or SIGINT drains "
                "calls in flight and exits 0. Logs go to stderr.");
  flags.AddString("data-dir", &options.data_dir,
                  "the folder rotor-ca init created", "DIR");
  flags.AddString("config", &options.config_file,
                  "configuration file (default DIR/ca.yaml)", "FILE");
  flags.AddString("listen", &options.listen,
                  "gRPC address, overriding ca.yaml's listen", "HOST:PORT");
  flags.AddString("http-listen", &options.http_listen,
                  "HTTP address, overriding ca.yaml's http_listen",
                  "HOST:PORT");
  flags.Require("data-dir");
  int exit_code = 0;
  if (!ParseFlags(flags, args, "serve", &exit_code)) return exit_code;
  absl::Status status = Serve(options);
  if (!status.ok()) return Fail(status);
  return 0;
}

int RunBackup(const std::vector<std::string>& args) {
  std::string data_dir;
  std::string out;
  FlagSet flags("rotor-ca backup", "--data-dir DIR --out FILE",
                "Copies the certificate store of DIR to FILE (created 0600; "
                "it must not exist):\na consistent snapshot, also while "
                "rotor-ca serve is running.");
  flags.AddString("data-dir", &data_dir, "the CA's data folder", "DIR");
  flags.AddString("out", &out, "the backup file to create", "FILE");
  flags.Require("data-dir");
  flags.Require("out");
  int exit_code = 0;
  if (!ParseFlags(flags, args, "backup", &exit_code)) return exit_code;
  absl::Status status = store::BackupStore(DataDir{data_dir}.StoreDir(), out);
  if (!status.ok()) return Fail(status);
  std::fprintf(stderr, "rotor-ca: backed up the store of %s to %s\n",
               data_dir.c_str(), out.c_str());
  return 0;
}

int RunRestore(const std::vector<std::string>& args) {
  std::string in;
  std::string data_dir;
  bool force = false;
  FlagSet flags("rotor-ca restore", "--in FILE --data-dir DIR [--force]",
                "Makes FILE (from rotor-ca backup) the certificate store of "
                "DIR. Refuses to\nreplace an existing store unless --force "
                "is given; stop rotor-ca serve first.");
  flags.AddString("in", &in, "the backup file", "FILE");
  flags.AddString("data-dir", &data_dir, "the CA's data folder", "DIR");
  flags.AddBool("force", &force, "replace an existing store");
  flags.Require("in");
  flags.Require("data-dir");
  int exit_code = 0;
  if (!ParseFlags(flags, args, "restore", &exit_code)) return exit_code;
  store::RestoreOptions options;
  options.overwrite = force;
  // Held while the store is replaced, so that no server runs on it.
  absl::StatusOr<DataDirLock> lock =
      DataDirLock::Acquire(DataDir{data_dir}, "restoring its store");
  if (!lock.ok()) return Fail(lock.status());
  absl::Status status =
      store::RestoreStore(in, DataDir{data_dir}.StoreDir(), options);
  if (!status.ok()) return Fail(status);
  std::fprintf(stderr, "rotor-ca: restored %s into the store of %s\n",
               in.c_str(), data_dir.c_str());
  return 0;
}

int RunAdminCredentials(const std::vector<std::string>& args) {
  AdminCredentialsOptions options;
  FlagSet flags(
      "rotor-ca admin-credentials", "--data-dir DIR --name NAME --out DIR",
      "Issues admin credentials for rotorctl (admin.crt, admin.key, "
      "bundle.crt in the\n--out folder) with identity "
      "spiffe://TD/rotor/admin/NAME, and records the\ncertificate in the "
      "store so that it can be revoked. Needs the CA's key, so it runs\n"
      "on the CA host, with rotor-ca serve stopped. Never overwrites a file.");
  flags.AddString("data-dir", &options.data_dir, "the CA's data folder", "DIR");
  flags.AddString("name", &options.name,
                  "who the credentials are for, e.g. alice", "NAME");
  flags.AddString("out", &options.out_dir,
                  "folder for the three files (created 0700 if missing)", "DIR");
  flags.AddDuration("validity", &options.validity,
                    "lifetime of the admin certificate");
  flags.Require("data-dir");
  flags.Require("name");
  flags.Require("out");
  int exit_code = 0;
  if (!ParseFlags(flags, args, "admin-credentials", &exit_code)) return exit_code;
  absl::StatusOr<AdminCredential> credential =
      IssueAdminCredentials(options, RealClock()->Now(), *pki::SystemRandom());
  if (!credential.ok()) return Fail(credential.status());
  std::fprintf(stderr, "rotor-ca: admin credentials for %s in %s\n",
               credential->spiffe_id.c_str(), options.out_dir.c_str());
  std::printf("%s\n", credential->certificate.SerialHex().c_str());
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
  SetLogProgram("rotor-ca");
  if (command == "init") return RunInit(args);
  if (command == "serve") return RunServe(args);
  if (command == "backup") return RunBackup(args);
  if (command == "restore") return RunRestore(args);
  if (command == "admin-credentials") return RunAdminCredentials(args);
  std::fprintf(stderr, "rotor-ca: unknown command \"%s\"\n\n%s",
               command.c_str(), kUsage);
  return 2;
}

}  // namespace
}  // namespace rotor::ca

int main(int argc, char** argv) {
  // absl::Mutex's lock-order (deadlock) detection is a debugging aid, on in
  // Debian's Abseil build. It keeps a graph of every mutex ever held while
  // taking another; with thousands of WatchUpdates streams, each with its
  // own mutexes, looking them up took a third of the CA's CPU. The tests,
  // which run the same code, keep it on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return rotor::ca::Main(argc, argv);
}
