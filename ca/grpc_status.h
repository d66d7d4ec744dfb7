// The one conversion from the core's absl::Status to the grpc::Status a
// client sees (STYLE.md rule 4). The core already chooses its codes as the
// gRPC codes of docs/design.md, so the mapping keeps code and message; it
// exists so that no other file spells grpc::StatusCode.
//
// Thread-safety: a pure function.
#ifndef ROTOR_CA_GRPC_STATUS_H_
#define ROTOR_CA_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace rotor::ca {

// The grpc::Status for `status`: the same code (absl and gRPC share their
// numbering; FailedPrecondition, e.g. "certificate 1a2b is already revoked",
// stays FAILED_PRECONDITION) and the same message. Codes gRPC does not know
// become UNKNOWN.
grpc::Status ToGrpcStatus(const absl::Status& status);

// The inverse, for clients and tests that call the service over gRPC.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace rotor::ca

#endif  // ROTOR_CA_GRPC_STATUS_H_
