// Several hosts on one machine: rotor-ca and two rotor-agents, each in its
// own Linux network namespace, joined by veth pairs, so every call crosses a
// real interface and the agents reach the CA at a non-loopback address:
//
//   netns A1 (10.200.1.2) ── veth ── (10.200.1.1) netns CA (10.200.2.1) ── veth ── (10.200.2.2) netns A2
//
// The CA's server certificate carries its addresses (server_names), which
// each agent checks when it connects: an agent dialing an address missing
// there is refused until the CA is restarted with it. Needs root (ip netns add); skips
// with a message where namespaces cannot be created. The namespaces are
// named after the test process's pid and always deleted, also on failure.
#include <signal.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pki/certificate.h"
#include "pki/verify.h"
#include "tests/testing/ca_process.h"
#include "tests/testing/process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "util/file.h"

namespace rotor {
namespace {

using ::rotor::testing::BinaryPath;
using ::rotor::testing::CaProcess;
using ::rotor::testing::CountInFile;
using ::rotor::testing::Process;
using ::rotor::testing::ReadFileOrEmpty;
using ::rotor::testing::RunCommand;
using ::rotor::testing::TempDir;
using ::rotor::testing::WaitFor;
using ::testing::HasSubstr;
using ::testing::Not;

// Network namespaces that exist as long as this object does.
class NetworkNamespaces {
 public:
  NetworkNamespaces() = default;
  ~NetworkNamespaces() {
    for (const std::string& name : names_) {
      std::string output;
      if (RunCommand(absl::StrCat("ip netns delete ", name), &output) != 0) {
        ADD_FAILURE() << "cannot delete network namespace " << name << ": " << output;
      }
    }
  }
  NetworkNamespaces(const NetworkNamespaces&) = delete;
  NetworkNamespaces& operator=(const NetworkNamespaces&) = delete;

  // `ip netns add NAME` with its loopback up; false, with the reason in
  // *error, if it cannot be created.
  bool Add(const std::string& name, std::string* error) {
    // Left over from an earlier run that had this pid and was killed.
    RunCommand(absl::StrCat("ip netns delete ", name), error);
    if (RunCommand(absl::StrCat("ip netns add ", name), error) != 0) return false;
    names_.push_back(name);
    return RunCommand(absl::StrCat("ip -n ", name, " link set lo up"), error) == 0;
  }

  // A veth pair between two namespaces, `address_a` and `address_b` (CIDR)
  // on the ends. Interface names are at most 15 characters: `tag` is short.
  bool Link(const std::string& ns_a, const std::string& address_a,
            const std::string& ns_b, const std::string& address_b,
            const std::string& tag, std::string* error) {
    const std::string a = absl::StrCat("rta", tag);
    const std::string b = absl::StrCat("rtb", tag);
    for (const std::string& command : {
             absl::StrCat("ip link add ", a, " netns ", ns_a, " type veth peer name ", b,
                          " netns ", ns_b),
             absl::StrCat("ip -n ", ns_a, " addr add ", address_a, " dev ", a),
             absl::StrCat("ip -n ", ns_b, " addr add ", address_b, " dev ", b),
             absl::StrCat("ip -n ", ns_a, " link set ", a, " up"),
             absl::StrCat("ip -n ", ns_b, " link set ", b, " up"),
         }) {
      if (RunCommand(command, error) != 0) {
        *error = absl::StrCat(command, ": ", *error);
        return false;
      }
    }
    return true;
  }

 private:
  std::vector<std::string> names_;
};

// Where `ip` is: Process starts argv[0] by path.
std::string IpPath() {
  std::string output;
  if (RunCommand("command -v ip", &output) != 0) return "";
  return std::string(absl::StripAsciiWhitespace(output));
}

class NetnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) {
      GTEST_SKIP() << "needs root to create network namespaces (ip netns add); "
                      "CI runs it as root";
    }
    ip_ = IpPath();
    if (ip_.empty()) GTEST_SKIP() << "ip is not installed (Debian package iproute2)";
    const std::string prefix = absl::StrCat("rotor", getpid());
    ca_ns_ = prefix + "-ca";
    agent_ns_ = {prefix + "-a1", prefix + "-a2"};
    std::string error;
    for (const std::string& ns : {ca_ns_, agent_ns_[0], agent_ns_[1]}) {
      if (!namespaces_.Add(ns, &error)) {
        GTEST_SKIP() << "cannot create network namespace " << ns << ": " << error;
      }
    }
    // Interface names must be unique on the machine until moved: the pid
    // keeps concurrent runs apart.
    const std::string tag = absl::StrCat(getpid() % 1000000);
    if (!namespaces_.Link(ca_ns_, "10.200.1.1/24", agent_ns_[0], "10.200.1.2/24",
                          tag + "a", &error) ||
        !namespaces_.Link(ca_ns_, "10.200.2.1/24", agent_ns_[1], "10.200.2.2/24",
                          tag + "b", &error)) {
      GTEST_SKIP() << "cannot link the network namespaces with veth pairs: " << error;
    }
  }

  void TearDown() override {
    if (!HasFailure()) return;
    std::fprintf(stderr, "--- CA log ---\n%s", ReadFileOrEmpty(tmp_.Path("ca.log")).c_str());
    for (int i = 0; i < 2; ++i) {
      std::fprintf(stderr, "--- agent %d log ---\n%s", i + 1,
                   ReadFileOrEmpty(tmp_.Path(absl::StrCat("agent", i + 1, ".log"))).c_str());
    }
  }

  // `rotorctl ARGS` inside the CA's namespace, over its loopback, as admin.
  std::string Ctl(const std::string& args) {
    std::string output;
    // Only stdout: the group's own 2>/dev/null outlasts RunCommand's 2>&1.
    const int rc = RunCommand(
        absl::StrCat("{ ip netns exec ", ca_ns_, " ", BinaryPath("rotorctl"), " ", args,
                     " --ca 127.0.0.1:8443 --credentials ", ca_->admin_dir(),
                     " 2>/dev/null; }"),
        &output);
    EXPECT_EQ(rc, 0) << "rotorctl " << args << ": " << output;
    return std::string(absl::StripAsciiWhitespace(output));
  }

  // rotor-ca serve in its namespace on 0.0.0.0:8443 (the namespace is new
  // and private: fixed ports cannot collide); waits for its `nth` ready line
  // (ca.out is appended across restarts).
  void StartCa(size_t nth) {
    ASSERT_TRUE(ca_server_.Start(
        {ip_, "netns", "exec", ca_ns_, BinaryPath("rotor-ca"), "serve", "--data-dir",
         ca_->data_dir(), "--listen", "0.0.0.0:8443", "--http-listen", "127.0.0.1:8080"},
        tmp_.Path("ca.out"), tmp_.Path("ca.log")));
    ASSERT_TRUE(WaitFor(
        [&] {
          return CountInFile(tmp_.Path("ca.out"), "rotor-ca: serving grpc=0.0.0.0:8443") >= nth;
        },
        absl::Seconds(30)))
        << ReadFileOrEmpty(tmp_.Path("ca.log"));
  }

  // rotor-agent `n` (1 or 2) in its namespace, reaching the CA at `ca`.
  void StartAgent(int n, const std::string& ca) {
    const std::string dir = tmp_.Path(absl::StrCat("agent", n));
    const std::string node = absl::StrCat("agent-", n);
    ASSERT_OK(MakeDirectories(dir, 0700));
    ASSERT_OK(WriteFileAtomically(dir + "/token", Ctl("token create --node " + node) + "\n",
                                  0600));
    ASSERT_OK(WriteFileAtomically(
        dir + "/agent.yaml",
        absl::StrCat("ca: ", ca, "\ntrust_anchor: ", ca_->fingerprint(),
                     "\njoin_token_file: ", dir, "/token\nnode_name: ", node,
                     "\nstate_dir: ", dir, "/state\nbackoff_initial: 200ms\n"
                     "backoff_max: 1s\nrpc_timeout: 5s\ncertificates:\n"
                     "  - name: web\n    spiffe_id: spiffe://example.org/web\n"
                     "    dns_names: [web.internal]\n    dir: ",
                     dir, "/certs/web\n"),
        0644));
    ASSERT_TRUE(agents_[n - 1].Start(
        {ip_, "netns", "exec", agent_ns_[n - 1], BinaryPath("rotor-agent"), "run",
         "--config", dir + "/agent.yaml"},
        tmp_.Path(absl::StrCat("agent", n, ".out")),
        tmp_.Path(absl::StrCat("agent", n, ".log"))));
  }

  TempDir tmp_;
  std::string ip_;
  std::string ca_ns_;
  std::vector<std::string> agent_ns_;
  // Declared before the processes: they are killed before the namespaces go.
  NetworkNamespaces namespaces_;
  std::unique_ptr<CaProcess> ca_;
  Process ca_server_;
  Process agents_[2];
};

TEST_F(NetnsTest, AgentsInOtherNamespacesGetCertificatesOverRealInterfaces) {
  ca_ = std::make_unique<CaProcess>(tmp_.path());
  ASSERT_TRUE(ca_->Init());
  // First without the address agent 2 uses.
  ASSERT_TRUE(ca_->SetConfig("server_names", "[10.200.1.1, localhost, 127.0.0.1]"));
  StartCa(1);
  Ctl("entry create --node 'agent-*' --spiffe-id spiffe://example.org/web "
      "--dns web.internal");

  // Each agent reaches the CA by the CA's address on its own link.
  StartAgent(1, "10.200.1.1:8443");
  StartAgent(2, "10.200.2.1:8443");
  // Agent 2 checks the CA's certificate against the address it dials, and
  // that address is not in it.
  const std::string agent2_log = tmp_.Path("agent2.log");
  ASSERT_TRUE(WaitFor(
      [&] {
        return CountInFile(agent2_log, "Peer name 10.200.2.1 is not in peer certificate") > 0;
      },
      absl::Seconds(20)))
      << ReadFileOrEmpty(agent2_log);
  EXPECT_EQ(ReadFileOrEmpty(tmp_.Path("agent2/certs/web/cert.pem")), "");

  // With the address in server_names the restarted CA's new certificate
  // carries it, and agent 2 gets through. (Agent 2 is restarted too, so it
  // does not wait out gRPC's reconnect backoff from the refused handshakes;
  // its token was not used.)
  agents_[1].Signal(SIGTERM);
  ASSERT_EQ(agents_[1].Wait(absl::Seconds(20)), 0);
  ca_server_.Signal(SIGTERM);
  ASSERT_EQ(ca_server_.Wait(absl::Seconds(20)), 0);
  ASSERT_TRUE(ca_->SetConfig("server_names",
                             "[10.200.1.1, 10.200.2.1, localhost, 127.0.0.1]"));
  StartCa(2);
  ASSERT_TRUE(agents_[1].Start(
      {ip_, "netns", "exec", agent_ns_[1], BinaryPath("rotor-agent"), "run", "--config",
       tmp_.Path("agent2/agent.yaml")},
      tmp_.Path("agent2.out"), agent2_log));
  ASSERT_OK_AND_ASSIGN(std::vector<pki::Certificate> server,
                       pki::Certificate::LoadChain(ca_->data_dir() + "/server/cert.pem"));
  EXPECT_THAT(server.front().IpSans(),
              ::testing::IsSupersetOf({"10.200.1.1", "10.200.2.1"}));

  ASSERT_OK_AND_ASSIGN(std::vector<pki::Certificate> roots,
                       pki::Certificate::LoadChain(ca_->data_dir() + "/ca/root.crt"));
  for (int n = 1; n <= 2; ++n) {
    SCOPED_TRACE(absl::StrCat("agent-", n));
    const std::string dir = tmp_.Path(absl::StrCat("agent", n, "/certs/web"));
    ASSERT_TRUE(WaitFor([&] { return !ReadFileOrEmpty(dir + "/key.pem").empty(); },
                        absl::Seconds(20)));
    ASSERT_OK_AND_ASSIGN(std::vector<pki::Certificate> chain,
                         pki::Certificate::LoadChain(dir + "/cert.pem"));
    ASSERT_OK_AND_ASSIGN(std::vector<pki::Certificate> bundle,
                         pki::Certificate::LoadChain(dir + "/bundle.pem"));
    EXPECT_EQ(bundle.front().der(), roots.front().der());
    const std::vector<pki::Certificate> intermediates(chain.begin() + 1, chain.end());
    EXPECT_OK(pki::VerifyCertificate(chain.front(), intermediates, bundle, absl::Now(),
                                     pki::VerifyPurpose::kTlsServer));
    EXPECT_THAT(chain.front().UriSans(), ::testing::ElementsAre("spiffe://example.org/web"));
  }

  // The CA saw each agent at its own non-loopback address: the update
  // stream each one keeps open comes from 10.200.N.2.
  for (int n = 1; n <= 2; ++n) {
    const std::string seen = absl::StrCat("watch started node=agent-", n,
                                          " peer=ipv4:10.200.", n, ".2:");
    EXPECT_TRUE(WaitFor([&] { return CountInFile(tmp_.Path("ca.log"), seen) > 0; },
                        absl::Seconds(20)))
        << seen;
  }
  for (absl::string_view line : absl::StrSplit(ReadFileOrEmpty(tmp_.Path("ca.log")), '\n')) {
    if (absl::StrContains(line, "node=agent-")) {
      EXPECT_THAT(std::string(line), Not(HasSubstr("peer=ipv4:127."))) << "over loopback";
    }
  }
  EXPECT_THAT(Ctl("cert list --node agent-2"), HasSubstr("spiffe://example.org/web"));

  for (Process& agent : agents_) {
    agent.Signal(SIGTERM);
    EXPECT_EQ(agent.Wait(absl::Seconds(20)), 0);
  }
  ca_server_.Signal(SIGTERM);
  EXPECT_EQ(ca_server_.Wait(absl::Seconds(20)), 0);
}

}  // namespace
}  // namespace rotor
