#include "ctl/client.h"

#include <openssl/crypto.h>

#include <chrono>
#include <cstdlib>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "ctl/usage_error.h"
#include "pki/certificate.h"
#include "pki/key.h"
#include "pki/verify.h"
#include "util/clock.h"
#include "util/file.h"
#include "util/status_macros.h"

namespace rotor::ctl {
namespace {

// Credential files are small; anything larger is not what we expect.
constexpr size_t kMaxCredentialFileBytes = 1 << 20;

absl::Status InFile(const std::string& path, const absl::Status& status) {
  return absl::Status(status.code(),
                      absl::StrCat(path, ": ", status.message()));
}

}  // namespace

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::string {
    const char* value = std::getenv(name.c_str());
    return value == nullptr ? "" : value;
  };
}

absl::StatusOr<ConnectionOptions> ResolveConnection(
    absl::string_view ca_flag, absl::string_view credentials_flag,
    const EnvLookup& env) {
  ConnectionOptions options;
  options.address = ca_flag.empty() ? env(kCaEnv) : std::string(ca_flag);
  options.credentials_dir = credentials_flag.empty()
                                ? env(kCredentialsEnv)
                                : std::string(credentials_flag);
  if (options.address.empty()) {
    return UsageError(
        absl::StrCat("no CA address: pass --ca HOST:PORT or set ", kCaEnv));
  }
  if (options.credentials_dir.empty()) {
    return UsageError(absl::StrCat(
        "no credentials folder: pass --credentials DIR or set ",
        kCredentialsEnv, " (rotor-ca init writes one to DATA_DIR/admin)"));
  }
  return options;
}

AdminCredentials::~AdminCredentials() {
  if (!key_pem.empty()) OPENSSL_cleanse(key_pem.data(), key_pem.size());
}

absl::StatusOr<AdminCredentials> LoadAdminCredentials(const std::string& dir,
                                                      absl::Time now) {
  const std::string cert_path = JoinPath(dir, "admin.crt");
  const std::string key_path = JoinPath(dir, "admin.key");
  const std::string bundle_path = JoinPath(dir, "bundle.crt");
  AdminCredentials credentials;
  ROTOR_ASSIGN_OR_RETURN(credentials.cert_chain_pem,
                         ReadFile(cert_path, kMaxCredentialFileBytes));
  ROTOR_ASSIGN_OR_RETURN(credentials.key_pem,
                         ReadFile(key_path, kMaxCredentialFileBytes));
  ROTOR_ASSIGN_OR_RETURN(credentials.roots_pem,
                         ReadFile(bundle_path, kMaxCredentialFileBytes));

  absl::StatusOr<std::vector<pki::Certificate>> chain =
      pki::Certificate::ChainFromPem(credentials.cert_chain_pem);
  if (!chain.ok()) return InFile(cert_path, chain.status());
  absl::StatusOr<std::vector<pki::Certificate>> roots =
      pki::Certificate::ChainFromPem(credentials.roots_pem);
  if (!roots.ok()) return InFile(bundle_path, roots.status());
  absl::StatusOr<pki::PrivateKey> key =
      pki::PrivateKey::FromPem(credentials.key_pem);
  if (!key.ok()) return InFile(key_path, key.status());
  if (!key->Matches(chain->front().PublicKey())) {
    return absl::InvalidArgumentError(absl::StrCat(
        key_path, " does not match the certificate in ", cert_path));
  }
  // What the CA's handshake would refuse, said here rather than as a
  // closed socket.
  const pki::Certificate& leaf = chain->front();
  absl::Status verified = pki::VerifyCertificate(
      leaf, absl::MakeConstSpan(*chain).subspan(1), *roots, now,
      pki::VerifyPurpose::kTlsClient);
  if (!verified.ok()) {
    std::string why;
    if (now >= leaf.NotAfter()) {
      why = absl::StrCat("it expired at ", FormatUtc(leaf.NotAfter()),
                         "; make new credentials on the CA host with "
                         "rotor-ca admin-credentials");
    } else if (now < leaf.NotBefore()) {
      why = absl::StrCat("it is not valid before ",
                         FormatUtc(leaf.NotBefore()),
                         "; check this machine's clock");
    } else {
      why = absl::StrCat(verified.message(),
                         "; admin.crt and bundle.crt must come from the same "
                         "rotor-ca init or rotor-ca admin-credentials");
    }
    return absl::FailedPreconditionError(
        absl::StrCat(cert_path, " would be refused by the CA in ", bundle_path,
                     ": ", why));
  }
  return credentials;
}

AdminClient::AdminClient(std::shared_ptr<grpc::Channel> channel,
                         std::string address, absl::Duration timeout)
    : channel_(std::move(channel)),
      stub_(rotor::v1::AdminService::NewStub(channel_)),
      address_(std::move(address)),
      timeout_(timeout) {}

absl::StatusOr<std::unique_ptr<AdminClient>> AdminClient::Connect(
    const ConnectionOptions& options) {
  ROTOR_ASSIGN_OR_RETURN(AdminCredentials credentials,
                         LoadAdminCredentials(options.credentials_dir));
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = credentials.roots_pem;
  ssl.pem_cert_chain = credentials.cert_chain_pem;
  ssl.pem_private_key = credentials.key_pem;
  std::shared_ptr<grpc::ChannelCredentials> channel_credentials =
      grpc::SslCredentials(ssl);
  OPENSSL_cleanse(ssl.pem_private_key.data(), ssl.pem_private_key.size());
  if (channel_credentials == nullptr) {
    return absl::InternalError("gRPC could not build TLS credentials");
  }
  return std::make_unique<AdminClient>(
      grpc::CreateChannel(options.address, channel_credentials),
      options.address, options.timeout);
}

std::unique_ptr<grpc::ClientContext> AdminClient::NewContext() const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
  return context;
}

absl::Status AdminClient::ToStatus(const grpc::Status& status) const {
  if (status.ok()) return absl::OkStatus();
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
      status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    // A channel that is not connected means the call never reached the CA.
    // (In-process channels report SHUTDOWN: they have no connectivity state.)
    const grpc_connectivity_state state =
        channel_->GetState(/*try_to_connect=*/false);
    if (state == GRPC_CHANNEL_IDLE || state == GRPC_CHANNEL_CONNECTING ||
        state == GRPC_CHANNEL_TRANSIENT_FAILURE) {
      return absl::UnavailableError(
          absl::StrCat("cannot reach the CA at ", address_, ": ",
                       status.error_message(), "; check --ca (or ", kCaEnv,
                       ") and that rotor-ca serve is running there"));
    }
  }
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

}  // namespace rotor::ctl
