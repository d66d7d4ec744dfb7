// Who is calling: the rotor::ca::Caller (ca/authority.h) of a gRPC call, from
// the transport's view of the peer. The TLS layer (ca/server_tls.h) has
// already verified any client certificate against the CA's roots; this file
// only reads it: its URI SAN is the caller's identity, its serial lets the
// core check revocation.
//
// Thread-safety: safe from any thread. The identity read from each client
// certificate is remembered (by the certificate's hash, in a bounded map),
// so a connection's later calls skip parsing it; the answer is the same.
#ifndef ROTOR_CA_CALLER_H_
#define ROTOR_CA_CALLER_H_

#include <string>

#include <grpcpp/security/auth_context.h>
#include <grpcpp/server_context.h>

#include "absl/status/statusor.h"
#include "ca/authority.h"

namespace rotor::ca {

// The caller of the call in `context`: with a verified client certificate,
// its URI SAN and canonical serial; without one, both empty. `peer` is always
// set. Unauthenticated if the certificate the transport verified cannot be
// read or does not carry exactly one URI SAN ("client certificate 1a2b has
// no URI SAN; rotor identities are SPIFFE IDs").
absl::StatusOr<Caller> CallerFromContext(
    const grpc::ServerContextBase& context);

// The same from an auth context (may be null: no transport security) and a
// peer address; CallerFromContext calls it.
absl::StatusOr<Caller> CallerFromAuthContext(const grpc::AuthContext* auth,
                                             std::string peer);

}  // namespace rotor::ca

#endif  // ROTOR_CA_CALLER_H_
