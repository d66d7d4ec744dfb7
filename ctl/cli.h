// rotorctl's command line: finds the command (`cert revoke`), parses its
// flags (util/command_line.h; every command and group has --help), resolves
// --ca / --credentials with ROTOR_CA / ROTOR_CREDENTIALS as fallback,
// connects, runs the command (ctl/commands.h) and reports errors.
//
// Everything the process touches is a parameter (environment, connection,
// clock, streams), so tests run the whole CLI in-process.
//
// Thread-safety: thread-compatible; RunRotorctl is meant for main().
#ifndef ROTOR_CTL_CLI_H_
#define ROTOR_CTL_CLI_H_

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "ctl/client.h"
#include "util/clock.h"

namespace rotor::ctl {

// Opens the connection a command uses; AdminClient::Connect in the binary.
using Connector = std::function<absl::StatusOr<std::unique_ptr<AdminClient>>(
    const ConnectionOptions& options)>;

struct CliContext {
  EnvLookup env;
  Connector connect;
  const Clock* clock = nullptr;
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
};

// Runs rotorctl with `args` (argv without the program name) and returns the
// exit code: 0 on success (also for --help, printed to out), 2 for a usage
// error (unknown command or flag, missing --ca, bad serial; the usage or a
// pointer to --help goes to err), 1 when the call fails. Every error is one
// line on err: "rotorctl: <message>", the server's message unchanged.
int RunRotorctl(absl::Span<const std::string> args, const CliContext& context);

}  // namespace rotor::ctl

#endif  // ROTOR_CTL_CLI_H_
