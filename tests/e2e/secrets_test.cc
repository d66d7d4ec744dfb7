// Secrets hygiene over a full run: rotor-ca init and serve, rotorctl (token,
// entry, list, revoke), and rotor-agent with --debug keeping two
// certificates through issuance, renewal and a revocation. The run uses a
// umask of 000, so no file is private by accident. Then:
//   - no log or stdout of any process holds a join token, a PEM "PRIVATE
//     KEY" marker, or any 24-character piece of a private key file's
//     base64 (or 32 hex digits of its DER);
//   - the join tokens are nowhere on disk after use (the store keeps their
//     SHA-256 only, and it is there);
//   - every private key file the run created is 0600, except the one whose
//     mode the agent's config sets (0640), and the folders holding keys are
//     0700.
#include <openssl/sha.h>
#include <sys/stat.h>

#include <array>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/agent_run.h"
#include "tests/testing/ca_process.h"
#include "tests/testing/process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "util/file.h"

namespace rotor {
namespace {

using ::rotor::testing::AgentCertificate;
using ::rotor::testing::AgentRun;
using ::rotor::testing::CaProcess;
using ::rotor::testing::CurrentSerial;
using ::rotor::testing::FileMode;
using ::rotor::testing::ReadFileOrEmpty;
using ::rotor::testing::TempDir;
using ::rotor::testing::WaitFor;
using ::testing::HasSubstr;
using ::testing::Not;

// Every regular file under `root` (symlinks are not followed).
std::vector<std::string> FilesUnder(const std::string& root) {
  std::vector<std::string> files;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
       !ec && it != std::filesystem::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_regular_file(ec) && !it->is_symlink(ec)) {
      files.push_back(it->path().string());
    }
  }
  return files;
}

// Pieces of a PEM private key that must never show up elsewhere: each
// 24-character window (step 12) of its base64 body, and each 32-digit
// window (step 16) of the hex of its DER.
std::vector<std::string> KeyPieces(const std::string& pem) {
  std::string base64;
  for (absl::string_view line : absl::StrSplit(pem, '\n')) {
    if (line.empty() || absl::StartsWith(line, "-----")) continue;
    absl::StrAppend(&base64, absl::StripAsciiWhitespace(line));
  }
  std::vector<std::string> pieces;
  for (size_t i = 0; i + 24 <= base64.size(); i += 12) {
    pieces.push_back(base64.substr(i, 24));
  }
  std::string der;
  if (absl::Base64Unescape(base64, &der)) {
    const std::string hex = absl::BytesToHexString(der);
    for (size_t i = 0; i + 32 <= hex.size(); i += 16) {
      pieces.push_back(hex.substr(i, 32));
    }
  }
  return pieces;
}

std::string Sha256(absl::string_view data) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest;
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(),
         digest.data());
  return std::string(reinterpret_cast<const char*>(digest.data()),
                     digest.size());
}

// Sets the process umask for the life of the object.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : old_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(old_); }

 private:
  mode_t old_;
};

TEST(SecretsTest, AFullRunLeaksNoKeyOrTokenAndKeepsKeyFilesPrivate) {
  ScopedUmask open_umask(0);
  TempDir tmp;
  CaProcess ca(tmp.path());
  ASSERT_TRUE(ca.Init());
  ASSERT_TRUE(ca.SetConfig("min_ttl", "5s"));
  ASSERT_TRUE(ca.Start());

  // What rotorctl prints, except a token's own stdout, goes to the logs
  // checked below.
  std::string ctl_output;
  const auto ctl = [&](const std::string& args) {
    std::string output;
    EXPECT_EQ(ca.Ctl(args, &output), 0) << args << ":\n" << output;
    absl::StrAppend(&ctl_output, output);
    return output;
  };
  const std::string token = ca.CreateToken("web-1");
  const std::string unused_token = ca.CreateToken("web-2");
  ASSERT_TRUE(absl::StartsWith(token, "rotor-")) << token;
  ctl("entry create --node 'web-*' --spiffe-id spiffe://example.org/web "
      "--dns web.internal");
  ctl("entry create --node 'web-*' --spiffe-id spiffe://example.org/db");

  AgentRun agent(tmp.Path("agent"));
  ASSERT_OK(MakeDirectories(tmp.Path("agent"), 0700));
  AgentCertificate web;
  web.dir = tmp.Path("certs/web");
  AgentCertificate db;
  db.name = "db";
  db.spiffe_id = "spiffe://example.org/db";
  db.dns_names = {};
  db.dir = tmp.Path("certs/db");
  db.mode = "0640";
  ASSERT_TRUE(agent.Configure(ca, "web-1", token, {web, db}));
  ASSERT_TRUE(agent.Start({"--debug"}));

  // Issued, renewed at least once, then revoked and re-keyed.
  ASSERT_TRUE(WaitFor([&] { return agent.CountInLog("rotated name=web") >= 2; },
                      absl::Seconds(30)))
      << agent.log();
  const std::string revoked = CurrentSerial(web.dir);
  ASSERT_FALSE(revoked.empty());
  ctl("cert list");
  ctl(absl::StrCat("cert show ", revoked));
  ctl(absl::StrCat("cert revoke ", revoked, " --reason key-compromise"));
  ASSERT_TRUE(WaitFor(
      [&] {
        const std::string now = CurrentSerial(web.dir);
        return !now.empty() && now != revoked;
      },
      absl::Seconds(10)))
      << agent.log();
  ASSERT_FALSE(CurrentSerial(db.dir).empty());
  EXPECT_EQ(agent.Stop(), 0);
  EXPECT_EQ(ca.Stop(), 0);

  // Every key file of the run, by the PRIVATE KEY marker in it.
  std::map<std::string, std::string> keys;  // path -> PEM
  for (const std::string& path : FilesUnder(tmp.path())) {
    const std::string data = ReadFileOrEmpty(path);
    if (absl::StrContains(data, "PRIVATE KEY-----")) keys[path] = data;
  }
  // The CA's root, intermediate, admin and server keys; the agent's node
  // key and its two workload keys.
  ASSERT_GE(keys.size(), 7u);

  const std::map<std::string, std::string> outputs = {
      {"rotor-ca stderr", ReadFileOrEmpty(ca.log_path())},
      {"rotor-ca stdout", ReadFileOrEmpty(tmp.Path("ca.out"))},
      {"rotor-agent stderr", agent.log()},
      {"rotor-agent stdout", ReadFileOrEmpty(agent.out_path())},
      {"rotorctl", ctl_output},
  };
  for (const auto& [name, text] : outputs) {
    SCOPED_TRACE(name);
    EXPECT_THAT(text, Not(HasSubstr(token)));
    EXPECT_THAT(text, Not(HasSubstr(unused_token)));
    EXPECT_THAT(text, Not(HasSubstr(token.substr(6))));  // without "rotor-"
    EXPECT_THAT(text, Not(HasSubstr("PRIVATE KEY")));
    for (const auto& [path, pem] : keys) {
      for (const std::string& piece : KeyPieces(pem)) {
        ASSERT_THAT(text, Not(HasSubstr(piece))) << "a piece of " << path;
      }
    }
  }
  EXPECT_THAT(agent.log(), HasSubstr("DEBUG")) << "debug lines were checked";

  // The tokens are nowhere on disk; the store has the used one's hash.
  bool hash_found = false;
  for (const std::string& path : FilesUnder(tmp.path())) {
    const std::string data = ReadFileOrEmpty(path);
    EXPECT_THAT(data, Not(HasSubstr(token))) << path;
    EXPECT_THAT(data, Not(HasSubstr(unused_token))) << path;
    if (absl::StrContains(data, Sha256(token))) hash_found = true;
  }
  EXPECT_TRUE(hash_found) << "the store keeps the token's SHA-256";
  EXPECT_EQ(ReadFileOrEmpty(agent.token_path()), "") << "the agent emptied it";

  // Modes, with a umask that hides nothing.
  for (const auto& [path, pem] : keys) {
    SCOPED_TRACE(path);
    const bool configured = absl::StartsWith(path, db.dir + "/");
    EXPECT_EQ(FileMode(path), configured ? 0640 : 0600);
    const std::string folder = DirName(path);
    if (absl::StartsWith(folder, tmp.Path("certs"))) continue;  // shared
    EXPECT_EQ(FileMode(folder), 0700) << folder;
  }
  EXPECT_EQ(FileMode(agent.state_dir()), 0700);
  EXPECT_EQ(FileMode(ca.data_dir()), 0700);
}

}  // namespace
}  // namespace rotor
