// End to end: real rotor-ca, rotorctl and rotor-agent processes. A CA with
// min_ttl 5s issues 10 s certificates; the agent attests with a join token,
// writes the files, rotates them several times running its hook each time,
// re-keys within a second of a revocation, rides out a CA crash and restart,
// and keeps its valid certificates across its own restart.
//
// Every wait polls for an event (a file, a log line) under a deadline; no
// test step sleeps a fixed time.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pki/certificate.h"
#include "pki/key.h"
#include "agent/filesystem.h"
#include "tests/testing/process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "util/file.h"

namespace rotor::agent {
namespace {

using ::rotor::testing::BinaryPath;
using ::rotor::testing::CountInFile;
using ::rotor::testing::Process;
using ::rotor::testing::ReadFileOrEmpty;
using ::rotor::testing::RunCommand;
using ::rotor::testing::TempDir;
using ::rotor::testing::WaitFor;
using ::testing::HasSubstr;

std::string Bin(absl::string_view name) { return BinaryPath(name); }

std::string ReadOrEmpty(const std::string& path) { return ReadFileOrEmpty(path); }

class AgentEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string output;
    ASSERT_EQ(RunCommand(absl::StrCat(Bin("rotor-ca"), " init --data-dir ",
                                      CaDir(), " --trust-domain example.org"),
                         &output),
              0)
        << output;
    // The fingerprint is the line of stdout; the rest is stderr.
    for (absl::string_view line : absl::StrSplit(output, '\n')) {
      if (absl::StartsWith(line, "sha256:")) fingerprint_ = std::string(line);
    }
    ASSERT_TRUE(absl::StartsWith(fingerprint_, "sha256:")) << fingerprint_;
    std::string yaml = ReadOrEmpty(JoinPath(CaDir(), "ca.yaml"));
    yaml = absl::StrReplaceAll(yaml, {{"\nmin_ttl: 1m\n", "\nmin_ttl: 5s\n"},
                                      {"\ndefault_ttl: 1h\n", "\ndefault_ttl: 10s\n"}});
    ASSERT_THAT(yaml, HasSubstr("\nmin_ttl: 5s\n"));
    ASSERT_OK(WriteFileAtomically(JoinPath(CaDir(), "ca.yaml"), yaml, 0644));
    StartCa("127.0.0.1:0");
  }

  // On failure, the logs say what happened.
  void TearDown() override {
    if (!HasFailure()) return;
    std::fprintf(stderr, "--- agent log ---\n%s--- CA log ---\n%s--- hook log ---\n%s",
                 ReadOrEmpty(AgentLog()).c_str(),
                 ReadOrEmpty(tmp_.Path("ca.log")).c_str(),
                 ReadOrEmpty(HookLog()).c_str());
  }

  std::string CaDir() const { return tmp_.Path("ca"); }
  std::string CertDir() const { return tmp_.Path("certs/web"); }
  std::string AgentLog() const { return tmp_.Path("agent.log"); }
  std::string HookLog() const { return tmp_.Path("hook.log"); }

  void StartCa(const std::string& listen) {
    const std::string out = tmp_.Path("ca.out");
    ASSERT_OK(WriteFileAtomically(out, "", 0644));
    ca_.Start({Bin("rotor-ca"), "serve", "--data-dir", CaDir(), "--listen",
               listen, "--http-listen", "127.0.0.1:0"},
              out, tmp_.Path("ca.log"));
    std::string line;
    ASSERT_TRUE(WaitFor(
        [&] {
          line = ReadOrEmpty(out);
          return absl::StrContains(line, "rotor-ca: serving grpc=");
        },
        absl::Seconds(30)))
        << ReadOrEmpty(tmp_.Path("ca.log"));
    std::string grpc = line.substr(line.find("grpc=") + 5);
    ca_address_ = grpc.substr(0, grpc.find(' '));
  }

  // Runs rotorctl with admin credentials; returns its stdout+stderr.
  std::string Ctl(const std::string& args, int* code = nullptr) {
    std::string output;
    int rc = RunCommand(absl::StrCat(Bin("rotorctl"), " ", args, " --ca ",
                                     ca_address_, " --credentials ", CaDir(),
                                     "/admin"),
                        &output);
    if (code != nullptr) *code = rc;
    EXPECT_EQ(rc, 0) << output;
    return output;
  }

  void WriteAgentConfig() {
    const std::string hook = tmp_.Path("hook.sh");
    ASSERT_OK(WriteFileAtomically(
        hook,
        absl::StrCat("#!/bin/sh\necho \"$ROTOR_SERIAL $ROTOR_REASON\" >> ",
                     HookLog(), "\n"),
        0755));
    ASSERT_OK(WriteFileAtomically(
        tmp_.Path("agent.yaml"),
        absl::StrCat("ca: ", ca_address_, "\n", "trust_anchor: ", fingerprint_,
                     "\n", "join_token_file: ", tmp_.Path("token"), "\n",
                     "node_name: web-1\n", "state_dir: ", tmp_.Path("state"),
                     "\n", "backoff_initial: 200ms\n", "backoff_max: 2s\n",
                     "certificates:\n", "  - name: web\n",
                     "    spiffe_id: spiffe://example.org/web\n",
                     "    dns_names: [web.internal]\n", "    ttl: 10s\n",
                     "    dir: ", CertDir(), "\n", "    on_rotate:\n",
                     "      exec: [\"", hook, "\"]\n"),
        0644));
  }

  void StartAgent() {
    agent_.Start({Bin("rotor-agent"), "run", "--config", tmp_.Path("agent.yaml")},
                 tmp_.Path("agent.out"), AgentLog());
  }

  // The hook's lines: "<serial> <reason>".
  std::vector<std::pair<std::string, std::string>> HookRuns() {
    std::vector<std::pair<std::string, std::string>> runs;
    for (absl::string_view line :
         absl::StrSplit(ReadOrEmpty(HookLog()), '\n', absl::SkipEmpty())) {
      std::vector<std::string> parts = absl::StrSplit(line, ' ');
      if (parts.size() == 2) runs.emplace_back(parts[0], parts[1]);
    }
    return runs;
  }

  // The serial of DIR/cert.pem, read the way a careful workload reads the
  // pair: ..data is resolved before and after, and a read that straddled a
  // rotation is retried. "mismatch" if a pair read within one set does not
  // match.
  std::string CurrentSerial() {
    for (int attempt = 0; attempt < 100; ++attempt) {
      absl::StatusOr<std::string> before =
          RealFilesystem()->ReadLink(JoinPath(CertDir(), "..data"));
      absl::StatusOr<std::vector<pki::Certificate>> chain =
          pki::Certificate::LoadChain(JoinPath(CertDir(), "cert.pem"));
      absl::StatusOr<pki::PrivateKey> key =
          pki::PrivateKey::Load(JoinPath(CertDir(), "key.pem"));
      absl::StatusOr<std::string> after =
          RealFilesystem()->ReadLink(JoinPath(CertDir(), "..data"));
      if (!before.ok() || !after.ok()) return "";
      if (*before != *after) continue;
      if (!chain.ok() || !key.ok()) continue;
      if (!key->Matches(chain->front().PublicKey())) return "mismatch";
      return chain->front().SerialHex();
    }
    return "";
  }

  size_t CountInLog(absl::string_view text) {
    return CountInFile(AgentLog(), text);
  }

  TempDir tmp_;
  Process ca_;
  Process agent_;
  std::string fingerprint_;
  std::string ca_address_;
};

TEST_F(AgentEndToEndTest, IssuesRotatesRekeysOnRevocationSurvivesRestarts) {
  std::string token = Ctl("token create --node web-1");
  token = std::string(absl::StripAsciiWhitespace(token.substr(0, token.find('\n'))));
  ASSERT_TRUE(absl::StartsWith(token, "rotor-")) << token;
  ASSERT_OK(WriteFileAtomically(tmp_.Path("token"), token + "\n", 0600));
  Ctl("entry create --node 'web-*' --spiffe-id spiffe://example.org/web "
      "--dns web.internal");
  WriteAgentConfig();
  StartAgent();

  // First issuance: the files, with the configured SANs, and the hook ran.
  ASSERT_TRUE(WaitFor([&] { return !HookRuns().empty(); }, absl::Seconds(30)))
      << ReadOrEmpty(AgentLog());
  ASSERT_OK_AND_ASSIGN(std::vector<pki::Certificate> chain,
                       pki::Certificate::LoadChain(JoinPath(CertDir(), "cert.pem")));
  EXPECT_EQ(chain.size(), 2u);
  EXPECT_THAT(chain.front().UriSans(),
              ::testing::ElementsAre("spiffe://example.org/web"));
  EXPECT_THAT(chain.front().DnsSans(), ::testing::ElementsAre("web.internal"));
  EXPECT_EQ(chain.front().NotAfter() - chain.front().NotBefore(),
            absl::Seconds(70))
      << "10 s TTL plus the CA's 60 s backdating";
  EXPECT_EQ(HookRuns().front().first, CurrentSerial());
  EXPECT_EQ(HookRuns().front().second, "issued");
  EXPECT_EQ(ReadOrEmpty(tmp_.Path("token")), "") << "the token is spent";

  // Several rotations, each with a new serial, the hook running each time.
  ASSERT_TRUE(WaitFor([&] { return HookRuns().size() >= 4; }, absl::Seconds(40)))
      << ReadOrEmpty(AgentLog());
  {
    std::set<std::string> serials;
    for (const auto& [serial, reason] : HookRuns()) serials.insert(serial);
    EXPECT_EQ(serials.size(), HookRuns().size()) << ReadOrEmpty(HookLog());
    EXPECT_EQ(HookRuns()[1].second, "renewed");
  }
  EXPECT_GE(CountInLog("INFO rotor-agent: rotated name=web"), 4u);

  // Revocation: right after a rotation (so no renewal is near), revoke the
  // current certificate; new files must be in place within one second.
  size_t runs = HookRuns().size();
  ASSERT_TRUE(WaitFor([&] { return HookRuns().size() > runs; }, absl::Seconds(15)));
  const std::string revoked = CurrentSerial();
  runs = HookRuns().size();
  const absl::Time revoke_start = absl::Now();
  Ctl(absl::StrCat("cert revoke ", revoked, " --reason key-compromise"));
  const absl::Time revoke_returned = absl::Now();
  std::string rekeyed;
  ASSERT_TRUE(WaitFor(
      [&] {
        rekeyed = CurrentSerial();
        return !rekeyed.empty() && rekeyed != revoked;
      },
      absl::Seconds(5)));
  const absl::Duration rekey_time = absl::Now() - revoke_returned;
  EXPECT_LT(rekey_time, absl::Seconds(1))
      << "re-keyed " << rekey_time << " after the revoke call returned ("
      << absl::Now() - revoke_start << " after it started)";
  ASSERT_TRUE(WaitFor([&] { return HookRuns().size() > runs; }, absl::Seconds(5)));
  EXPECT_EQ(HookRuns()[runs].first, rekeyed);
  EXPECT_EQ(HookRuns()[runs].second, "revoked");
  RecordProperty("revocation_rekey_ms",
                 static_cast<int>(absl::ToInt64Milliseconds(rekey_time)));

  // The CA dies. The agent keeps the files, fails its renewal with backoff,
  // and renews as soon as the CA is back on the same address.
  ca_.Kill();
  const std::string before_outage = CurrentSerial();
  const size_t failures = CountInLog("attempt failed; retrying with backoff name=web");
  ASSERT_TRUE(WaitFor(
      [&] {
        return CountInLog("attempt failed; retrying with backoff name=web") >
               failures;
      },
      absl::Seconds(20)))
      << ReadOrEmpty(AgentLog());
  EXPECT_EQ(CurrentSerial(), before_outage) << "files untouched during the outage";
  runs = HookRuns().size();
  const absl::Time restart = absl::Now();
  StartCa(ca_address_);
  ASSERT_TRUE(WaitFor([&] { return HookRuns().size() > runs; }, absl::Seconds(20)))
      << ReadOrEmpty(AgentLog());
  EXPECT_NE(CurrentSerial(), before_outage);
  const absl::Duration recovery = absl::Now() - restart;
  EXPECT_LT(recovery, absl::Seconds(10));
  RecordProperty("recovery_after_ca_restart_ms",
                 static_cast<int>(absl::ToInt64Milliseconds(recovery)));

  // The agent restarts right after a rotation: its valid certificate is kept,
  // nothing is issued and the hook does not run before the renewal that
  // certificate is due for (the restart takes well under its ~4.5 s, but a
  // stalled machine may reach it: then the only change allowed is that
  // scheduled renewal, at or after the time the agent logged for it).
  runs = HookRuns().size();
  ASSERT_TRUE(WaitFor([&] { return HookRuns().size() > runs; }, absl::Seconds(15)));
  agent_.Signal(SIGTERM);
  EXPECT_EQ(agent_.Wait(absl::Seconds(10)), 0) << "SIGTERM exits cleanly";
  const std::string kept = CurrentSerial();
  runs = HookRuns().size();
  const size_t log_before_restart = ReadOrEmpty(AgentLog()).size();
  const size_t ready = CountInLog("INFO rotor-agent: ready ");
  StartAgent();
  ASSERT_TRUE(WaitFor([&] { return CountInLog("INFO rotor-agent: ready ") > ready; },
                      absl::Seconds(10)))
      << ReadOrEmpty(AgentLog());
  const std::string serial_after = CurrentSerial();
  const auto runs_after = HookRuns();
  const absl::Time checked = absl::Now();
  const std::string restart_log =
      ReadOrEmpty(AgentLog()).substr(log_before_restart);
  const std::string kept_line =
      absl::StrCat("kept the certificate on disk name=web serial=", kept, " ");
  absl::Time renewal = absl::InfinitePast();
  for (absl::string_view line : absl::StrSplit(restart_log, '\n')) {
    if (!absl::StrContains(line, kept_line)) continue;
    const size_t at = line.find("next_renewal=");
    std::string error;
    ASSERT_NE(at, absl::string_view::npos) << line;
    ASSERT_TRUE(absl::ParseTime(
        "%Y-%m-%dT%H:%M:%SZ",
        line.substr(at + 13, line.find(' ', at) - at - 13), &renewal, &error))
        << line << ": " << error;
  }
  ASSERT_NE(renewal, absl::InfinitePast())
      << "the certificate on disk was not kept:\n"
      << restart_log;
  if (checked < renewal) {
    EXPECT_EQ(serial_after, kept);
    EXPECT_EQ(runs_after.size(), runs) << ReadOrEmpty(HookLog());
  } else {
    for (size_t i = runs; i < runs_after.size(); ++i) {
      EXPECT_EQ(runs_after[i].second, "renewed") << ReadOrEmpty(HookLog());
    }
    for (absl::string_view line : absl::StrSplit(restart_log, '\n')) {
      if (!absl::StrContains(line, "INFO rotor-agent: rotated name=web "))
        continue;
      absl::Time at;
      std::string error;
      ASSERT_TRUE(absl::ParseTime("%Y-%m-%dT%H:%M:%E*SZ",
                                  line.substr(0, line.find(' ')), &at, &error))
          << line << ": " << error;
      EXPECT_GE(at, renewal) << "rotated before the renewal was due: " << line;
      EXPECT_THAT(std::string(line), HasSubstr("reason=renewed"));
    }
  }

  // `status` shows the certificate from the files.
  std::string status;
  ASSERT_EQ(RunCommand(absl::StrCat(Bin("rotor-agent"), " status --config ",
                                    tmp_.Path("agent.yaml")),
                       &status),
            0)
      << status;
  EXPECT_THAT(status, HasSubstr("agent running"));
  EXPECT_THAT(status, HasSubstr("spiffe://example.org/rotor/node/web-1"));
  EXPECT_THAT(status, HasSubstr("spiffe://example.org/web"));
  agent_.Signal(SIGTERM);
  EXPECT_EQ(agent_.Wait(absl::Seconds(10)), 0);
  ca_.Signal(SIGTERM);
  EXPECT_EQ(ca_.Wait(absl::Seconds(10)), 0);
}

TEST_F(AgentEndToEndTest, RefusesACaThatDoesNotMatchThePin) {
  std::string token = Ctl("token create --node web-1");
  ASSERT_OK(WriteFileAtomically(tmp_.Path("token"), token, 0600));
  WriteAgentConfig();
  std::string yaml = ReadOrEmpty(tmp_.Path("agent.yaml"));
  yaml = absl::StrReplaceAll(
      yaml, {{fingerprint_, "sha256:" + std::string(64, 'a')}});
  ASSERT_OK(WriteFileAtomically(tmp_.Path("agent.yaml"), yaml, 0644));
  StartAgent();
  ASSERT_TRUE(WaitFor([&] { return CountInLog("do not match trust_anchor") > 0; },
                      absl::Seconds(20)))
      << ReadOrEmpty(AgentLog());
  EXPECT_EQ(ReadOrEmpty(tmp_.Path("token")), token) << "the token was not sent";
  EXPECT_FALSE(PathExists(CertDir()));
}

}  // namespace
}  // namespace rotor::agent
