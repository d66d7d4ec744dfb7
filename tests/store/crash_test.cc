// The store never loses an acknowledged write: a child process writes from
// 16 threads and reports every acknowledged serial over a pipe; the parent
// SIGKILLs it at a random moment (after a random number of
// acknowledgements), reopens the store, and checks that every acknowledged
// record is there and intact. Repeated kCrashRounds times on one store.
//
// The seed is printed; ROTOR_CRASH_SEED=<n> replays a run.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/lmdb_store.h"
#include "tests/store/test_records.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace rotor::store {
namespace {

using ::rotor::store::testing::IsOkAndHolds;
using ::rotor::store::testing::MakeRecord;
using ::rotor::store::testing::SerialFor;
using ::rotor::testing::TempDir;
using ::testing::Optional;

constexpr int kCrashRounds = 24;
constexpr int kWriterThreads = 16;
// A kill comes after 0 to kMaxAcksBeforeKill acknowledgements (0: while the
// child may still be opening the store).
constexpr int kMaxAcksBeforeKill = 600;
// Serials of round r, thread t: SerialFor(r << 40 | t << 32 | i).
constexpr int kRoundShift = 40;
constexpr int kThreadShift = 32;

// Every field follows from the serial, so the parent knows what to expect.
CertificateRecord ExpectedRecord(const std::string& serial) {
  return MakeRecord(serial, absl::StrCat("node-", serial.substr(serial.size() - 1)),
                    absl::StrCat("spiffe://td/w", serial.substr(serial.size() - 2)));
}

// Writes `line` (at most PIPE_BUF bytes, so the write is atomic) or dies.
void WriteLine(int fd, const std::string& line) {
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) _exit(4);
    p += n;
    left -= static_cast<size_t>(n);
  }
}

// The child: opens the store and writes from 16 threads until killed,
// reporting "<serial>\n" for each acknowledged put, "E <message>\n" on error.
[[noreturn]] void RunChild(const std::string& store_dir, uint64_t round,
                           int fd) {
  absl::StatusOr<std::unique_ptr<LmdbStore>> store =
      LmdbStore::Open(store_dir);
  if (!store.ok()) {
    WriteLine(fd, absl::StrCat("E ", store.status().ToString(), "\n"));
    _exit(2);
  }
  std::vector<std::thread> threads;
  for (uint64_t t = 0; t < kWriterThreads; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t i = 0;; ++i) {
        std::string serial =
            SerialFor(round << kRoundShift | t << kThreadShift | i);
        absl::Status status = (*store)->PutCertificate(ExpectedRecord(serial));
        if (!status.ok()) {
          WriteLine(fd, absl::StrCat("E ", status.ToString(), "\n"));
          _exit(3);
        }
        WriteLine(fd, absl::StrCat(serial, "\n"));
      }
    });
  }
  for (std::thread& t : threads) t.join();  // never: killed first
  _exit(5);
}

uint64_t Seed() {
  const char* env = std::getenv("ROTOR_CRASH_SEED");
  uint64_t seed = 0;
  if (env != nullptr && absl::SimpleAtoi(env, &seed)) return seed;
  return std::random_device{}();
}

TEST(CrashTest, EveryAcknowledgedRecordSurvivesSigkill) {
  const uint64_t seed = Seed();
  std::printf("crash test seed: %llu (ROTOR_CRASH_SEED replays it)\n",
              static_cast<unsigned long long>(seed));
  RecordProperty("seed", std::to_string(seed));
  std::mt19937_64 rng(seed);
  TempDir dir;
  const std::string store_dir = dir.Path("store");
  std::vector<std::string> acked_all;

  for (uint64_t round = 0; round < kCrashRounds; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round, " seed ", seed));
    // The first round creates the store; one in eight later ones is
    // killed at once, possibly while opening it.
    size_t kill_after =
        std::uniform_int_distribution<size_t>(1, kMaxAcksBeforeKill)(rng);
    if (round > 0 && std::uniform_int_distribution<int>(0, 7)(rng) == 0) {
      kill_after = 0;
    }
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      RunChild(store_dir, round, fds[1]);
    }
    close(fds[1]);

    // Read acknowledgements; kill after `kill_after` of them, then drain
    // what the child acknowledged before it died.
    std::string buffer;
    std::vector<std::string> acked;
    bool killed = false;
    if (kill_after == 0) {
      kill(pid, SIGKILL);
      killed = true;
    }
    char chunk[4096];
    while (true) {
      ssize_t n = read(fds[0], chunk, sizeof(chunk));
      if (n < 0 && errno == EINTR) continue;
      ASSERT_GE(n, 0);
      if (n == 0) break;  // the child is gone
      buffer.append(chunk, static_cast<size_t>(n));
      size_t newline;
      while ((newline = buffer.find('\n')) != std::string::npos) {
        std::string line = buffer.substr(0, newline);
        buffer.erase(0, newline + 1);
        ASSERT_FALSE(line.starts_with("E ")) << "child failed: " << line;
        acked.push_back(line);
      }
      if (!killed && acked.size() >= kill_after) {
        kill(pid, SIGKILL);
        killed = true;
      }
    }
    close(fds[0]);
    int wstatus = 0;
    ASSERT_EQ(waitpid(pid, &wstatus, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL)
        << "child ended otherwise: " << wstatus;
    ASSERT_TRUE(buffer.empty()) << "partial line: " << buffer;
    acked_all.insert(acked_all.end(), acked.begin(), acked.end());

    // Everything acknowledged, in this round and before, is there intact.
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                         LmdbStore::Open(store_dir));
    for (const std::string& serial : acked_all) {
      ASSERT_THAT(store->GetCertificate(serial),
                  IsOkAndHolds(Optional(ExpectedRecord(serial))))
          << "acknowledged serial " << serial << " lost";
    }
    ASSERT_OK_AND_ASSIGN(LmdbStore::IndexCounts counts,
                         store->GetIndexCounts());
    EXPECT_GE(counts.certificates, acked_all.size());
    EXPECT_EQ(counts.by_node, counts.certificates);
    EXPECT_EQ(counts.by_spiffe_id, counts.certificates);
    EXPECT_EQ(counts.by_not_after, counts.certificates);
    std::printf("round %llu: killed after %zu acks (asked %zu), store has "
                "%llu records\n",
                static_cast<unsigned long long>(round), acked.size(),
                kill_after, static_cast<unsigned long long>(counts.certificates));
  }
}

}  // namespace
}  // namespace rotor::store
