// The attack suite: a real `rotor-ca serve` (its own process, its config
// from ca.yaml, its store on disk) attacked over real mTLS with the
// credentials an attacker could hold: none, a stolen or stale join token, a
// node's certificate, a forged certificate, another CA's admin credentials.
//
// Every refusal asserts the exact gRPC code, a message that names what was
// wrong, and that the store did not change: everything it counts
// (certificates, revocations, join tokens, entries, audit records) is read
// from a backup before and after, as an operator would.
//
// docs/security.md maps each test to the threat it covers.
#include <openssl/dsa.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pki/certificate.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "pki/ssl_ptr.h"
#include "rotor/v1/ca.grpc.pb.h"
#include "tests/e2e/ca_rpc.h"
#include "tests/testing/ca_process.h"
#include "tests/testing/process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "util/file.h"

namespace rotor {
namespace {

namespace v1 = ::rotor::v1;
using ::rotor::testing::AttestedNode;
using ::rotor::testing::CaProcess;
using ::rotor::testing::CaRpc;
using ::rotor::testing::Call;
using ::rotor::testing::ProtoDuration;
using ::rotor::testing::ReadFileOrEmpty;
using ::rotor::testing::RunCommand;
using ::rotor::testing::StatusIs;
using ::rotor::testing::TempDir;
using ::rotor::testing::TlsIdentity;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kWeb[] = "spiffe://example.org/web";

// --- Crafting requests an honest agent would never send ---

pki::PrivateKey NewKey(pki::KeyType type = pki::KeyType::kEcP256) {
  absl::StatusOr<pki::PrivateKey> key = pki::PrivateKey::Generate(type);
  EXPECT_OK(key.status());
  return *std::move(key);
}

// A key of a type rotor never generates, from OpenSSL directly.
pki::PrivateKey RsaKey(unsigned bits) {
  pki::SslPtr<EVP_PKEY> key(
      EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits)));
  EXPECT_NE(key, nullptr);
  return pki::PrivateKey::Adopt(std::move(key));
}

pki::PrivateKey EcKey(const char* curve) {
  pki::SslPtr<EVP_PKEY> key(EVP_EC_gen(curve));
  EXPECT_NE(key, nullptr) << curve;
  return pki::PrivateKey::Adopt(std::move(key));
}

pki::PrivateKey DsaKey() {
  pki::SslPtr<EVP_PKEY_CTX> param_ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, "DSA", nullptr));
  EVP_PKEY* raw_params = nullptr;
  EXPECT_TRUE(param_ctx != nullptr &&
              EVP_PKEY_paramgen_init(param_ctx.get()) == 1 &&
              EVP_PKEY_CTX_set_dsa_paramgen_bits(param_ctx.get(), 1024) == 1 &&
              EVP_PKEY_paramgen(param_ctx.get(), &raw_params) == 1);
  pki::SslPtr<EVP_PKEY> params(raw_params);
  pki::SslPtr<EVP_PKEY_CTX> key_ctx(
      EVP_PKEY_CTX_new_from_pkey(nullptr, params.get(), nullptr));
  EVP_PKEY* raw_key = nullptr;
  EXPECT_TRUE(key_ctx != nullptr && EVP_PKEY_keygen_init(key_ctx.get()) == 1 &&
              EVP_PKEY_keygen(key_ctx.get(), &raw_key) == 1);
  return pki::PrivateKey::Adopt(pki::SslPtr<EVP_PKEY>(raw_key));
}

std::string Csr(const pki::PrivateKey& key, const std::string& spiffe_id,
                const std::vector<std::string>& dns = {}) {
  absl::StatusOr<std::string> csr = pki::BuildCsr(key, spiffe_id, dns);
  EXPECT_OK(csr.status());
  return csr.ok() ? *csr : std::string();
}

// A CSR with extensions in OpenSSL's config syntax, e.g.
// {"basicConstraints", "critical,CA:TRUE"}, for requests BuildCsr would
// never make.
std::string RawCsr(const pki::PrivateKey& key,
                   const std::vector<std::pair<std::string, std::string>>&
                       extensions) {
  pki::SslPtr<X509_REQ> req(X509_REQ_new());
  pki::X509ExtensionStack stack(sk_X509_EXTENSION_new_null());
  EXPECT_TRUE(req != nullptr && stack != nullptr &&
              X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) == 1 &&
              X509_REQ_set_pubkey(req.get(), key.get()) == 1);
  for (const auto& [name, value] : extensions) {
    pki::SslPtr<X509_EXTENSION> ext(
        X509V3_EXT_nconf(nullptr, nullptr, name.c_str(), value.c_str()));
    EXPECT_NE(ext, nullptr) << name << "=" << value;
    EXPECT_GT(sk_X509_EXTENSION_push(stack.get(), ext.get()), 0);
    ext.release();  // the stack took ownership
  }
  EXPECT_EQ(X509_REQ_add_extensions(req.get(), stack.get()), 1);
  EXPECT_GT(X509_REQ_sign(req.get(), key.get(), EVP_sha256()), 0);
  unsigned char* der = nullptr;
  const int len = i2d_X509_REQ(req.get(), &der);
  EXPECT_GT(len, 0);
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

std::string WithBrokenSignature(std::string der) {
  der.back() ^= 0x01;  // the last byte of the signature
  return der;
}

// A CSR that is valid DER but over the 16 KiB limit: 600 DNS names.
std::string OversizedCsr() {
  std::vector<std::string> names;
  for (int i = 0; i < 600; ++i) {
    names.push_back(absl::StrCat("host-", i, ".a-rather-long-domain.internal"));
  }
  std::string csr = Csr(NewKey(), kWeb, names);
  EXPECT_GT(csr.size(), pki::kMaxCsrBytes);
  return csr;
}

// --- The fixture: one CA per test, an admin, and node web-1 ---

class AttackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = std::make_unique<CaProcess>(tmp_.path());
    ASSERT_TRUE(ca_->Init());
    ASSERT_TRUE(ca_->Start());
    rpc_ = std::make_unique<CaRpc>(*ca_, tmp_.path());
    admin_ = rpc_->Admin();
    anonymous_ = rpc_->Anonymous();
  }

  void TearDown() override {
    if (HasFailure()) {
      std::fprintf(stderr, "--- rotor-ca log ---\n%s",
                   ReadFileOrEmpty(ca_->log_path()).c_str());
    }
  }

  // SIGTERM and start again (on new ports). The fixture's channels are
  // closed first: the CA's drain waits for open connections.
  void Restart() {
    admin_.reset();
    anonymous_.reset();
    ASSERT_EQ(ca_->Stop(), 0);
    ASSERT_TRUE(ca_->Start());
    admin_ = rpc_->Admin();
    anonymous_ = rpc_->Anonymous();
  }

  std::string Snapshot() {
    absl::StatusOr<std::string> snapshot = rpc_->StoreSnapshot();
    EXPECT_OK(snapshot.status());
    return snapshot.ok() ? *snapshot : "";
  }

  AttestedNode Node(const std::string& name) {
    absl::StatusOr<AttestedNode> node = rpc_->AttestNode(name);
    EXPECT_OK(node.status());
    return node.ok() ? *std::move(node) : AttestedNode{};
  }

  std::string Token(const std::string& node) {
    absl::StatusOr<std::string> token = rpc_->CreateToken(node);
    EXPECT_OK(token.status());
    return token.ok() ? *token : "";
  }

  absl::StatusOr<v1::SignWorkloadResponse> SignWorkload(
      v1::NodeService::Stub& stub, const std::string& csr_der,
      std::optional<absl::Duration> ttl = std::nullopt) {
    v1::SignWorkloadRequest request;
    request.set_csr_der(csr_der);
    if (ttl.has_value()) *request.mutable_ttl() = ProtoDuration(*ttl);
    return Call(stub, &v1::NodeService::Stub::SignWorkload, request);
  }

  absl::StatusOr<v1::AttestResponse> Attest(const std::string& token,
                                            const std::string& csr_der) {
    v1::AttestRequest request;
    request.set_join_token(token);
    request.set_csr_der(csr_der);
    return Call(*anonymous_, &v1::NodeService::Stub::Attest, request);
  }

  absl::StatusOr<v1::RenewNodeResponse> RenewNode(v1::NodeService::Stub& stub) {
    v1::RenewNodeRequest request;
    request.set_csr_der(Csr(NewKey(), "spiffe://example.org/anything"));
    return Call(stub, &v1::NodeService::Stub::RenewNode, request);
  }

  // The status WatchUpdates ends with before sending anything.
  absl::Status WatchRefusal(v1::NodeService::Stub& stub) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(20));
    std::unique_ptr<grpc::ClientReader<v1::Update>> reader =
        stub.WatchUpdates(&context, v1::WatchUpdatesRequest());
    v1::Update update;
    if (reader->Read(&update)) {
      return absl::InternalError("WatchUpdates sent an update");
    }
    return ca::FromGrpcStatus(reader->Finish());
  }

  TempDir tmp_;
  std::unique_ptr<CaProcess> ca_;
  std::unique_ptr<CaRpc> rpc_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
  std::unique_ptr<v1::NodeService::Stub> anonymous_;
};

// --- Join tokens ---

TEST_F(AttackTest, AttestRefusesTokensThatAreNotValidAndStoresNothing) {
  const std::string used = Token("web-1");
  ASSERT_OK(rpc_->Attest(used).status());

  v1::CreateJoinTokenRequest short_lived;
  short_lived.set_node_name("web-2");
  *short_lived.mutable_ttl() = ProtoDuration(absl::Milliseconds(1));
  ASSERT_OK_AND_ASSIGN(
      v1::CreateJoinTokenResponse expired,
      Call(*admin_, &v1::AdminService::Stub::CreateJoinToken, short_lived));
  const absl::Time expires_at =
      absl::FromUnixSeconds(expired.expires_at().seconds()) +
      absl::Nanoseconds(expired.expires_at().nanos());
  ASSERT_TRUE(testing::WaitFor([&] { return absl::Now() > expires_at; },
                               absl::Seconds(5)));

  std::string tampered = Token("web-3");
  tampered.back() = tampered.back() == '0' ? '1' : '0';

  struct Case {
    const char* what;
    std::string token;
    const char* message;
  };
  const Case cases[] = {
      {"reused", used, "join token already used"},
      {"expired", expired.token(), "join token expired"},
      {"tampered", tampered, "unknown join token"},
      {"made up", "rotor-" + std::string(64, 'a'), "unknown join token"},
      {"empty", "", "join token is empty"},
      {"not a token at all", std::string(1000, '\0'), "unknown join token"},
  };
  const std::string before = Snapshot();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    EXPECT_THAT(rpc_->Attest(c.token),
                StatusIs(absl::StatusCode::kUnauthenticated,
                         AllOf(HasSubstr(c.message),
                               HasSubstr("rotorctl token create"))));
  }
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(AttackTest, TheTokenNotTheCsrNamesTheNode) {
  // A token for web-1 with a CSR that claims node db-1 and a DNS name: the
  // certificate is web-1's, with nothing the CSR asked for.
  const pki::PrivateKey key = NewKey();
  ASSERT_OK_AND_ASSIGN(
      v1::AttestResponse response,
      Attest(Token("web-1"), Csr(key, "spiffe://example.org/rotor/node/db-1",
                                 {"db-1.internal"})));
  ASSERT_OK_AND_ASSIGN(pki::Certificate leaf,
                       pki::Certificate::FromDer(response.node().der(0)));
  EXPECT_THAT(leaf.UriSans(),
              ElementsAre("spiffe://example.org/rotor/node/web-1"));
  EXPECT_THAT(leaf.DnsSans(), IsEmpty());
  EXPECT_FALSE(leaf.IsCa());
  const uint32_t eku = X509_get_extended_key_usage(leaf.get());
  EXPECT_TRUE(eku & XKU_SSL_CLIENT);
  EXPECT_FALSE(eku & XKU_SSL_SERVER) << "a node certificate cannot serve TLS";

  v1::ListCertificatesRequest db;
  db.set_node_name("db-1");
  ASSERT_OK_AND_ASSIGN(
      v1::ListCertificatesResponse listed,
      Call(*admin_, &v1::AdminService::Stub::ListCertificates, db));
  EXPECT_THAT(listed.certificates(), IsEmpty());
}

// --- Forged client certificates: refused by the TLS handshake ---

TEST_F(AttackTest, ForgedClientCertificatesFailTheHandshake) {
  const AttestedNode web = Node("web-1");
  ASSERT_OK(rpc_->CreateEntry("web-*", kWeb).status());

  // Self-signed, with web-1's SPIFFE ID and even its serial.
  const std::string key_path = tmp_.Path("forged.key");
  const std::string cert_path = tmp_.Path("forged.crt");
  std::string output;
  ASSERT_EQ(
      RunCommand(absl::StrCat(
                     "openssl req -x509 -newkey ec -pkeyopt "
                     "ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=web-1 "
                     "-keyout ",
                     key_path, " -out ", cert_path, " -set_serial 0x",
                     web.serial,
                     " -addext subjectAltName=URI:spiffe://example.org/"
                     "rotor/node/web-1 -addext extendedKeyUsage=clientAuth"),
                 &output),
      0)
      << output;
  const TlsIdentity self_signed{ReadFileOrEmpty(key_path),
                                ReadFileOrEmpty(cert_path)};

  // The admin credentials of another rotor CA (trust domain evil.org), and
  // of one that uses the same trust domain name: signed by the wrong root.
  TempDir other_dir;
  CaProcess other(other_dir.path());
  ASSERT_TRUE(other.Init("example.org"));
  const TlsIdentity other_admin{
      ReadFileOrEmpty(other.admin_dir() + "/admin.key"),
      ReadFileOrEmpty(other.admin_dir() + "/admin.crt")};
  TempDir evil_dir;
  CaProcess evil(evil_dir.path());
  ASSERT_TRUE(evil.Init("evil.org"));
  const TlsIdentity evil_admin{
      ReadFileOrEmpty(evil.admin_dir() + "/admin.key"),
      ReadFileOrEmpty(evil.admin_dir() + "/admin.crt")};

  // The server verifies the client certificate in the TLS handshake, so no
  // handler runs: the client sees UNAVAILABLE (with TLS 1.3 the server's
  // verdict comes after the client's side of the handshake, so the client
  // only sees the connection closed), and the CA logs why.
  const auto handshake_failed =
      StatusIs(absl::StatusCode::kUnavailable,
               HasSubstr("failed to connect to all addresses"));
  const auto verify_failures = [&] {
    return testing::CountInFile(ca_->log_path(), "certificate verify failed");
  };
  const std::string before = Snapshot();
  {
    SCOPED_TRACE("self-signed node certificate");
    const size_t logged = verify_failures();
    auto node = v1::NodeService::NewStub(rpc_->Connect(self_signed));
    EXPECT_THAT(SignWorkload(*node, Csr(NewKey(), kWeb)), handshake_failed);
    EXPECT_THAT(RenewNode(*node), handshake_failed);
    EXPECT_THAT(WatchRefusal(*node), handshake_failed);
    EXPECT_TRUE(testing::WaitFor([&] { return verify_failures() > logged; },
                                 absl::Seconds(5)));
  }
  for (const auto& [what, identity] :
       {std::pair{"another CA's admin, same trust domain", other_admin},
        std::pair{"another trust domain's admin", evil_admin}}) {
    SCOPED_TRACE(what);
    const size_t logged = verify_failures();
    auto admin = v1::AdminService::NewStub(rpc_->Connect(identity));
    v1::CreateJoinTokenRequest request;
    request.set_node_name("evil-1");
    EXPECT_THAT(
        Call(*admin, &v1::AdminService::Stub::CreateJoinToken, request),
        handshake_failed);
    EXPECT_TRUE(testing::WaitFor([&] { return verify_failures() > logged; },
                                 absl::Seconds(5)));
  }
  EXPECT_EQ(Snapshot(), before);

  // The real node is unaffected.
  EXPECT_OK(SignWorkload(*rpc_->AsNode(web), Csr(NewKey(), kWeb)).status());
}

// --- A node's certificate used beyond what it grants ---

TEST_F(AttackTest, NodeCannotCallAdminRpcs) {
  const AttestedNode web = Node("web-1");
  auto as_node = v1::AdminService::NewStub(rpc_->Connect(web.identity));
  auto anonymous = v1::AdminService::NewStub(rpc_->Connect(std::nullopt));
  using Stub = v1::AdminService::Stub;
  const std::vector<std::pair<const char*, std::function<absl::Status(Stub&)>>>
      calls = {
          {"CreateJoinToken",
           [](Stub& s) {
             v1::CreateJoinTokenRequest r;
             r.set_node_name("web-2");
             return Call(s, &Stub::CreateJoinToken, r).status();
           }},
          {"CreateEntry",
           [](Stub& s) {
             v1::CreateEntryRequest r;
             r.set_node_glob("web-1");
             r.set_spiffe_id("spiffe://example.org/db");
             return Call(s, &Stub::CreateEntry, r).status();
           }},
          {"ListEntries",
           [](Stub& s) {
             return Call(s, &Stub::ListEntries, v1::ListEntriesRequest())
                 .status();
           }},
          {"DeleteEntry",
           [](Stub& s) {
             v1::DeleteEntryRequest r;
             r.set_id("e-0000000000000000");
             return Call(s, &Stub::DeleteEntry, r).status();
           }},
          {"ListCertificates",
           [](Stub& s) {
             return Call(s, &Stub::ListCertificates,
                         v1::ListCertificatesRequest())
                 .status();
           }},
          {"GetCertificate",
           [&web](Stub& s) {
             v1::GetCertificateRequest r;
             r.set_serial(web.serial);
             return Call(s, &Stub::GetCertificate, r).status();
           }},
          {"RevokeCertificate",
           [&web](Stub& s) {
             v1::RevokeCertificateRequest r;
             r.set_serial(web.serial);
             return Call(s, &Stub::RevokeCertificate, r).status();
           }},
          {"GetCrl",
           [](Stub& s) {
             return Call(s, &Stub::GetCrl, v1::GetCrlRequest()).status();
           }},
          {"GetBundle",
           [](Stub& s) {
             return Call(s, &Stub::GetBundle, v1::GetBundleRequest()).status();
           }},
      };
  const std::string before = Snapshot();
  for (const auto& [method, call] : calls) {
    SCOPED_TRACE(method);
    EXPECT_THAT(call(*as_node),
                StatusIs(absl::StatusCode::kPermissionDenied,
                         HasSubstr("caller spiffe://example.org/rotor/node/"
                                   "web-1 is not an admin")));
    EXPECT_THAT(call(*anonymous),
                StatusIs(absl::StatusCode::kUnauthenticated,
                         HasSubstr("admin calls need an admin client "
                                   "certificate")));
  }
  EXPECT_EQ(Snapshot(), before);
}

// A workload's certificate and key (readable on the shared volume) are
// signed by this CA, but name no node and no admin.
TEST_F(AttackTest, WorkloadCertificateCannotActAsNodeOrAdmin) {
  const AttestedNode web = Node("web-1");
  ASSERT_OK(rpc_->CreateEntry("web-*", kWeb).status());
  const pki::PrivateKey key = NewKey();
  ASSERT_OK_AND_ASSIGN(v1::SignWorkloadResponse issued,
                       SignWorkload(*rpc_->AsNode(web), Csr(key, kWeb)));
  ASSERT_OK_AND_ASSIGN(pki::SecretString key_pem, key.ToPem());
  const TlsIdentity workload{std::string(key_pem.view()),
                             testing::ChainPem(issued.certificate())};
  auto as_node = v1::NodeService::NewStub(rpc_->Connect(workload));
  auto as_admin = v1::AdminService::NewStub(rpc_->Connect(workload));
  const auto not_a_node = StatusIs(
      absl::StatusCode::kPermissionDenied,
      HasSubstr("caller spiffe://example.org/web is not a node identity"));
  const std::string before = Snapshot();
  EXPECT_THAT(SignWorkload(*as_node, Csr(NewKey(), kWeb)), not_a_node);
  EXPECT_THAT(RenewNode(*as_node), not_a_node);
  EXPECT_THAT(WatchRefusal(*as_node), not_a_node);
  v1::CreateJoinTokenRequest token;
  token.set_node_name("web-9");
  EXPECT_THAT(Call(*as_admin, &v1::AdminService::Stub::CreateJoinToken, token),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("caller spiffe://example.org/web is not an "
                                 "admin")));
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(AttackTest, NodeCannotObtainAnIdentityGrantedToAnotherNode) {
  const AttestedNode web = Node("web-1");
  ASSERT_OK(rpc_->CreateEntry("db-*", "spiffe://example.org/db",
                              {"db.internal"})
                .status());
  ASSERT_OK(rpc_->CreateEntry("web-*", kWeb, {"web.internal"}).status());
  auto stub = rpc_->AsNode(web);
  const std::string before = Snapshot();
  EXPECT_THAT(SignWorkload(*stub, Csr(NewKey(), "spiffe://example.org/db")),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("node web-1 is not allowed "
                                 "spiffe://example.org/db: no entry grants "
                                 "it")));
  // Its own identity with the other node's DNS name.
  EXPECT_THAT(
      SignWorkload(*stub, Csr(NewKey(), kWeb, {"web.internal", "db.internal"})),
      StatusIs(absl::StatusCode::kPermissionDenied,
               HasSubstr("node web-1 is not allowed DNS name db.internal")));
  EXPECT_EQ(Snapshot(), before);
}

// What a node may ask for: SANs and TTLs outside its entry, or outside what
// any entry could grant.
TEST_F(AttackTest, SignWorkloadRefusesWhatPolicyForbids) {
  const AttestedNode web = Node("web-1");
  ASSERT_OK(rpc_->CreateEntry("web-*", kWeb,
                              {"web.internal", "*.api.internal"})
                .status());
  auto stub = rpc_->AsNode(web);
  const pki::PrivateKey key = NewKey();
  struct Case {
    const char* what;
    std::string csr;
    std::optional<absl::Duration> ttl;
    absl::StatusCode code;
    std::string message;
  };
  const Case cases[] = {
      {"wildcard the entry does not list", Csr(key, kWeb, {"*.web.internal"}),
       std::nullopt, absl::StatusCode::kPermissionDenied,
       "node web-1 is not allowed DNS name *.web.internal"},
      {"wildcard wider than the listed one", Csr(key, kWeb, {"*.internal"}),
       std::nullopt, absl::StatusCode::kPermissionDenied,
       "not allowed DNS name *.internal"},
      {"wildcard inside a label", Csr(key, kWeb, {"w*.api.internal"}),
       std::nullopt, absl::StatusCode::kInvalidArgument,
       "DNS name \"w*.api.internal\""},
      {"two wildcards", Csr(key, kWeb, {"*.*.internal"}), std::nullopt,
       absl::StatusCode::kInvalidArgument, "DNS name \"*.*.internal\""},
      {"DNS name outside the entry", Csr(key, kWeb, {"evil.example.com"}),
       std::nullopt, absl::StatusCode::kPermissionDenied,
       "not allowed DNS name evil.example.com"},
      {"IP address as a DNS name", Csr(key, kWeb, {"10.0.0.1"}), std::nullopt,
       absl::StatusCode::kInvalidArgument,
       "an IP address is not a DNS name"},
      {"foreign trust domain", Csr(key, "spiffe://evil.org/web"), std::nullopt,
       absl::StatusCode::kInvalidArgument,
       "SPIFFE ID spiffe://evil.org/web is outside trust domain example.org"},
      {"a node identity", Csr(key, "spiffe://example.org/rotor/node/web-2"),
       std::nullopt, absl::StatusCode::kInvalidArgument, "is reserved"},
      {"an admin identity", Csr(key, "spiffe://example.org/rotor/admin/me"),
       std::nullopt, absl::StatusCode::kInvalidArgument, "is reserved"},
      {"two URI SANs",
       RawCsr(key, {{"subjectAltName",
                     "critical,URI:spiffe://example.org/web,URI:spiffe://"
                     "example.org/db"}}),
       std::nullopt, absl::StatusCode::kInvalidArgument,
       "CSR has 2 URI SANs; a workload CSR needs exactly one"},
      {"no URI SAN", Csr(key, "", {"web.internal"}), std::nullopt,
       absl::StatusCode::kInvalidArgument, "CSR has 0 URI SANs"},
      {"TTL above the maximum", Csr(key, kWeb), absl::Hours(48),
       absl::StatusCode::kInvalidArgument,
       "TTL 48h is outside the allowed range [1m, 24h]"},
      {"TTL below the minimum", Csr(key, kWeb), absl::Seconds(10),
       absl::StatusCode::kInvalidArgument,
       "TTL 10s is outside the allowed range [1m, 24h]"},
      {"negative TTL", Csr(key, kWeb), absl::Seconds(-60),
       absl::StatusCode::kInvalidArgument,
       "TTL -1m is outside the allowed range"},
  };
  const std::string before = Snapshot();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    EXPECT_THAT(SignWorkload(*stub, c.csr, c.ttl),
                StatusIs(c.code, HasSubstr(c.message)));
  }
  EXPECT_EQ(Snapshot(), before);
  // What the entry does grant is issued.
  EXPECT_OK(SignWorkload(*stub, Csr(key, kWeb, {"web.internal", "*.api.internal"}),
                         absl::Minutes(5))
                .status());
}

// --- Malformed, weak and oversized CSRs, at both doors ---

TEST_F(AttackTest, BadCsrsAreRefusedByAttestAndSignWorkload) {
  const AttestedNode web = Node("web-1");
  ASSERT_OK(rpc_->CreateEntry("web-*", kWeb, {"web.internal"}).status());
  auto stub = rpc_->AsNode(web);
  const std::string token = Token("web-2");

  std::string trailing = Csr(NewKey(), kWeb);
  trailing.append(3, '\0');
  struct Case {
    const char* what;
    std::string csr;
    const char* message;
  };
  const Case cases[] = {
      {"CA:TRUE",
       RawCsr(NewKey(), {{"basicConstraints", "critical,CA:TRUE"},
                         {"subjectAltName", "critical,URI:" +
                                                std::string(kWeb)}}),
       "CSR requests a CA certificate (basicConstraints CA:TRUE)"},
      {"RSA-1024", Csr(RsaKey(1024), kWeb),
       "RSA key of 1024 bits is below the 2048-bit minimum"},
      {"secp256k1", Csr(EcKey("secp256k1"), kWeb),
       "EC curve secp256k1 is not supported; use P-256 or P-384"},
      {"DSA", Csr(DsaKey(), kWeb), "DSA keys are not supported"},
      {"broken signature",
       WithBrokenSignature(Csr(NewKey(pki::KeyType::kEd25519), kWeb)),
       "CSR signature does not verify"},
      {"trailing bytes", trailing,
       "CSR has 3 trailing bytes after its DER encoding"},
      {"over 16 KiB", OversizedCsr(), "bytes exceeds the 16384-byte limit"},
      {"empty", "", "CSR is empty"},
      {"not DER", "-----BEGIN CERTIFICATE REQUEST-----",
       "CSR is not valid DER PKCS#10"},
      {"IP address SAN",
       RawCsr(NewKey(), {{"subjectAltName",
                          "critical,URI:spiffe://example.org/web,IP:10.0.0.1"}}),
       "CSR subjectAltName has an unsupported name type (IP address)"},
      {"NUL in a DNS name",
       Csr(NewKey(), kWeb, {std::string("web.internal\0.evil.com", 22)}),
       "contains a NUL byte"},
      {"no SAN", RawCsr(NewKey(), {}), "CSR has no subjectAltName"},
  };
  const std::string before = Snapshot();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    EXPECT_THAT(SignWorkload(*stub, c.csr),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr(c.message)));
    EXPECT_THAT(Attest(token, c.csr),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr(c.message)));
  }
  EXPECT_EQ(Snapshot(), before);
  // No refusal cost web-2 its token: the CSR is checked first.
  EXPECT_OK(rpc_->Attest(token).status());
}

TEST_F(AttackTest, FiveMegabyteMessageIsRefusedBeforeAnyHandler) {
  const AttestedNode web = Node("web-1");
  const std::string token = Token("web-2");
  const std::string huge(5 << 20, 'x');
  // gRPC refuses it while reading, with its own code for an oversized
  // message; no rotor handler sees it.
  const auto too_large = StatusIs(absl::StatusCode::kResourceExhausted,
                                  HasSubstr("larger than max"));
  const std::string before = Snapshot();
  EXPECT_THAT(Attest(token, huge), too_large);
  EXPECT_THAT(SignWorkload(*rpc_->AsNode(web), huge), too_large);
  EXPECT_EQ(Snapshot(), before);
  // The CA is still serving, and the token was not spent.
  EXPECT_OK(rpc_->Attest(token).status());
}

// --- Revocation ---

TEST_F(AttackTest, RevokedNodeIsRefusedEverywhereAcrossRestarts) {
  const AttestedNode web = Node("web-1");
  ASSERT_OK(rpc_->CreateEntry("web-*", kWeb).status());
  ASSERT_OK(SignWorkload(*rpc_->AsNode(web), Csr(NewKey(), kWeb)).status());
  v1::RevokeCertificateRequest revoke;
  revoke.set_serial(web.serial);
  revoke.set_reason("keyCompromise");
  ASSERT_OK(
      Call(*admin_, &v1::AdminService::Stub::RevokeCertificate, revoke)
          .status());

  const auto revoked = StatusIs(
      absl::StatusCode::kPermissionDenied,
      HasSubstr(absl::StrCat("node certificate ", web.serial,
                             " was revoked; attest again with a new join "
                             "token")));
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round == 0 ? "right after the revocation" : "after a restart");
    auto stub = rpc_->AsNode(web);
    const std::string before = Snapshot();
    EXPECT_THAT(SignWorkload(*stub, Csr(NewKey(), kWeb)), revoked);
    EXPECT_THAT(RenewNode(*stub), revoked);
    EXPECT_THAT(WatchRefusal(*stub), revoked);
    EXPECT_EQ(Snapshot(), before);
    stub.reset();
    Restart();
  }
  // A new token brings the node back.
  ASSERT_OK_AND_ASSIGN(AttestedNode again, rpc_->AttestNode("web-1"));
  EXPECT_OK(SignWorkload(*rpc_->AsNode(again), Csr(NewKey(), kWeb)).status());
}

// --- Malformed names and serials from an admin ---

TEST_F(AttackTest, MalformedSerialsAreRefused) {
  const AttestedNode web = Node("web-1");
  struct Case {
    const char* what;
    std::string serial;
    absl::StatusCode code;
    std::string message;
  };
  const Case cases[] = {
      {"empty", "", absl::StatusCode::kInvalidArgument, "serial is empty"},
      {"path", "../x", absl::StatusCode::kInvalidArgument,
       "is not hexadecimal"},
      {"NUL", std::string("ab\0-x", 5), absl::StatusCode::kInvalidArgument,
       "serial \"ab\\x00-x\" is not hexadecimal"},
      {"newline", "ab\ncd", absl::StatusCode::kInvalidArgument,
       "serial \"ab\\ncd\" is not hexadecimal"},
      {"over 20 bytes", std::string(41, 'f'),
       absl::StatusCode::kInvalidArgument, "is longer than 20 bytes"},
      {"well-formed but unknown", "1234", absl::StatusCode::kNotFound,
       "certificate 1234 not found"},
  };
  const std::string before = Snapshot();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    v1::GetCertificateRequest get;
    get.set_serial(c.serial);
    EXPECT_THAT(Call(*admin_, &v1::AdminService::Stub::GetCertificate, get),
                StatusIs(c.code, HasSubstr(c.message)));
    v1::RevokeCertificateRequest revoke;
    revoke.set_serial(c.serial);
    EXPECT_THAT(
        Call(*admin_, &v1::AdminService::Stub::RevokeCertificate, revoke),
        StatusIs(c.code, HasSubstr(c.message)));
  }
  // A real serial with a reason that is not one.
  v1::RevokeCertificateRequest bad_reason;
  bad_reason.set_serial(web.serial);
  bad_reason.set_reason("because");
  EXPECT_THAT(
      Call(*admin_, &v1::AdminService::Stub::RevokeCertificate, bad_reason),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("because")));
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(AttackTest, MalformedNodeNamesAndEntriesAreRefused) {
  struct Case {
    const char* what;
    std::string name;
    std::string message;
  };
  const Case names[] = {
      {"path", "../x", "node name \"../x\" has the character '/'"},
      {"empty", "", "node name is empty"},
      {"NUL", std::string("web\0-1", 6),
       "node name \"web\\x00-1\" has the character '\\x00'"},
      {"dot-dot", "..", "node name \"..\" is not allowed"},
      {"leading dash", "-web", "starts with '-'"},
      {"space", "web 1", "has the character ' '"},
      {"glob", "web-*", "has the character '*'"},
      {"64 characters", std::string(64, 'a'),
       "longer than the 63-character limit"},
  };
  const std::string before = Snapshot();
  for (const Case& c : names) {
    SCOPED_TRACE(c.what);
    v1::CreateJoinTokenRequest request;
    request.set_node_name(c.name);
    EXPECT_THAT(
        Call(*admin_, &v1::AdminService::Stub::CreateJoinToken, request),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)));
  }
  const Case globs[] = {
      {"path", "../x", "node glob \"../x\" has the character '/'"},
      {"empty", "", "node glob is empty"},
      {"NUL", std::string("web\0*", 5), "has the character '\\x00'"},
  };
  for (const Case& c : globs) {
    SCOPED_TRACE(c.what);
    EXPECT_THAT(rpc_->CreateEntry(c.name, kWeb),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr(c.message)));
  }
  EXPECT_THAT(rpc_->CreateEntry("web-*", "spiffe://evil.org/web"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is outside trust domain example.org")));
  EXPECT_THAT(rpc_->CreateEntry("web-*", "spiffe://example.org/rotor/admin/x"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is reserved")));
  EXPECT_THAT(rpc_->CreateEntry("web-*", kWeb, {"*.*.internal"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("\"*.*.internal\"")));
  EXPECT_EQ(Snapshot(), before);
}

}  // namespace
}  // namespace rotor
