// The gRPC surface of rotor-ca, end to end in one process: a real CaServer
// (TLS on 127.0.0.1:0, over a CA that rotor-ca init made in a TempDir) and
// real gRPC clients with admin, node, no and forged credentials. Every
// refusal asserts the code, the message and that the store did not change.
#include "ca/grpc_service.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/byte_buffer.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "ca/config.h"
#include "ca/crl_publisher.h"
#include "ca/data_dir.h"
#include "ca/grpc_status.h"
#include "ca/init.h"
#include "ca/server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pki/certificate.h"
#include "pki/certificate_builder.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "pki/random.h"
#include "rotor/v1/ca.grpc.pb.h"
#include "tests/ca/fault_store.h"
#include "tests/testing/process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_ca.h"
#include "util/clock.h"
#include "util/file.h"
#include "util/log.h"

namespace rotor::ca {
namespace {

namespace v1 = ::rotor::v1;
using ::rotor::testing::StatusIs;
using ::rotor::testing::TempDir;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

constexpr char kTrustDomain[] = "example.org";
constexpr char kAdminId[] = "spiffe://example.org/rotor/admin/init";
constexpr absl::Duration kCallTimeout = absl::Seconds(20);

// A TLS client identity: PKCS#8 key and certificate chain, PEM.
struct Credentials {
  std::string key_pem;
  std::string chain_pem;
};

// An attested node and its credentials.
struct Node {
  std::string name;
  Credentials credentials;
  std::string serial;
  std::string spiffe_id;
};

// Everything the store counts, to check that a refusal changed nothing.
using StoreSnapshot =
    std::tuple<uint64_t, uint64_t, uint64_t, uint64_t, uint64_t>;

std::string ChainPem(const v1::CertificateChain& chain) {
  std::string pem;
  for (const std::string& der : chain.der()) {
    pem += pki::Certificate::FromDer(der)->ToPem();
  }
  return pem;
}

absl::StatusOr<std::string> KeyPem(const pki::PrivateKey& key) {
  absl::StatusOr<pki::SecretString> pem = key.ToPem();
  if (!pem.ok()) return pem.status();
  return std::string(pem->view());
}

google::protobuf::Duration ProtoDuration(absl::Duration d) {
  google::protobuf::Duration out;
  out.set_seconds(absl::ToInt64Seconds(d));
  return out;
}

// Calls a unary method of a sync stub with a deadline; the status as absl.
template <typename Stub, typename Request, typename Response>
absl::StatusOr<Response> Call(
    Stub& stub,
    grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                 Response*),
    const Request& request) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       absl::ToChronoMilliseconds(kCallTimeout));
  Response response;
  grpc::Status status = (stub.*method)(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

// A WatchUpdates stream on the callback API: no thread per stream. Updates
// are kept; tests wait for them with a deadline.
class UpdateWatcher final : public grpc::ClientReadReactor<v1::Update> {
 public:
  explicit UpdateWatcher(v1::NodeService::Stub& stub) {
    stub.async()->WatchUpdates(&context_, &request_, this);
    StartRead(&update_);
    StartCall();
  }

  ~UpdateWatcher() override {
    context_.TryCancel();
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&done_));
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    {
      absl::MutexLock lock(&mu_);
      updates_.push_back(update_);
    }
    StartRead(&update_);
  }

  void OnDone(const grpc::Status& status) override {
    absl::MutexLock lock(&mu_);
    status_ = status;
    done_ = true;
  }

  // Waits until an update satisfying `match` has arrived; false on timeout.
  bool WaitFor(const std::function<bool(const v1::Update&)>& match,
               absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto found = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      for (const v1::Update& u : updates_) {
        if (match(u)) return true;
      }
      return false;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&found), timeout);
  }

  bool WaitForCount(size_t count, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return updates_.size() >= count || done_;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout) &&
           updates_.size() >= count;
  }

  // The final status, once the stream ended; nullopt on timeout.
  std::optional<absl::Status> WaitDone(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    if (!mu_.AwaitWithTimeout(absl::Condition(&done_), timeout)) {
      return std::nullopt;
    }
    return FromGrpcStatus(status_);
  }

  std::vector<v1::Update> updates() {
    absl::MutexLock lock(&mu_);
    return updates_;
  }

  bool done() {
    absl::MutexLock lock(&mu_);
    return done_;
  }

 private:
  grpc::ClientContext context_;
  v1::WatchUpdatesRequest request_;
  v1::Update update_;
  absl::Mutex mu_;
  std::vector<v1::Update> updates_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

bool IsRevocationOf(const v1::Update& update, const std::string& serial) {
  return update.has_revoked() && update.revoked().serial() == serial;
}

class GrpcServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetLogLevel(LogLevel::kWarning);
    InitOptions init;
    init.data_dir = tmp_.Path("data");
    init.trust_domain = kTrustDomain;
    ASSERT_OK(InitCa(init, absl::Now(), *pki::SystemRandom()).status());
    data_ = DataDir{init.data_dir};
    ASSERT_OK_AND_ASSIGN(root_pem_, ReadFile(data_.RootCert()));
    ASSERT_OK_AND_ASSIGN(admin_.key_pem, ReadFile(data_.AdminKey()));
    ASSERT_OK_AND_ASSIGN(admin_.chain_pem, ReadFile(data_.AdminCert()));

    ServeOptions options;
    options.data_dir = data_.root;
    options.listen = "127.0.0.1:0";
    options.http_listen = "127.0.0.1:0";
    options.worker_threads = 8;
    options.tls_refresh_interval_seconds = 1;
    options.wrap_store = [this](store::LmdbStore* store) {
      fault_store_ = std::make_unique<::rotor::ca::testing::FaultStore>(store);
      return fault_store_.get();
    };
    ASSERT_OK_AND_ASSIGN(CaConfig config, LoadCaConfig(data_.ConfigFile()));
    Configure(config);
    options.config_file = tmp_.Path("ca-test.yaml");
    ASSERT_OK(WriteFileAtomically(options.config_file, RenderCaConfig(config),
                                  0644));
    ASSERT_OK_AND_ASSIGN(server_, CaServer::Start(options, RealClock(),
                                                  pki::SystemRandom()));
    admin_stub_ = v1::AdminService::NewStub(Connect(admin_));
    anonymous_stub_ = v1::NodeService::NewStub(Connect(std::nullopt));
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(absl::Seconds(5));
  }

  // Tests may change the CA's configuration before it starts.
  virtual void Configure(CaConfig&) {}

  std::shared_ptr<grpc::Channel> Connect(
      const std::optional<Credentials>& credentials) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = root_pem_;
    if (credentials.has_value()) {
      ssl.pem_private_key = credentials->key_pem;
      ssl.pem_cert_chain = credentials->chain_pem;
    }
    grpc::ChannelArguments args;
    // Each channel its own connection, so identities never share one.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(server_->grpc_address(),
                                     grpc::SslCredentials(ssl), args);
  }

  StoreSnapshot Snapshot() {
    absl::StatusOr<store::StoreStats> s = server_->store().GetStats();
    EXPECT_OK(s.status());
    if (!s.ok()) return {};
    return {s->certificates, s->revoked_certificates, s->join_tokens,
            s->entries, s->audit_records};
  }

  absl::StatusOr<std::string> CreateToken(const std::string& node_name) {
    v1::CreateJoinTokenRequest request;
    request.set_node_name(node_name);
    absl::StatusOr<v1::CreateJoinTokenResponse> response =
        Call(*admin_stub_, &v1::AdminService::Stub::CreateJoinToken, request);
    if (!response.ok()) return response.status();
    return response->token();
  }

  absl::StatusOr<std::string> NodeCsr(const pki::PrivateKey& key) {
    // The SAN asked for is ignored: a node's identity comes from its token.
    return pki::BuildCsr(key, "spiffe://example.org/anything-i-like", {});
  }

  absl::StatusOr<Node> AttestNode(const std::string& name) {
    absl::StatusOr<std::string> token = CreateToken(name);
    if (!token.ok()) return token.status();
    absl::StatusOr<pki::PrivateKey> key =
        pki::PrivateKey::Generate(pki::KeyType::kEcP256);
    if (!key.ok()) return key.status();
    absl::StatusOr<std::string> csr = NodeCsr(*key);
    if (!csr.ok()) return csr.status();
    v1::AttestRequest request;
    request.set_join_token(*token);
    request.set_csr_der(*csr);
    absl::StatusOr<v1::AttestResponse> response =
        Call(*anonymous_stub_, &v1::NodeService::Stub::Attest, request);
    if (!response.ok()) return response.status();
    Node node;
    node.name = name;
    absl::StatusOr<std::string> key_pem = KeyPem(*key);
    if (!key_pem.ok()) return key_pem.status();
    node.credentials.key_pem = *key_pem;
    node.credentials.chain_pem = ChainPem(response->node());
    node.serial = response->node().serial();
    node.spiffe_id = absl::StrCat("spiffe://example.org/rotor/node/", name);
    return node;
  }

  absl::StatusOr<v1::Entry> CreateEntry(const std::string& glob,
                                        const std::string& spiffe_id,
                                        std::vector<std::string> dns = {}) {
    v1::CreateEntryRequest request;
    request.set_node_glob(glob);
    request.set_spiffe_id(spiffe_id);
    for (const std::string& name : dns) request.add_dns_names(name);
    return Call(*admin_stub_, &v1::AdminService::Stub::CreateEntry, request);
  }

  absl::StatusOr<v1::SignWorkloadResponse> SignWorkload(
      v1::NodeService::Stub& stub, const std::string& spiffe_id,
      std::vector<std::string> dns = {},
      std::optional<absl::Duration> ttl = std::nullopt) {
    absl::StatusOr<pki::PrivateKey> key =
        pki::PrivateKey::Generate(pki::KeyType::kEcP256);
    if (!key.ok()) return key.status();
    absl::StatusOr<std::string> csr = pki::BuildCsr(*key, spiffe_id, dns);
    if (!csr.ok()) return csr.status();
    v1::SignWorkloadRequest request;
    request.set_csr_der(*csr);
    if (ttl.has_value()) *request.mutable_ttl() = ProtoDuration(*ttl);
    return Call(stub, &v1::NodeService::Stub::SignWorkload, request);
  }

  absl::StatusOr<v1::CertificateInfo> Revoke(const std::string& serial,
                                             const std::string& reason = "") {
    v1::RevokeCertificateRequest request;
    request.set_serial(serial);
    request.set_reason(reason);
    return Call(*admin_stub_, &v1::AdminService::Stub::RevokeCertificate,
                request);
  }

  // A client certificate for `spiffe_id` from a CA that is not this one.
  Credentials Forged(const std::string& spiffe_id) {
    const absl::Time now = absl::Now();
    absl::StatusOr<::rotor::testing::TestCa> other =
        ::rotor::testing::MakeTestCa(pki::KeyType::kEcP256, now);
    EXPECT_OK(other.status());
    forged_ca_ = std::make_unique<::rotor::testing::TestCa>(*std::move(other));
    pki::PrivateKey key = *pki::PrivateKey::Generate(pki::KeyType::kEcP256);
    pki::LeafTemplate leaf;
    leaf.public_key_der = *key.PublicKeyDer();
    leaf.spiffe_id = spiffe_id;
    leaf.usage = pki::CertificateUsage::kNode;
    absl::StatusOr<pki::Certificate> cert = pki::BuildLeafCertificate(
        leaf, forged_ca_->signer(), now, *pki::SystemRandom());
    EXPECT_OK(cert.status());
    return Credentials{*KeyPem(key),
                       cert->ToPem() + forged_ca_->intermediate.ToPem()};
  }

  TempDir tmp_;
  DataDir data_;
  std::string root_pem_;
  Credentials admin_;
  // Forwards to the server's store; tests switch faults on.
  std::unique_ptr<::rotor::ca::testing::FaultStore> fault_store_;
  std::unique_ptr<CaServer> server_;
  std::unique_ptr<v1::AdminService::Stub> admin_stub_;
  std::unique_ptr<v1::NodeService::Stub> anonymous_stub_;
  std::unique_ptr<::rotor::testing::TestCa> forged_ca_;
};

// --- NodeService.GetBundle ---

TEST_F(GrpcServiceTest, GetBundleNeedsNoClientCertificate) {
  ASSERT_OK_AND_ASSIGN(
      v1::TrustBundle bundle,
      Call(*anonymous_stub_, &v1::NodeService::Stub::GetBundle,
           v1::GetBundleRequest()));
  ASSERT_OK_AND_ASSIGN(pki::Certificate root,
                       pki::Certificate::FromPem(root_pem_));
  EXPECT_THAT(bundle.root_der(), ElementsAre(root.der()));
  EXPECT_GE(bundle.version(), 1u);
}

// --- NodeService.Attest ---

TEST_F(GrpcServiceTest, AttestIssuesNodeCertificateNamedByTheToken) {
  const StoreSnapshot before = Snapshot();
  ASSERT_OK_AND_ASSIGN(std::string token, CreateToken("web-1"));
  pki::PrivateKey key = *pki::PrivateKey::Generate(pki::KeyType::kEcP256);
  v1::AttestRequest request;
  request.set_join_token(token);
  request.set_csr_der(*NodeCsr(key));
  ASSERT_OK_AND_ASSIGN(
      v1::AttestResponse response,
      Call(*anonymous_stub_, &v1::NodeService::Stub::Attest, request));

  ASSERT_THAT(response.node().der(), SizeIs(2));  // leaf, intermediate
  ASSERT_OK_AND_ASSIGN(pki::Certificate leaf,
                       pki::Certificate::FromDer(response.node().der(0)));
  EXPECT_THAT(leaf.UriSans(),
              ElementsAre("spiffe://example.org/rotor/node/web-1"));
  EXPECT_EQ(response.node().serial(), leaf.SerialHex());
  EXPECT_EQ(response.node().not_after().seconds(),
            absl::ToUnixSeconds(leaf.NotAfter()));
  EXPECT_TRUE(key.Matches(leaf.PublicKey()));
  EXPECT_THAT(response.bundle().root_der(), SizeIs(1));
  // One token and one certificate more.
  EXPECT_EQ(std::get<0>(Snapshot()), std::get<0>(before) + 1);
  EXPECT_EQ(server_->metrics().issued().Value("node"), 1);
}

TEST_F(GrpcServiceTest, AttestRefusesUnknownTokenAndStoresNothing) {
  pki::PrivateKey key = *pki::PrivateKey::Generate(pki::KeyType::kEcP256);
  v1::AttestRequest request;
  request.set_join_token("rotor-0000");
  request.set_csr_der(*NodeCsr(key));
  const StoreSnapshot before = Snapshot();
  EXPECT_THAT(Call(*anonymous_stub_, &v1::NodeService::Stub::Attest, request),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("unknown join token")));
  EXPECT_EQ(Snapshot(), before);
  EXPECT_EQ(server_->metrics().refused().Value("UNAUTHENTICATED"), 1);
}

TEST_F(GrpcServiceTest, AttestRefusesEmptyToken) {
  pki::PrivateKey key = *pki::PrivateKey::Generate(pki::KeyType::kEcP256);
  v1::AttestRequest request;
  request.set_csr_der(*NodeCsr(key));
  const StoreSnapshot before = Snapshot();
  EXPECT_THAT(Call(*anonymous_stub_, &v1::NodeService::Stub::Attest, request),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("join token is empty")));
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(GrpcServiceTest, AttestRefusesATokenUsedTwice) {
  ASSERT_OK_AND_ASSIGN(std::string token, CreateToken("web-1"));
  pki::PrivateKey key = *pki::PrivateKey::Generate(pki::KeyType::kEcP256);
  v1::AttestRequest request;
  request.set_join_token(token);
  request.set_csr_der(*NodeCsr(key));
  ASSERT_OK(Call(*anonymous_stub_, &v1::NodeService::Stub::Attest, request)
                .status());
  const StoreSnapshot before = Snapshot();
  EXPECT_THAT(Call(*anonymous_stub_, &v1::NodeService::Stub::Attest, request),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("join token already used")));
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(GrpcServiceTest, AttestRefusesMalformedCsrAndKeepsTheToken) {
  ASSERT_OK_AND_ASSIGN(std::string token, CreateToken("web-1"));
  v1::AttestRequest request;
  request.set_join_token(token);
  request.set_csr_der("not a CSR");
  const StoreSnapshot before = Snapshot();
  EXPECT_THAT(Call(*anonymous_stub_, &v1::NodeService::Stub::Attest, request),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("CSR is not valid DER PKCS#10")));
  EXPECT_EQ(Snapshot(), before);
  // The token still works.
  pki::PrivateKey key = *pki::PrivateKey::Generate(pki::KeyType::kEcP256);
  request.set_csr_der(*NodeCsr(key));
  EXPECT_OK(Call(*anonymous_stub_, &v1::NodeService::Stub::Attest, request)
                .status());
}

TEST_F(GrpcServiceTest, AttestRefusesOversizedCsr) {
  ASSERT_OK_AND_ASSIGN(std::string token, CreateToken("web-1"));
  v1::AttestRequest request;
  request.set_join_token(token);
  request.set_csr_der(std::string(20000, 'x'));
  const StoreSnapshot before = Snapshot();
  EXPECT_THAT(Call(*anonymous_stub_, &v1::NodeService::Stub::Attest, request),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("exceeds the 16384-byte limit")));
  EXPECT_EQ(Snapshot(), before);
}

// --- NodeService.RenewNode ---

TEST_F(GrpcServiceTest, RenewNodeKeepsTheCallersIdentity) {
  ASSERT_OK_AND_ASSIGN(Node node, AttestNode("web-1"));
  auto stub = v1::NodeService::NewStub(Connect(node.credentials));
  pki::PrivateKey key = *pki::PrivateKey::Generate(pki::KeyType::kEcP256);
  v1::RenewNodeRequest request;
  request.set_csr_der(*NodeCsr(key));
  ASSERT_OK_AND_ASSIGN(v1::RenewNodeResponse response,
                       Call(*stub, &v1::NodeService::Stub::RenewNode, request));
  ASSERT_OK_AND_ASSIGN(pki::Certificate leaf,
                       pki::Certificate::FromDer(response.node().der(0)));
  EXPECT_THAT(leaf.UriSans(), ElementsAre(node.spiffe_id));
  EXPECT_NE(response.node().serial(), node.serial);
}

TEST_F(GrpcServiceTest, RenewNodeRefusesCallerWithoutCertificate) {
  pki::PrivateKey key = *pki::PrivateKey::Generate(pki::KeyType::kEcP256);
  v1::RenewNodeRequest request;
  request.set_csr_der(*NodeCsr(key));
  const StoreSnapshot before = Snapshot();
  EXPECT_THAT(
      Call(*anonymous_stub_, &v1::NodeService::Stub::RenewNode, request),
      StatusIs(absl::StatusCode::kUnauthenticated,
               HasSubstr("needs the node's client certificate")));
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(GrpcServiceTest, RenewNodeRefusesAnAdminIdentity) {
  auto stub = v1::NodeService::NewStub(Connect(admin_));
  pki::PrivateKey key = *pki::PrivateKey::Generate(pki::KeyType::kEcP256);
  v1::RenewNodeRequest request;
  request.set_csr_der(*NodeCsr(key));
  const StoreSnapshot before = Snapshot();
  EXPECT_THAT(Call(*stub, &v1::NodeService::Stub::RenewNode, request),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       AllOf(HasSubstr(kAdminId),
                             HasSubstr("is not a node identity"))));
  EXPECT_EQ(Snapshot(), before);
}

// --- NodeService.SignWorkload ---

TEST_F(GrpcServiceTest, SignWorkloadIssuesWhatAnEntryGrants) {
  ASSERT_OK_AND_ASSIGN(Node node, AttestNode("web-1"));
  ASSERT_OK(CreateEntry("web-*", "spiffe://example.org/web", {"web.internal"})
                .status());
  auto stub = v1::NodeService::NewStub(Connect(node.credentials));
  ASSERT_OK_AND_ASSIGN(
      v1::SignWorkloadResponse response,
      SignWorkload(*stub, "spiffe://example.org/web", {"web.internal"},
                   absl::Minutes(10)));
  ASSERT_THAT(response.certificate().der(), SizeIs(2));
  ASSERT_OK_AND_ASSIGN(pki::Certificate leaf,
                       pki::Certificate::FromDer(response.certificate().der(0)));
  EXPECT_THAT(leaf.UriSans(), ElementsAre("spiffe://example.org/web"));
  EXPECT_THAT(leaf.DnsSans(), ElementsAre("web.internal"));
  EXPECT_EQ(leaf.NotAfter() - leaf.NotBefore(),
            absl::Minutes(10) + pki::kBackdate);
  EXPECT_THAT(response.bundle().root_der(), SizeIs(1));
  EXPECT_THAT(response.crl().der(), SizeIs(2));  // intermediate's, root's
  EXPECT_EQ(server_->metrics().issued().Value("workload"), 1);
  EXPECT_EQ(server_->metrics().issue_latency().Count(), 2u);  // attest, sign
}

TEST_F(GrpcServiceTest, NodeCannotObtainAnIdentityGrantedOnlyToAnotherNode) {
  ASSERT_OK_AND_ASSIGN(Node web, AttestNode("web-1"));
  ASSERT_OK_AND_ASSIGN(Node db, AttestNode("db-1"));
  ASSERT_OK(CreateEntry("web-1", "spiffe://example.org/web", {"web.internal"})
                .status());
  auto db_stub = v1::NodeService::NewStub(Connect(db.credentials));
  const StoreSnapshot before = Snapshot();
  EXPECT_THAT(SignWorkload(*db_stub, "spiffe://example.org/web"),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("node db-1 is not allowed "
                                 "spiffe://example.org/web: no entry grants "
                                 "it")));
  // Nor a DNS name the entry does not list, even for the right node.
  auto web_stub = v1::NodeService::NewStub(Connect(web.credentials));
  EXPECT_THAT(
      SignWorkload(*web_stub, "spiffe://example.org/web", {"db.internal"}),
      StatusIs(absl::StatusCode::kPermissionDenied,
               HasSubstr("node web-1 is not allowed DNS name db.internal")));
  EXPECT_EQ(Snapshot(), before);
  EXPECT_EQ(server_->metrics().refused().Value("PERMISSION_DENIED"), 2);
}

TEST_F(GrpcServiceTest, StoreThatCannotBeWrittenIsUnavailableAndStoresNothing) {
  ASSERT_OK_AND_ASSIGN(Node node, AttestNode("web-1"));
  ASSERT_OK(CreateEntry("web-*", "spiffe://example.org/web").status());
  auto stub = v1::NodeService::NewStub(Connect(node.credentials));
  const StoreSnapshot before = Snapshot();

  fault_store_->fail_put = true;
  EXPECT_THAT(SignWorkload(*stub, "spiffe://example.org/web"),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("store is not writable")));
  EXPECT_EQ(Snapshot(), before);
  fault_store_->fail_put = false;

  // A full store is the operator's to fix, and the caller's to retry later.
  fault_store_->full = true;
  EXPECT_THAT(SignWorkload(*stub, "spiffe://example.org/web"),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("store_max_size_mb")));
  EXPECT_EQ(Snapshot(), before);
  fault_store_->full = false;
  EXPECT_EQ(server_->metrics().refused().Value("UNAVAILABLE"), 2);

  // Once the store takes writes again, issuance resumes.
  EXPECT_OK(SignWorkload(*stub, "spiffe://example.org/web").status());
}

TEST_F(GrpcServiceTest, SignWorkloadRefusesTtlOutOfRange) {
  ASSERT_OK_AND_ASSIGN(Node node, AttestNode("web-1"));
  ASSERT_OK(CreateEntry("*", "spiffe://example.org/web").status());
  auto stub = v1::NodeService::NewStub(Connect(node.credentials));
  const StoreSnapshot before = Snapshot();
  EXPECT_THAT(SignWorkload(*stub, "spiffe://example.org/web", {},
                           absl::Hours(48)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("TTL 48h is outside the allowed range")));
  EXPECT_THAT(SignWorkload(*stub, "spiffe://example.org/web", {},
                           absl::Seconds(10)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("TTL 10s is outside the allowed range")));
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(GrpcServiceTest, SignWorkloadRefusesCaTrueCsr) {
  ASSERT_OK_AND_ASSIGN(Node node, AttestNode("web-1"));
  ASSERT_OK(CreateEntry("*", "spiffe://example.org/web").status());
  auto stub = v1::NodeService::NewStub(Connect(node.credentials));
  // A CSR asking for CA:TRUE, made with the openssl CLI.
  const std::string key = tmp_.Path("ca-true.key");
  const std::string der = tmp_.Path("ca-true.der");
  std::string output;
  ASSERT_EQ(::rotor::testing::RunCommand(
                absl::StrCat("openssl req -new -newkey ec -pkeyopt "
                             "ec_paramgen_curve:P-256 -nodes -keyout ",
                             key, " -subj / -outform DER -out ", der,
                             " -addext basicConstraints=critical,CA:TRUE "
                             "-addext subjectAltName=URI:spiffe://example.org/"
                             "web"),
                &output),
            0)
      << output;
  v1::SignWorkloadRequest request;
  request.set_csr_der(*ReadFile(der));
  const StoreSnapshot before = Snapshot();
  EXPECT_THAT(Call(*stub, &v1::NodeService::Stub::SignWorkload, request),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("CA:TRUE")));
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(GrpcServiceTest, SignWorkloadRefusesCallerWithoutCertificate) {
  const StoreSnapshot before = Snapshot();
  EXPECT_THAT(SignWorkload(*anonymous_stub_, "spiffe://example.org/web"),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("needs the node's client certificate")));
  EXPECT_EQ(Snapshot(), before);
}

// --- Forged credentials: the TLS handshake refuses them ---

TEST_F(GrpcServiceTest, ForgedClientCertificateFailsTheHandshake) {
  const Credentials forged = Forged("spiffe://example.org/rotor/admin/evil");
  auto admin = v1::AdminService::NewStub(Connect(forged));
  const StoreSnapshot before = Snapshot();
  v1::CreateJoinTokenRequest request;
  request.set_node_name("evil");
  absl::StatusOr<v1::CreateJoinTokenResponse> response =
      Call(*admin, &v1::AdminService::Stub::CreateJoinToken, request);
  // The server verifies every client certificate it is sent against its
  // roots during the handshake, so the call never reaches a handler.
  EXPECT_THAT(response, StatusIs(absl::StatusCode::kUnavailable, ::testing::_));
  auto node = v1::NodeService::NewStub(
      Connect(Forged("spiffe://example.org/rotor/node/web-1")));
  EXPECT_THAT(SignWorkload(*node, "spiffe://example.org/web"),
              StatusIs(absl::StatusCode::kUnavailable, ::testing::_));
  EXPECT_EQ(Snapshot(), before);
  EXPECT_EQ(server_->metrics().refused().Value("UNAVAILABLE"), 0)
      << "no handler saw the forged calls";
}

// --- AdminService ---

TEST_F(GrpcServiceTest, CreateJoinTokenDefaultsToOneHour) {
  v1::CreateJoinTokenRequest request;
  request.set_node_name("web-1");
  const absl::Time start = absl::Now();
  ASSERT_OK_AND_ASSIGN(
      v1::CreateJoinTokenResponse response,
      Call(*admin_stub_, &v1::AdminService::Stub::CreateJoinToken, request));
  EXPECT_THAT(response.token(), HasSubstr("rotor-"));
  EXPECT_EQ(response.node_name(), "web-1");
  const absl::Time expires = absl::FromUnixSeconds(response.expires_at().seconds());
  EXPECT_GE(expires, start + absl::Hours(1) - absl::Seconds(1));
  EXPECT_LE(expires, absl::Now() + absl::Hours(1));
}

TEST_F(GrpcServiceTest, CreateJoinTokenRefusesBadNodeName) {
  v1::CreateJoinTokenRequest request;
  request.set_node_name("../etc");
  const StoreSnapshot before = Snapshot();
  EXPECT_THAT(
      Call(*admin_stub_, &v1::AdminService::Stub::CreateJoinToken, request),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("has the character '/'")));
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(GrpcServiceTest, AdminCallsRefuseCallerWithoutCertificate) {
  auto stub = v1::AdminService::NewStub(Connect(std::nullopt));
  v1::CreateJoinTokenRequest request;
  request.set_node_name("web-1");
  const StoreSnapshot before = Snapshot();
  EXPECT_THAT(Call(*stub, &v1::AdminService::Stub::CreateJoinToken, request),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("admin calls need an admin client "
                                 "certificate")));
  EXPECT_THAT(Call(*stub, &v1::AdminService::Stub::GetCrl,
                   v1::GetCrlRequest()),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("admin calls need an admin client "
                                 "certificate")));
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(GrpcServiceTest, NodeCannotCallAdminService) {
  ASSERT_OK_AND_ASSIGN(Node node, AttestNode("web-1"));
  auto stub = v1::AdminService::NewStub(Connect(node.credentials));
  const StoreSnapshot before = Snapshot();
  const auto denied =
      StatusIs(absl::StatusCode::kPermissionDenied,
               HasSubstr("caller spiffe://example.org/rotor/node/web-1 is not "
                         "an admin"));
  v1::CreateJoinTokenRequest token;
  token.set_node_name("web-2");
  EXPECT_THAT(Call(*stub, &v1::AdminService::Stub::CreateJoinToken, token),
              denied);
  v1::CreateEntryRequest entry;
  entry.set_node_glob("web-1");
  entry.set_spiffe_id("spiffe://example.org/db");
  EXPECT_THAT(Call(*stub, &v1::AdminService::Stub::CreateEntry, entry),
              denied);
  EXPECT_THAT(Call(*stub, &v1::AdminService::Stub::ListEntries,
                   v1::ListEntriesRequest()),
              denied);
  v1::DeleteEntryRequest del;
  del.set_id("e-1");
  EXPECT_THAT(Call(*stub, &v1::AdminService::Stub::DeleteEntry, del), denied);
  EXPECT_THAT(Call(*stub, &v1::AdminService::Stub::ListCertificates,
                   v1::ListCertificatesRequest()),
              denied);
  v1::GetCertificateRequest get;
  get.set_serial(node.serial);
  EXPECT_THAT(Call(*stub, &v1::AdminService::Stub::GetCertificate, get),
              denied);
  v1::RevokeCertificateRequest revoke;
  revoke.set_serial(node.serial);
  EXPECT_THAT(Call(*stub, &v1::AdminService::Stub::RevokeCertificate, revoke),
              denied);
  EXPECT_THAT(
      Call(*stub, &v1::AdminService::Stub::GetCrl, v1::GetCrlRequest()),
      denied);
  EXPECT_THAT(Call(*stub, &v1::AdminService::Stub::GetBundle,
                   v1::GetBundleRequest()),
              denied);
  EXPECT_EQ(Snapshot(), before);
  EXPECT_EQ(server_->metrics().refused().Value("PERMISSION_DENIED"), 9);
}

TEST_F(GrpcServiceTest, EntriesAreCreatedListedAndDeleted) {
  ASSERT_OK_AND_ASSIGN(
      v1::Entry entry,
      CreateEntry("web-*", "spiffe://example.org/web", {"web.internal"}));
  EXPECT_THAT(entry.id(), HasSubstr("e-"));
  EXPECT_EQ(entry.created_by(), kAdminId);
  EXPECT_EQ(entry.node_glob(), "web-*");
  ASSERT_OK_AND_ASSIGN(v1::ListEntriesResponse list,
                       Call(*admin_stub_, &v1::AdminService::Stub::ListEntries,
                            v1::ListEntriesRequest()));
  ASSERT_THAT(list.entries(), SizeIs(1));
  EXPECT_EQ(list.entries(0).id(), entry.id());
  EXPECT_THAT(list.entries(0).dns_names(), ElementsAre("web.internal"));

  v1::DeleteEntryRequest del;
  del.set_id(entry.id());
  ASSERT_OK(
      Call(*admin_stub_, &v1::AdminService::Stub::DeleteEntry, del).status());
  const StoreSnapshot before = Snapshot();
  EXPECT_THAT(Call(*admin_stub_, &v1::AdminService::Stub::DeleteEntry, del),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr(absl::StrCat("entry ", entry.id(),
                                              " not found"))));
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(GrpcServiceTest, CreateEntryRefusesIdentityOutsideTheTrustDomain) {
  const StoreSnapshot before = Snapshot();
  EXPECT_THAT(CreateEntry("web-*", "spiffe://other.org/web"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("outside trust domain example.org")));
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(GrpcServiceTest, ListCertificatesFiltersAndPages) {
  ASSERT_OK_AND_ASSIGN(Node web, AttestNode("web-1"));
  ASSERT_OK_AND_ASSIGN(Node db, AttestNode("db-1"));
  ASSERT_OK(CreateEntry("*", "spiffe://example.org/web").status());
  auto stub = v1::NodeService::NewStub(Connect(web.credentials));
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK(SignWorkload(*stub, "spiffe://example.org/web").status());
  }

  v1::ListCertificatesRequest by_node;
  by_node.set_node_name("web-1");
  ASSERT_OK_AND_ASSIGN(
      v1::ListCertificatesResponse web_certs,
      Call(*admin_stub_, &v1::AdminService::Stub::ListCertificates, by_node));
  EXPECT_THAT(web_certs.certificates(), SizeIs(4));  // node + 3 workloads
  for (const v1::CertificateInfo& info : web_certs.certificates()) {
    EXPECT_EQ(info.node_name(), "web-1");
  }

  v1::ListCertificatesRequest by_id;
  by_id.set_spiffe_id("spiffe://example.org/web");
  by_id.set_page_size(2);
  ASSERT_OK_AND_ASSIGN(
      v1::ListCertificatesResponse page1,
      Call(*admin_stub_, &v1::AdminService::Stub::ListCertificates, by_id));
  EXPECT_THAT(page1.certificates(), SizeIs(2));
  ASSERT_FALSE(page1.next_page_token().empty());
  by_id.set_page_token(page1.next_page_token());
  ASSERT_OK_AND_ASSIGN(
      v1::ListCertificatesResponse page2,
      Call(*admin_stub_, &v1::AdminService::Stub::ListCertificates, by_id));
  EXPECT_THAT(page2.certificates(), SizeIs(1));
  EXPECT_TRUE(page2.next_page_token().empty());

  v1::ListCertificatesRequest bad;
  bad.set_page_size(-1);
  EXPECT_THAT(
      Call(*admin_stub_, &v1::AdminService::Stub::ListCertificates, bad),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("page_size must not be negative")));
}

TEST_F(GrpcServiceTest, GetCertificateAcceptsPastedSerials) {
  ASSERT_OK_AND_ASSIGN(Node node, AttestNode("web-1"));
  v1::GetCertificateRequest request;
  std::string pasted = absl::AsciiStrToUpper(absl::StrCat("00", node.serial));
  request.set_serial(pasted);
  ASSERT_OK_AND_ASSIGN(
      v1::CertificateInfo info,
      Call(*admin_stub_, &v1::AdminService::Stub::GetCertificate, request));
  EXPECT_EQ(info.serial(), node.serial);
  EXPECT_EQ(info.kind(), "node");
  EXPECT_EQ(info.spiffe_id(), node.spiffe_id);
  EXPECT_EQ(info.node_name(), "web-1");
  EXPECT_FALSE(info.revoked());
  EXPECT_FALSE(info.der().empty());

  request.set_serial("1234abcd");
  EXPECT_THAT(
      Call(*admin_stub_, &v1::AdminService::Stub::GetCertificate, request),
      StatusIs(absl::StatusCode::kNotFound,
               HasSubstr("certificate 1234abcd not found")));
  request.set_serial("xyz");
  EXPECT_THAT(
      Call(*admin_stub_, &v1::AdminService::Stub::GetCertificate, request),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("serial \"xyz\" is not hexadecimal")));
}

TEST_F(GrpcServiceTest, RevokeCertificateAndItsRefusals) {
  ASSERT_OK_AND_ASSIGN(Node node, AttestNode("web-1"));
  ASSERT_OK_AND_ASSIGN(v1::CertificateInfo revoked,
                       Revoke(node.serial, "key-compromise"));
  EXPECT_TRUE(revoked.revoked());
  EXPECT_EQ(revoked.revocation_reason(), "keyCompromise");
  EXPECT_EQ(revoked.revoked_by(), kAdminId);
  EXPECT_EQ(server_->metrics().revoked().Value(), 1);

  const StoreSnapshot before = Snapshot();
  EXPECT_THAT(Revoke(node.serial),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr(absl::StrCat("certificate ", node.serial,
                                              " is already revoked"))));
  EXPECT_THAT(Revoke("abcdef"),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("certificate abcdef not found")));
  ASSERT_OK_AND_ASSIGN(Node other, AttestNode("web-2"));
  const StoreSnapshot before_bad_reason = Snapshot();
  EXPECT_THAT(Revoke(other.serial, "because"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unknown revocation reason \"because\"")));
  EXPECT_EQ(Snapshot(), before_bad_reason);
  EXPECT_EQ(std::get<1>(Snapshot()), std::get<1>(before));
}

TEST_F(GrpcServiceTest, RevokedCertificateIsOnTheNextCrl) {
  ASSERT_OK_AND_ASSIGN(Node node, AttestNode("web-1"));
  ASSERT_OK_AND_ASSIGN(v1::Crl before,
                       Call(*admin_stub_, &v1::AdminService::Stub::GetCrl,
                            v1::GetCrlRequest()));
  ASSERT_OK(Revoke(node.serial).status());
  // Published within a second.
  ASSERT_TRUE(server_->authority().crl_publisher().WaitForNumberAbove(
      before.number(), absl::Seconds(1)));
  ASSERT_OK_AND_ASSIGN(v1::Crl after,
                       Call(*admin_stub_, &v1::AdminService::Stub::GetCrl,
                            v1::GetCrlRequest()));
  EXPECT_GT(after.number(), before.number());
  ASSERT_THAT(after.der(), SizeIs(2));
  const std::string crl_file = tmp_.Path("crl.der");
  ASSERT_OK(WriteFileAtomically(crl_file, after.der(0), 0644));
  std::string text;
  ASSERT_EQ(::rotor::testing::RunCommand(
                absl::StrCat("openssl crl -inform DER -noout -text -in ",
                             crl_file),
                &text),
            0)
      << text;
  EXPECT_THAT(absl::AsciiStrToLower(text), HasSubstr(node.serial));
}

TEST_F(GrpcServiceTest, AdminGetBundleReturnsTheRoots) {
  ASSERT_OK_AND_ASSIGN(v1::TrustBundle bundle,
                       Call(*admin_stub_, &v1::AdminService::Stub::GetBundle,
                            v1::GetBundleRequest()));
  EXPECT_THAT(bundle.root_der(), SizeIs(1));
}

// --- Revoked nodes ---

TEST_F(GrpcServiceTest, RevokedNodeIsRefusedEverywhere) {
  ASSERT_OK_AND_ASSIGN(Node node, AttestNode("web-1"));
  ASSERT_OK(CreateEntry("*", "spiffe://example.org/web").status());
  auto stub = v1::NodeService::NewStub(Connect(node.credentials));
  ASSERT_OK(SignWorkload(*stub, "spiffe://example.org/web").status());
  ASSERT_OK(Revoke(node.serial).status());

  const StoreSnapshot before = Snapshot();
  const std::string message = absl::StrCat(
      "node certificate ", node.serial,
      " was revoked; attest again with a new join token");
  EXPECT_THAT(SignWorkload(*stub, "spiffe://example.org/web"),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr(message)));
  pki::PrivateKey key = *pki::PrivateKey::Generate(pki::KeyType::kEcP256);
  v1::RenewNodeRequest renew;
  renew.set_csr_der(*NodeCsr(key));
  EXPECT_THAT(Call(*stub, &v1::NodeService::Stub::RenewNode, renew),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr(message)));
  UpdateWatcher watcher(*stub);
  std::optional<absl::Status> ended = watcher.WaitDone(absl::Seconds(10));
  ASSERT_TRUE(ended.has_value());
  EXPECT_THAT(*ended, StatusIs(absl::StatusCode::kPermissionDenied,
                               HasSubstr(message)));
  EXPECT_EQ(Snapshot(), before);

  // A new token brings the node back.
  ASSERT_OK_AND_ASSIGN(Node again, AttestNode("web-1"));
  auto again_stub = v1::NodeService::NewStub(Connect(again.credentials));
  EXPECT_OK(SignWorkload(*again_stub, "spiffe://example.org/web").status());
}

// --- WatchUpdates ---

TEST_F(GrpcServiceTest, WatchUpdatesStartsWithTheBundleAndTheCrl) {
  ASSERT_OK_AND_ASSIGN(Node node, AttestNode("web-1"));
  auto stub = v1::NodeService::NewStub(Connect(node.credentials));
  UpdateWatcher watcher(*stub);
  ASSERT_TRUE(watcher.WaitForCount(2, absl::Seconds(10)));
  std::vector<v1::Update> updates = watcher.updates();
  EXPECT_TRUE(updates[0].has_bundle());
  EXPECT_THAT(updates[0].bundle().root_der(), SizeIs(1));
  EXPECT_TRUE(updates[1].has_crl());
  EXPECT_THAT(updates[1].crl().der(), SizeIs(2));
  EXPECT_FALSE(watcher.done());
  EXPECT_EQ(server_->node_service().open_watches(), 1u);
}

TEST_F(GrpcServiceTest, WatchUpdatesRefusesCallerWithoutNodeCertificate) {
  UpdateWatcher anonymous(*anonymous_stub_);
  std::optional<absl::Status> ended = anonymous.WaitDone(absl::Seconds(10));
  ASSERT_TRUE(ended.has_value());
  EXPECT_THAT(*ended, StatusIs(absl::StatusCode::kUnauthenticated,
                               HasSubstr("needs the node's client "
                                         "certificate")));
  auto admin_node_stub = v1::NodeService::NewStub(Connect(admin_));
  UpdateWatcher admin(*admin_node_stub);
  ended = admin.WaitDone(absl::Seconds(10));
  ASSERT_TRUE(ended.has_value());
  EXPECT_THAT(*ended, StatusIs(absl::StatusCode::kPermissionDenied,
                               HasSubstr("is not a node identity")));
}

TEST_F(GrpcServiceTest, WatchUpdatesTellsTheHolderOfARevocationWithinASecond) {
  ASSERT_OK_AND_ASSIGN(Node web, AttestNode("web-1"));
  ASSERT_OK_AND_ASSIGN(Node db, AttestNode("db-1"));
  ASSERT_OK(CreateEntry("*", "spiffe://example.org/web").status());
  auto web_stub = v1::NodeService::NewStub(Connect(web.credentials));
  auto db_stub = v1::NodeService::NewStub(Connect(db.credentials));
  ASSERT_OK_AND_ASSIGN(v1::SignWorkloadResponse workload,
                       SignWorkload(*web_stub, "spiffe://example.org/web"));
  const std::string serial = workload.certificate().serial();

  UpdateWatcher web_watch(*web_stub);
  UpdateWatcher db_watch(*db_stub);
  ASSERT_TRUE(web_watch.WaitForCount(2, absl::Seconds(10)));
  ASSERT_TRUE(db_watch.WaitForCount(2, absl::Seconds(10)));
  const uint64_t crl_number = web_watch.updates()[1].crl().number();

  const absl::Time start = absl::Now();
  ASSERT_OK(Revoke(serial, "superseded").status());
  ASSERT_TRUE(web_watch.WaitFor(
      [&](const v1::Update& u) { return IsRevocationOf(u, serial); },
      absl::Seconds(1) - (absl::Now() - start)))
      << "the holder was not told within one second";
  for (const v1::Update& u : web_watch.updates()) {
    if (IsRevocationOf(u, serial)) {
      EXPECT_EQ(u.revoked().reason(), "superseded");
    }
  }
  // Everyone gets the new CRL; only the holder gets the revocation.
  auto new_crl = [&](const v1::Update& u) {
    return u.has_crl() && u.crl().number() > crl_number;
  };
  EXPECT_TRUE(web_watch.WaitFor(new_crl, absl::Seconds(1)));
  EXPECT_TRUE(db_watch.WaitFor(new_crl, absl::Seconds(1)));
  for (const v1::Update& u : db_watch.updates()) {
    EXPECT_FALSE(u.has_revoked()) << "db-1 was told about web-1's certificate";
  }
  // A workload certificate's revocation does not end the stream.
  EXPECT_FALSE(web_watch.done());
}

TEST_F(GrpcServiceTest, WatchUpdatesEndsAfterTellingANodeItsCertificateWasRevoked) {
  ASSERT_OK_AND_ASSIGN(Node node, AttestNode("web-1"));
  auto stub = v1::NodeService::NewStub(Connect(node.credentials));
  UpdateWatcher watcher(*stub);
  ASSERT_TRUE(watcher.WaitForCount(2, absl::Seconds(10)));
  ASSERT_OK(Revoke(node.serial).status());
  std::optional<absl::Status> ended = watcher.WaitDone(absl::Seconds(1));
  ASSERT_TRUE(ended.has_value());
  EXPECT_THAT(*ended, StatusIs(absl::StatusCode::kPermissionDenied,
                               HasSubstr("was revoked")));
  EXPECT_TRUE(IsRevocationOf(watcher.updates().back(), node.serial));
}

TEST_F(GrpcServiceTest, ShutdownEndsOpenStreams) {
  ASSERT_OK_AND_ASSIGN(Node node, AttestNode("web-1"));
  auto stub = v1::NodeService::NewStub(Connect(node.credentials));
  UpdateWatcher watcher(*stub);
  ASSERT_TRUE(watcher.WaitForCount(2, absl::Seconds(10)));
  const absl::Time start = absl::Now();
  server_->Shutdown(absl::Seconds(30));
  // Streams do not hold the drain up.
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  std::optional<absl::Status> ended = watcher.WaitDone(absl::Seconds(5));
  ASSERT_TRUE(ended.has_value());
  EXPECT_THAT(*ended, StatusIs(absl::StatusCode::kUnavailable,
                               HasSubstr("shutting down")));
}

TEST_F(GrpcServiceTest, ShutdownLetsACallInFlightFinish) {
  ASSERT_OK_AND_ASSIGN(std::string token, CreateToken("web-1"));
  ASSERT_OK_AND_ASSIGN(pki::PrivateKey key,
                       pki::PrivateKey::Generate(pki::KeyType::kEcP256));
  ASSERT_OK_AND_ASSIGN(std::string csr, NodeCsr(key));
  // The Attest call stops inside the store until released.
  absl::Notification entered;
  absl::Notification release;
  fault_store_->before_consume = [&] {
    entered.Notify();
    release.WaitForNotification();
  };
  absl::StatusOr<v1::AttestResponse> attested;
  std::thread attest([&] {
    v1::AttestRequest request;
    request.set_join_token(token);
    request.set_csr_der(csr);
    attested =
        Call(*anonymous_stub_, &v1::NodeService::Stub::Attest, request);
  });
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(absl::Seconds(10)));

  std::thread stop([&] { server_->Shutdown(absl::Seconds(30)); });
  // Once the server refuses new calls, the one in flight is let go.
  auto refuses_new_calls = [&] {
    auto stub = v1::NodeService::NewStub(Connect(std::nullopt));
    return !Call(*stub, &v1::NodeService::Stub::GetBundle,
                 v1::GetBundleRequest())
                .ok();
  };
  EXPECT_TRUE(rotor::testing::WaitFor(refuses_new_calls, absl::Seconds(10)));
  release.Notify();
  attest.join();
  stop.join();
  // It was answered, not cancelled by the end of the drain.
  ASSERT_OK(attested.status());
  EXPECT_EQ(attested->node().der_size(), 2);
}

// 2,000 streams at once: 50 nodes with 40 streams each, every stream on the
// callback API (no thread per stream, on either side). Each node has a
// workload certificate; revoking it must reach every stream of that node
// within one second, and no stream of another node.
TEST_F(GrpcServiceTest, TwoThousandStreamsEachToldOfItsRevocationWithinASecond) {
  constexpr int kNodes = 50;
  constexpr int kStreamsPerNode = 40;
  ASSERT_OK(CreateEntry("*", "spiffe://example.org/web").status());
  struct NodeStreams {
    Node node;
    std::unique_ptr<v1::NodeService::Stub> stub;
    std::string workload_serial;
    std::vector<std::unique_ptr<UpdateWatcher>> watchers;
  };
  std::vector<NodeStreams> nodes(kNodes);
  for (int i = 0; i < kNodes; ++i) {
    ASSERT_OK_AND_ASSIGN(nodes[i].node, AttestNode(absl::StrCat("node-", i)));
    nodes[i].stub =
        v1::NodeService::NewStub(Connect(nodes[i].node.credentials));
    ASSERT_OK_AND_ASSIGN(
        v1::SignWorkloadResponse workload,
        SignWorkload(*nodes[i].stub, "spiffe://example.org/web"));
    nodes[i].workload_serial = workload.certificate().serial();
  }
  for (NodeStreams& n : nodes) {
    for (int j = 0; j < kStreamsPerNode; ++j) {
      n.watchers.push_back(std::make_unique<UpdateWatcher>(*n.stub));
    }
  }
  // All open, each with its bundle and CRL.
  for (NodeStreams& n : nodes) {
    for (auto& w : n.watchers) {
      ASSERT_TRUE(w->WaitForCount(2, absl::Seconds(30)));
    }
  }
  EXPECT_EQ(server_->node_service().open_watches(),
            static_cast<size_t>(kNodes * kStreamsPerNode));

  for (NodeStreams& n : nodes) {
    const absl::Time start = absl::Now();
    ASSERT_OK(Revoke(n.workload_serial).status());
    for (auto& w : n.watchers) {
      const absl::Duration left = absl::Seconds(1) - (absl::Now() - start);
      ASSERT_TRUE(w->WaitFor(
          [&](const v1::Update& u) {
            return IsRevocationOf(u, n.workload_serial);
          },
          left))
          << n.node.name << " was not told within one second";
    }
  }
  // Nobody heard of another node's revocation, and every stream is open.
  for (NodeStreams& n : nodes) {
    for (auto& w : n.watchers) {
      EXPECT_FALSE(w->done());
      int revocations = 0;
      for (const v1::Update& u : w->updates()) {
        if (!u.has_revoked()) continue;
        ++revocations;
        EXPECT_EQ(u.revoked().serial(), n.workload_serial);
      }
      EXPECT_EQ(revocations, 1);
    }
  }
  EXPECT_EQ(server_->node_service().open_watches(),
            static_cast<size_t>(kNodes * kStreamsPerNode));
}

// --- Rate limits ---

class RateLimitedServiceTest : public GrpcServiceTest {
 protected:
  void Configure(CaConfig& config) override {
    config.rate_limit.per_node_burst = 2;
    config.rate_limit.per_node_per_second = 0.01;
  }
};

TEST_F(RateLimitedServiceTest, SignWorkloadPastTheNodesBurstIsRefused) {
  ASSERT_OK_AND_ASSIGN(Node node, AttestNode("web-1"));
  ASSERT_OK(CreateEntry("*", "spiffe://example.org/web").status());
  auto stub = v1::NodeService::NewStub(Connect(node.credentials));
  ASSERT_OK(SignWorkload(*stub, "spiffe://example.org/web").status());
  ASSERT_OK(SignWorkload(*stub, "spiffe://example.org/web").status());
  const StoreSnapshot before = Snapshot();
  EXPECT_THAT(SignWorkload(*stub, "spiffe://example.org/web"),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       AllOf(HasSubstr("rate limit for node web-1 exceeded"),
                             HasSubstr("retry in"))));
  EXPECT_EQ(Snapshot(), before);
  EXPECT_EQ(server_->metrics().refused().Value("RESOURCE_EXHAUSTED"), 1);
}

// --- The CA's own certificate, health and reflection ---

// The server certificate the client saw on a fresh connection.
std::string PeerCertificateSerial(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = v1::NodeService::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  v1::TrustBundle bundle;
  if (!stub->GetBundle(&context, v1::GetBundleRequest(), &bundle).ok()) {
    return "";
  }
  std::vector<grpc::string_ref> pems =
      context.auth_context()->FindPropertyValues("x509_pem_cert");
  if (pems.empty()) return "";
  absl::StatusOr<pki::Certificate> cert = pki::Certificate::FromPem(
      absl::string_view(pems.front().data(), pems.front().size()));
  return cert.ok() ? cert->SerialHex() : "";
}

TEST_F(GrpcServiceTest, ServerCertificateRenewsWithoutRestart) {
  const std::string first = server_->tls().certificate().SerialHex();
  EXPECT_EQ(PeerCertificateSerial(Connect(std::nullopt)), first);
  ASSERT_OK(server_->tls().Renew());
  const std::string second = server_->tls().certificate().SerialHex();
  ASSERT_NE(first, second);
  // The files are re-read every second here; new connections get the new
  // certificate without a restart.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  std::string seen;
  while (absl::Now() < deadline) {
    seen = PeerCertificateSerial(Connect(std::nullopt));
    if (seen == second) break;
    absl::SleepFor(absl::Milliseconds(100));  // polling a file watcher
  }
  EXPECT_EQ(seen, second);
  ASSERT_OK_AND_ASSIGN(std::vector<pki::Certificate> chain,
                       pki::Certificate::LoadChain(server_->tls().cert_path()));
  EXPECT_EQ(chain.front().SerialHex(), second);
  EXPECT_EQ(::rotor::testing::FileMode(server_->tls().key_path()), 0600);
}

absl::StatusOr<std::string> GenericUnary(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
    const std::string& request_bytes) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  grpc::Slice slice(request_bytes);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  absl::Mutex mu;
  bool done = false;
  grpc::Status status;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &request, &response,
                 [&](grpc::Status s) {
                   absl::MutexLock lock(&mu);
                   status = std::move(s);
                   done = true;
                 });
  {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(&done));
  }
  if (!status.ok()) return FromGrpcStatus(status);
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return absl::InternalError("dump");
  std::string out;
  for (const grpc::Slice& s : slices) {
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

TEST_F(GrpcServiceTest, ServesGrpcHealth) {
  // HealthCheckRequest{service: ""} is empty; HealthCheckResponse{status:
  // SERVING} is field 1 = 1.
  ASSERT_OK_AND_ASSIGN(
      std::string response,
      GenericUnary(Connect(std::nullopt), "/grpc.health.v1.Health/Check", ""));
  EXPECT_EQ(response, std::string("\x08\x01", 2));
}

TEST_F(GrpcServiceTest, ServesReflection) {
  // One ServerReflectionRequest{list_services: ""} (field 7) on the
  // bidirectional stream; the answer names the services.
  class Reflect final
      : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
   public:
    explicit Reflect(grpc::GenericStub& stub) {
      context_.set_deadline(std::chrono::system_clock::now() +
                            std::chrono::seconds(10));
      stub.PrepareBidiStreamingCall(
          &context_, "/grpc.reflection.v1alpha.ServerReflection/"
                     "ServerReflectionInfo",
          grpc::StubOptions(), this);
      grpc::Slice slice(std::string("\x3a\x00", 2));
      request_ = grpc::ByteBuffer(&slice, 1);
      StartWrite(&request_);
      StartRead(&response_);
      StartCall();
    }
    void OnWriteDone(bool) override { StartWritesDone(); }
    void OnReadDone(bool ok) override {
      if (!ok) return;
      std::vector<grpc::Slice> slices;
      (void)response_.Dump(&slices);
      absl::MutexLock lock(&mu_);
      for (const grpc::Slice& s : slices) {
        text_.append(reinterpret_cast<const char*>(s.begin()), s.size());
      }
    }
    void OnDone(const grpc::Status& status) override {
      absl::MutexLock lock(&mu_);
      status_ = status;
      done_ = true;
    }
    std::string Wait() {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(&done_));
      return text_;
    }

   private:
    grpc::ClientContext context_;
    grpc::ByteBuffer request_;
    grpc::ByteBuffer response_;
    absl::Mutex mu_;
    std::string text_;
    bool done_ = false;
    grpc::Status status_;
  };
  grpc::GenericStub stub(Connect(std::nullopt));
  Reflect reflect(stub);
  const std::string text = reflect.Wait();
  EXPECT_THAT(text, HasSubstr("rotor.v1.NodeService"));
  EXPECT_THAT(text, HasSubstr("rotor.v1.AdminService"));
  EXPECT_THAT(text, HasSubstr("grpc.health.v1.Health"));
}

}  // namespace
}  // namespace rotor::ca
