// Fuzzes the NodeService calls (docs/design.md, "gRPC surface") through the
// CA core, without a network: the request bytes are parsed as the request
// message, as gRPC would, and handed to the Authority the way
// ca/grpc_service.cc does, for one of four callers (admin, an attested node,
// no client certificate, a node identity this CA never issued).
//
// Input (tests/fuzz/fuzz_authority.h): byte 0 picks the method (GetBundle,
// Attest, RenewNode, SignWorkload, WatchUpdates' authentication), byte 1 the
// caller, the rest is the serialized request.
//
// Oracles, besides the sanitizers: every refusal carries one of the codes
// docs/design.md lists; every certificate issued chains to the bundle and
// names only what was allowed: a node certificate the node's own ID, a
// workload certificate the SPIFFE ID the CSR asked for, for an attested node.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "ca/authority.h"
#include "ca/policy.h"
#include "google/protobuf/duration.pb.h"
#include "pki/csr.h"
#include "pki/verify.h"
#include "rotor/v1/ca.pb.h"
#include "tests/fuzz/fuzz_authority.h"
#include "tests/fuzz/fuzz_check.h"

namespace rotor::fuzz {
namespace {

namespace v1 = ::rotor::v1;

enum Method : uint8_t {
  kGetBundle,
  kAttest,
  kRenewNode,
  kSignWorkload,
  kWatchUpdates,
  kMethodCount
};

void CheckChain(const ca::IssuedCertificate& issued, pki::VerifyPurpose purpose,
                const FuzzCa& ca) {
  FUZZ_CHECK(!issued.chain.empty());
  FUZZ_CHECK(pki::VerifyCertificate(issued.leaf, issued.chain,
                                    ca.authority->GetBundle().roots,
                                    issued.leaf.NotBefore() +
                                        (issued.leaf.NotAfter() -
                                         issued.leaf.NotBefore()) / 2,
                                    purpose)
                 .ok());
  FUZZ_CHECK(!issued.leaf.IsCa());
}

// The duration as ca/grpc_service.cc converts it.
absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

template <typename Request>
bool Parse(const uint8_t* data, size_t size, Request* request) {
  return request->ParseFromArray(data, static_cast<int>(size));
}

void Run(uint8_t method, const ca::Caller& caller, const uint8_t* data,
         size_t size) {
  const FuzzCa& ca = GetFuzzCa();
  ca::Authority& authority = *ca.authority;
  switch (method % kMethodCount) {
    case kGetBundle: {
      v1::GetBundleRequest request;
      if (!Parse(data, size, &request)) return;
      FUZZ_CHECK(!authority.GetBundle().roots.empty());
      return;
    }
    case kAttest: {
      v1::AttestRequest request;
      if (!Parse(data, size, &request)) return;
      absl::StatusOr<ca::IssuedCertificate> issued =
          authority.Attest(caller, request.join_token(), request.csr_der());
      if (!issued.ok()) return CheckRefusal(issued.status());
      CheckChain(*issued, pki::VerifyPurpose::kTlsClient, ca);
      // Only the seeded token is valid, once: it binds fuzz-node-2.
      FUZZ_CHECK(request.join_token() == ca.join_token);
      FUZZ_CHECK(issued->leaf.UriSans() ==
                 std::vector<std::string>{ca::NodeSpiffeId(kTrustDomain,
                                                           "fuzz-node-2")});
      return;
    }
    case kRenewNode: {
      v1::RenewNodeRequest request;
      if (!Parse(data, size, &request)) return;
      absl::StatusOr<ca::IssuedCertificate> issued =
          authority.RenewNode(caller, request.csr_der());
      if (!issued.ok()) return CheckRefusal(issued.status());
      CheckChain(*issued, pki::VerifyPurpose::kTlsClient, ca);
      FUZZ_CHECK(&caller == &ca.node);
      FUZZ_CHECK(issued->leaf.UriSans() ==
                 std::vector<std::string>{ca.node.spiffe_id});
      return;
    }
    case kSignWorkload: {
      v1::SignWorkloadRequest request;
      if (!Parse(data, size, &request)) return;
      std::optional<absl::Duration> ttl;
      if (request.has_ttl()) ttl = FromProto(request.ttl());
      absl::StatusOr<ca::IssuedCertificate> issued =
          authority.SignWorkload(caller, request.csr_der(), ttl);
      if (!issued.ok()) return CheckRefusal(issued.status());
      CheckChain(*issued, pki::VerifyPurpose::kAny, ca);
      FUZZ_CHECK(&caller == &ca.node);
      absl::StatusOr<pki::ParsedCsr> csr =
          pki::ParsedCsr::Parse(request.csr_der());
      FUZZ_CHECK(csr.ok());
      FUZZ_CHECK(issued->leaf.UriSans() == csr->uris());
      FUZZ_CHECK(ca::ValidateWorkloadSpiffeId(kTrustDomain, csr->uris()[0]).ok());
      const absl::Duration lifetime =
          issued->leaf.NotAfter() - issued->leaf.NotBefore();
      FUZZ_CHECK(lifetime <= authority.config().max_ttl + absl::Minutes(5));
      return;
    }
    case kWatchUpdates: {
      v1::WatchUpdatesRequest request;
      if (!Parse(data, size, &request)) return;
      absl::StatusOr<std::string> node = authority.AuthenticateNode(caller);
      if (!node.ok()) return CheckRefusal(node.status());
      FUZZ_CHECK(&caller == &ca.node);
      FUZZ_CHECK(*node == "fuzz-node");
      return;
    }
  }
}

std::vector<Seed> Seeds() {
  const FuzzCa& ca = GetFuzzCa();
  std::vector<Seed> seeds;
  auto add = [&](const std::string& name, Method method, uint8_t caller,
                 const google::protobuf::Message& request) {
    seeds.push_back({name, FrameInput(method, caller, request)});
  };
  add("get_bundle", kGetBundle, 2, v1::GetBundleRequest());
  v1::AttestRequest attest;
  attest.set_join_token(ca.join_token);
  attest.set_csr_der(ca.node_csr);
  add("attest", kAttest, 2, attest);
  attest.set_join_token("rotor-00");
  add("attest_unknown_token", kAttest, 2, attest);
  v1::RenewNodeRequest renew;
  renew.set_csr_der(ca.node_csr);
  add("renew_node", kRenewNode, 1, renew);
  add("renew_node_stranger", kRenewNode, 3, renew);
  v1::SignWorkloadRequest sign;
  sign.set_csr_der(ca.workload_csr);
  add("sign_workload_default_ttl", kSignWorkload, 1, sign);
  sign.mutable_ttl()->set_seconds(600);
  add("sign_workload_ttl", kSignWorkload, 1, sign);
  sign.mutable_ttl()->set_seconds(-1);
  sign.mutable_ttl()->set_nanos(-999999999);
  add("sign_workload_negative_ttl", kSignWorkload, 1, sign);
  sign.clear_ttl();
  add("sign_workload_admin", kSignWorkload, 0, sign);
  sign.set_csr_der(ca.node_csr);
  add("sign_workload_ungranted", kSignWorkload, 1, sign);
  add("watch_updates", kWatchUpdates, 1, v1::WatchUpdatesRequest());
  return seeds;
}

}  // namespace
}  // namespace rotor::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  rotor::fuzz::GetFuzzCa();
  rotor::fuzz::MaybeWriteSeedsAndExit(rotor::fuzz::Seeds());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const rotor::fuzz::FuzzCa& ca = rotor::fuzz::GetFuzzCa();
  rotor::fuzz::Run(data[0], ca.CallerFor(data[1]), data + 2, size - 2);
  return 0;
}
