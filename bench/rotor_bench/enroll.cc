#include "bench/rotor_bench/enroll.h"

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "agent/ca_client.h"
#include "google/protobuf/duration.pb.h"
#include "pki/certificate.h"
#include "pki/csr.h"
#include "pki/spiffe_id.h"
#include "util/status_macros.h"

namespace rotor::bench {

absl::Status ParallelFor(size_t n, int threads,
                         const std::function<absl::Status(size_t)>& fn) {
  std::atomic<size_t> next{0};
  absl::Mutex mu;
  absl::Status first_error;
  std::atomic<bool> failed{false};
  auto work = [&] {
    while (!failed.load()) {
      const size_t i = next.fetch_add(1);
      if (i >= n) return;
      absl::Status status = fn(i);
      if (!status.ok()) {
        absl::MutexLock lock(&mu);
        if (first_error.ok()) first_error = std::move(status);
        failed = true;
      }
    }
  };
  std::vector<std::thread> pool;
  const int count = std::max(1, std::min<int>(threads, static_cast<int>(n)));
  for (int t = 0; t < count; ++t) pool.emplace_back(work);
  for (std::thread& t : pool) t.join();
  return first_error;
}

absl::StatusOr<std::vector<std::string>> MakeCsrs(const std::string& spiffe_id,
                                                  pki::KeyType key_type,
                                                  size_t count, int threads) {
  std::vector<std::string> csrs(count);
  absl::Status done = ParallelFor(count, threads, [&](size_t i) {
    ROTOR_ASSIGN_OR_RETURN(pki::PrivateKey key,
                           pki::PrivateKey::Generate(key_type));
    ROTOR_ASSIGN_OR_RETURN(csrs[i], pki::BuildCsr(key, spiffe_id, {}));
    return absl::OkStatus();
  });
  ROTOR_RETURN_IF_ERROR(done);
  return csrs;
}

absl::StatusOr<std::unique_ptr<BenchCa>> BenchCa::Connect(
    const std::string& address, const std::string& credentials_dir) {
  ctl::ConnectionOptions options;
  options.address = address;
  options.credentials_dir = credentials_dir;
  options.timeout = absl::Seconds(60);
  ROTOR_ASSIGN_OR_RETURN(ctl::AdminCredentials credentials,
                         ctl::LoadAdminCredentials(credentials_dir));
  ROTOR_ASSIGN_OR_RETURN(
      std::vector<pki::Certificate> chain,
      pki::Certificate::ChainFromPem(credentials.cert_chain_pem));
  if (chain.empty() || chain.front().UriSans().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the admin certificate in ", credentials_dir, " has no SPIFFE ID"));
  }
  ROTOR_ASSIGN_OR_RETURN(pki::SpiffeId admin_id,
                         pki::SpiffeId::Parse(chain.front().UriSans().front()));
  std::unique_ptr<BenchCa> ca(new BenchCa());
  ca->address_ = address;
  ca->roots_pem_ = credentials.roots_pem;
  ca->trust_domain_ = admin_id.trust_domain;
  ROTOR_ASSIGN_OR_RETURN(ca->admin_, ctl::AdminClient::Connect(options));
  return ca;
}

absl::Status BenchCa::CreateEntry(const std::string& node_glob,
                                  const std::string& spiffe_id) {
  rotor::v1::CreateEntryRequest request;
  request.set_node_glob(node_glob);
  request.set_spiffe_id(spiffe_id);
  rotor::v1::Entry entry;
  auto context = admin_->NewContext();
  return admin_->ToStatus(
      admin_->stub().CreateEntry(context.get(), request, &entry));
}

absl::StatusOr<std::vector<std::string>> BenchCa::CreateTokens(
    const std::vector<std::string>& nodes, int concurrency) {
  std::vector<std::string> tokens(nodes.size());
  absl::Status done = ParallelFor(nodes.size(), concurrency, [&](size_t i) {
    rotor::v1::CreateJoinTokenRequest request;
    request.set_node_name(nodes[i]);
    request.mutable_ttl()->set_seconds(3600);
    rotor::v1::CreateJoinTokenResponse response;
    auto context = admin_->NewContext();
    ROTOR_RETURN_IF_ERROR(admin_->ToStatus(
        admin_->stub().CreateJoinToken(context.get(), request, &response)));
    tokens[i] = response.token();
    return absl::OkStatus();
  });
  ROTOR_RETURN_IF_ERROR(done);
  return tokens;
}

absl::StatusOr<std::vector<EnrolledNode>> BenchCa::AttestNodes(
    const std::vector<std::string>& nodes,
    const std::vector<std::string>& tokens, pki::KeyType key_type,
    int concurrency) {
  if (nodes.size() != tokens.size()) {
    return absl::InternalError("one token per node is needed");
  }
  agent::GrpcCaClientOptions options;
  options.address = address_;
  options.rpc_timeout = absl::Seconds(60);
  agent::GrpcCaClient client(options);
  ROTOR_RETURN_IF_ERROR(client.SetCredentials(roots_pem_, {}, ""));
  std::vector<EnrolledNode> enrolled(nodes.size());
  absl::Status done = ParallelFor(nodes.size(), concurrency, [&](size_t i) {
    ROTOR_ASSIGN_OR_RETURN(pki::PrivateKey key,
                           pki::PrivateKey::Generate(key_type));
    // A node CSR's SANs are ignored (the token names the node), but a CSR
    // without any is refused.
    ROTOR_ASSIGN_OR_RETURN(
        std::string csr,
        pki::BuildCsr(key, absl::StrCat("spiffe://", trust_domain_, "/bench"),
                      {}));
    const pki::SecretString token(tokens[i]);
    absl::StatusOr<rotor::v1::AttestResponse> response;
    for (absl::Duration pause = absl::Milliseconds(5);;
         pause = std::min(pause * 2, absl::Milliseconds(200))) {
      response = client.Attest(token, csr);
      if (!absl::IsResourceExhausted(response.status())) break;
      absl::SleepFor(pause);
    }
    ROTOR_RETURN_IF_ERROR(response.status());
    EnrolledNode& node = enrolled[i];
    node.name = nodes[i];
    ROTOR_ASSIGN_OR_RETURN(node.key_pem, key.ToPem());
    for (const std::string& der : response->node().der()) {
      ROTOR_ASSIGN_OR_RETURN(pki::Certificate cert,
                             pki::Certificate::FromDer(der));
      absl::StrAppend(&node.chain_pem, cert.ToPem());
    }
    node.serial = response->node().serial();
    return absl::OkStatus();
  });
  ROTOR_RETURN_IF_ERROR(done);
  return enrolled;
}

absl::Status BenchCa::Revoke(const std::string& serial) {
  rotor::v1::RevokeCertificateRequest request;
  request.set_serial(serial);
  request.set_reason("superseded");
  rotor::v1::CertificateInfo info;
  auto context = admin_->NewContext();
  return admin_->ToStatus(
      admin_->stub().RevokeCertificate(context.get(), request, &info));
}

}  // namespace rotor::bench
