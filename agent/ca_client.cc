#include "agent/ca_client.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "google/protobuf/duration.pb.h"
#include "util/status_macros.h"

namespace rotor::agent {

absl::StatusOr<std::vector<pki::Certificate>> VerifyPinnedBundle(
    const rotor::v1::TrustBundle& bundle, const std::vector<std::string>& pins,
    absl::string_view ca_address) {
  if (bundle.root_der_size() == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the CA at ", ca_address, " sent an empty trust bundle"));
  }
  std::vector<pki::Certificate> roots;
  std::vector<std::string> presented;
  bool pinned = false;
  for (const std::string& der : bundle.root_der()) {
    absl::StatusOr<pki::Certificate> root = pki::Certificate::FromDer(der);
    if (!root.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("the CA at ", ca_address, " sent a trust bundle with a "
                       "root that does not parse: ", root.status().message()));
    }
    const std::string fingerprint = root->Fingerprint();
    for (const std::string& pin : pins) pinned = pinned || fingerprint == pin;
    presented.push_back(fingerprint);
    roots.push_back(*std::move(root));
  }
  if (!pinned) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the CA at ", ca_address, " presented roots ",
        absl::StrJoin(presented, ", "), " which do not match trust_anchor ",
        absl::StrJoin(pins, ", "),
        "; check that trust_anchor is the fingerprint rotor-ca init printed "
        "(or the CA's root PEM) and that ca points at the right CA"));
  }
  return roots;
}

absl::StatusOr<std::string> BundleToPem(const rotor::v1::TrustBundle& bundle) {
  std::string pem;
  for (const std::string& der : bundle.root_der()) {
    ROTOR_ASSIGN_OR_RETURN(pki::Certificate root, pki::Certificate::FromDer(der));
    absl::StrAppend(&pem, root.ToPem());
  }
  return pem;
}

GrpcCaClient::GrpcCaClient(GrpcCaClientOptions options)
    : options_(std::move(options)) {}

grpc::ChannelArguments GrpcCaClient::ChannelArgs() const {
  grpc::ChannelArguments args;
  const int initial = static_cast<int>(
      absl::ToInt64Milliseconds(options_.reconnect_initial));
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, initial);
  // GRPC_ARG_MIN_RECONNECT_BACKOFF_MS is left alone: gRPC also uses it as the
  // connect timeout, and a short one makes every TLS handshake with a busy
  // CA fail.
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
              static_cast<int>(absl::ToInt64Milliseconds(options_.reconnect_max)));
  // Each channel gets its own connection: a new identity must not reuse a
  // subchannel that presented the old one.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return args;
}

std::unique_ptr<grpc::ClientContext> GrpcCaClient::NewContext() const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + options_.rpc_timeout));
  return context;
}

absl::Status GrpcCaClient::ToStatus(const grpc::Status& status,
                                    absl::string_view call) const {
  if (status.ok()) return absl::OkStatus();
  const auto code = static_cast<absl::StatusCode>(status.error_code());
  if (code == absl::StatusCode::kUnavailable) {
    return absl::UnavailableError(absl::StrCat(
        call, ": cannot reach the CA at ", options_.address, ": ",
        status.error_message()));
  }
  return absl::Status(code, absl::StrCat(call, " (CA at ", options_.address,
                                         "): ", status.error_message()));
}

absl::StatusOr<rotor::v1::TrustBundle> GrpcCaClient::FetchBundleUnverified() {
  // TLS without checking the server: the bundle is only trusted once a root
  // matches the pin (VerifyPinnedBundle).
  grpc::experimental::TlsChannelCredentialsOptions tls;
  tls.set_verify_server_certs(false);
  tls.set_check_call_host(false);
  tls.set_certificate_verifier(
      std::make_shared<grpc::experimental::NoOpCertificateVerifier>());
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      grpc::experimental::TlsCredentials(tls);
  if (credentials == nullptr) {
    return absl::InternalError("gRPC could not build TLS credentials");
  }
  auto stub = rotor::v1::NodeService::NewStub(grpc::CreateCustomChannel(
      options_.address, credentials, ChannelArgs()));
  rotor::v1::TrustBundle bundle;
  std::unique_ptr<grpc::ClientContext> context = NewContext();
  ROTOR_RETURN_IF_ERROR(ToStatus(
      stub->GetBundle(context.get(), rotor::v1::GetBundleRequest(), &bundle),
      "GetBundle"));
  return bundle;
}

absl::Status GrpcCaClient::SetCredentials(
    const std::string& roots_pem, const pki::SecretString& identity_key_pem,
    const std::string& identity_chain_pem) {
  if (roots_pem.empty()) {
    // gRPC would fall back to the system's roots: never.
    return absl::InvalidArgumentError("no trust roots to verify the CA with");
  }
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = roots_pem;
  if (!identity_key_pem.empty()) {
    ssl.pem_private_key = std::string(identity_key_pem.view());
    ssl.pem_cert_chain = identity_chain_pem;
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      grpc::SslCredentials(ssl);
  // gRPC keeps its own copy; wipe ours.
  pki::SecretString wipe(std::move(ssl.pem_private_key));
  if (credentials == nullptr) {
    return absl::InternalError("gRPC could not build TLS credentials");
  }
  std::shared_ptr<rotor::v1::NodeService::Stub> stub =
      rotor::v1::NodeService::NewStub(grpc::CreateCustomChannel(
          options_.address, credentials, ChannelArgs()));
  absl::MutexLock lock(&mu_);
  stub_ = std::move(stub);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<rotor::v1::NodeService::Stub>>
GrpcCaClient::Stub() const {
  absl::MutexLock lock(&mu_);
  if (stub_ == nullptr) {
    return absl::FailedPreconditionError(
        "the CA's trust roots are not known yet");
  }
  return stub_;
}

absl::StatusOr<rotor::v1::AttestResponse> GrpcCaClient::Attest(
    const pki::SecretString& join_token, const std::string& csr_der) {
  ROTOR_ASSIGN_OR_RETURN(auto stub, Stub());
  rotor::v1::AttestRequest request;
  request.set_join_token(std::string(join_token.view()));
  request.set_csr_der(csr_der);
  rotor::v1::AttestResponse response;
  std::unique_ptr<grpc::ClientContext> context = NewContext();
  grpc::Status status = stub->Attest(context.get(), request, &response);
  // The request held the token; wipe it.
  pki::SecretString wipe(std::move(*request.mutable_join_token()));
  ROTOR_RETURN_IF_ERROR(ToStatus(status, "Attest"));
  return response;
}

absl::StatusOr<rotor::v1::RenewNodeResponse> GrpcCaClient::RenewNode(
    const std::string& csr_der) {
  ROTOR_ASSIGN_OR_RETURN(auto stub, Stub());
  rotor::v1::RenewNodeRequest request;
  request.set_csr_der(csr_der);
  rotor::v1::RenewNodeResponse response;
  std::unique_ptr<grpc::ClientContext> context = NewContext();
  ROTOR_RETURN_IF_ERROR(ToStatus(
      stub->RenewNode(context.get(), request, &response), "RenewNode"));
  return response;
}

absl::StatusOr<rotor::v1::SignWorkloadResponse> GrpcCaClient::SignWorkload(
    const std::string& csr_der, absl::Duration ttl) {
  ROTOR_ASSIGN_OR_RETURN(auto stub, Stub());
  rotor::v1::SignWorkloadRequest request;
  request.set_csr_der(csr_der);
  if (ttl > absl::ZeroDuration()) {
    const int64_t seconds = absl::ToInt64Seconds(ttl);
    request.mutable_ttl()->set_seconds(seconds);
    request.mutable_ttl()->set_nanos(static_cast<int32_t>(
        absl::ToInt64Nanoseconds(ttl - absl::Seconds(seconds))));
  }
  rotor::v1::SignWorkloadResponse response;
  std::unique_ptr<grpc::ClientContext> context = NewContext();
  ROTOR_RETURN_IF_ERROR(ToStatus(
      stub->SignWorkload(context.get(), request, &response), "SignWorkload"));
  return response;
}

absl::Status GrpcCaClient::Watch(
    const std::function<void(const rotor::v1::Update&)>& on_update) {
  ROTOR_ASSIGN_OR_RETURN(auto stub, Stub());
  grpc::ClientContext context;  // no deadline: the stream lives on
  // Waits for the CA instead of failing fast while it is down. This thread
  // then drives the channel's reconnection (gRPC makes progress on a
  // connection attempt only while some thread polls, otherwise every 5 s),
  // so the first message arrives as soon as the CA is back.
  context.set_wait_for_ready(true);
  {
    absl::MutexLock lock(&mu_);
    if (watch_cancelled_) return absl::CancelledError("the agent is stopping");
    watch_context_ = &context;
  }
  std::unique_ptr<grpc::ClientReader<rotor::v1::Update>> reader =
      stub->WatchUpdates(&context, rotor::v1::WatchUpdatesRequest());
  rotor::v1::Update update;
  while (reader->Read(&update)) on_update(update);
  grpc::Status status = reader->Finish();
  bool cancelled;
  {
    absl::MutexLock lock(&mu_);
    watch_context_ = nullptr;
    cancelled = watch_cancelled_;
  }
  if (cancelled) return absl::CancelledError("the agent is stopping");
  if (status.ok()) {
    return absl::UnavailableError(
        absl::StrCat("the CA at ", options_.address, " ended WatchUpdates"));
  }
  return ToStatus(status, "WatchUpdates");
}

void GrpcCaClient::CancelWatch() {
  absl::MutexLock lock(&mu_);
  watch_cancelled_ = true;
  if (watch_context_ != nullptr) watch_context_->TryCancel();
}

}  // namespace rotor::agent
