#include "agent/hooks.h"

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "util/file.h"

namespace rotor::agent {
namespace {

using ::rotor::testing::StatusIs;
using ::rotor::testing::TempDir;
using ::testing::HasSubstr;

HookContext Context() {
  return HookContext{.name = "web", .dir = "/run/web", .serial = "1a2b",
                     .reason = "renewed"};
}

TEST(ParseSignalNameTest, AcceptsNamesWithOrWithoutSig) {
  EXPECT_EQ(*ParseSignalName("HUP"), SIGHUP);
  EXPECT_EQ(*ParseSignalName("sighup"), SIGHUP);
  EXPECT_EQ(*ParseSignalName("USR1"), SIGUSR1);
  EXPECT_THAT(ParseSignalName("FOO"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unknown signal \"FOO\"; use one of HUP")));
}

HookContext Context(absl::string_view serial, absl::string_view reason) {
  return HookContext{.name = "web",
                     .dir = "/run/web",
                     .serial = std::string(serial),
                     .reason = std::string(reason)};
}

TEST(CoalesceHookContextsTest, ARewriteKeepsTheReasonOfTheNewCertificate) {
  for (const char* rotation : {"issued", "renewed", "revoked"}) {
    for (const char* rewrite : {"bundle", "crl", "config"}) {
      SCOPED_TRACE(absl::StrCat(rotation, " then ", rewrite));
      const HookContext run =
          CoalesceHookContexts(Context("1a", rotation), Context("1a", rewrite));
      EXPECT_EQ(run.serial, "1a");
      EXPECT_EQ(run.reason, rotation);
    }
  }
}

TEST(CoalesceHookContextsTest, OtherwiseTheNewestChangeIsReported) {
  // A newer certificate: its own reason.
  HookContext run =
      CoalesceHookContexts(Context("1a", "revoked"), Context("2b", "renewed"));
  EXPECT_EQ(run.serial, "2b");
  EXPECT_EQ(run.reason, "renewed");
  // A rewrite, then a new certificate.
  run = CoalesceHookContexts(Context("1a", "crl"), Context("2b", "revoked"));
  EXPECT_EQ(run.serial, "2b");
  EXPECT_EQ(run.reason, "revoked");
  // Two rewrites: the later.
  run = CoalesceHookContexts(Context("1a", "crl"), Context("1a", "bundle"));
  EXPECT_EQ(run.reason, "bundle");
}

TEST(RunHookTest, ExecRunsWithoutAShellAndPassesTheRotation) {
  TempDir tmp;
  const std::string out = tmp.Path("out");
  HookConfig hook;
  // The argument with spaces and a '$' reaches the program untouched.
  hook.exec = {"/bin/sh", "-c",
               "printf '%s %s %s %s [%s]' \"$ROTOR_CERT_NAME\" "
               "\"$ROTOR_CERT_DIR\" \"$ROTOR_SERIAL\" \"$ROTOR_REASON\" "
               "\"$1\" > \"$2\"; echo hello",
               "hook", "a b $HOME", out};
  std::string output;
  ASSERT_OK(RunHook(hook, Context(), &output));
  EXPECT_EQ(output, "hello\n");
  ASSERT_OK_AND_ASSIGN(std::string written, ReadFile(out));
  EXPECT_EQ(written, "web /run/web 1a2b renewed [a b $HOME]");
}

TEST(RunHookTest, ExecFailureReportsExitCodeAndOutput) {
  HookConfig hook;
  hook.exec = {"/bin/sh", "-c", "echo cannot reload >&2; exit 3"};
  std::string output;
  EXPECT_THAT(RunHook(hook, Context(), &output),
              StatusIs(absl::StatusCode::kAborted,
                       HasSubstr("on_rotate exec /bin/sh exited with code 3: "
                                 "cannot reload")));
  EXPECT_EQ(output, "cannot reload\n");
}

TEST(RunHookTest, ExecOfAMissingProgramFails) {
  HookConfig hook;
  hook.exec = {"/nonexistent/reload"};
  EXPECT_THAT(RunHook(hook, Context()),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("on_rotate exec: cannot run "
                                 "/nonexistent/reload")));
}

TEST(RunHookTest, ExecTimeoutKillsTheProcessGroup) {
  TempDir tmp;
  const std::string pid_file = tmp.Path("child.pid");
  HookConfig hook;
  // The hook starts a child that would outlive it; both are killed.
  hook.exec = {"/bin/sh", "-c",
               absl::StrCat("sleep 30 & echo $! > ", pid_file, "; wait")};
  hook.timeout = absl::Milliseconds(300);
  const absl::Time start = absl::Now();
  EXPECT_THAT(RunHook(hook, Context()),
              StatusIs(absl::StatusCode::kDeadlineExceeded,
                       HasSubstr("did not finish within 300ms and was killed")));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  ASSERT_OK_AND_ASSIGN(std::string pid_text, ReadFile(pid_file));
  const pid_t child = std::stoi(pid_text);
  // The orphaned sleep was killed with the group (it may linger as a zombie
  // until init reaps it, so poll its state instead of kill(0)).
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    absl::StatusOr<std::string> stat =
        ReadFile(absl::StrCat("/proc/", child, "/stat"));
    gone = !stat.ok() || stat->find(") Z") != std::string::npos;
    if (!gone) absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_TRUE(gone);
}

TEST(RunHookTest, SignalGoesToThePidInThePidFile) {
  TempDir tmp;
  // A child that waits for SIGUSR1 and exits 0 when it arrives. The signal
  // is blocked before fork so the child inherits the block: it cannot be
  // lost to the default action before sigwait.
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  sigset_t old_mask;
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &usr1, &old_mask), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    int sig = 0;
    sigwait(&usr1, &sig);
    _exit(sig == SIGUSR1 ? 0 : 1);
  }
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  ASSERT_GT(pid, 0);
  ASSERT_OK(WriteFileAtomically(tmp.Path("app.pid"), absl::StrCat(pid, "\n"),
                                0644));
  HookConfig hook;
  hook.signal_name = "USR1";
  hook.signal_number = SIGUSR1;
  hook.pid_file = tmp.Path("app.pid");
  ASSERT_OK(RunHook(hook, Context()));
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(RunHookTest, SignalWithABadPidFileFails) {
  TempDir tmp;
  HookConfig hook;
  hook.signal_name = "HUP";
  hook.signal_number = SIGHUP;
  hook.pid_file = tmp.Path("missing.pid");
  EXPECT_THAT(RunHook(hook, Context()),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("on_rotate signal HUP: cannot open")));
  ASSERT_OK(WriteFileAtomically(tmp.Path("bad.pid"), "not a pid", 0644));
  hook.pid_file = tmp.Path("bad.pid");
  EXPECT_THAT(RunHook(hook, Context()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("does not hold a process id")));
}

TEST(RunHookTest, EmptyHookDoesNothing) {
  EXPECT_OK(RunHook(HookConfig{}, Context()));
}

}  // namespace
}  // namespace rotor::agent
