// The HTTP listener in process: a CaServer on port 0, revocations made
// through the Authority, answers checked with curl and the openssl CLI.
#include "ca/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "ca/crl_publisher.h"
#include "ca/data_dir.h"
#include "ca/init.h"
#include "ca/server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pki/random.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "util/clock.h"
#include "util/file.h"
#include "util/log.h"

namespace rotor::ca {
namespace {

using ::rotor::testing::RunCommand;
using ::rotor::testing::StatusIs;
using ::rotor::testing::TempDir;
using ::testing::HasSubstr;

TEST(HostPortTest, SplitsAndJoins) {
  std::string host;
  int port = -1;
  ASSERT_OK(SplitHostPort("127.0.0.1:8080", &host, &port));
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 8080);
  ASSERT_OK(SplitHostPort("[::1]:0", &host, &port));
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 0);
  EXPECT_EQ(JoinHostPort("::1", 443), "[::1]:443");
  EXPECT_EQ(JoinHostPort("localhost", 443), "localhost:443");
}

TEST(HostPortTest, RefusesMalformedAddresses) {
  std::string host;
  int port = 0;
  EXPECT_THAT(SplitHostPort("nonsense", &host, &port),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("address \"nonsense\" is not HOST:PORT")));
  EXPECT_THAT(SplitHostPort("host:99999", &host, &port),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("needs a host and a port in 0-65535")));
  EXPECT_THAT(SplitHostPort("[::1]", &host, &port),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is not [IPv6]:PORT")));
  EXPECT_THAT(SplitHostPort(":80", &host, &port),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is not HOST:PORT")));
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetLogLevel(LogLevel::kWarning);
    InitOptions init;
    init.data_dir = tmp_.Path("data");
    init.trust_domain = "example.org";
    ASSERT_OK(InitCa(init, absl::Now(), *pki::SystemRandom()).status());
    data_ = DataDir{init.data_dir};
    ServeOptions options;
    options.data_dir = data_.root;
    options.listen = "127.0.0.1:0";
    options.http_listen = "127.0.0.1:0";
    ASSERT_OK_AND_ASSIGN(server_, CaServer::Start(options, RealClock(),
                                                  pki::SystemRandom()));
    server_cert_ = JoinPath(data_.root, "server/cert.pem");
  }

  std::string Url(absl::string_view path) {
    return absl::StrCat("http://", server_->http_address(), path);
  }

  std::string Sh(const std::string& command) {
    std::string output;
    EXPECT_EQ(RunCommand(command, &output), 0) << command << "\n" << output;
    return output;
  }

  TempDir tmp_;
  DataDir data_;
  std::unique_ptr<CaServer> server_;
  std::string server_cert_;
};

// Stopping a server the moment it started must not leave its listening
// thread in accept() (httplib ignores stop() until that thread runs).
TEST(HttpServerStopTest, StopsRightAfterStartEveryTime) {
  HttpServerContext context;
  for (int i = 0; i < 200; ++i) {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<HttpServer> server,
                         HttpServer::Start("127.0.0.1:0", context));
    server->Stop();
  }
}

// A connection left open after its answer would hold Stop() until
// httplib's keep-alive timeout: each is closed after one answer.
TEST(HttpServerStopTest, ClosesEachConnectionAfterItsAnswer) {
  HttpServerContext context;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<HttpServer> server,
                       HttpServer::Start("127.0.0.1:0", context));
  const int sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(sock, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(server->port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(sock, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
            0);
  const std::string request =
      "GET /healthz HTTP/1.1\r\nHost: ca\r\nConnection: keep-alive\r\n\r\n";
  ASSERT_EQ(send(sock, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  // Everything up to the end of the stream: the server closes it.
  std::string answer;
  bool closed = false;
  while (true) {
    pollfd p{sock, POLLIN, 0};
    if (poll(&p, 1, 10000) <= 0) break;  // no end within 10 s
    char buf[1024];
    const ssize_t n = recv(sock, buf, sizeof(buf), 0);
    if (n <= 0) {
      closed = n == 0;
      break;
    }
    answer.append(buf, n);
  }
  close(sock);
  EXPECT_THAT(answer, ::testing::StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(answer, HasSubstr("Connection: close\r\n"));
  EXPECT_THAT(answer, ::testing::EndsWith("ok\n"));
  EXPECT_TRUE(closed) << answer;
}

TEST_F(HttpServerTest, OcspSaysRevokedWithTimeAndReason) {
  const std::string serial = server_->tls().certificate().SerialHex();
  const Caller admin{.spiffe_id = "spiffe://example.org/rotor/admin/init",
                     .serial = "1",
                     .peer = "test"};
  ASSERT_OK(server_->authority()
                .RevokeCertificate(admin, serial, "keyCompromise")
                .status());
  const std::string answer = Sh(absl::StrCat(
      "openssl ocsp -issuer ", data_.IntermediateCert(), " -cert ",
      server_cert_, " -url ", Url("/ocsp"), " -CAfile ", data_.RootCert(),
      " 2>&1"));
  EXPECT_THAT(answer, HasSubstr("Response verify OK"));
  EXPECT_THAT(answer, HasSubstr(absl::StrCat(server_cert_, ": revoked")));
  EXPECT_THAT(answer, HasSubstr("Reason: keyCompromise"));
  EXPECT_THAT(answer, HasSubstr("Revocation Time:"));
}

TEST_F(HttpServerTest, CrlListsARevokedCertificateWithinASecond) {
  const uint64_t before = server_->authority().GetCrl().number;
  const std::string serial = server_->tls().certificate().SerialHex();
  const Caller admin{.spiffe_id = "spiffe://example.org/rotor/admin/init",
                     .serial = "1",
                     .peer = "test"};
  ASSERT_OK(
      server_->authority().RevokeCertificate(admin, serial, "").status());
  ASSERT_TRUE(server_->authority().crl_publisher().WaitForNumberAbove(
      before, absl::Seconds(1)));
  const std::string crl = tmp_.Path("crl.der");
  Sh(absl::StrCat("curl -sf -o ", crl, " ", Url("/crl")));
  const std::string text =
      Sh(absl::StrCat("openssl crl -inform DER -noout -text -in ", crl));
  EXPECT_THAT(absl::AsciiStrToLower(text), HasSubstr(serial));
}

TEST_F(HttpServerTest, OcspGetWithGarbageIsMalformedRequest) {
  const std::string out = tmp_.Path("resp.der");
  Sh(absl::StrCat("curl -sf -o ", out, " ", Url("/ocsp/%21%21not-base64")));
  std::string answer;
  RunCommand(absl::StrCat("openssl ocsp -respin ", out,
                          " -resp_text -noverify 2>&1"),
             &answer);
  EXPECT_THAT(answer, HasSubstr("Responder Error: malformedrequest"));
}

TEST_F(HttpServerTest, MetricsCountConnectedAgentsAndStoreCommits) {
  const std::string metrics = Sh(absl::StrCat("curl -sf ", Url("/metrics")));
  EXPECT_THAT(metrics, HasSubstr("rotor_connected_agents 0\n"));
  EXPECT_THAT(metrics, HasSubstr("rotor_store_commit_batch_size_count "));
  EXPECT_THAT(metrics, HasSubstr("rotor_store_commit_batch_size_max "));
  EXPECT_THAT(metrics,
              HasSubstr(absl::StrCat(
                  "rotor_server_certificate_expiry_timestamp_seconds ",
                  absl::ToUnixSeconds(
                      server_->tls().certificate().NotAfter()),
                  "\n")));
  EXPECT_THAT(metrics, HasSubstr("rotor_crl_number "));
}

}  // namespace
}  // namespace rotor::ca
