// rotor-bench: measures a rotor CA. See docs/performance.md for what each
// mode measures, the figures on the development machine and how to
// reproduce them (bench/compare.sh runs the side-by-side comparison).
#include <grpc/support/log.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "bench/rotor_bench/modes.h"
#include "util/log.h"

namespace {

constexpr char kUsage[] =
    "usage: rotor-bench <mode> [flags]\n"
    "\n"
    "Measures a rotor CA and prints one report (one JSON line with --json).\n"
    "\n"
    "modes:\n"
    "  issue   end-to-end SignWorkload over mTLS against a running CA\n"
    "  crypto  in process, one core: CSR verify + sign (the crypto limit) and\n"
    "          rotor's whole issuance path without RPC or store\n"
    "  watch   many WatchUpdates streams as distinct nodes; revoke ->\n"
    "          notification latency and the CA's memory\n"
    "  store   a store of many certificates: fill, list, CRL, CA start-up\n"
    "\n"
    "Run 'rotor-bench <mode> --help' for a mode's flags.\n";

void QuietGrpcLog(gpr_log_func_args*) {}

}  // namespace

int main(int argc, char** argv) {
  // gRPC core logs every failed connection attempt; the bench counts them.
  if (std::getenv("GRPC_VERBOSITY") == nullptr) {
    gpr_set_log_function(&QuietGrpcLog);
  }
  // As in rotor-ca: absl::Mutex's deadlock detection (on in Debian's
  // Abseil) costs a graph lookup per lock, which with 10,000 streams in
  // `watch` would load the machine the CA is measured on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  rotor::SetLogProgram("rotor-bench");
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string mode = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  if (mode == "--help" || mode == "-h" || mode == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (mode == "issue") return rotor::bench::RunIssue(args);
  if (mode == "crypto") return rotor::bench::RunCrypto(args);
  if (mode == "watch") return rotor::bench::RunWatch(args);
  if (mode == "store") return rotor::bench::RunStore(args);
  std::fprintf(stderr, "rotor-bench: unknown mode \"%s\"\n\n%s", mode.c_str(),
               kUsage);
  return 2;
}
