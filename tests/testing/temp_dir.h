// A fresh temporary folder per test, removed (recursively) when destroyed.
#ifndef ROTOR_TESTS_TESTING_TEMP_DIR_H_
#define ROTOR_TESTS_TESTING_TEMP_DIR_H_

#include <string>
#include "absl/strings/string_view.h"

namespace rotor::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + name
  std::string Path(absl::string_view name) const;

 private:
  std::string path_;
};

// The permission bits (st_mode & 07777) of a path; -1 if it does not exist.
int FileMode(const std::string& path);

// Runs a shell command, returning its exit status and, in *output, its
// stdout and stderr together.
int RunCommand(const std::string& command, std::string* output);

}  // namespace rotor::testing

#endif  // ROTOR_TESTS_TESTING_TEMP_DIR_H_
