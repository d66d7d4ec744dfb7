// A real `rotor-ca` for integration tests: init a CA in a temp folder, edit
// its ca.yaml, serve it on port 0 and drive it with `rotorctl`.
#ifndef ROTOR_TESTS_TESTING_CA_PROCESS_H_
#define ROTOR_TESTS_TESTING_CA_PROCESS_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "tests/testing/process.h"

namespace rotor::testing {

// Files, all under the folder given to the constructor:
//   ca/            the data folder (`rotor-ca init --data-dir`)
//   ca.out, ca.log the server's stdout and stderr, appended across restarts
// Each method that can fail records a gtest failure with the server's log
// and returns false. Not thread-safe.
class CaProcess {
 public:
  explicit CaProcess(std::string folder);
  ~CaProcess();
  CaProcess(const CaProcess&) = delete;
  CaProcess& operator=(const CaProcess&) = delete;

  // `rotor-ca init` for `trust_domain` plus `extra_args`; keeps the printed
  // fingerprint.
  bool Init(absl::string_view trust_domain = "example.org",
            const std::vector<std::string>& extra_args = {});

  // Sets a key of ca.yaml: the first line whose key (after indentation) is
  // `key` gets `value`, keeping its indentation. For nested keys such as
  // rate_limit's, name the inner key. Call before Start (or restart).
  bool SetConfig(absl::string_view key, absl::string_view value);

  // `rotor-ca serve` on 127.0.0.1 port 0 (gRPC and HTTP) plus `extra_args`
  // (e.g. {"--listen", "10.0.0.1:0"} replaces the default); waits up to
  // `timeout` for the ready line and records the addresses it names.
  bool Start(const std::vector<std::string>& extra_args = {},
             absl::Duration timeout = absl::Seconds(60));

  // SIGTERM and wait: the exit code, or -1 if it did not exit in `timeout`.
  int Stop(absl::Duration timeout = absl::Seconds(30));
  // SIGKILL, as a crash.
  void Kill();

  // Runs `rotorctl ARGS --ca ADDRESS --credentials ca/admin`; returns the
  // exit code and, in *output (if not null), stdout and stderr together.
  int Ctl(const std::string& args, std::string* output = nullptr);
  // Ctl that must succeed (a gtest failure otherwise); returns its output.
  std::string MustCtl(const std::string& args);
  // `rotorctl token create --node NODE --ttl TTL` → the token.
  std::string CreateToken(absl::string_view node, absl::string_view ttl = "1h");

  const std::string& data_dir() const { return data_dir_; }
  std::string admin_dir() const { return data_dir_ + "/admin"; }
  std::string config_path() const { return data_dir_ + "/ca.yaml"; }
  const std::string& log_path() const { return log_path_; }
  const std::string& fingerprint() const { return fingerprint_; }
  // "127.0.0.1:PORT" as the ready line printed them; empty before Start.
  const std::string& grpc_address() const { return grpc_address_; }
  const std::string& http_address() const { return http_address_; }
  Process& process() { return process_; }

 private:
  std::string folder_;
  std::string data_dir_;
  std::string out_path_;
  std::string log_path_;
  std::string fingerprint_;
  std::string grpc_address_;
  std::string http_address_;
  size_t ready_lines_seen_ = 0;
  Process process_;
};

}  // namespace rotor::testing

#endif  // ROTOR_TESTS_TESTING_CA_PROCESS_H_
