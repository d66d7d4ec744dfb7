// InFlightCalls counts the gRPC calls a server is serving, so that its
// shutdown can tell "calls still running" from "connections still open".
// grpc::Server::Shutdown(deadline) returns once every connection has closed,
// which needs each client to answer the GOAWAY's ping. A client that is not
// polling its idle connection (gRPC's synchronous API between calls) answers
// late: with gRPC 1.51 we saw such connections close 5 and 10 s after the
// GOAWAY (the client's backup poller runs every 5 s), or only at the drain
// deadline, with no call left to drain. With the count, the daemon ends the
// drain when the last call is done (ca/server.cc).
//
// A call counts from when gRPC hands it to the server (before its handler
// runs) until gRPC destroys it, after its status was sent: every service,
// gRPC's health and reflection services included. It is counted by an
// interceptor that Factory() makes for each call.
//
// Thread-safety: every method is safe from any thread. REQUIRES: the
// InFlightCalls outlives the grpc::Server its factory was given to.
#ifndef ROTOR_CA_IN_FLIGHT_CALLS_H_
#define ROTOR_CA_IN_FLIGHT_CALLS_H_

#include <cstdint>
#include <memory>

#include <grpcpp/support/server_interceptor.h>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace rotor::ca {

class InFlightCalls {
 public:
  InFlightCalls() = default;
  InFlightCalls(const InFlightCalls&) = delete;
  InFlightCalls& operator=(const InFlightCalls&) = delete;

  // For grpc::ServerBuilder::experimental().SetInterceptorCreators: counts
  // each call of the server built with it.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
  Factory();

  // Calls in flight now.
  int64_t count() const;

  // Waits until no call is in flight or `timeout` has passed (real time).
  // True if none is.
  bool AwaitNone(absl::Duration timeout) const;

 private:
  class Counted;
  class CountingFactory;

  void Add(int64_t delta);

  mutable absl::Mutex mu_;
  int64_t count_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace rotor::ca

#endif  // ROTOR_CA_IN_FLIGHT_CALLS_H_
