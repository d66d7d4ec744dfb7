// gRPC clients of a real `rotor-ca serve` for whole-system tests: channels
// over TLS with the admin's, a node's or no client certificate, unary calls
// under a deadline with the status as absl::Status, node attestation, and a
// snapshot of everything the CA's store counts (taken from a backup, as an
// operator would), to show that a refused request changed nothing.
//
// Thread-safety: the functions are safe from any thread; a CaRpc is
// read-only after construction and its stubs are thread-safe (gRPC's).
#ifndef ROTOR_TESTS_E2E_CA_RPC_H_
#define ROTOR_TESTS_E2E_CA_RPC_H_

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "ca/grpc_status.h"
#include "pki/certificate.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "rotor/v1/ca.grpc.pb.h"
#include "store/backup.h"
#include "store/lmdb_store.h"
#include "tests/testing/ca_process.h"
#include "util/file.h"

namespace rotor::testing {

namespace v1 = ::rotor::v1;

inline constexpr absl::Duration kRpcTimeout = absl::Seconds(20);

// A TLS client identity: PKCS#8 key and certificate chain (leaf first), PEM.
struct TlsIdentity {
  std::string key_pem;
  std::string chain_pem;
};

// Calls a unary method of a sync stub with a deadline of `timeout`.
template <typename Stub, typename Request, typename Response>
absl::StatusOr<Response> Call(
    Stub& stub,
    grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                 Response*),
    const Request& request, absl::Duration timeout = kRpcTimeout) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       absl::ToChronoMilliseconds(timeout));
  Response response;
  const grpc::Status status = (stub.*method)(&context, request, &response);
  if (!status.ok()) return ca::FromGrpcStatus(status);
  return response;
}

inline std::string ChainPem(const v1::CertificateChain& chain) {
  std::string pem;
  for (const std::string& der : chain.der()) {
    absl::StatusOr<pki::Certificate> cert = pki::Certificate::FromDer(der);
    if (cert.ok()) pem += cert->ToPem();
  }
  return pem;
}

inline google::protobuf::Duration ProtoDuration(absl::Duration d) {
  google::protobuf::Duration out;
  const int64_t seconds = absl::IDivDuration(d, absl::Seconds(1), &d);
  out.set_seconds(seconds);
  out.set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(d)));
  return out;
}

// A node attested with a join token: its key, chain and identity.
struct AttestedNode {
  std::string name;
  TlsIdentity identity;
  std::string serial;
};

// Everything the store counts, as one line for readable comparisons.
inline std::string DescribeStats(const store::StoreStats& s) {
  return absl::StrCat("certificates=", s.certificates,
                      " revoked=", s.revoked_certificates,
                      " join_tokens=", s.join_tokens, " entries=", s.entries,
                      " audit_records=", s.audit_records);
}

// Clients of one CaProcess. Reads the trust bundle and the admin
// credentials from the CA's admin folder; connects to grpc_address() as it
// is when a channel is made (so channels made after a restart follow it).
class CaRpc {
 public:
  // `scratch_dir` is where store snapshots are made; it must exist.
  CaRpc(const CaProcess& ca, std::string scratch_dir)
      : ca_(ca), scratch_dir_(std::move(scratch_dir)) {
    roots_pem_ = ReadOr(JoinPath(ca.admin_dir(), "bundle.crt"));
    admin_.key_pem = ReadOr(JoinPath(ca.admin_dir(), "admin.key"));
    admin_.chain_pem = ReadOr(JoinPath(ca.admin_dir(), "admin.crt"));
  }

  const std::string& roots_pem() const { return roots_pem_; }
  const TlsIdentity& admin_identity() const { return admin_; }

  // A channel of its own (never shared with another identity's calls),
  // verifying the server against the CA's root.
  std::shared_ptr<grpc::Channel> Connect(
      const std::optional<TlsIdentity>& identity) const {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = roots_pem_;
    if (identity.has_value()) {
      ssl.pem_private_key = identity->key_pem;
      ssl.pem_cert_chain = identity->chain_pem;
    }
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(ca_.grpc_address(),
                                     grpc::SslCredentials(ssl), args);
  }

  std::unique_ptr<v1::AdminService::Stub> Admin() const {
    return v1::AdminService::NewStub(Connect(admin_));
  }
  std::unique_ptr<v1::NodeService::Stub> Anonymous() const {
    return v1::NodeService::NewStub(Connect(std::nullopt));
  }
  std::unique_ptr<v1::NodeService::Stub> AsNode(const AttestedNode& node) const {
    return v1::NodeService::NewStub(Connect(node.identity));
  }

  absl::StatusOr<std::string> CreateToken(
      const std::string& node_name,
      std::optional<absl::Duration> ttl = std::nullopt) const {
    v1::CreateJoinTokenRequest request;
    request.set_node_name(node_name);
    if (ttl.has_value()) *request.mutable_ttl() = ProtoDuration(*ttl);
    absl::StatusOr<v1::CreateJoinTokenResponse> response = Call(
        *Admin(), &v1::AdminService::Stub::CreateJoinToken, request);
    if (!response.ok()) return response.status();
    return response->token();
  }

  // Attest with `token` and a fresh EC P-256 key whose CSR names `claimed`
  // (which the CA ignores: the token names the node).
  absl::StatusOr<AttestedNode> Attest(
      const std::string& token,
      const std::string& claimed = "spiffe://example.org/anything") const {
    absl::StatusOr<pki::PrivateKey> key =
        pki::PrivateKey::Generate(pki::KeyType::kEcP256);
    if (!key.ok()) return key.status();
    absl::StatusOr<std::string> csr = pki::BuildCsr(*key, claimed, {});
    if (!csr.ok()) return csr.status();
    v1::AttestRequest request;
    request.set_join_token(token);
    request.set_csr_der(*csr);
    absl::StatusOr<v1::AttestResponse> response =
        Call(*Anonymous(), &v1::NodeService::Stub::Attest, request);
    if (!response.ok()) return response.status();
    absl::StatusOr<pki::SecretString> key_pem = key->ToPem();
    if (!key_pem.ok()) return key_pem.status();
    AttestedNode node;
    node.identity.key_pem = std::string(key_pem->view());
    node.identity.chain_pem = ChainPem(response->node());
    node.serial = response->node().serial();
    return node;
  }

  // CreateToken then Attest.
  absl::StatusOr<AttestedNode> AttestNode(const std::string& name) const {
    absl::StatusOr<std::string> token = CreateToken(name);
    if (!token.ok()) return token.status();
    absl::StatusOr<AttestedNode> node = Attest(*token);
    if (node.ok()) node->name = name;
    return node;
  }

  absl::StatusOr<v1::Entry> CreateEntry(
      const std::string& glob, const std::string& spiffe_id,
      const std::vector<std::string>& dns = {}) const {
    v1::CreateEntryRequest request;
    request.set_node_glob(glob);
    request.set_spiffe_id(spiffe_id);
    for (const std::string& name : dns) request.add_dns_names(name);
    return Call(*Admin(), &v1::AdminService::Stub::CreateEntry, request);
  }

  // Every serial AdminService.ListCertificates returns, all pages.
  absl::StatusOr<std::vector<std::string>> ListSerials() const {
    std::unique_ptr<v1::AdminService::Stub> admin = Admin();
    std::vector<std::string> serials;
    v1::ListCertificatesRequest request;
    request.set_page_size(1000);
    while (true) {
      absl::StatusOr<v1::ListCertificatesResponse> page =
          Call(*admin, &v1::AdminService::Stub::ListCertificates, request);
      if (!page.ok()) return page.status();
      for (const v1::CertificateInfo& info : page->certificates()) {
        serials.push_back(info.serial());
      }
      if (page->next_page_token().empty()) return serials;
      request.set_page_token(page->next_page_token());
    }
  }

  // What the store counts (certificates, revoked, join tokens, entries,
  // audit records), from a consistent backup of the running CA's store.
  absl::StatusOr<std::string> StoreSnapshot() const {
    const std::string dir =
        JoinPath(scratch_dir_, absl::StrCat("snapshot-", ++snapshots_));
    absl::Status made = MakeDirectories(dir, 0700);
    if (!made.ok()) return made;
    absl::Status copied = store::BackupStore(
        JoinPath(ca_.data_dir(), "store"), JoinPath(dir, "data.mdb"));
    if (!copied.ok()) return copied;
    absl::StatusOr<std::unique_ptr<store::LmdbStore>> copy =
        store::LmdbStore::Open(dir);
    if (!copy.ok()) return copy.status();
    absl::StatusOr<store::StoreStats> stats = (*copy)->GetStats();
    if (!stats.ok()) return stats.status();
    return DescribeStats(*stats);
  }

 private:
  static std::string ReadOr(const std::string& path) {
    absl::StatusOr<std::string> data = ReadFile(path);
    return data.ok() ? *std::move(data) : std::string();
  }

  const CaProcess& ca_;
  const std::string scratch_dir_;
  std::string roots_pem_;
  TlsIdentity admin_;
  mutable std::atomic<int> snapshots_{0};
};

}  // namespace rotor::testing

#endif  // ROTOR_TESTS_E2E_CA_RPC_H_
