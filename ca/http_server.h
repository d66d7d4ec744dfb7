// rotor-ca's plain HTTP listener (cpp-httplib) for relying parties and
// monitoring; everything it serves is public:
//   GET  /healthz            "ok"
//   GET  /bundle             the trust roots, PEM (application/x-pem-file)
//   GET  /crl                the issuing CA's CRL, DER (application/pkix-crl)
//   GET  /crl/root           the root's CRL over the intermediate, DER (only
//                            when the CA holds the root key)
//   POST /ocsp               RFC 6960 OCSP (application/ocsp-request ->
//   GET  /ocsp/<base64>        application/ocsp-response), answered from the
//                            store: good, revoked with time and reason, or
//                            unknown for serials never issued
//   GET  /metrics            Prometheus text format
// Like the gRPC handlers, these only translate: the CRL comes from the
// Authority, OCSP answers from pki::AnswerOcspRequest over a store lookup.
//
// Thread-safety: requests are served on cpp-httplib's worker threads; Stop
// may be called from any thread, once.
#ifndef ROTOR_CA_HTTP_SERVER_H_
#define ROTOR_CA_HTTP_SERVER_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ca/authority.h"
#include "ca/metrics.h"
#include "pki/certificate.h"
#include "pki/key.h"
#include "store/store.h"
#include "util/clock.h"

namespace httplib {
class Server;
}

namespace rotor::ca {

// What the endpoints read. Every pointer must outlive the HttpServer.
struct HttpServerContext {
  Authority* authority = nullptr;
  store::CertificateStore* store = nullptr;
  // Signs OCSP responses: the issuing CA (the intermediate) and its key.
  const pki::Certificate* ocsp_certificate = nullptr;
  const pki::PrivateKey* ocsp_key = nullptr;
  // nextUpdate - thisUpdate of OCSP responses.
  absl::Duration ocsp_validity = absl::Hours(1);
  MetricsRegistry* metrics = nullptr;
  Clock* clock = nullptr;
};

class HttpServer {
 public:
  // Binds `listen` ("host:port"; port 0 picks a free port) and serves on a
  // thread of its own until Stop. Unavailable ("cannot listen on
  // 127.0.0.1:8080 ...") if the address cannot be bound; InvalidArgument for
  // a malformed address.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const std::string& listen, const HttpServerContext& context);

  // Stops, if still running.
  ~HttpServer();

  // The bound host and port.
  const std::string& host() const { return host_; }
  int port() const { return port_; }

  // Stops accepting, lets requests in progress finish, joins the thread.
  void Stop();

 private:
  HttpServer(HttpServerContext context, std::string host);
  void Route();

  const HttpServerContext context_;
  const std::string host_;
  int port_ = 0;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

// Splits "host:port" or "[v6]:port" into host (without brackets) and port.
// InvalidArgument if malformed or the port is not in 0..65535.
absl::Status SplitHostPort(absl::string_view address, std::string* host,
                           int* port);

// "host:port", bracketing IPv6 hosts.
std::string JoinHostPort(absl::string_view host, int port);

}  // namespace rotor::ca

#endif  // ROTOR_CA_HTTP_SERVER_H_
