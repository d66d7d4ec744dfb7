// How rotorctl reaches the CA: which address and credentials folder to use
// (flags first, then ROTOR_CA / ROTOR_CREDENTIALS), the mTLS channel built
// from that folder (admin.crt with its chain, admin.key, bundle.crt as the
// only trusted roots), and the translation of a finished call's grpc::Status
// into the absl::Status that rotorctl prints.
//
// Thread-safety: AdminClient is safe to use from several threads (the stub
// and channel are); the free functions are thread-compatible.
#ifndef ROTOR_CTL_CLIENT_H_
#define ROTOR_CTL_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "rotor/v1/ca.grpc.pb.h"

namespace rotor::ctl {

// Environment variables that stand in for --ca and --credentials.
inline constexpr char kCaEnv[] = "ROTOR_CA";
inline constexpr char kCredentialsEnv[] = "ROTOR_CREDENTIALS";

// Returns the value of an environment variable, "" when unset.
using EnvLookup = std::function<std::string(const std::string& name)>;

// The process environment (getenv).
EnvLookup ProcessEnv();

// Where the CA is and which credentials to present.
struct ConnectionOptions {
  std::string address;          // HOST:PORT
  std::string credentials_dir;  // admin.crt, admin.key, bundle.crt
  absl::Duration timeout = absl::Seconds(30);  // deadline of each call
};

// Fills in the address and credentials folder: a non-empty flag value wins,
// then a non-empty environment variable. InvalidArgument naming both the flag
// and the variable when neither is set ("no CA address: pass --ca HOST:PORT
// or set ROTOR_CA").
absl::StatusOr<ConnectionOptions> ResolveConnection(
    absl::string_view ca_flag, absl::string_view credentials_flag,
    const EnvLookup& env);

// The PEM texts of a credentials folder, each checked to parse.
struct AdminCredentials {
  std::string cert_chain_pem;  // admin.crt: the admin certificate, then chain
  std::string key_pem;         // admin.key; wiped when destroyed
  std::string roots_pem;       // bundle.crt: the CA's trust roots
  ~AdminCredentials();
};

// Reads DIR/admin.crt, DIR/admin.key and DIR/bundle.crt. Errors name the
// file: NotFound / PermissionDenied when one cannot be read, InvalidArgument
// when one does not parse, when bundle.crt has no certificate (an empty
// bundle would make gRPC trust the system roots) or when the key does not
// match the certificate. FailedPrecondition when admin.crt does not verify
// as a TLS client certificate against bundle.crt at `now` (expired, not yet
// valid, or from another CA), which the CA would refuse in the handshake
// with nothing but "Socket closed" for the client to see.
absl::StatusOr<AdminCredentials> LoadAdminCredentials(
    const std::string& dir, absl::Time now = absl::Now());

// An AdminService stub over one channel, with the address for messages.
class AdminClient {
 public:
  // Uses `channel` as given (tests pass an in-process channel).
  AdminClient(std::shared_ptr<grpc::Channel> channel, std::string address,
              absl::Duration timeout);

  // Builds an mTLS channel to options.address from the credentials folder.
  // Fails as LoadAdminCredentials does; connecting happens on the first call.
  static absl::StatusOr<std::unique_ptr<AdminClient>> Connect(
      const ConnectionOptions& options);

  rotor::v1::AdminService::StubInterface& stub() { return *stub_; }

  // A context for one call, with the deadline set.
  std::unique_ptr<grpc::ClientContext> NewContext() const;

  // OK for an OK call. A call that failed because the CA could not be
  // reached (UNAVAILABLE or DEADLINE_EXCEEDED while the channel is idle,
  // connecting or failing) becomes Unavailable "cannot reach the CA at ADDR:
  // <why>; check
  // --ca (or ROTOR_CA) ..."; every other failure keeps the server's code and
  // message unchanged.
  absl::Status ToStatus(const grpc::Status& status) const;

  const std::string& address() const { return address_; }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<rotor::v1::AdminService::StubInterface> stub_;
  std::string address_;
  absl::Duration timeout_;
};

}  // namespace rotor::ctl

#endif  // ROTOR_CTL_CLIENT_H_
