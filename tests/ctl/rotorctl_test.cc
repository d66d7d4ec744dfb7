// rotorctl against a real CA: `rotor-ca init`, then `rotor-ca serve` on port
// 0 (binaries from ROTOR_BIN_DIR), driven by the real `rotorctl` binary. A
// node attests and gets a workload certificate over NodeService, so there
// are certificates to list, show and revoke; the CRL and OCSP answers are
// checked with the openssl CLI. Waits are on the child's output or exit,
// with deadlines, never fixed sleeps.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "pki/certificate.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "rotor/v1/ca.grpc.pb.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "util/file.h"

extern char** environ;

namespace rotor::ctl {
namespace {

using ::rotor::testing::RunCommand;
using ::rotor::testing::TempDir;
using ::testing::AllOf;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

const std::string kRotorCa = std::string(ROTOR_BIN_DIR) + "/rotor-ca";
const std::string kRotorctl = std::string(ROTOR_BIN_DIR) + "/rotorctl";
constexpr absl::Duration kDeadline = absl::Seconds(20);

// The environment of this process without ROTOR_*, plus `extra`.
std::vector<std::string> ChildEnv(
    const std::map<std::string, std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (!absl::StartsWith(*e, "ROTOR_")) env.emplace_back(*e);
  }
  for (const auto& [name, value] : extra) env.push_back(name + "=" + value);
  return env;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs a program to completion with stdout and stderr captured apart.
Result RunProgram(std::vector<std::string> args,
                  const std::map<std::string, std::string>& env,
                  const TempDir& tmp) {
  const std::string out_path = tmp.Path("run.out");
  const std::string err_path = tmp.Path("run.err");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<std::string> env_strings = ChildEnv(env);
  std::vector<char*> argv = CStrings(args);
  std::vector<char*> envp = CStrings(env_strings);
  Result result;
  pid_t pid = -1;
  if (posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data()) !=
      0) {
    ADD_FAILURE() << "cannot start " << args[0];
    posix_spawn_file_actions_destroy(&actions);
    return result;
  }
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = ReadFile(out_path).value_or("");
  result.err = ReadFile(err_path).value_or("");
  return result;
}

std::ostream& operator<<(std::ostream& os, const Result& r) {
  return os << "exit " << r.exit_code << "\nstdout:\n"
            << r.out << "stderr:\n"
            << r.err;
}

// `rotor-ca serve` with stdout on a pipe (for the ready line) and stderr in
// a file (shown when a test fails).
class Server {
 public:
  Server(const std::string& data_dir, const std::string& log_path)
      : log_path_(log_path) {
    int fds[2];
    EXPECT_EQ(pipe2(fds, O_CLOEXEC), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<std::string> args = {
        kRotorCa,   "serve",       "--data-dir",    data_dir,
        "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"};
    std::vector<char*> argv = CStrings(args);
    EXPECT_EQ(
        posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ),
        0);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    stdout_fd_ = fds[0];
  }

  ~Server() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (stdout_fd_ >= 0) close(stdout_fd_);
  }

  // Reads stdout until the ready line and fills grpc/http addresses. False
  // at EOF or after `timeout`.
  bool WaitReady(absl::Duration timeout) {
    static const std::regex kReady(
        R"(rotor-ca: serving grpc=(\S+:\d+) http=(\S+:\d+))");
    const absl::Time deadline = absl::Now() + timeout;
    std::string buffer;
    while (true) {
      const size_t newline = buffer.find('\n');
      if (newline != std::string::npos) {
        std::smatch m;
        const std::string line = buffer.substr(0, newline);
        buffer.erase(0, newline + 1);
        if (std::regex_match(line, m, kReady)) {
          grpc_address_ = m[1];
          http_address_ = m[2];
          return true;
        }
        continue;
      }
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return false;
      pollfd p{stdout_fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1) <=
          0) {
        return false;
      }
      char chunk[1024];
      const ssize_t n = read(stdout_fd_, chunk, sizeof(chunk));
      if (n <= 0) return false;
      buffer.append(chunk, n);
    }
  }

  // Sends SIGTERM and returns the exit code, or -1 if the server did not
  // exit normally within `timeout`.
  int Terminate(absl::Duration timeout) {
    kill(pid_, SIGTERM);
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      // No descriptor signals a child's exit; poll waitpid.
      absl::SleepFor(absl::Milliseconds(10));
    }
    return -1;
  }

  std::string Log() const { return ReadFile(log_path_).value_or(""); }
  const std::string& grpc_address() const { return grpc_address_; }
  const std::string& http_address() const { return http_address_; }

 private:
  std::string log_path_;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string grpc_address_;
  std::string http_address_;
};

// Retries `check` until it holds or `timeout` passes; for effects the CA
// publishes asynchronously (the CRL "within one second").
bool Eventually(const std::function<bool()>& check, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (check()) return true;
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(50));
  }
}

// A serial as a person would paste it from openssl: upper case, colons,
// a leading zero byte.
std::string Pasted(const std::string& serial) {
  std::string hex = absl::AsciiStrToUpper(serial);
  if (hex.size() % 2 == 1) hex = "0" + hex;
  std::vector<std::string> bytes = {"00"};
  for (size_t i = 0; i < hex.size(); i += 2) bytes.push_back(hex.substr(i, 2));
  return absl::StrJoin(bytes, ":");
}

// Data rows of a table (the header dropped).
std::vector<std::string> Rows(const std::string& table) {
  std::vector<std::string> lines =
      absl::StrSplit(table, '\n', absl::SkipEmpty());
  if (!lines.empty()) lines.erase(lines.begin());
  return lines;
}

class RotorctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_dir_ = tmp_.Path("data");
    Result init = RunProgram({kRotorCa, "init", "--data-dir", data_dir_,
                              "--trust-domain", "example.org"},
                             {}, tmp_);
    ASSERT_EQ(init.exit_code, 0) << init;
    server_ = std::make_unique<Server>(data_dir_, tmp_.Path("serve.log"));
    ASSERT_TRUE(server_->WaitReady(kDeadline)) << "no ready line; log:\n"
                                               << server_->Log();
    env_ = {{"ROTOR_CA", server_->grpc_address()},
            {"ROTOR_CREDENTIALS", data_dir_ + "/admin"}};
    ASSERT_OK_AND_ASSIGN(root_pem_, ReadFile(data_dir_ + "/ca/root.crt"));
  }

  void TearDown() override {
    if (HasFailure() && server_ != nullptr) {
      std::cerr << "rotor-ca serve log:\n" << server_->Log();
    }
  }

  Result Rotorctl(std::vector<std::string> args) {
    args.insert(args.begin(), kRotorctl);
    return RunProgram(std::move(args), env_, tmp_);
  }

  std::shared_ptr<grpc::Channel> Channel(const std::string& key_pem,
                                         const std::string& chain_pem) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = root_pem_;
    ssl.pem_private_key = key_pem;
    ssl.pem_cert_chain = chain_pem;
    grpc::ChannelArguments args;
    // Each identity on its own connection.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(server_->grpc_address(),
                                     grpc::SslCredentials(ssl), args);
  }

  // Attests node `node` with a fresh join token from rotorctl, then gets a
  // workload certificate for spiffe://example.org/web as that node.
  // Returns the workload leaf; *node_serial is the node certificate's.
  void AttestAndSign(const std::string& node, std::string* node_serial,
                     std::optional<pki::Certificate>* leaf) {
    Result token =
        Rotorctl({"token", "create", "--node", node, "--ttl", "10m"});
    ASSERT_EQ(token.exit_code, 0) << token;
    ASSERT_THAT(token.out, Not(IsEmpty()));
    ASSERT_EQ(std::count(token.out.begin(), token.out.end(), '\n'), 1)
        << "token create prints only the token: " << token.out;

    ASSERT_OK_AND_ASSIGN(pki::PrivateKey node_key,
                         pki::PrivateKey::Generate(pki::KeyType::kEcP256));
    ASSERT_OK_AND_ASSIGN(
        std::string node_csr,
        pki::BuildCsr(node_key,
                      absl::StrCat("spiffe://example.org/rotor/node/", node),
                      {}));
    auto anonymous = rotor::v1::NodeService::NewStub(Channel("", ""));
    rotor::v1::AttestRequest attest;
    attest.set_join_token(std::string(absl::StripAsciiWhitespace(token.out)));
    attest.set_csr_der(node_csr);
    rotor::v1::AttestResponse attested;
    {
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(absl::Now() + kDeadline));
      grpc::Status status = anonymous->Attest(&context, attest, &attested);
      ASSERT_TRUE(status.ok()) << status.error_message();
    }
    *node_serial = attested.node().serial();
    std::string node_chain_pem;
    for (const std::string& der : attested.node().der()) {
      ASSERT_OK_AND_ASSIGN(pki::Certificate cert,
                           pki::Certificate::FromDer(der));
      node_chain_pem += cert.ToPem();
    }
    ASSERT_OK_AND_ASSIGN(pki::SecretString node_key_pem, node_key.ToPem());

    ASSERT_OK_AND_ASSIGN(pki::PrivateKey leaf_key,
                         pki::PrivateKey::Generate(pki::KeyType::kEcP256));
    ASSERT_OK_AND_ASSIGN(
        std::string leaf_csr,
        pki::BuildCsr(leaf_key, "spiffe://example.org/web", {"web.internal"}));
    auto as_node = rotor::v1::NodeService::NewStub(
        Channel(std::string(node_key_pem.view()), node_chain_pem));
    rotor::v1::SignWorkloadRequest sign;
    sign.set_csr_der(leaf_csr);
    rotor::v1::SignWorkloadResponse signed_leaf;
    {
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(absl::Now() + kDeadline));
      grpc::Status status = as_node->SignWorkload(&context, sign, &signed_leaf);
      ASSERT_TRUE(status.ok()) << status.error_message();
    }
    ASSERT_GE(signed_leaf.certificate().der_size(), 1);
    ASSERT_OK_AND_ASSIGN(
        pki::Certificate cert,
        pki::Certificate::FromDer(signed_leaf.certificate().der(0)));
    *leaf = std::move(cert);
  }

  // "good" or "revoked" as `openssl ocsp` reports `leaf` at /ocsp.
  std::string OcspStatus(const std::string& leaf_pem_path) {
    std::string output;
    const int code =
        RunCommand(absl::StrCat("openssl ocsp -issuer ", data_dir_,
                                "/ca/intermediate.crt -cert ", leaf_pem_path,
                                " -url http://", server_->http_address(),
                                "/ocsp -CAfile ", data_dir_, "/ca/root.crt"),
                   &output);
    if (code != 0) return absl::StrCat("openssl failed: ", output);
    // Signature and chain to the root checked by openssl itself.
    if (!absl::StrContains(output, "Response verify OK")) return output;
    if (absl::StrContains(output, leaf_pem_path + ": good")) return "good";
    if (absl::StrContains(output, leaf_pem_path + ": revoked") &&
        absl::StrContains(output, "Reason: keyCompromise")) {
      return "revoked";
    }
    return output;
  }

  TempDir tmp_;
  std::string data_dir_;
  std::string root_pem_;
  std::unique_ptr<Server> server_;
  std::map<std::string, std::string> env_;
};

TEST_F(RotorctlTest, EntriesCanBeCreatedListedAndDeleted) {
  Result created =
      Rotorctl({"entry", "create", "--node", "web-*", "--spiffe-id",
                "spiffe://example.org/web", "--dns", "web.internal", "--dns",
                "web", "--max-ttl", "2h"});
  ASSERT_EQ(created.exit_code, 0) << created;
  const std::string id(absl::StripAsciiWhitespace(created.out));
  ASSERT_THAT(id, Not(IsEmpty()));

  Result listed = Rotorctl({"entry", "list"});
  ASSERT_EQ(listed.exit_code, 0) << listed;
  EXPECT_THAT(listed.out, StartsWith("ID"));
  EXPECT_THAT(listed.out,
              ContainsRegex(absl::StrCat(
                  id,
                  " +web-\\* +spiffe://example.org/web +web.internal,web "
                  "+2h\n")));

  Result json = Rotorctl({"entry", "list", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json;
  rotor::v1::ListEntriesResponse entries;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(json.out, &entries).ok())
      << json.out;
  ASSERT_EQ(entries.entries_size(), 1);
  EXPECT_EQ(entries.entries(0).id(), id);

  Result deleted = Rotorctl({"entry", "delete", id});
  ASSERT_EQ(deleted.exit_code, 0) << deleted;
  EXPECT_EQ(deleted.out, "deleted entry " + id + "\n");
  Result after = Rotorctl({"entry", "list"});
  EXPECT_THAT(after.out, Not(HasSubstr(id)));

  Result again = Rotorctl({"entry", "delete", id});
  EXPECT_EQ(again.exit_code, 1) << again;
  EXPECT_EQ(again.err, absl::StrCat("rotorctl: entry ", id, " not found\n"));
  EXPECT_THAT(again.out, IsEmpty());
}

TEST_F(RotorctlTest, ListsShowsAndRevokesCertificatesWithCrlAndOcsp) {
  Result entry =
      Rotorctl({"entry", "create", "--node", "web-*", "--spiffe-id",
                "spiffe://example.org/web", "--dns", "web.internal"});
  ASSERT_EQ(entry.exit_code, 0) << entry;
  std::string node_serial;
  std::optional<pki::Certificate> leaf;
  ASSERT_NO_FATAL_FAILURE(AttestAndSign("web-1", &node_serial, &leaf));
  const std::string serial = leaf->SerialHex();
  const std::string leaf_pem = tmp_.Path("leaf.pem");
  ASSERT_OK(WriteFileAtomically(leaf_pem, leaf->ToPem(), 0644));

  // cert list: both of the node's certificates, in aligned columns.
  Result list = Rotorctl({"cert", "list", "--node", "web-1"});
  ASSERT_EQ(list.exit_code, 0) << list;
  EXPECT_THAT(list.out, StartsWith("SERIAL"));
  EXPECT_THAT(list.out, AllOf(HasSubstr("NODE"), HasSubstr("SPIFFE ID"),
                              HasSubstr("EXPIRES"), HasSubstr("STATUS")));
  EXPECT_THAT(list.out,
              ContainsRegex(absl::StrCat(serial,
                                         " +web-1 +spiffe://example.org/web +"
                                         "[0-9T:Z-]+ +valid\n")));
  EXPECT_THAT(list.out,
              ContainsRegex(absl::StrCat(
                  node_serial,
                  " +web-1 +spiffe://example.org/rotor/node/web-1 +[0-9T:Z-]+ "
                  "+valid\n")));
  EXPECT_EQ(Rows(list.out).size(), 2u) << list.out;

  Result limited = Rotorctl({"cert", "list", "--limit", "1"});
  ASSERT_EQ(limited.exit_code, 0) << limited;
  EXPECT_EQ(Rows(limited.out).size(), 1u) << limited.out;

  Result by_id = Rotorctl(
      {"cert", "list", "--spiffe-id", "spiffe://example.org/web", "--json"});
  ASSERT_EQ(by_id.exit_code, 0) << by_id;
  rotor::v1::ListCertificatesResponse listed;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(by_id.out, &listed).ok())
      << by_id.out;
  ASSERT_EQ(listed.certificates_size(), 1) << by_id.out;
  EXPECT_EQ(listed.certificates(0).serial(), serial);

  // cert show takes the serial as pasted from openssl.
  Result show = Rotorctl({"cert", "show", Pasted(serial)});
  ASSERT_EQ(show.exit_code, 0) << show;
  EXPECT_THAT(show.out,
              AllOf(HasSubstr("serial:       " + serial + "\n"),
                    HasSubstr("kind:         workload\n"),
                    HasSubstr("dns names:    web.internal\n"),
                    HasSubstr("status:       valid\n"),
                    HasSubstr("fingerprint:  " + leaf->Fingerprint() + "\n")));
  Result show_pem = Rotorctl({"cert", "show", serial, "--pem"});
  ASSERT_EQ(show_pem.exit_code, 0) << show_pem;
  EXPECT_EQ(show_pem.out, leaf->ToPem());

  EXPECT_EQ(OcspStatus(leaf_pem), "good");

  // Revoke, with the serial pasted and the reason in kebab case.
  Result revoke = Rotorctl(
      {"cert", "revoke", Pasted(serial), "--reason", "key-compromise"});
  ASSERT_EQ(revoke.exit_code, 0) << revoke;
  EXPECT_THAT(revoke.out, StartsWith(absl::StrCat("revoked ", serial,
                                                  " (keyCompromise) at ")));

  Result revoked = Rotorctl({"cert", "list", "--revoked"});
  ASSERT_EQ(revoked.exit_code, 0) << revoked;
  EXPECT_THAT(revoked.out, HasSubstr("revoked (keyCompromise)"));
  EXPECT_THAT(revoked.out, HasSubstr(serial));
  EXPECT_THAT(revoked.out, Not(HasSubstr(node_serial)));

  // The CRL (DER, the intermediate's) lists the serial with its reason and
  // verifies against the chain.
  const std::string chain = tmp_.Path("chain.pem");
  ASSERT_OK_AND_ASSIGN(std::string intermediate_pem,
                       ReadFile(data_dir_ + "/ca/intermediate.crt"));
  ASSERT_OK(WriteFileAtomically(chain, root_pem_ + intermediate_pem, 0644));
  std::string upper = absl::AsciiStrToUpper(serial);
  const std::regex listed_serial("Serial Number: 0*" + upper);
  std::string crl_text;
  EXPECT_TRUE(Eventually(
      [&] {
        Result crl = Rotorctl({"crl", "--out", tmp_.Path("crl.der")});
        if (crl.exit_code != 0) return false;
        RunCommand(
            absl::StrCat("openssl crl -inform DER -in ", tmp_.Path("crl.der"),
                         " -CAfile ", chain, " -noout -text"),
            &crl_text);
        return std::regex_search(crl_text, listed_serial);
      },
      kDeadline))
      << crl_text;
  EXPECT_THAT(crl_text, HasSubstr("verify OK"));
  EXPECT_THAT(crl_text, HasSubstr("Key Compromise"));

  // Without --out: PEM on stdout, every CRL of the chain.
  Result crl_pem = Rotorctl({"crl"});
  ASSERT_EQ(crl_pem.exit_code, 0) << crl_pem;
  EXPECT_THAT(crl_pem.out, StartsWith("-----BEGIN X509 CRL-----\n"));

  EXPECT_TRUE(
      Eventually([&] { return OcspStatus(leaf_pem) == "revoked"; }, kDeadline))
      << OcspStatus(leaf_pem);

  Result shown = Rotorctl({"cert", "show", serial});
  EXPECT_THAT(shown.out, HasSubstr("status:       revoked (keyCompromise)\n"));

  // Revoking again, or an unknown serial: the server's message, exit 1.
  Result unknown = Rotorctl({"cert", "show", "AB:CD"});
  EXPECT_EQ(unknown.exit_code, 1) << unknown;
  EXPECT_EQ(unknown.err, "rotorctl: certificate abcd not found\n");

  EXPECT_EQ(server_->Terminate(kDeadline), 0) << server_->Log();
}

TEST_F(RotorctlTest, BundleIsTheRootAsPem) {
  Result bundle = Rotorctl({"bundle"});
  ASSERT_EQ(bundle.exit_code, 0) << bundle;
  EXPECT_EQ(bundle.out, root_pem_);

  Result to_file = Rotorctl({"bundle", "--out", tmp_.Path("bundle.pem")});
  ASSERT_EQ(to_file.exit_code, 0) << to_file;
  EXPECT_THAT(to_file.out, IsEmpty());
  EXPECT_THAT(ReadFile(tmp_.Path("bundle.pem")),
              ::testing::Eq(absl::StatusOr<std::string>(root_pem_)));
}

TEST_F(RotorctlTest, FlagsWorkWithoutTheEnvironment) {
  const std::map<std::string, std::string> no_env;
  Result bundle =
      RunProgram({kRotorctl, "bundle", "--ca", server_->grpc_address(),
                  "--credentials", data_dir_ + "/admin"},
                 no_env, tmp_);
  ASSERT_EQ(bundle.exit_code, 0) << bundle;
  EXPECT_EQ(bundle.out, root_pem_);

  Result missing = RunProgram({kRotorctl, "bundle"}, no_env, tmp_);
  EXPECT_EQ(missing.exit_code, 2) << missing;
  EXPECT_EQ(missing.err,
            "rotorctl: no CA address: pass --ca HOST:PORT or set ROTOR_CA\n");
}

TEST_F(RotorctlTest, UnreachableCaNamesTheAddress) {
  // The HTTP port speaks no gRPC/TLS: the handshake fails.
  env_["ROTOR_CA"] = server_->http_address();
  Result result = Rotorctl({"entry", "list", "--timeout", "10s"});
  EXPECT_EQ(result.exit_code, 1) << result;
  EXPECT_THAT(result.err, AllOf(StartsWith("rotorctl: cannot reach the CA at " +
                                           server_->http_address() + ": "),
                                HasSubstr("check --ca (or ROTOR_CA)")));
  EXPECT_THAT(result.out, IsEmpty());
}

TEST_F(RotorctlTest, UsageErrorsExitTwo) {
  Result bad_serial = Rotorctl({"cert", "revoke", "not-a-serial"});
  EXPECT_EQ(bad_serial.exit_code, 2) << bad_serial;
  EXPECT_THAT(bad_serial.err, StartsWith("rotorctl: serial \"not-a-serial\""));

  Result bad_flag = Rotorctl({"cert", "list", "--bogus"});
  EXPECT_EQ(bad_flag.exit_code, 2) << bad_flag;
  EXPECT_EQ(bad_flag.err,
            "rotorctl cert list: unknown flag --bogus; see 'rotorctl cert "
            "list --help'\n");

  Result help = Rotorctl({"cert", "revoke", "--help"});
  EXPECT_EQ(help.exit_code, 0) << help;
  EXPECT_THAT(help.out, StartsWith("usage: rotorctl cert revoke SERIAL"));
}

}  // namespace
}  // namespace rotor::ctl
