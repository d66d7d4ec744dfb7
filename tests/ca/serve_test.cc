// `rotor-ca serve` as a real process: the binary from ROTOR_BIN_DIR, on port
// 0 in a TempDir after `rotor-ca init`. Checks the ready line, the HTTP
// endpoints with curl and openssl, SIGTERM, config errors at start, and
// backup/restore next to a running server.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "ca/data_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "util/file.h"

extern char** environ;

namespace rotor::ca {
namespace {

using ::rotor::testing::FileMode;
using ::rotor::testing::RunCommand;
using ::rotor::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

const std::string kRotorCa = std::string(ROTOR_BIN_DIR) + "/rotor-ca";

// A child process with its stdout on a pipe and its stderr in a file.
class Child {
 public:
  Child(const std::vector<std::string>& args, const std::string& stderr_file,
        const std::vector<std::string>& extra_env = {}) {
    int fds[2];
    EXPECT_EQ(pipe2(fds, O_CLOEXEC), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO,
                                     stderr_file.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
    for (const std::string& e : extra_env) {
      envp.push_back(const_cast<char*>(e.c_str()));
    }
    envp.push_back(nullptr);
    EXPECT_EQ(posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(),
                          envp.data()),
              0);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    stdout_fd_ = fds[0];
  }

  ~Child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (stdout_fd_ >= 0) close(stdout_fd_);
  }

  // The next line of stdout (without the newline); empty at EOF or when
  // `timeout` passes first.
  std::string ReadLine(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (true) {
      const size_t newline = buffer_.find('\n');
      if (newline != std::string::npos) {
        std::string line = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        return line;
      }
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return "";
      pollfd p{stdout_fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1) <=
          0) {
        return "";
      }
      char chunk[4096];
      const ssize_t n = read(stdout_fd_, chunk, sizeof(chunk));
      if (n <= 0) return "";
      buffer_.append(chunk, n);
    }
  }

  // Everything else the child writes to stdout until it closes it.
  std::string ReadRest(absl::Duration timeout) {
    std::string out = buffer_;
    buffer_.clear();
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      pollfd p{stdout_fd_, POLLIN, 0};
      const absl::Duration left = deadline - absl::Now();
      if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1) <=
          0) {
        break;
      }
      char chunk[4096];
      const ssize_t n = read(stdout_fd_, chunk, sizeof(chunk));
      if (n <= 0) break;
      out.append(chunk, n);
    }
    return out;
  }

  void Signal(int signal_number) { kill(pid_, signal_number); }

  // The exit status (as waitpid reports it), or -1 if it is still running
  // after `timeout`.
  int Wait(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (true) {
      int status = 0;
      const pid_t done = waitpid(pid_, &status, WNOHANG);
      if (done == pid_) {
        pid_ = -1;
        return status;
      }
      if (absl::Now() >= deadline) return -1;
      // Polling waitpid; there is no child-exit descriptor to block on.
      absl::SleepFor(absl::Milliseconds(10));
    }
  }

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string buffer_;
};

// Runs a command and returns its output; fails the test on a non-zero exit.
std::string Sh(const std::string& command) {
  std::string output;
  const int status = RunCommand(command, &output);
  EXPECT_EQ(status, 0) << command << "\n" << output;
  return output;
}

class ServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = DataDir{tmp_.Path("data")};
    Sh(absl::StrCat(kRotorCa, " init --data-dir ", data_.root,
                     " --trust-domain example.org 2>/dev/null"));
  }

  // Starts `rotor-ca serve` on port 0 and parses its ready line.
  void StartServe(std::vector<std::string> extra = {},
                  std::vector<std::string> env = {}) {
    std::vector<std::string> args = {kRotorCa, "serve", "--data-dir",
                                     data_.root, "--listen", "127.0.0.1:0",
                                     "--http-listen", "127.0.0.1:0"};
    args.insert(args.end(), extra.begin(), extra.end());
    child_ = std::make_unique<Child>(args, tmp_.Path("serve.log"), env);
    const std::string line = child_->ReadLine(absl::Seconds(60));
    std::smatch m;
    const std::regex ready(
        R"(rotor-ca: serving grpc=(127\.0\.0\.1:(\d+)) http=(127\.0\.0\.1:(\d+)))");
    ASSERT_TRUE(std::regex_match(line, m, ready))
        << "ready line: \"" << line << "\"\nlog:\n"
        << ReadFile(tmp_.Path("serve.log")).value_or("");
    grpc_ = m[1];
    http_ = m[3];
    EXPECT_NE(m[2], "0");
    EXPECT_NE(m[4], "0");
  }

  std::string Url(absl::string_view path) {
    return absl::StrCat("http://", http_, path);
  }

  TempDir tmp_;
  DataDir data_;
  std::unique_ptr<Child> child_;
  std::string grpc_;
  std::string http_;
};

TEST_F(ServeTest, PrintsTheReadyLineServesHttpAndExitsZeroOnSigterm) {
  StartServe();
  EXPECT_EQ(Sh(absl::StrCat("curl -sf ", Url("/healthz"))), "ok\n");

  // /bundle: the root, PEM.
  const std::string bundle = Sh(absl::StrCat("curl -sf ", Url("/bundle")));
  EXPECT_EQ(bundle, *ReadFile(data_.RootCert()));

  // /crl: DER with the right content type, readable by openssl.
  const std::string crl_file = tmp_.Path("crl.der");
  const std::string headers = Sh(absl::StrCat(
      "curl -sf -D - -o ", crl_file, " ", Url("/crl")));
  EXPECT_THAT(headers, HasSubstr("Content-Type: application/pkix-crl"));
  const std::string crl_text = Sh(
      absl::StrCat("openssl crl -inform DER -noout -text -in ", crl_file));
  EXPECT_THAT(crl_text, HasSubstr("rotor intermediate CA example.org"));
  EXPECT_THAT(crl_text, HasSubstr("X509v3 CRL Number"));
  // The CRL verifies against the intermediate.
  EXPECT_THAT(Sh(absl::StrCat("openssl crl -inform DER -noout -in ", crl_file,
                               " -CAfile ", data_.IntermediateCert(),
                               " 2>&1")),
              HasSubstr("verify OK"));
  // /crl/root: the root's CRL over the intermediate.
  const std::string root_crl = tmp_.Path("root-crl.der");
  Sh(absl::StrCat("curl -sf -o ", root_crl, " ", Url("/crl/root")));
  EXPECT_THAT(Sh(absl::StrCat("openssl crl -inform DER -noout -in ", root_crl,
                               " -CAfile ", data_.RootCert(), " 2>&1")),
              HasSubstr("verify OK"));

  // /metrics: Prometheus text.
  const std::string metrics = Sh(absl::StrCat("curl -sf ", Url("/metrics")));
  EXPECT_THAT(metrics, HasSubstr("# TYPE rotor_issued_total counter\n"));
  EXPECT_THAT(metrics, HasSubstr("rotor_issued_total{kind=\"server\"} 1\n"));
  EXPECT_THAT(metrics, HasSubstr("rotor_connected_agents 0\n"));
  EXPECT_THAT(metrics, HasSubstr("rotor_revoked_total 0\n"));
  EXPECT_THAT(metrics,
              HasSubstr("rotor_issue_latency_seconds_bucket{le=\"+Inf\"} 0\n"));
  EXPECT_THAT(metrics, HasSubstr("# TYPE rotor_store_commit_batch_size summary"));
  EXPECT_THAT(metrics, HasSubstr("# TYPE rotor_store_checkpoints gauge"));
  EXPECT_THAT(metrics, HasSubstr("rotor_store_checkpoint_failures 0\n"));
  EXPECT_THAT(metrics, HasSubstr("rotor_store_checkpoint_duration_seconds_count "));
  EXPECT_THAT(metrics, HasSubstr("rotor_store_checkpoint_duration_seconds_max "));
  EXPECT_THAT(metrics, ::testing::ContainsRegex(
                           "rotor_ca_expiry_timestamp_seconds [0-9]{10}\n"));

  // Unknown paths are 404.
  std::string output;
  EXPECT_NE(RunCommand(absl::StrCat("curl -sf ", Url("/nope")), &output), 0);

  child_->Signal(SIGTERM);
  const int status = child_->Wait(absl::Seconds(30));
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  // Exactly one line on stdout; logs went to stderr.
  EXPECT_EQ(child_->ReadRest(absl::Seconds(1)), "");
  const std::string log = *ReadFile(tmp_.Path("serve.log"));
  EXPECT_THAT(log, HasSubstr("INFO rotor-ca: serving grpc="));
  EXPECT_THAT(log, HasSubstr("shutting down signal=Terminated"));
}

TEST_F(ServeTest, TellsSystemdReadyAndStopping) {
  // The socket systemd would pass in NOTIFY_SOCKET.
  const std::string path = tmp_.Path("notify.sock");
  const int sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(sock, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(path.size(), sizeof(addr.sun_path));
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  ASSERT_EQ(bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  auto receive = [sock]() -> std::string {
    pollfd p{sock, POLLIN, 0};
    if (poll(&p, 1, 30000) <= 0) return "";
    char buf[512];
    const ssize_t n = recv(sock, buf, sizeof(buf), 0);
    return n > 0 ? std::string(buf, n) : "";
  };
  StartServe({}, {absl::StrCat("NOTIFY_SOCKET=", path)});
  EXPECT_EQ(receive(), "READY=1");
  child_->Signal(SIGTERM);
  EXPECT_EQ(receive(), "STOPPING=1");
  const int status = child_->Wait(absl::Seconds(30));
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  close(sock);
}

TEST_F(ServeTest, SigintAlsoDrainsAndExitsZero) {
  StartServe();
  child_->Signal(SIGINT);
  const int status = child_->Wait(absl::Seconds(30));
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST_F(ServeTest, AnswersOcspOverPostAndGet) {
  StartServe();
  const std::string server_cert = JoinPath(data_.root, "server/cert.pem");
  // POST, as openssl sends it: the CA's own server certificate is good.
  const std::string post = Sh(absl::StrCat(
      "openssl ocsp -issuer ", data_.IntermediateCert(), " -cert ",
      server_cert, " -url ", Url("/ocsp"), " -CAfile ", data_.RootCert(),
      " 2>&1"));
  EXPECT_THAT(post, HasSubstr("Response verify OK"));
  EXPECT_THAT(post, HasSubstr(absl::StrCat(server_cert, ": good")));
  // A serial this CA never issued is unknown.
  const std::string unknown = Sh(absl::StrCat(
      "openssl ocsp -issuer ", data_.IntermediateCert(),
      " -serial 0x1234567890 -url ", Url("/ocsp"), " -CAfile ",
      data_.RootCert(), " 2>&1"));
  EXPECT_THAT(unknown, HasSubstr("0x1234567890: unknown"));

  // GET /ocsp/<url-encoded base64 of the DER request> (RFC 6960 A.1).
  const std::string request = tmp_.Path("ocsp-request.der");
  Sh(absl::StrCat("openssl ocsp -issuer ", data_.IntermediateCert(),
                   " -cert ", server_cert, " -no_nonce -reqout ", request));
  std::string encoded;
  absl::Base64Escape(*ReadFile(request), &encoded);
  encoded = absl::StrReplaceAll(encoded, {{"+", "%2B"}, {"/", "%2F"},
                                          {"=", "%3D"}});
  const std::string response = tmp_.Path("ocsp-response.der");
  const std::string headers = Sh(absl::StrCat(
      "curl -sf -D - -o ", response, " ", Url(absl::StrCat("/ocsp/", encoded))));
  EXPECT_THAT(headers, HasSubstr("Content-Type: application/ocsp-response"));
  const std::string get = Sh(absl::StrCat(
      "openssl ocsp -respin ", response, " -issuer ", data_.IntermediateCert(),
      " -cert ", server_cert, " -CAfile ", data_.RootCert(), " 2>&1"));
  EXPECT_THAT(get, HasSubstr("Response verify OK"));
  EXPECT_THAT(get, HasSubstr(absl::StrCat(server_cert, ": good")));

  // Garbage gets a malformedRequest answer, not an HTTP error.
  const std::string bad = tmp_.Path("bad-response.der");
  Sh(absl::StrCat("curl -sf -o ", bad,
                   " -H 'Content-Type: application/ocsp-request' "
                   "--data-binary 'not ocsp' ",
                   Url("/ocsp")));
  std::string answer;
  // openssl exits 1 for any unsuccessful response status.
  RunCommand(absl::StrCat("openssl ocsp -respin ", bad,
                          " -resp_text -noverify 2>&1"),
             &answer);
  EXPECT_THAT(answer, HasSubstr("Responder Error: malformedrequest"));
}

TEST_F(ServeTest, BackupWhileServingAndRestoreIntoANewFolder) {
  StartServe();
  const std::string backup = tmp_.Path("store.backup");
  Sh(absl::StrCat(kRotorCa, " backup --data-dir ", data_.root, " --out ",
                   backup, " 2>&1"));
  EXPECT_EQ(FileMode(backup), 0600);
  // Backing up over an existing file is refused.
  std::string output;
  EXPECT_NE(RunCommand(absl::StrCat(kRotorCa, " backup --data-dir ",
                                    data_.root, " --out ", backup, " 2>&1"),
                       &output),
            0);
  EXPECT_THAT(output, HasSubstr(backup));

  const std::string other = tmp_.Path("restored");
  Sh(absl::StrCat(kRotorCa, " restore --in ", backup, " --data-dir ", other,
                   " 2>&1"));
  EXPECT_TRUE(PathExists(JoinPath(other, "store")));
  // A second restore refuses to replace the store without --force.
  EXPECT_NE(RunCommand(absl::StrCat(kRotorCa, " restore --in ", backup,
                                    " --data-dir ", other, " 2>&1"),
                       &output),
            0);
  Sh(absl::StrCat(kRotorCa, " restore --force --in ", backup, " --data-dir ",
                   other, " 2>&1"));

  // Even with --force, the store of a folder being served is not replaced.
  const std::string store_before =
      *ReadFile(JoinPath(data_.root, "store/data.mdb"));
  EXPECT_EQ(RunCommand(absl::StrCat(kRotorCa, " restore --force --in ", backup,
                                    " --data-dir ", data_.root, " 2>&1"),
                       &output),
            1);
  EXPECT_THAT(output,
              HasSubstr(absl::StrCat("another rotor-ca is using ", data_.root,
                                     " (it holds ", data_.root,
                                     "/server/lock); stop it before restoring "
                                     "its store")));
  EXPECT_EQ(*ReadFile(JoinPath(data_.root, "store/data.mdb")), store_before);
}

TEST_F(ServeTest, RefusesAnUnknownConfigKeyNamingKeyAndLine) {
  std::string config = *ReadFile(data_.ConfigFile());
  const int lines = static_cast<int>(
      std::vector<std::string>(absl::StrSplit(config, '\n')).size());
  config += "defualt_ttl: 2h\n";
  ASSERT_OK(WriteFileAtomically(data_.ConfigFile(), config, 0644));
  std::string output;
  const int status = RunCommand(
      absl::StrCat(kRotorCa, " serve --data-dir ", data_.root,
                   " --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 2>&1"),
      &output);
  EXPECT_NE(status, 0);
  EXPECT_THAT(output, HasSubstr("defualt_ttl"));
  EXPECT_THAT(output, HasSubstr(absl::StrCat("line ", lines)));
  EXPECT_THAT(output, ::testing::Not(HasSubstr("rotor-ca: serving")));
}

TEST_F(ServeTest, RefusesABadValueFromTheConfigFlag) {
  const std::string config = tmp_.Path("other.yaml");
  ASSERT_OK(WriteFileAtomically(
      config,
      absl::StrCat(*ReadFile(data_.ConfigFile()), "\n"),  // same, then break it
      0644));
  std::string text = *ReadFile(config);
  text = absl::StrReplaceAll(text, {{"min_ttl: 1m", "min_ttl: 2s"}});
  ASSERT_OK(WriteFileAtomically(config, text, 0644));
  std::string output;
  const int status = RunCommand(
      absl::StrCat(kRotorCa, " serve --data-dir ", data_.root, " --config ",
                   config, " --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 "
                   "2>&1"),
      &output);
  EXPECT_NE(status, 0);
  EXPECT_THAT(output, HasSubstr(absl::StrCat(
                          config, ": min_ttl (2s) is below the lowest allowed "
                                  "(5s)")));
}

TEST_F(ServeTest, RefusesAMalformedListenFlag) {
  std::string output;
  const int status = RunCommand(
      absl::StrCat(kRotorCa, " serve --data-dir ", data_.root,
                   " --listen nonsense --http-listen 127.0.0.1:0 2>&1"),
      &output);
  EXPECT_NE(status, 0);
  EXPECT_THAT(output, HasSubstr("nonsense"));
}

TEST_F(ServeTest, RefusesASecondServerOnTheSameDataFolder) {
  StartServe();
  const std::string key_before =
      *ReadFile(JoinPath(data_.root, "server/key.pem"));
  std::string output;
  const int status = RunCommand(
      absl::StrCat(kRotorCa, " serve --data-dir ", data_.root,
                   " --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 2>&1"),
      &output);
  EXPECT_NE(status, 0);
  EXPECT_THAT(output, HasSubstr(absl::StrCat(
                          "another rotor-ca is using ",
                          data_.root)));
  // The running server's key was not touched.
  EXPECT_EQ(*ReadFile(JoinPath(data_.root, "server/key.pem")), key_before);
}

TEST_F(ServeTest, RefusesAnHttpPortInUse) {
  StartServe();
  const std::string other = tmp_.Path("other");
  Sh(absl::StrCat(kRotorCa, " init --data-dir ", other,
                   " --trust-domain example.org 2>/dev/null"));
  std::string output;
  const int status = RunCommand(
      absl::StrCat(kRotorCa, " serve --data-dir ", other,
                   " --listen 127.0.0.1:0 --http-listen ", http_, " 2>&1"),
      &output);
  EXPECT_NE(status, 0);
  EXPECT_THAT(output, HasSubstr(absl::StrCat("cannot listen for HTTP on ",
                                             http_)));
  EXPECT_THAT(output, ::testing::Not(HasSubstr("rotor-ca: serving")));
}

TEST_F(ServeTest, RefusesAGrpcPortInUse) {
  StartServe();
  const std::string other = tmp_.Path("other");
  Sh(absl::StrCat(kRotorCa, " init --data-dir ", other,
                  " --trust-domain example.org 2>/dev/null"));
  std::string output;
  const int status = RunCommand(
      absl::StrCat(kRotorCa, " serve --data-dir ", other, " --listen ", grpc_,
                   " --http-listen 127.0.0.1:0 2>&1"),
      &output);
  EXPECT_NE(status, 0);
  EXPECT_THAT(output, HasSubstr(absl::StrCat("cannot listen for gRPC on ",
                                             grpc_)));
  EXPECT_THAT(output, ::testing::Not(HasSubstr("rotor-ca: serving")));
}

TEST_F(ServeTest, RefusesAFolderWithoutACa) {
  std::string output;
  const int status = RunCommand(
      absl::StrCat(kRotorCa, " serve --data-dir ", tmp_.Path("empty"),
                   " --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 2>&1"),
      &output);
  EXPECT_NE(status, 0);
  EXPECT_THAT(output, HasSubstr("run rotor-ca init first"));
}

TEST_F(ServeTest, HelpListsTheFlags) {
  const std::string help = Sh(absl::StrCat(kRotorCa, " serve --help"));
  EXPECT_THAT(help, HasSubstr("--data-dir"));
  EXPECT_THAT(help, HasSubstr("--config"));
  EXPECT_THAT(help, HasSubstr("--listen"));
  EXPECT_THAT(help, HasSubstr("--http-listen"));
  EXPECT_THAT(Sh(absl::StrCat(kRotorCa, " backup --help")),
              HasSubstr("--out"));
  EXPECT_THAT(Sh(absl::StrCat(kRotorCa, " restore --help")),
              HasSubstr("--in"));
  EXPECT_THAT(Sh(absl::StrCat(kRotorCa, " --help")), HasSubstr("serve"));
}

}  // namespace
}  // namespace rotor::ca
