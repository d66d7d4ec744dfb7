#include "agent/hooks.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "util/file.h"
#include "util/status_macros.h"

extern char** environ;

namespace rotor::agent {
namespace {

struct SignalName {
  const char* name;
  int number;
};
constexpr SignalName kSignals[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT},
    {"TERM", SIGTERM}, {"KILL", SIGKILL}, {"USR1", SIGUSR1},
    {"USR2", SIGUSR2}, {"WINCH", SIGWINCH}, {"CONT", SIGCONT},
    {"STOP", SIGSTOP}, {"ALRM", SIGALRM},
};

// Reaps `pid`, retrying on EINTR. Returns the wait status.
int Reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

}  // namespace

absl::StatusOr<int> ParseSignalName(absl::string_view name) {
  std::string upper = absl::AsciiStrToUpper(name);
  absl::string_view bare = upper;
  absl::ConsumePrefix(&bare, "SIG");
  std::vector<std::string> known;
  for (const SignalName& s : kSignals) {
    if (bare == s.name) return s.number;
    known.push_back(s.name);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown signal \"", name, "\"; use one of ",
                   absl::StrJoin(known, ", ")));
}

absl::StatusOr<ExecResult> RunProgram(const std::vector<std::string>& argv,
                                      const std::vector<std::string>& env,
                                      absl::Duration timeout) {
  // Everything the child needs is prepared before posix_spawn.
  std::vector<char*> c_argv;
  for (const std::string& arg : argv) c_argv.push_back(const_cast<char*>(arg.c_str()));
  c_argv.push_back(nullptr);
  std::vector<std::string> env_storage;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    env_storage.emplace_back(*e);
  }
  for (const std::string& e : env) env_storage.push_back(e);
  std::vector<char*> c_env;
  for (std::string& e : env_storage) c_env.push_back(e.data());
  c_env.push_back(nullptr);

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return PosixError(errno, "cannot create a pipe for the hook's output");
  }
  absl::Cleanup close_read = [&] { ::close(pipe_fds[0]); };
  int write_fd = pipe_fds[1];
  absl::Cleanup close_write = [&] {
    if (write_fd >= 0) ::close(write_fd);
  };

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  absl::Cleanup destroy_actions = [&] {
    posix_spawn_file_actions_destroy(&actions);
  };
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null",
                                   O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, write_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, write_fd, STDERR_FILENO);

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  absl::Cleanup destroy_attr = [&] { posix_spawnattr_destroy(&attr); };
  sigset_t empty_mask;
  sigemptyset(&empty_mask);
  sigset_t default_signals;
  sigfillset(&default_signals);
  sigdelset(&default_signals, SIGKILL);
  sigdelset(&default_signals, SIGSTOP);
  posix_spawnattr_setsigmask(&attr, &empty_mask);
  posix_spawnattr_setsigdefault(&attr, &default_signals);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETPGROUP);

  pid_t pid = 0;
  int err = ::posix_spawnp(&pid, c_argv[0], &actions, &attr, c_argv.data(),
                           c_env.data());
  if (err != 0) return PosixError(err, absl::StrCat("cannot run ", argv[0]));
  ::close(write_fd);
  write_fd = -1;

  ExecResult result;
  const absl::Time deadline = absl::Now() + timeout;
  char buf[4096];
  while (true) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      result.timed_out = true;
      break;
    }
    struct pollfd pfd = {pipe_fds[0], POLLIN, 0};
    int ready = ::poll(&pfd, 1,
                       static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      result.timed_out = true;  // cannot watch it any more: stop it
      break;
    }
    if (ready == 0) continue;
    ssize_t n = ::read(pipe_fds[0], buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (n == 0) break;  // every writer closed: the program (group) is done
    size_t room = kMaxHookOutput - std::min(kMaxHookOutput, result.output.size());
    result.output.append(buf, std::min(room, static_cast<size_t>(n)));
  }
  if (result.timed_out) {
    // The whole process group, so children the hook started go too.
    ::kill(-pid, SIGKILL);
    Reap(pid);
    return result;
  }
  // Output closed; the program may still be running (it closed its stdout).
  // Wait for it within what is left of the timeout.
  while (true) {
    int status = 0;
    pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) {
      result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      return result;
    }
    if (done < 0 && errno != EINTR) return result;
    if (absl::Now() >= deadline) {
      ::kill(-pid, SIGKILL);
      Reap(pid);
      result.timed_out = true;
      return result;
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
}

absl::Status SendSignalFromPidFile(const std::string& pid_file,
                                   int signal_number) {
  ROTOR_ASSIGN_OR_RETURN(std::string text, ReadFile(pid_file, 4096));
  int64_t pid = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &pid) || pid <= 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(pid_file, " does not hold a process id"));
  }
  if (::kill(static_cast<pid_t>(pid), signal_number) != 0) {
    return PosixError(errno, absl::StrCat("cannot send signal ", signal_number,
                                          " to pid ", pid, " from ", pid_file));
  }
  return absl::OkStatus();
}

HookContext CoalesceHookContexts(const HookContext& pending, HookContext next) {
  const auto is_rewrite = [](absl::string_view reason) {
    return reason == "bundle" || reason == "crl" || reason == "config";
  };
  if (is_rewrite(next.reason) && !is_rewrite(pending.reason)) {
    next.reason = pending.reason;
  }
  return next;
}

absl::Status RunHook(const HookConfig& hook, const HookContext& context,
                     std::string* output) {
  if (!hook.signal_name.empty()) {
    absl::Status sent =
        SendSignalFromPidFile(hook.pid_file, hook.signal_number);
    if (!sent.ok()) {
      return absl::Status(sent.code(),
                          absl::StrCat("on_rotate signal ", hook.signal_name,
                                       ": ", sent.message()));
    }
    return absl::OkStatus();
  }
  if (hook.exec.empty()) return absl::OkStatus();
  std::vector<std::string> env = {
      absl::StrCat("ROTOR_CERT_NAME=", context.name),
      absl::StrCat("ROTOR_CERT_DIR=", context.dir),
      absl::StrCat("ROTOR_SERIAL=", context.serial),
      absl::StrCat("ROTOR_REASON=", context.reason),
  };
  absl::StatusOr<ExecResult> result = RunProgram(hook.exec, env, hook.timeout);
  if (!result.ok()) {
    return absl::Status(result.status().code(),
                        absl::StrCat("on_rotate exec: ", result.status().message()));
  }
  if (output != nullptr) *output = result->output;
  std::string tail(absl::StripAsciiWhitespace(result->output).substr(0, 512));
  if (result->timed_out) {
    return absl::DeadlineExceededError(absl::StrCat(
        "on_rotate exec ", hook.exec[0], " did not finish within ",
        absl::FormatDuration(hook.timeout), " and was killed",
        tail.empty() ? "" : ": ", tail));
  }
  if (result->exit_code != 0) {
    return absl::AbortedError(absl::StrCat(
        "on_rotate exec ", hook.exec[0],
        result->exit_code < 0 ? " was killed by a signal"
                              : absl::StrCat(" exited with code ",
                                             result->exit_code),
        tail.empty() ? "" : ": ", tail));
  }
  return absl::OkStatus();
}

}  // namespace rotor::agent
