#include "ca/grpc_status.h"

#include "gtest/gtest.h"

namespace rotor::ca {
namespace {

TEST(GrpcStatusTest, OkIsOk) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
}

TEST(GrpcStatusTest, KeepsTheCodesOfTheContractAndTheMessage) {
  const struct {
    absl::Status in;
    grpc::StatusCode out;
  } cases[] = {
      {absl::UnauthenticatedError("unknown join token"),
       grpc::StatusCode::UNAUTHENTICATED},
      {absl::PermissionDeniedError("node web-1 is not allowed"),
       grpc::StatusCode::PERMISSION_DENIED},
      {absl::InvalidArgumentError("CSR is empty"),
       grpc::StatusCode::INVALID_ARGUMENT},
      {absl::NotFoundError("certificate 1a not found"),
       grpc::StatusCode::NOT_FOUND},
      {absl::AlreadyExistsError("entry exists"),
       grpc::StatusCode::ALREADY_EXISTS},
      {absl::ResourceExhaustedError("rate limit"),
       grpc::StatusCode::RESOURCE_EXHAUSTED},
      {absl::UnavailableError("store not writable"),
       grpc::StatusCode::UNAVAILABLE},
      {absl::FailedPreconditionError("certificate 1a is already revoked"),
       grpc::StatusCode::FAILED_PRECONDITION},
      {absl::InternalError("boom"), grpc::StatusCode::INTERNAL},
      {absl::DataLossError("bad record"), grpc::StatusCode::DATA_LOSS},
      {absl::DeadlineExceededError("late"),
       grpc::StatusCode::DEADLINE_EXCEEDED},
      {absl::CancelledError("gone"), grpc::StatusCode::CANCELLED},
      {absl::AbortedError("retry"), grpc::StatusCode::ABORTED},
      {absl::OutOfRangeError("far"), grpc::StatusCode::OUT_OF_RANGE},
      {absl::UnimplementedError("no"), grpc::StatusCode::UNIMPLEMENTED},
      {absl::UnknownError("?"), grpc::StatusCode::UNKNOWN},
  };
  for (const auto& c : cases) {
    const grpc::Status out = ToGrpcStatus(c.in);
    EXPECT_EQ(out.error_code(), c.out) << c.in;
    EXPECT_EQ(out.error_message(), c.in.message());
    EXPECT_EQ(FromGrpcStatus(out), c.in);
  }
}

TEST(GrpcStatusTest, UnknownGrpcCodeBecomesUnknown) {
  // 20 is no gRPC code but lies within grpc::StatusCode's range (0-31);
  // a value outside it would be undefined behaviour (UBSan stops there).
  const absl::Status s =
      FromGrpcStatus(grpc::Status(static_cast<grpc::StatusCode>(20), "odd"));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(s.message(), "odd");
}

}  // namespace
}  // namespace rotor::ca
