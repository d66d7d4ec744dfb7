// `rotor-ca init`: creates a new CA in an empty data folder — keys,
// certificates, admin credentials, store folder and a commented ca.yaml.
// Refuses to overwrite anything; on any failure it removes what it created,
// so a failed init changes nothing.
//
// Thread-safety: not for concurrent use on the same folder.
#ifndef ROTOR_CA_INIT_H_
#define ROTOR_CA_INIT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pki/key.h"
#include "pki/random.h"

namespace rotor::ca {

struct InitOptions {
  std::string data_dir;
  std::string trust_domain;
  pki::KeyType key_type = pki::KeyType::kEcP256;
  // Both set: chain the intermediate under this existing CA instead of
  // creating a root. The upstream certificate becomes the trust anchor.
  std::string upstream_cert;
  std::string upstream_key;
  absl::Duration root_validity = absl::Hours(24 * 365 * 10);
  absl::Duration intermediate_validity = absl::Hours(24 * 365 * 5);
  absl::Duration admin_validity = absl::Hours(24 * 365);
};

struct InitResult {
  std::string root_fingerprint;  // "sha256:<hex>", what agents pin
  std::string intermediate_serial;
  std::string admin_spiffe_id;
};

// Creates the CA. Errors:
//   InvalidArgument: bad trust domain, only one of the upstream flags,
//     upstream certificate not a CA, upstream key not matching it;
//   AlreadyExists: the data folder is not empty (nothing is touched);
//   NotFound / PermissionDenied: unreadable upstream files or folder.
absl::StatusOr<InitResult> InitCa(const InitOptions& options, absl::Time now,
                                  pki::Random& random);

}  // namespace rotor::ca

#endif  // ROTOR_CA_INIT_H_
