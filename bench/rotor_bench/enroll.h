// How rotor-bench sets itself up on a running CA, through the same APIs an
// operator and an agent use: the admin API (ctl/client.h) to create an
// entry, join tokens and revocations, and NodeService.Attest
// (agent/ca_client.h) to become nodes, each with its own node key and
// certificate. Names carry a run tag (report.h RunTag) so runs against the
// same CA never collide.
//
// Thread-safety: BenchCa's calls are safe from any thread (the gRPC stubs
// are); ParallelFor runs its function on several threads at once.
#ifndef ROTOR_BENCH_ROTOR_BENCH_ENROLL_H_
#define ROTOR_BENCH_ROTOR_BENCH_ENROLL_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ctl/client.h"
#include "pki/key.h"
#include "pki/secret.h"

namespace rotor::bench {

// A node rotor-bench has attested as.
struct EnrolledNode {
  std::string name;
  pki::SecretString key_pem;  // the node key (PKCS#8 PEM)
  std::string chain_pem;      // node certificate, then the intermediate
  std::string serial;         // the node certificate's serial
};

class BenchCa {
 public:
  // Connects to the CA's admin API with the credentials folder (admin.crt,
  // admin.key, bundle.crt) and reads the trust domain from the admin
  // certificate's SPIFFE ID. Errors as ctl::LoadAdminCredentials.
  static absl::StatusOr<std::unique_ptr<BenchCa>> Connect(
      const std::string& address, const std::string& credentials_dir);

  const std::string& address() const { return address_; }
  const std::string& roots_pem() const { return roots_pem_; }
  const std::string& trust_domain() const { return trust_domain_; }

  // Creates an entry granting `spiffe_id` to nodes matching `node_glob`.
  absl::Status CreateEntry(const std::string& node_glob,
                           const std::string& spiffe_id);

  // Creates a join token for each node name, `concurrency` calls at a time.
  absl::StatusOr<std::vector<std::string>> CreateTokens(
      const std::vector<std::string>& nodes, int concurrency);

  // Attests as each node (one token each, same order): a new `key_type`
  // node key, Attest over TLS without a client certificate. Attest calls
  // over the CA's per-address limit (RESOURCE_EXHAUSTED) are retried after
  // a short pause, so any limit works, only slower.
  absl::StatusOr<std::vector<EnrolledNode>> AttestNodes(
      const std::vector<std::string>& nodes,
      const std::vector<std::string>& tokens, pki::KeyType key_type,
      int concurrency);

  // Revokes a certificate (reason "superseded").
  absl::Status Revoke(const std::string& serial);

 private:
  BenchCa() = default;

  std::string address_;
  std::string roots_pem_;
  std::string trust_domain_;
  std::unique_ptr<ctl::AdminClient> admin_;
};

// Runs fn(0) ... fn(n-1) on `threads` threads (each takes the next index)
// and returns the first error; after an error the remaining indices are
// skipped.
absl::Status ParallelFor(size_t n, int threads,
                         const std::function<absl::Status(size_t)>& fn);

// `count` CSRs for `spiffe_id` (and no DNS name), each with a new key of
// `key_type`, built on `threads` threads.
absl::StatusOr<std::vector<std::string>> MakeCsrs(const std::string& spiffe_id,
                                                  pki::KeyType key_type,
                                                  size_t count, int threads);

}  // namespace rotor::bench

#endif  // ROTOR_BENCH_ROTOR_BENCH_ENROLL_H_
