// ca.yaml: the CA daemon's configuration. `rotor-ca init` writes it with
// every default spelled out and commented; `rotor-ca serve` loads and
// validates it, refusing unknown keys and bad values with the key, the line
// and the reason.
//
// Thread-safety: CaConfig is a plain value.
#ifndef ROTOR_CA_CONFIG_H_
#define ROTOR_CA_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace rotor::ca {

struct RateLimitConfig {
  // Token bucket per node for SignWorkload/RenewNode.
  double per_node_per_second = 50;
  int64_t per_node_burst = 100;
  // Concurrent Attest calls allowed from one source address.
  int64_t attest_concurrency_per_source = 4;
};

struct CaConfig {
  std::string trust_domain;
  std::string listen = "127.0.0.1:8443";
  std::string http_listen = "127.0.0.1:8080";
  // SANs of the CA's own gRPC server certificate.
  std::vector<std::string> server_names = {"localhost", "127.0.0.1"};
  absl::Duration default_ttl = absl::Hours(1);
  absl::Duration min_ttl = absl::Minutes(1);
  absl::Duration max_ttl = absl::Hours(24);
  absl::Duration node_ttl = absl::Hours(24);
  absl::Duration server_cert_ttl = absl::Hours(24);
  // How long a CRL or OCSP response is valid (nextUpdate - thisUpdate).
  absl::Duration crl_validity = absl::Hours(1);
  // Written into issued certificates when set (CRL distribution point) and
  // served as the OCSP responder address.
  std::string crl_url;
  std::string ocsp_url;
  RateLimitConfig rate_limit;
  // Largest LMDB map the store may grow to.
  int64_t store_max_size_mb = 16384;
};

// The lowest min_ttl a config may set (tests use it to rotate fast).
inline constexpr absl::Duration kLowestMinTtl = absl::Seconds(5);

// Parses and validates YAML text. InvalidArgument naming the key, the line
// and what to write instead: "ca.yaml line 4: unknown key \"defualt_ttl\"",
// "ca.yaml line 7: min_ttl (2s) is below the lowest allowed (5s)".
// `source` names the file in messages.
absl::StatusOr<CaConfig> ParseCaConfig(absl::string_view yaml,
                                       absl::string_view source = "ca.yaml");

// Reads and parses a file.
absl::StatusOr<CaConfig> LoadCaConfig(const std::string& path);

// Checks relations between fields (min ≤ default ≤ max, addresses). Called by
// ParseCaConfig, and again after command-line overrides.
absl::Status ValidateCaConfig(const CaConfig& config);

// The YAML text of `config`, every key present with a comment saying what it
// does. ParseCaConfig(RenderCaConfig(c)) == c.
std::string RenderCaConfig(const CaConfig& config);

// Splits "host:port" or "[v6]:port". InvalidArgument if malformed.
absl::Status ValidateHostPort(absl::string_view address);

}  // namespace rotor::ca

#endif  // ROTOR_CA_CONFIG_H_
