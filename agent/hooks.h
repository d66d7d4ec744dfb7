// on_rotate hooks: what the agent runs after a certificate's files changed so
// the workload reloads them. Either a program (argv, no shell) run with a
// timeout and its output captured, or a signal sent to the pid read from a
// pid file. A hook failure is reported to the caller, which logs and counts
// it; it never stops rotation.
//
// Thread-safety: every function may be called from any thread. Exec hooks
// use posix_spawn, so they are safe in a multi-threaded process.
#ifndef ROTOR_AGENT_HOOKS_H_
#define ROTOR_AGENT_HOOKS_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent/config.h"

namespace rotor::agent {

// "HUP", "SIGHUP", "hup" -> SIGHUP. Accepts HUP, INT, QUIT, TERM, KILL, USR1,
// USR2, WINCH, CONT, STOP, ALRM. InvalidArgument naming the accepted names.
absl::StatusOr<int> ParseSignalName(absl::string_view name);

// The upper bound on the hook output kept (and logged); more is discarded.
inline constexpr size_t kMaxHookOutput = 16 * 1024;

struct ExecResult {
  // Exit code, or -1 when the program was killed by a signal or timed out.
  int exit_code = -1;
  bool timed_out = false;
  // stdout and stderr interleaved, truncated to kMaxHookOutput.
  std::string output;
};

// Runs argv[0] (searched in PATH) with `argv` and `env` added to the agent's
// environment ("KEY=value"), stdin from /dev/null, in its own process group,
// with default signal dispositions and an empty signal mask. Waits up to
// `timeout`; then kills the process group with SIGKILL and reports
// timed_out. Returns the result whatever the exit code; fails only if the
// program cannot be started (NotFound/PermissionDenied naming argv[0]).
// REQUIRES: !argv.empty().
absl::StatusOr<ExecResult> RunProgram(const std::vector<std::string>& argv,
                                      const std::vector<std::string>& env,
                                      absl::Duration timeout);

// Reads a pid (decimal, surrounding white space allowed) from `pid_file` and
// sends it `signal_number`. NotFound/InvalidArgument naming the file if it is
// missing or holds no pid > 1; NotFound if no such process.
absl::Status SendSignalFromPidFile(const std::string& pid_file,
                                   int signal_number);

// Facts about the rotation handed to an exec hook in its environment as
// ROTOR_CERT_NAME, ROTOR_CERT_DIR, ROTOR_SERIAL and ROTOR_REASON.
struct HookContext {
  std::string name;
  std::string dir;
  std::string serial;
  // A new certificate: "issued", "renewed", "revoked"; the same one
  // rewritten: "bundle", "crl", "config".
  std::string reason;
};

// One hook run may cover several changes of a set: a run that has not
// started yet is replaced by the newest change's. The context that run
// reports is `next`, except that a rewrite of the same files ("bundle",
// "crl", "config") keeps the reason of a new certificate not reported yet
// ("issued", "renewed", "revoked"): a workload is never told only "crl"
// about a certificate it has not been told of.
HookContext CoalesceHookContexts(const HookContext& pending, HookContext next);

// Runs `hook` (nothing if empty). OK if the program exited 0 or the signal
// was sent; otherwise an error whose message says what happened, including
// the exit code, a timeout, and the start of the output:
// "on_rotate exec /usr/sbin/nginx exited with code 1: <output>".
// `*output` (if not null) receives the program's output.
absl::Status RunHook(const HookConfig& hook, const HookContext& context,
                     std::string* output = nullptr);

}  // namespace rotor::agent

#endif  // ROTOR_AGENT_HOOKS_H_
