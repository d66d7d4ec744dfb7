// The CA core the service fuzzers call, set up once per process: a test CA
// held in memory (tests/testing/test_ca.h), an LMDB store in a temporary
// folder (under /dev/shm when there is one, so a commit costs no disk sync),
// a clock that stands still and a deterministic random source, so join
// tokens, entry ids and serials are the same in every run.
//
// Before any input runs, the CA holds: node "fuzz-node" attested (its node
// certificate is `node`'s), entries granting it spiffe://example.org/web
// (with DNS names web.example.org and *.web.example.org) and
// spiffe://example.org/db, one workload certificate, and an unused join
// token for node "fuzz-node-2". Inputs change that state as they run (a
// token once used stays used), so a crash that needs earlier inputs
// reproduces with the whole run, not always with the saved input alone.
//
// Service fuzzer input: byte 0 picks the method, byte 1 the caller, the rest
// is the request message as it arrives on the wire (serialized protobuf).
//
// Thread-safety: GetFuzzCa is called from the fuzzer's thread only; the
// Authority itself is thread-safe.
#ifndef ROTOR_TESTS_FUZZ_FUZZ_AUTHORITY_H_
#define ROTOR_TESTS_FUZZ_FUZZ_AUTHORITY_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "ca/authority.h"
#include "google/protobuf/message.h"

namespace rotor::fuzz {

inline constexpr absl::string_view kTrustDomain = "example.org";

struct FuzzCa {
  ca::Authority* authority = nullptr;
  // The callers byte 1 chooses from, in this order.
  ca::Caller admin;      // spiffe://example.org/rotor/admin/fuzz
  ca::Caller node;       // fuzz-node with its node certificate
  ca::Caller anonymous;  // no client certificate
  ca::Caller stranger;   // a node identity with a serial this CA never issued
  // What the seed corpus refers to.
  std::string join_token;       // unused; binds node fuzz-node-2
  std::string node_serial;      // fuzz-node's certificate
  std::string workload_serial;  // a workload certificate of fuzz-node
  std::string entry_id;         // the entry granting spiffe://example.org/web
  std::string workload_csr;     // DER: spiffe://example.org/web, web.example.org
  std::string node_csr;         // DER: any SAN (node CSRs' SANs are ignored)

  // The caller byte 1 selects (taken modulo the number of callers).
  const ca::Caller& CallerFor(uint8_t selector) const;
};

// The CA, created on first use and destroyed at exit. Aborts with the
// status if it cannot be set up: a fuzzer without its CA finds nothing.
const FuzzCa& GetFuzzCa();

// The framing above: {method, caller} followed by the serialized request.
std::string FrameInput(uint8_t method, uint8_t caller,
                       const google::protobuf::Message& request);

// When ROTOR_FUZZ_WRITE_SEEDS names a folder, writes `seeds` there, one file
// per input named after its key, and exits: how tests/fuzz/corpus/ was made.
// Otherwise does nothing.
struct Seed {
  std::string name;
  std::string input;
};
void MaybeWriteSeedsAndExit(const std::vector<Seed>& seeds);

// Checks that a refusal uses one of the codes the API documents for bad
// input or a refused caller (docs/design.md) and says why; anything else
// (an internal error, an unexpected code) stops the fuzzer.
void CheckRefusal(const absl::Status& status);

}  // namespace rotor::fuzz

#endif  // ROTOR_TESTS_FUZZ_FUZZ_AUTHORITY_H_
