// rotorctl: the operator CLI for a rotor CA (docs/design.md, "Binaries and
// command lines"). Everything happens in ctl/cli.h; this file only wires the
// process to it.
#include <iostream>
#include <string>
#include <vector>

#include "ctl/cli.h"
#include "ctl/client.h"
#include "util/clock.h"

int main(int argc, char** argv) {
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
