#include "tests/testing/process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "util/file.h"

extern char** environ;

namespace rotor::testing {

std::string BinaryPath(absl::string_view name) {
  return absl::StrCat(ROTOR_BIN_DIR, "/", name);
}

Process::~Process() { Kill(); }

bool Process::Start(const std::vector<std::string>& argv,
                    const std::string& stdout_path,
                    const std::string& stderr_path,
                    const std::vector<std::string>& extra_env) {
  if (pid_ > 0) {
    ADD_FAILURE() << "process already running: " << pid_;
    return false;
  }
  std::vector<char*> c_argv;
  for (const std::string& a : argv) c_argv.push_back(const_cast<char*>(a.c_str()));
  c_argv.push_back(nullptr);

  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e) {
    const char* eq = std::strchr(*e, '=');
    const size_t name_length = eq == nullptr ? std::strlen(*e) : eq - *e + 1;
    bool overridden = false;
    for (const std::string& extra : extra_env) {
      if (extra.compare(0, name_length, *e, name_length) == 0) overridden = true;
    }
    if (!overridden) envp.push_back(*e);
  }
  for (const std::string& e : extra_env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, stdout_path.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_path.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  const int rc = posix_spawn(&pid_, c_argv[0], &actions, nullptr,
                             c_argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    pid_ = -1;
    ADD_FAILURE() << "cannot start " << argv[0] << ": " << std::strerror(rc);
    return false;
  }
  return true;
}

void Process::Signal(int signal_number) {
  if (pid_ > 0) ::kill(pid_, signal_number);
}

int Process::Wait(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (pid_ > 0) {
    int status = 0;
    const pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (absl::Now() > deadline) return -1;
    // There is no descriptor to block on for a child's exit; poll waitpid.
    absl::SleepFor(absl::Milliseconds(10));
  }
  return -1;
}

void Process::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

std::string ReadFileOrEmpty(const std::string& path) {
  absl::StatusOr<std::string> data = ReadFile(path);
  return data.ok() ? *data : "";
}

size_t CountInFile(const std::string& path, absl::string_view needle) {
  if (needle.empty()) return 0;
  const std::string text = ReadFileOrEmpty(path);
  size_t count = 0;
  for (size_t pos = text.find(needle.data(), 0, needle.size());
       pos != std::string::npos;
       pos = text.find(needle.data(), pos + needle.size(), needle.size())) {
    ++count;
  }
  return count;
}

}  // namespace rotor::testing
