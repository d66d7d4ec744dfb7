#include "ca/http_server.h"

#include <atomic>
#include <memory>

#include <httplib.h>
#include <sys/socket.h>

#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/strings/string_view.h"
#include "pki/ocsp.h"
#include "util/log.h"

namespace rotor::ca {
namespace {

constexpr char kOcspResponseType[] = "application/ocsp-response";
// OCSP requests are small; anything larger is refused by the responder too.
constexpr size_t kMaxRequestBytes = 64 * 1024;

void SendText(httplib::Response& res, int status, absl::string_view text) {
  res.status = status;
  res.set_content(std::string(text), "text/plain; charset=utf-8");
}

}  // namespace

absl::Status SplitHostPort(absl::string_view address, std::string* host,
                           int* port) {
  absl::string_view h;
  absl::string_view p;
  if (absl::StartsWith(address, "[")) {
    const size_t close = address.find("]:");
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "address \"", address, "\" is not [IPv6]:PORT"));
    }
    h = address.substr(1, close - 1);
    p = address.substr(close + 2);
  } else {
    const size_t colon = address.rfind(':');
    if (colon == absl::string_view::npos || colon == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("address \"", address, "\" is not HOST:PORT"));
    }
    h = address.substr(0, colon);
    p = address.substr(colon + 1);
  }
  int value = 0;
  if (h.empty() || !absl::SimpleAtoi(p, &value) || value < 0 ||
      value > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "address \"", address, "\" needs a host and a port in 0-65535"));
  }
  *host = std::string(h);
  *port = value;
  return absl::OkStatus();
}

std::string JoinHostPort(absl::string_view host, int port) {
  if (host.find(':') != absl::string_view::npos) {
    return absl::StrCat("[", host, "]:", port);
  }
  return absl::StrCat(host, ":", port);
}

HttpServer::HttpServer(HttpServerContext context, std::string host)
    : context_(std::move(context)),
      host_(std::move(host)),
      server_(std::make_unique<httplib::Server>()) {}

HttpServer::~HttpServer() { Stop(); }

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const std::string& listen, const HttpServerContext& context) {
  std::string host;
  int port = 0;
  absl::Status split = SplitHostPort(listen, &host, &port);
  if (!split.ok()) return split;
  std::unique_ptr<HttpServer> server(new HttpServer(context, host));
  server->Route();
  if (port == 0) {
    port = server->server_->bind_to_any_port(host);
    if (port < 0) port = 0;
  } else if (!server->server_->bind_to_port(host, port)) {
    port = 0;
  }
  if (port == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen for HTTP on ", listen,
        " (address in use, or not an address of this host)"));
  }
  server->port_ = port;
  httplib::Server* raw = server->server_.get();
  auto listening_ended = std::make_shared<std::atomic<bool>>(false);
  server->thread_ = std::thread([raw, listening_ended] {
    raw->listen_after_bind();
    *listening_ended = true;
  });
  // httplib's stop() does nothing until the listening thread has marked the
  // server running, so a Stop() that came sooner would leave that thread in
  // accept() forever (and Stop's join with it). httplib 0.11 has no ready
  // callback: wait for the flag, which is set before the first accept().
  while (!raw->is_running() && !*listening_ended) {
    absl::SleepFor(absl::Microseconds(50));
  }
  return server;
}

void HttpServer::Stop() {
  if (server_ != nullptr) server_->stop();
  if (thread_.joinable()) thread_.join();
}

void HttpServer::Route() {
  httplib::Server& s = *server_;
  // cpp-httplib's default sets SO_REUSEPORT, which lets a second process
  // bind the same port and silently take half the requests. Only
  // SO_REUSEADDR (restart while old connections linger in TIME_WAIT).
  s.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  s.set_payload_max_length(kMaxRequestBytes);
  s.set_read_timeout(10);
  s.set_write_timeout(10);
  s.set_keep_alive_timeout(5);
  // One request per connection. cpp-httplib 0.11's stop() waits for each
  // idle keep-alive connection until its keep-alive timeout runs out, so a
  // scraper's open connection would hold the daemon's shutdown for 5 s.
  // The clients here (scrapers, CRL and OCSP fetches) ask now and then; a
  // new connection for each costs them nothing that matters.
  s.set_keep_alive_max_count(1);

  s.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    SendText(res, 200, "ok\n");
  });

  s.Get("/bundle", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(pki::ChainToPem(context_.authority->GetBundle().roots),
                    "application/x-pem-file");
  });

  auto serve_crl = [this](size_t index, httplib::Response& res) {
    const CrlSet crl = context_.authority->GetCrl();
    if (index >= crl.der.size()) {
      SendText(res, 404,
               index == 0 ? "no CRL has been published yet\n"
                          : "this CA does not hold the root key, so it "
                            "publishes no root CRL\n");
      return;
    }
    res.set_content(crl.der[index], "application/pkix-crl");
  };
  s.Get("/crl", [serve_crl](const httplib::Request&, httplib::Response& res) {
    serve_crl(0, res);
  });
  s.Get("/crl/root",
        [serve_crl](const httplib::Request&, httplib::Response& res) {
          serve_crl(1, res);
        });

  auto answer_ocsp = [this](absl::string_view request_der,
                            httplib::Response& res) {
    bool lookup_failed = false;
    auto lookup = [&](absl::string_view serial) -> pki::OcspStatus {
      pki::OcspStatus status;  // unknown
      absl::StatusOr<std::optional<store::CertificateRecord>> record =
          context_.store->GetCertificate(serial);
      if (!record.ok()) {
        LogError("OCSP lookup failed", {{"serial", std::string(serial)},
                                        {"error", record.status().ToString()}});
        lookup_failed = true;
        return status;
      }
      if (!record->has_value()) return status;
      const store::CertificateRecord& r = **record;
      if (r.revoked) {
        status.kind = pki::OcspStatus::Kind::kRevoked;
        status.revoked_at = r.revoked_at;
        status.reason = r.revocation_reason;
      } else {
        status.kind = pki::OcspStatus::Kind::kGood;
      }
      return status;
    };
    pki::OcspOptions options;
    options.now = context_.clock->Now();
    options.validity = context_.ocsp_validity;
    absl::StatusOr<std::string> answer = pki::AnswerOcspRequest(
        request_der,
        pki::Signer{*context_.ocsp_certificate, *context_.ocsp_key}, lookup,
        options);
    if (!answer.ok() || lookup_failed) {
      if (!answer.ok()) {
        LogError("OCSP signing failed", {{"error", answer.status().ToString()}});
      }
      answer = pki::OcspInternalErrorResponse();
    }
    if (!answer.ok()) {
      SendText(res, 500, "cannot build an OCSP response\n");
      return;
    }
    res.set_content(*answer, kOcspResponseType);
  };

  s.Post("/ocsp", [answer_ocsp](const httplib::Request& req,
                                httplib::Response& res) {
    answer_ocsp(req.body, res);
  });
  // RFC 6960 appendix A.1: GET {url}/{url-encoding of base64 of the DER}.
  // Base64 may contain '/', so the rest of the path is the request.
  s.Get(R"(/ocsp/(.+))", [answer_ocsp](const httplib::Request& req,
                                       httplib::Response& res) {
    // cpp-httplib has decoded %XX in the path already; decoding again is
    // harmless for base64, which has no '%'.
    const std::string encoded =
        httplib::detail::decode_url(req.matches[1].str(), false);
    std::string der;
    if (!absl::Base64Unescape(encoded, &der)) der.clear();
    answer_ocsp(der, res);  // empty: malformedRequest
  });

  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(context_.metrics->Render(),
                    "text/plain; version=0.0.4; charset=utf-8");
  });
}

}  // namespace rotor::ca
