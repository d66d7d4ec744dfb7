// End to end with a real relying party. A CA issues 8 s certificates to two
// agents: a server node whose files nginx serves mTLS from (reloaded by the
// agent's on_rotate hook, SIGHUP), and a client node whose certificate curl
// presents. curl calls nginx every 100 ms until nginx has presented four
// server certificates and accepted four client certificates (three rotations
// of each): not one request may fail. Then the client certificate is
// revoked: the server's agent writes the new CRLs, the hook reloads nginx
// (`ssl_crl`, which checks every certificate of the chain, so crl.pem holds
// the root's CRL too), and nginx refuses the revoked certificate while the
// client's re-keyed one works.
//
// Skipped when nginx or curl is missing (scripts/deps.sh test installs
// nginx-light and curl). Every wait polls for an event under a deadline;
// the only timed sleep paces the requests.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/filesystem.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pki/certificate.h"
#include "pki/serial.h"
#include "tests/testing/ca_process.h"
#include "tests/testing/process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "util/file.h"
#include "util/status_macros.h"

namespace rotor::e2e {
namespace {

using ::rotor::testing::CaProcess;
using ::rotor::testing::CountInFile;
using ::rotor::testing::Process;
using ::rotor::testing::ReadFileOrEmpty;
using ::rotor::testing::RunCommand;
using ::rotor::testing::TempDir;
using ::rotor::testing::WaitFor;
using ::testing::HasSubstr;

constexpr absl::string_view kServerName = "web.internal";
constexpr absl::string_view kTtl = "8s";
constexpr int kRotations = 3;
constexpr absl::Duration kRequestInterval = absl::Milliseconds(100);

// The first executable `name` in PATH or the sbin folders (which a normal
// user's PATH lacks on Debian); "" if none.
std::string FindProgram(absl::string_view name) {
  const char* path = std::getenv("PATH");
  std::vector<std::string> dirs =
      absl::StrSplit(path == nullptr ? "" : path, ':', absl::SkipEmpty());
  dirs.insert(dirs.end(), {"/usr/sbin", "/usr/local/sbin", "/sbin"});
  for (const std::string& dir : dirs) {
    const std::string candidate = JoinPath(dir, name);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// A port on 127.0.0.1 that was free a moment ago (bound to port 0, then
// closed). Another process may take it before nginx does: callers retry.
int PickFreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  ::close(fd);
  return port;
}

// "Serial Number:04:A3:..." (curl's %{certs}) or "04A3..." (nginx's
// $ssl_client_serial) in canonical form; "" if it does not parse.
std::string Canonical(absl::string_view serial) {
  absl::StatusOr<std::string> canonical = pki::NormalizeSerial(serial);
  return canonical.ok() ? *canonical : "";
}

// One published set of an agent's files.
struct FileSet {
  std::string cert_pem;
  std::string key_pem;
  std::string bundle_pem;
  std::string serial;  // of the leaf
};

// Reads DIR's files the way a careful workload does: ..data resolved once,
// every file read from that one folder, and the whole read retried if the
// agent published a new set meanwhile (it removes the old folder after the
// swap, so a late read of it fails).
absl::StatusOr<FileSet> ReadFileSet(const std::string& dir) {
  agent::Filesystem& fs = *agent::RealFilesystem();
  for (int attempt = 0; attempt < 20; ++attempt) {
    ROTOR_ASSIGN_OR_RETURN(const std::string before,
                           fs.ReadLink(JoinPath(dir, "..data")));
    const std::string folder = JoinPath(dir, before);
    absl::StatusOr<std::string> cert = ReadFile(JoinPath(folder, "cert.pem"));
    absl::StatusOr<std::string> key = ReadFile(JoinPath(folder, "key.pem"));
    absl::StatusOr<std::string> bundle = ReadFile(JoinPath(folder, "bundle.pem"));
    ROTOR_ASSIGN_OR_RETURN(const std::string after,
                           fs.ReadLink(JoinPath(dir, "..data")));
    if (before != after) continue;
    ROTOR_RETURN_IF_ERROR(cert.status());
    ROTOR_RETURN_IF_ERROR(key.status());
    ROTOR_RETURN_IF_ERROR(bundle.status());
    ROTOR_ASSIGN_OR_RETURN(std::vector<pki::Certificate> chain,
                           pki::Certificate::ChainFromPem(*cert));
    return FileSet{*std::move(cert), *std::move(key), *std::move(bundle),
                   chain.front().SerialHex()};
  }
  return absl::UnavailableError(
      absl::StrCat(dir, " changed during every one of 20 reads"));
}

// What one curl call saw.
struct Response {
  int curl_exit = -1;
  int http_code = 0;
  std::string body;
  std::string server_serial;  // the leaf nginx presented, canonical
  std::string client_serial;  // the client certificate nginx verified
  std::string output;         // curl's own output, for failure messages
};

class NginxEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    nginx_ = FindProgram("nginx");
    curl_ = FindProgram("curl");
    if (nginx_.empty() || curl_.empty()) {
      GTEST_SKIP() << "needs nginx and curl (missing: "
                   << (nginx_.empty() ? "nginx " : "")
                   << (curl_.empty() ? "curl" : "")
                   << "); scripts/deps.sh test installs nginx-light and curl";
    }
    ASSERT_TRUE(ca_.Init("example.org"));
    ASSERT_TRUE(ca_.SetConfig("min_ttl", "5s"));
    ASSERT_TRUE(ca_.Start());
  }

  // nginx stops its workers only when asked (SIGKILL would orphan them);
  // on failure, the logs say what happened.
  void TearDown() override {
    if (nginx_process_.running()) {
      nginx_process_.Signal(SIGTERM);
      if (nginx_process_.Wait(absl::Seconds(10)) == -1) nginx_process_.Kill();
    }
    if (!HasFailure()) return;
    for (const std::string& log :
         {ca_.log_path(), AgentLog("server"), AgentLog("client"),
          tmp_.Path("nginx/error.log")}) {
      std::fprintf(stderr, "--- %s ---\n%s", log.c_str(),
                   ReadFileOrEmpty(log).c_str());
    }
  }

  std::string AgentLog(absl::string_view node) const {
    return tmp_.Path(absl::StrCat(node, "/agent.log"));
  }
  std::string ServerDir() const { return tmp_.Path("server/certs/web"); }
  std::string ClientDir() const { return tmp_.Path("client/certs/client"); }
  std::string NginxPidFile() const { return tmp_.Path("nginx/nginx.pid"); }

  // Joins node `node` (its own token and entry) and starts its agent,
  // managing one certificate `name` for `dns` in tmp/NODE/certs/NAME.
  void StartAgent(Process& agent, absl::string_view node, absl::string_view name,
                  absl::string_view dns, absl::string_view on_rotate) {
    const std::string spiffe_id = absl::StrCat("spiffe://example.org/", name);
    ca_.MustCtl(absl::StrCat("entry create --node ", node, " --spiffe-id ",
                             spiffe_id, " --dns ", dns));
    const std::string token = ca_.CreateToken(node);
    ASSERT_TRUE(absl::StartsWith(token, "rotor-") && !absl::StrContains(token, "\n"))
        << token;
    const std::string dir = tmp_.Path(node);
    ASSERT_OK(MakeDirectories(dir, 0700));
    ASSERT_OK(WriteFileAtomically(JoinPath(dir, "token"), token + "\n", 0600));
    ASSERT_OK(WriteFileAtomically(
        JoinPath(dir, "agent.yaml"),
        absl::StrCat("ca: ", ca_.grpc_address(), "\n",                     //
                     "trust_anchor: ", ca_.fingerprint(), "\n",           //
                     "join_token_file: ", dir, "/token\n",                //
                     "node_name: ", node, "\n",                           //
                     "state_dir: ", dir, "/state\n",                      //
                     "renew_at: 0.5\n",                                   //
                     "backoff_initial: 200ms\n",                          //
                     "backoff_max: 2s\n",                                 //
                     "certificates:\n",                                   //
                     "  - name: ", name, "\n",                            //
                     "    spiffe_id: ", spiffe_id, "\n",                  //
                     "    dns_names: [", dns, "]\n",                      //
                     "    ttl: ", kTtl, "\n",                             //
                     "    dir: ", dir, "/certs/", name, "\n", on_rotate),
        0644));
    ASSERT_TRUE(agent.Start({rotor::testing::BinaryPath("rotor-agent"), "run",
                             "--config", JoinPath(dir, "agent.yaml")},
                            JoinPath(dir, "agent.out"), AgentLog(node)));
  }

  std::string NginxConfig(int port) const {
    const std::string n = tmp_.Path("nginx");
    const std::string s = ServerDir();
    return absl::StrCat(
        "daemon off;\n"
        "master_process on;\n"
        "worker_processes 1;\n"
        "pid ", NginxPidFile(), ";\n",
        "error_log ", n, "/error.log info;\n",
        "events { worker_connections 64; }\n"
        "http {\n"
        "  access_log ", n, "/access.log;\n",
        "  client_body_temp_path ", n, "/tmp/body;\n",
        "  proxy_temp_path ", n, "/tmp/proxy;\n",
        "  fastcgi_temp_path ", n, "/tmp/fastcgi;\n",
        "  uwsgi_temp_path ", n, "/tmp/uwsgi;\n",
        "  scgi_temp_path ", n, "/tmp/scgi;\n",
        "  server {\n"
        "    listen 127.0.0.1:", port, " ssl;\n",
        "    server_name ", kServerName, ";\n",
        "    ssl_certificate ", s, "/cert.pem;\n",
        "    ssl_certificate_key ", s, "/key.pem;\n",
        "    ssl_client_certificate ", s, "/bundle.pem;\n",
        "    ssl_crl ", s, "/crl.pem;\n",
        "    ssl_verify_client on;\n"
        "    ssl_verify_depth 2;\n"
        "    location / {\n"
        "      default_type text/plain;\n"
        "      return 200 \"client_serial=$ssl_client_serial\\n\";\n"
        "    }\n"
        "  }\n"
        "}\n");
  }

  // Starts nginx on a free port (another one if the port was taken in the
  // meantime); true once it listens (its pid file is written after the
  // sockets are bound).
  bool StartNginx() {
    const std::string dir = tmp_.Path("nginx");
    const absl::Status made = MakeDirectories(JoinPath(dir, "tmp"), 0755);
    if (!made.ok()) {
      ADD_FAILURE() << made;
      return false;
    }
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = PickFreePort();
      const std::string config = JoinPath(dir, "nginx.conf");
      if (!WriteFileAtomically(config, NginxConfig(port_), 0644).ok()) return false;
      const size_t in_use =
          CountInFile(JoinPath(dir, "error.log"), "Address already in use");
      if (!nginx_process_.Start({nginx_, "-p", dir + "/", "-c", config, "-e",
                                 JoinPath(dir, "error.log")},
                                JoinPath(dir, "nginx.out"),
                                JoinPath(dir, "nginx.err"))) {
        return false;
      }
      bool exited = false;
      const bool settled = WaitFor(
          [&] {
            if (nginx_process_.Wait(absl::ZeroDuration()) != -1) {
              exited = true;
              return true;
            }
            return !ReadFileOrEmpty(NginxPidFile()).empty();
          },
          absl::Seconds(20));
      if (settled && !exited) return true;
      if (!exited) {
        ADD_FAILURE() << "nginx did not write its pid file in 20 s";
        return false;
      }
      if (CountInFile(JoinPath(dir, "error.log"), "Address already in use") ==
          in_use) {
        ADD_FAILURE() << "nginx exited:\n"
                      << ReadFileOrEmpty(JoinPath(dir, "nginx.err"))
                      << ReadFileOrEmpty(JoinPath(dir, "error.log"));
        return false;
      }
    }
    ADD_FAILURE() << "5 free ports were taken before nginx could bind them";
    return false;
  }

  // One request with the client pair in `set` (written to files named
  // `prefix`.crt/.key/.bundle), verifying the server as kServerName.
  Response Request(const FileSet& set, absl::string_view prefix) {
    Response response;
    const std::string cert = tmp_.Path(absl::StrCat(prefix, ".crt"));
    const std::string key = tmp_.Path(absl::StrCat(prefix, ".key"));
    const std::string bundle = tmp_.Path(absl::StrCat(prefix, ".bundle"));
    const std::string body = tmp_.Path(absl::StrCat(prefix, ".body"));
    for (const auto& [path, data, mode] :
         {std::tuple{cert, set.cert_pem, 0644}, std::tuple{key, set.key_pem, 0600},
          std::tuple{bundle, set.bundle_pem, 0644}}) {
      absl::Status written = WriteFileAtomically(path, data, mode);
      if (!written.ok()) {
        response.output = written.ToString();
        return response;
      }
    }
    std::remove(body.c_str());
    // -w prints the status code, then %{certs}: every certificate of the
    // server's chain in detail, the leaf first.
    response.curl_exit = RunCommand(
        absl::StrCat(curl_, " -sS --max-time 10 --cert ", cert, " --key ", key,
                     " --cacert ", bundle, " --resolve ", kServerName, ":",
                     port_, ":127.0.0.1 -o ", body,
                     " -w 'http_code=%{http_code}\\n%{certs}' https://",
                     kServerName, ":", port_, "/"),
        &response.output);
    response.body = ReadFileOrEmpty(body);
    for (absl::string_view line : absl::StrSplit(response.output, '\n')) {
      if (absl::ConsumePrefix(&line, "http_code=")) {
        (void)absl::SimpleAtoi(line, &response.http_code);
      } else if (response.server_serial.empty() &&
                 absl::ConsumePrefix(&line, "Serial Number:")) {
        response.server_serial = Canonical(line);
      }
    }
    absl::string_view client = response.body;
    if (absl::ConsumePrefix(&client, "client_serial=")) {
      response.client_serial = Canonical(absl::StripAsciiWhitespace(client));
    }
    return response;
  }

  TempDir tmp_;
  CaProcess ca_{tmp_.path()};
  std::string nginx_;
  std::string curl_;
  int port_ = -1;
  Process nginx_process_;
};

TEST_F(NginxEndToEndTest, ServesThroughRotationsWithoutAFailureAndRefusesARevokedClient) {
  Process server_agent;
  Process client_agent;
  StartAgent(server_agent, "server", "web", kServerName,
             absl::StrCat("    on_rotate:\n"
                          "      signal: {name: HUP, pid_file: ",
                          NginxPidFile(), "}\n"));
  StartAgent(client_agent, "client", "client", "client.internal", "");
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_TRUE(WaitFor([&] { return ReadFileSet(ServerDir()).ok(); },
                      absl::Seconds(30)))
      << ReadFileOrEmpty(AgentLog("server"));
  ASSERT_TRUE(WaitFor([&] { return ReadFileSet(ClientDir()).ok(); },
                      absl::Seconds(30)))
      << ReadFileOrEmpty(AgentLog("client"));
  // nginx checks the CRLs of the whole chain: the intermediate's and the
  // root's over the intermediate.
  EXPECT_EQ(CountInFile(JoinPath(ServerDir(), "crl.pem"), "-----BEGIN X509 CRL-----"),
            2u);
  ASSERT_TRUE(StartNginx());

  // Requests every 100 ms until nginx has presented kRotations + 1 server
  // certificates and accepted as many client certificates.
  std::set<std::string> server_serials;
  std::set<std::string> client_serials;
  int requests = 0;
  std::vector<std::string> failures;
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + absl::Seconds(60);
  FileSet last_client;
  while (server_serials.size() <= kRotations || client_serials.size() <= kRotations) {
    ASSERT_LT(absl::Now(), deadline)
        << "certificates nginx presented in 60 s: " << server_serials.size()
        << "; client certificates it accepted: " << client_serials.size();
    const absl::Time next = absl::Now() + kRequestInterval;
    ++requests;
    absl::StatusOr<FileSet> client = ReadFileSet(ClientDir());
    Response response;
    if (client.ok()) {
      last_client = *client;
      response = Request(*client, "client");
    }
    if (!client.ok()) {
      failures.push_back(absl::StrCat("reading the client's files: ",
                                      client.status().ToString()));
    } else if (response.curl_exit != 0 || response.http_code != 200 ||
               response.client_serial != client->serial ||
               response.server_serial.empty()) {
      failures.push_back(absl::StrCat(
          "request ", requests, " at +", absl::FormatDuration(absl::Now() - start),
          " (client ", client->serial, "): curl exit ", response.curl_exit,
          ", HTTP ", response.http_code, ", body \"", response.body,
          "\", output: ", response.output.substr(0, 400)));
    } else {
      server_serials.insert(response.server_serial);
      client_serials.insert(response.client_serial);
    }
    // Paces the requests (a rate, not a wait for an event).
    absl::SleepFor(next - absl::Now());
  }
  EXPECT_THAT(failures, ::testing::IsEmpty())
      << failures.size() << " of " << requests << " requests failed";
  RecordProperty("requests", requests);
  RecordProperty("failed_requests", static_cast<int>(failures.size()));
  RecordProperty("server_certificates_seen", static_cast<int>(server_serials.size()));
  RecordProperty("client_certificates_seen", static_cast<int>(client_serials.size()));
  // The agents' logs agree: each rotation was a new certificate on disk.
  EXPECT_GE(CountInFile(AgentLog("server"), "rotated name=web "),
            server_serials.size());
  EXPECT_GE(CountInFile(AgentLog("client"), "rotated name=client "),
            client_serials.size());

  // Revocation. Right after the client's next rotation (so the revoked
  // certificate has most of its 8 s left: nginx must refuse it as revoked,
  // not as expired), keep its pair aside and revoke it.
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::StatusOr<FileSet> now = ReadFileSet(ClientDir());
        return now.ok() && now->serial != last_client.serial;
      },
      absl::Seconds(20)));
  ASSERT_OK_AND_ASSIGN(const FileSet revoked, ReadFileSet(ClientDir()));
  // Where the server agent's log stood before the revocation.
  const size_t log_before = ReadFileOrEmpty(AgentLog("server")).size();
  ca_.MustCtl(absl::StrCat("cert revoke ", revoked.serial, " --reason key-compromise"));
  const absl::Time revoked_at = absl::Now();

  // The server's agent writes the new CRLs and signals nginx; nginx then
  // refuses the old pair.
  Response refused;
  ASSERT_TRUE(WaitFor(
      [&] {
        refused = Request(revoked, "revoked");
        return refused.http_code != 200;
      },
      absl::Seconds(15)))
      << "nginx still accepts the revoked certificate " << revoked.serial;
  RecordProperty("revocation_to_refusal_ms",
                 static_cast<int>(absl::ToInt64Milliseconds(absl::Now() - revoked_at)));
  EXPECT_EQ(refused.curl_exit, 0) << refused.output;
  EXPECT_EQ(refused.http_code, 400) << refused.output;
  EXPECT_THAT(refused.body, HasSubstr("The SSL certificate error"));
  EXPECT_GE(CountInFile(tmp_.Path("nginx/error.log"),
                        "client SSL certificate verify error: (23:certificate revoked)"),
            1u);
  // The CRL reached nginx through the server's agent and its hook: a hook run
  // follows the agent's "CRL changed". Its reason is "crl", or "renewed" when
  // a renewal in flight wrote the new CRL with the new certificate.
  EXPECT_TRUE(WaitFor(
      [&] {
        const std::string log = ReadFileOrEmpty(AgentLog("server")).substr(log_before);
        const size_t changed = log.find("CRL changed");
        return changed != std::string::npos &&
               log.find("on_rotate hook ran name=web", changed) != std::string::npos;
      },
      absl::Seconds(5)))
      << ReadFileOrEmpty(AgentLog("server")).substr(log_before);

  // The client's agent re-keyed on the revocation; its new pair works.
  FileSet rekeyed;
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::StatusOr<FileSet> now = ReadFileSet(ClientDir());
        if (!now.ok() || now->serial == revoked.serial) return false;
        rekeyed = *std::move(now);
        return true;
      },
      absl::Seconds(10)));
  const Response accepted = Request(rekeyed, "client");
  EXPECT_EQ(accepted.curl_exit, 0) << accepted.output;
  EXPECT_EQ(accepted.http_code, 200) << accepted.output;
  EXPECT_EQ(accepted.client_serial, rekeyed.serial) << accepted.body;

  // Everything stops cleanly: nginx on SIGTERM (fast shutdown), the agents.
  nginx_process_.Signal(SIGTERM);
  EXPECT_EQ(nginx_process_.Wait(absl::Seconds(10)), 0);
  for (Process* agent : {&server_agent, &client_agent}) {
    agent->Signal(SIGTERM);
    EXPECT_EQ(agent->Wait(absl::Seconds(10)), 0);
  }
}

}  // namespace
}  // namespace rotor::e2e
