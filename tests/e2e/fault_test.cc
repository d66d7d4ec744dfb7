// Fault injection against the real processes:
//   - rotor-ca killed (SIGKILL) while 8 clients issue, five times over: every
//     certificate a client was given is in the store after the restart, and
//     no serial was handed out twice;
//   - rotor-ca down for longer than a certificate's remaining life: the agent
//     keeps the last pair on disk, and renews as soon as the CA is back;
//   - the certificate folder's disk full (a small tmpfs): the old set stays
//     whole and readable, the agent recovers when space returns;
//   - the store's disk full (a small tmpfs under DATA_DIR/store): issuance is
//     refused with a clear UNAVAILABLE, the certificate it was signing is
//     not stored, reads go on, and issuance resumes when space returns.
// The disk-full tests mount a tmpfs and so need root; without it they skip.
//
// Every wait polls for an event under a deadline; no step sleeps a fixed
// time.
#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pki/certificate.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "rotor/v1/ca.grpc.pb.h"
#include "tests/e2e/agent_run.h"
#include "tests/e2e/ca_rpc.h"
#include "tests/testing/ca_process.h"
#include "tests/testing/process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "util/file.h"

namespace rotor {
namespace {

namespace v1 = ::rotor::v1;
using ::rotor::testing::AgentCertificate;
using ::rotor::testing::AgentRun;
using ::rotor::testing::AttestedNode;
using ::rotor::testing::CaProcess;
using ::rotor::testing::CaRpc;
using ::rotor::testing::Call;
using ::rotor::testing::CurrentSerial;
using ::rotor::testing::ReadCertificatePair;
using ::rotor::testing::ReadFileOrEmpty;
using ::rotor::testing::RunCommand;
using ::rotor::testing::StatusIs;
using ::rotor::testing::TempDir;
using ::rotor::testing::WaitFor;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr char kWeb[] = "spiffe://example.org/web";

// A tmpfs of `size` mounted on `dir` (created if missing) for the life of
// the object. ok() is false, with the reason, when it cannot be mounted
// (not root, no mount permission).
class SmallTmpfs {
 public:
  SmallTmpfs(std::string dir, const std::string& size) : dir_(std::move(dir)) {
    if (::geteuid() != 0) {
      error_ = "mounting a tmpfs needs root";
      return;
    }
    absl::Status made = MakeDirectories(dir_, 0755);
    if (!made.ok()) {
      error_ = std::string(made.message());
      return;
    }
    const std::string options = absl::StrCat("size=", size, ",mode=0755");
    if (::mount("tmpfs", dir_.c_str(), "tmpfs", 0, options.c_str()) != 0) {
      error_ = absl::StrCat("cannot mount a tmpfs on ", dir_, ": ",
                            std::strerror(errno));
      return;
    }
    mounted_ = true;
  }
  ~SmallTmpfs() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  SmallTmpfs(const SmallTmpfs&) = delete;
  SmallTmpfs& operator=(const SmallTmpfs&) = delete;

  bool ok() const { return mounted_; }
  const std::string& error() const { return error_; }

  // Writes `name` in 4 KiB blocks until the file system is full.
  bool Fill(const std::string& name) {
    const std::string path = JoinPath(dir_, name);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return false;
    const std::string block(4096, 'f');
    int err = 0;
    while (true) {
      const ssize_t n = ::write(fd, block.data(), block.size());
      if (n < 0) {
        err = errno;
        break;
      }
    }
    ::close(fd);
    return err == ENOSPC;
  }

  void Free(const std::string& name) { ::unlink(JoinPath(dir_, name).c_str()); }

 private:
  std::string dir_;
  std::string error_;
  bool mounted_ = false;
};

class FaultTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (!HasFailure()) return;
    std::fprintf(stderr, "--- rotor-ca log ---\n%s",
                 ReadFileOrEmpty(tmp_.Path("ca.log")).c_str());
    if (agent_ != nullptr) {
      std::fprintf(stderr, "--- rotor-agent log ---\n%s",
                   agent_->log().c_str());
    }
  }

  // A CA allowing 5 s certificates; `configure` edits ca.yaml before it
  // starts.
  void StartCa(const std::function<void(CaProcess&)>& configure = nullptr) {
    ca_ = std::make_unique<CaProcess>(tmp_.path());
    ASSERT_TRUE(ca_->Init());
    ASSERT_TRUE(ca_->SetConfig("min_ttl", "5s"));
    if (configure) configure(*ca_);
    ASSERT_TRUE(ca_->Start());
    rpc_ = std::make_unique<CaRpc>(*ca_, tmp_.path());
  }

  // An agent for node web-1 keeping one 5 s certificate in `cert_dir`.
  void StartAgent(const std::string& cert_dir) {
    ASSERT_OK(rpc_->CreateEntry("web-*", kWeb, {"web.internal"}).status());
    ASSERT_OK_AND_ASSIGN(std::string token, rpc_->CreateToken("web-1"));
    agent_ = std::make_unique<AgentRun>(tmp_.Path("agent"));
    ASSERT_OK(MakeDirectories(tmp_.Path("agent"), 0700));
    AgentCertificate web;
    web.dir = cert_dir;
    ASSERT_TRUE(agent_->Configure(*ca_, "web-1", token, {web}));
    ASSERT_TRUE(agent_->Start());
  }

  // Waits until `dir` holds a matching pair other than `not_serial`; its
  // serial.
  std::string WaitForNewPair(const std::string& dir,
                             const std::string& not_serial,
                             absl::Duration timeout) {
    std::string serial;
    const bool seen = WaitFor(
        [&] {
          serial = CurrentSerial(dir);
          return !serial.empty() && serial != not_serial;
        },
        timeout);
    EXPECT_TRUE(seen) << "no new certificate in " << dir << " within "
                      << timeout;
    return seen ? serial : "";
  }

  TempDir tmp_;
  std::unique_ptr<CaProcess> ca_;
  std::unique_ptr<CaRpc> rpc_;
  std::unique_ptr<AgentRun> agent_;
};

// --- SIGKILL under concurrent issuance ---

TEST_F(FaultTest, SigkillUnderConcurrentIssuanceLosesNoAcknowledgedCertificate) {
  constexpr int kThreads = 8;
  constexpr int kRounds = 5;
  StartCa([](CaProcess& ca) {
    // One node issues from every thread: lift its rate limit.
    ASSERT_TRUE(ca.SetConfig("per_node_per_second", "100000"));
    ASSERT_TRUE(ca.SetConfig("per_node_burst", "100000"));
  });
  ASSERT_OK(rpc_->CreateEntry("*", kWeb).status());
  ASSERT_OK_AND_ASSIGN(AttestedNode node, rpc_->AttestNode("load-1"));
  // One CSR per thread, reused: the clients spend no CPU on keys.
  std::vector<std::string> csrs;
  for (int i = 0; i < kThreads; ++i) {
    ASSERT_OK_AND_ASSIGN(pki::PrivateKey key,
                         pki::PrivateKey::Generate(pki::KeyType::kEcP256));
    ASSERT_OK_AND_ASSIGN(std::string csr, pki::BuildCsr(key, kWeb, {}));
    csrs.push_back(std::move(csr));
  }

  // Kill after a random number of acknowledged issuances (an event, not a
  // time), with the seed in the test's output to replay a round.
  const unsigned seed = std::random_device()();
  RecordProperty("seed", absl::StrCat(seed));
  std::mt19937 random(seed);
  std::uniform_int_distribution<int> kill_after(5, 80);

  std::set<std::string> acknowledged;  // every round
  int in_flight_failures = 0;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round, ", seed ", seed));
    struct Issued {
      std::string serial;
      std::string der;
    };
    absl::Mutex mu;
    std::vector<Issued> issued;  // guarded by mu
    std::atomic<int> count{0};
    std::atomic<bool> stop{false};
    std::atomic<int> failures{0};
    std::vector<std::thread> clients;
    for (int i = 0; i < kThreads; ++i) {
      clients.emplace_back([&, i] {
        auto stub = rpc_->AsNode(node);
        v1::SignWorkloadRequest request;
        request.set_csr_der(csrs[i]);
        while (!stop.load()) {
          absl::StatusOr<v1::SignWorkloadResponse> response =
              Call(*stub, &v1::NodeService::Stub::SignWorkload, request,
                   absl::Seconds(5));
          if (!response.ok()) {
            failures.fetch_add(1);
            continue;  // the CA is gone; `stop` follows
          }
          absl::MutexLock lock(&mu);
          issued.push_back({response->certificate().serial(),
                            response->certificate().der(0)});
          count.fetch_add(1);
        }
      });
    }
    const int threshold = kill_after(random);
    const bool reached =
        WaitFor([&] { return count.load() >= threshold; }, absl::Seconds(20));
    ca_->Kill();
    stop = true;
    for (std::thread& t : clients) t.join();
    ASSERT_TRUE(reached) << "only " << count.load() << " issued";
    in_flight_failures += failures.load();

    ASSERT_TRUE(ca_->Start());
    auto admin = rpc_->Admin();
    absl::MutexLock lock(&mu);
    for (const Issued& cert : issued) {
      EXPECT_TRUE(acknowledged.insert(cert.serial).second)
          << "serial " << cert.serial << " handed out twice";
      v1::GetCertificateRequest get;
      get.set_serial(cert.serial);
      absl::StatusOr<v1::CertificateInfo> stored =
          Call(*admin, &v1::AdminService::Stub::GetCertificate, get);
      ASSERT_OK(stored.status()) << "acknowledged " << cert.serial
                                 << " is missing after the crash";
      EXPECT_EQ(stored->der(), cert.der) << cert.serial;
      EXPECT_EQ(stored->node_name(), "load-1");
    }
  }
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> listed, rpc_->ListSerials());
  const std::set<std::string> unique(listed.begin(), listed.end());
  EXPECT_EQ(unique.size(), listed.size()) << "a serial is stored twice";
  for (const std::string& serial : acknowledged) {
    EXPECT_TRUE(unique.contains(serial)) << serial;
  }
  RecordProperty("acknowledged", static_cast<int>(acknowledged.size()));
  RecordProperty("stored", static_cast<int>(listed.size()));
  RecordProperty("failed_in_flight", in_flight_failures);
}

// --- The CA down for longer than a certificate lives ---

TEST_F(FaultTest, AgentKeepsTheLastPairThroughAnOutageLongerThanItsLife) {
  StartCa();
  const std::string address = ca_->grpc_address();
  const std::string dir = tmp_.Path("certs/web");
  StartAgent(dir);
  const std::string first = WaitForNewPair(dir, "", absl::Seconds(30));
  ASSERT_FALSE(first.empty());

  ca_->Kill();
  // The pair on disk when the CA died is the last one the agent will get
  // until it returns; wait until it has expired and the agent said so.
  ASSERT_TRUE(WaitFor(
      [&] {
        return agent_->CountInLog("the certificate on disk has expired and "
                                  "could not be renewed") > 0;
      },
      absl::Seconds(30)));
  ASSERT_OK_AND_ASSIGN(pki::Certificate kept, ReadCertificatePair(dir));
  EXPECT_LT(kept.NotAfter(), absl::Now()) << "it has expired";
  EXPECT_EQ(agent_->process().Wait(absl::ZeroDuration()), -1)
      << "the agent is still running";
  EXPECT_GT(agent_->CountInLog("attempt failed; retrying with backoff "
                               "name=web code=UNAVAILABLE"),
            0u);

  // Back on the same address: a new, valid pair, without any restart of
  // the agent.
  ASSERT_TRUE(ca_->Start({"--listen", address}));
  const std::string renewed = WaitForNewPair(dir, kept.SerialHex(),
                                             absl::Seconds(20));
  ASSERT_FALSE(renewed.empty());
  ASSERT_OK_AND_ASSIGN(pki::Certificate fresh, ReadCertificatePair(dir));
  EXPECT_GT(fresh.NotAfter(), absl::Now());
}

// --- Disk full ---

TEST_F(FaultTest, FullCertificateFolderKeepsTheOldSetAndRecovers) {
  SmallTmpfs fs(tmp_.Path("certs"), "256k");
  if (!fs.ok()) GTEST_SKIP() << fs.error();
  StartCa();
  const std::string dir = tmp_.Path("certs/web");
  StartAgent(dir);
  const std::string first = WaitForNewPair(dir, "", absl::Seconds(30));
  ASSERT_FALSE(first.empty());

  ASSERT_TRUE(fs.Fill("filler"));
  const size_t failures = agent_->CountInLog("No space left on device");
  ASSERT_TRUE(WaitFor(
      [&] {
        return agent_->CountInLog("No space left on device") > failures;
      },
      absl::Seconds(20)));
  // The old set is whole: the same matching pair, and nothing half-written
  // left beside it (the failed attempt's folder is removed).
  EXPECT_EQ(CurrentSerial(dir), first);
  const auto hidden_folders = [&] {
    absl::StatusOr<std::vector<std::string>> entries =
        agent::RealFilesystem()->ListDirectory(dir);
    int count = 0;
    if (!entries.ok()) return -1;
    for (const std::string& e : *entries) {
      if (absl::StartsWith(e, "..") && e != "..data") ++count;
    }
    return count;
  };
  EXPECT_TRUE(WaitFor([&] { return hidden_folders() == 1; }, absl::Seconds(5)))
      << hidden_folders() << " hidden folders in " << dir;
  EXPECT_THAT(agent_->log(), HasSubstr(dir)) << "the error names the folder";

  fs.Free("filler");
  const std::string next = WaitForNewPair(dir, first, absl::Seconds(20));
  ASSERT_FALSE(next.empty());
  EXPECT_TRUE(WaitFor([&] { return hidden_folders() == 1; }, absl::Seconds(5)))
      << "the old folder is removed after the swap";
}

TEST_F(FaultTest, FullStoreDiskIsUnavailableStoresNothingAndRecovers) {
  // The store moves onto a 1 MiB tmpfs right after init.
  ca_ = std::make_unique<CaProcess>(tmp_.path());
  ASSERT_TRUE(ca_->Init());
  // The refusal must come from the disk, never from the rate limit.
  ASSERT_TRUE(ca_->SetConfig("per_node_per_second", "100000"));
  ASSERT_TRUE(ca_->SetConfig("per_node_burst", "100000"));
  const std::string store_dir = JoinPath(ca_->data_dir(), "store");
  const std::string moved = tmp_.Path("store-at-init");
  ASSERT_EQ(std::rename(store_dir.c_str(), moved.c_str()), 0);
  SmallTmpfs fs(store_dir, "1m");
  if (!fs.ok()) GTEST_SKIP() << fs.error();
  std::string output;
  ASSERT_EQ(RunCommand(absl::StrCat("cp -a ", moved, "/. ", store_dir,
                                    " && chmod 0700 ", store_dir),
                       &output),
            0)
      << output;
  ASSERT_TRUE(ca_->Start());
  rpc_ = std::make_unique<CaRpc>(*ca_, tmp_.path());
  ASSERT_OK(rpc_->CreateEntry("*", kWeb).status());
  ASSERT_OK_AND_ASSIGN(AttestedNode node, rpc_->AttestNode("web-1"));
  auto stub = rpc_->AsNode(node);
  ASSERT_OK_AND_ASSIGN(pki::PrivateKey key,
                       pki::PrivateKey::Generate(pki::KeyType::kEcP256));
  ASSERT_OK_AND_ASSIGN(std::string csr, pki::BuildCsr(key, kWeb, {}));
  v1::SignWorkloadRequest request;
  request.set_csr_der(csr);

  ASSERT_TRUE(fs.Fill("filler"));
  // LMDB reuses freed pages, so a few more issuances may fit; the first
  // that needs a new page is refused.
  std::vector<std::string> issued;
  absl::Status refusal;
  for (int i = 0; i < 500 && refusal.ok(); ++i) {
    absl::StatusOr<v1::SignWorkloadResponse> response =
        Call(*stub, &v1::NodeService::Stub::SignWorkload, request);
    if (response.ok()) {
      issued.push_back(response->certificate().serial());
    } else {
      refusal = response.status();
    }
  }
  EXPECT_THAT(refusal,
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("the store cannot be written"),
                             HasSubstr("No space left on device"))));
  // The certificate it signed is not stored: the CA logs its serial.
  std::string unstored;
  for (absl::string_view line :
       absl::StrSplit(ReadFileOrEmpty(ca_->log_path()), '\n')) {
    if (!absl::StrContains(line, "certificate not stored; not issued")) {
      continue;
    }
    const size_t at = line.find(" serial=");
    if (at == absl::string_view::npos) continue;
    unstored = std::string(line.substr(at + 8, line.find(' ', at + 8) - at - 8));
  }
  ASSERT_FALSE(unstored.empty()) << "no \"certificate not stored\" line";
  auto admin = rpc_->Admin();
  v1::GetCertificateRequest get;
  get.set_serial(unstored);
  EXPECT_THAT(Call(*admin, &v1::AdminService::Stub::GetCertificate, get),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("not found")));
  // Reads go on: everything acknowledged is listed.
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> listed, rpc_->ListSerials());
  for (const std::string& serial : issued) {
    EXPECT_THAT(listed, ::testing::Contains(serial));
  }
  // Still full: still refused, still nothing stored.
  EXPECT_THAT(Call(*stub, &v1::NodeService::Stub::SignWorkload, request),
              StatusIs(absl::StatusCode::kUnavailable, ::testing::_));
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> still, rpc_->ListSerials());
  EXPECT_EQ(still.size(), listed.size());

  // Space returns: issuance resumes, and a restart finds a sound store.
  fs.Free("filler");
  ASSERT_OK_AND_ASSIGN(
      v1::SignWorkloadResponse after,
      Call(*stub, &v1::NodeService::Stub::SignWorkload, request));
  stub.reset();
  admin.reset();
  ASSERT_EQ(ca_->Stop(), 0);
  ASSERT_TRUE(ca_->Start());
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> restarted, rpc_->ListSerials());
  EXPECT_EQ(restarted.size(), listed.size() + 2)  // + after + new server cert
      << "the store holds exactly what was acknowledged";
  EXPECT_THAT(restarted, ::testing::Contains(after.certificate().serial()));
  EXPECT_THAT(restarted, ::testing::Not(::testing::Contains(unstored)));
}

}  // namespace
}  // namespace rotor
