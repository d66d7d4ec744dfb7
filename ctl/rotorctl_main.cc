// rotorctl: the operator CLI for a rotor CA (docs/design.md, "Binaries and
// command lines"). Everything happens in ctl/cli.h; this file only wires the
// process to it.
#include <grpc/support/log.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "ctl/cli.h"
#include "ctl/client.h"
#include "util/clock.h"

namespace {

// gRPC core logs connection failures on stderr ("E1129 ... Handshake
// failed ..."); rotorctl already reports them in its one error line, so
// gRPC's own log stays quiet unless GRPC_VERBOSITY asks for it.
void QuietGrpcLog(gpr_log_func_args*) {}

}  // namespace

int main(int argc, char** argv) {
  if (std::getenv("GRPC_VERBOSITY") == nullptr) {
    gpr_set_log_function(&QuietGrpcLog);
  }
  const std::vector<std::string> args(argv + 1, argv + argc);
  rotor::ctl::CliContext context{
      .env = rotor::ctl::ProcessEnv(),
      .connect = &rotor::ctl::AdminClient::Connect,
      .clock = rotor::RealClock(),
      .out = &std::cout,
      .err = &std::cerr,
  };
  const int code = rotor::ctl::RunRotorctl(args, context);
  std::cout.flush();
  return code;
}
