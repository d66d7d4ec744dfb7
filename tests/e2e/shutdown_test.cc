// rotor-ca stopping with agents connected: SIGTERM ends their WatchUpdates
// streams and the process exits promptly, with code 0 and its "stopped"
// line logged, whatever the clients do with their idle connections.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "ca/http_server.h"
#include "gtest/gtest.h"
#include "tests/e2e/ca_rpc.h"
#include "tests/testing/ca_process.h"
#include "tests/testing/process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace rotor::testing {
namespace {

using ::testing::HasSubstr;

// Generous, so that a loaded machine does not fail the test; a healthy CA
// exits well within half a second (the figure is printed, not asserted).
constexpr absl::Duration kExitDeadline = absl::Seconds(5);
constexpr int kAgents = 3;

// An HTTP client that asked for /metrics on a connection it keeps open, as
// a Prometheus scraper does between scrapes: the socket, once the answer's
// headers arrived (-1 on failure, with a gtest failure).
int ScrapeKeepingTheConnection(const std::string& address) {
  std::string host;
  int port = 0;
  EXPECT_OK(ca::SplitHostPort(address, &host, &port));
  const int sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  if (sock < 0 ||
      connect(sock, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ADD_FAILURE() << "cannot connect to " << address;
    if (sock >= 0) close(sock);
    return -1;
  }
  const std::string request = absl::StrCat(
      "GET /metrics HTTP/1.1\r\nHost: ", address,
      "\r\nConnection: keep-alive\r\n\r\n");
  send(sock, request.data(), request.size(), MSG_NOSIGNAL);
  std::string answer;
  while (answer.find("\r\n\r\n") == std::string::npos) {
    pollfd p{sock, POLLIN, 0};
    char buf[4096];
    if (poll(&p, 1, 10000) <= 0) break;
    const ssize_t n = recv(sock, buf, sizeof(buf), 0);
    if (n <= 0) break;
    answer.append(buf, n);
  }
  EXPECT_THAT(answer, ::testing::StartsWith("HTTP/1.1 200"));
  return sock;
}

// One open WatchUpdates stream, read to its end on a thread of its own, as
// an agent reads it.
struct Watch {
  std::unique_ptr<v1::NodeService::Stub> stub;
  std::unique_ptr<grpc::ClientContext> context;
  std::unique_ptr<grpc::ClientReader<v1::Update>> reader;
  grpc::Status status;
  std::thread thread;
};

TEST(ShutdownTest, SigtermWithAgentsWatchingExitsPromptlyAndCleanly) {
  TempDir tmp;
  CaProcess ca(tmp.path());
  ASSERT_TRUE(ca.Init());
  ASSERT_TRUE(ca.Start());
  CaRpc rpc(ca, tmp.path());

  std::vector<Watch> watches;
  for (int i = 0; i < kAgents; ++i) {
    ASSERT_OK_AND_ASSIGN(AttestedNode node,
                         rpc.AttestNode(absl::StrCat("web-", i)));
    Watch watch;
    watch.stub = rpc.AsNode(node);
    watch.context = std::make_unique<grpc::ClientContext>();
    watch.context->set_deadline(std::chrono::system_clock::now() +
                                std::chrono::seconds(60));
    watch.reader =
        watch.stub->WatchUpdates(watch.context.get(), v1::WatchUpdatesRequest());
    // The first messages (bundle, CRL) say the stream is open on the CA.
    v1::Update update;
    ASSERT_TRUE(watch.reader->Read(&update));
    EXPECT_TRUE(update.has_bundle());
    ASSERT_TRUE(watch.reader->Read(&update));
    EXPECT_TRUE(update.has_crl());
    watches.push_back(std::move(watch));
  }
  for (Watch& watch : watches) {
    watch.thread = std::thread([&watch] {
      v1::Update update;
      while (watch.reader->Read(&update)) {
      }
      watch.status = watch.reader->Finish();
    });
  }

  const int scraper = ScrapeKeepingTheConnection(ca.http_address());

  const absl::Time signalled = absl::Now();
  ca.process().Signal(SIGTERM);
  const int exit_code = ca.process().Wait(kExitDeadline);
  const absl::Duration took = absl::Now() - signalled;
  ASSERT_EQ(exit_code, 0) << "exit code (-1: still running after "
                          << kExitDeadline << ")\n"
                          << ReadFileOrEmpty(ca.log_path());
  RecordProperty("sigterm_to_exit_ms",
                 absl::StrCat(absl::ToInt64Milliseconds(took)));
  std::printf("rotor-ca exited %s after SIGTERM with %d streams open\n",
              absl::FormatDuration(took).c_str(), kAgents);

  if (scraper >= 0) close(scraper);

  const std::string log = ReadFileOrEmpty(ca.log_path());
  EXPECT_THAT(log, HasSubstr("shutting down signal=Terminated"));
  EXPECT_THAT(log, HasSubstr("INFO rotor-ca: stopped"));
  // Each agent was told to reconnect rather than seeing a broken stream.
  for (Watch& watch : watches) {
    watch.thread.join();
    EXPECT_EQ(watch.status.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_THAT(watch.status.error_message(),
                HasSubstr("rotor-ca is shutting down; reconnect"));
  }
}

}  // namespace
}  // namespace rotor::testing
