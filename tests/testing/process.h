// Child processes for integration tests: start a real binary with its
// output in files, wait for events under a deadline, stop it.
#ifndef ROTOR_TESTS_TESTING_PROCESS_H_
#define ROTOR_TESTS_TESTING_PROCESS_H_

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace rotor::testing {

// The path of one of the project's binaries in the build's bin folder.
std::string BinaryPath(absl::string_view name);

// A child process with stdin from /dev/null and stdout and stderr appended
// to files. The destructor kills (SIGKILL) and reaps a child still running.
// Not thread-safe.
class Process {
 public:
  Process() = default;
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  // Starts argv[0] (a path) with the test's environment plus `extra_env`
  // ("NAME=value" entries, which win over inherited ones). Returns false,
  // with a gtest failure, when it cannot be started.
  bool Start(const std::vector<std::string>& argv, const std::string& stdout_path,
             const std::string& stderr_path,
             const std::vector<std::string>& extra_env = {});

  void Signal(int signal_number);

  // Waits for the child to exit: its exit code, 128 + the signal that ended
  // it, or -1 if it is still running when `timeout` passes.
  int Wait(absl::Duration timeout);

  // SIGKILL and reap; nothing if not running.
  void Kill();

  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

// Polls `condition` every 10 ms until it holds (true) or `timeout` passes
// (false). For waiting on events in other processes, never on time itself.
bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout);

// The content of a file, or "" when it cannot be read.
std::string ReadFileOrEmpty(const std::string& path);

// How many times `needle` occurs in the file at `path`.
size_t CountInFile(const std::string& path, absl::string_view needle);

}  // namespace rotor::testing

#endif  // ROTOR_TESTS_TESTING_PROCESS_H_
