#include "tests/fuzz/fuzz_authority.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "store/lmdb_store.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/testing/fakes.h"
#include "tests/testing/test_ca.h"
#include "util/file.h"
#include "util/log.h"

namespace rotor::fuzz {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1800000000);

[[noreturn]] void Die(absl::string_view what, const absl::Status& status) {
  std::fprintf(stderr, "fuzz CA setup failed: %s: %s\n",
               std::string(what).c_str(), status.ToString().c_str());
  std::abort();
}

template <typename T>
T Must(absl::string_view what, absl::StatusOr<T> value) {
  if (!value.ok()) Die(what, value.status());
  return *std::move(value);
}

void Must(absl::string_view what, const absl::Status& status) {
  if (!status.ok()) Die(what, status);
}

// A fresh folder for the store, preferring memory-backed /dev/shm.
std::string MakeTempDir() {
  struct stat st;
  const char* base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode)
                         ? "/dev/shm"
                         : getenv("TMPDIR");
  if (base == nullptr || *base == '\0') base = "/tmp";
  std::string path = absl::StrCat(base, "/rotor-fuzz-XXXXXX");
  if (mkdtemp(path.data()) == nullptr) {
    Die("mkdtemp", absl::InternalError(path));
  }
  return path;
}

std::string Csr(absl::string_view spiffe_id,
                const std::vector<std::string>& dns_names) {
  pki::PrivateKey key =
      Must("generate key", pki::PrivateKey::Generate(pki::KeyType::kEcP256));
  return Must("build CSR", pki::BuildCsr(key, spiffe_id, dns_names));
}

pki::PrivateKey CloneKey(const pki::PrivateKey& key) {
  pki::SecretString pem = Must("encode key", key.ToPem());
  return Must("decode key", pki::PrivateKey::FromPem(pem.view()));
}

// Everything behind FuzzCa, torn down in reverse order at exit.
struct Backing {
  std::string dir;
  testing::FakeClock clock{kNow};
  testing::FakeRandom random;
  std::unique_ptr<store::LmdbStore> store;
  std::unique_ptr<ca::Authority> authority;
  FuzzCa ca;

  ~Backing() {
    authority.reset();
    store.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

Backing* backing = nullptr;

void DestroyBacking() {
  delete backing;
  backing = nullptr;
}

void SetUp(Backing& b) {
  // Every call logs a line; a fuzzer makes millions of calls.
  SetLogLevel(LogLevel::kError);
  b.dir = MakeTempDir();
  testing::TestCa test_ca =
      Must("test CA", testing::MakeTestCa(pki::KeyType::kEcP256, kNow));

  ca::CaConfig config;
  config.trust_domain = std::string(kTrustDomain);
  config.crl_url = "http://127.0.0.1:8080/crl";
  // The clock stands still, so a bucket never refills: make it deep enough
  // for any run.
  config.rate_limit.per_node_per_second = 1000;
  config.rate_limit.per_node_burst = int64_t{1} << 40;

  b.store = Must("open store", store::LmdbStore::Open(b.dir + "/store"));
  ca::CaKeys keys{.roots = {test_ca.root},
                  .root_key = CloneKey(test_ca.root_key),
                  .intermediate = test_ca.intermediate,
                  .intermediate_key = CloneKey(test_ca.intermediate_key)};
  b.authority = Must("create authority",
                     ca::Authority::Create(std::move(keys), config,
                                           b.store.get(), &b.clock, &b.random));
  ca::Authority& authority = *b.authority;
  FuzzCa& ca = b.ca;
  ca.authority = &authority;
  ca.admin = {absl::StrCat("spiffe://", kTrustDomain, "/rotor/admin/fuzz"),
              "a1", "ipv4:127.0.0.1:1000"};
  ca.anonymous = {"", "", "ipv4:127.0.0.1:1001"};
  ca.stranger = {absl::StrCat("spiffe://", kTrustDomain, "/rotor/node/fuzz-node"),
                 "7e57", "ipv4:127.0.0.1:1002"};

  ca.node_csr = Csr(absl::StrCat("spiffe://", kTrustDomain, "/x"), {});
  ca::JoinToken first = Must(
      "join token",
      authority.CreateJoinToken(ca.admin, "fuzz-node", absl::Hours(1)));
  ca::IssuedCertificate node =
      Must("attest", authority.Attest(ca.anonymous, first.token, ca.node_csr));
  ca.node_serial = node.leaf.SerialHex();
  ca.node = {node.leaf.UriSans().front(), ca.node_serial,
             "ipv4:127.0.0.1:1003"};

  ca::EntryRequest web{"fuzz-*",
                       absl::StrCat("spiffe://", kTrustDomain, "/web"),
                       {"web.example.org", "*.web.example.org"},
                       absl::Hours(2)};
  ca.entry_id = Must("entry", authority.CreateEntry(ca.admin, web)).id;
  ca::EntryRequest db{"*", absl::StrCat("spiffe://", kTrustDomain, "/db"), {},
                      absl::ZeroDuration()};
  Must("entry", authority.CreateEntry(ca.admin, db).status());

  ca.workload_csr = Csr(absl::StrCat("spiffe://", kTrustDomain, "/web"),
                        {"web.example.org"});
  ca.workload_serial = Must("sign workload",
                            authority.SignWorkload(ca.node, ca.workload_csr,
                                                   absl::Minutes(30)))
                           .leaf.SerialHex();
  ca.join_token = Must("join token",
                       authority.CreateJoinToken(ca.admin, "fuzz-node-2",
                                                 absl::Hours(1)))
                      .token;
}

}  // namespace

const ca::Caller& FuzzCa::CallerFor(uint8_t selector) const {
  switch (selector % 4) {
    case 0:
      return admin;
    case 1:
      return node;
    case 2:
      return anonymous;
    default:
      return stranger;
  }
}

const FuzzCa& GetFuzzCa() {
  if (backing == nullptr) {
    backing = new Backing();
    SetUp(*backing);
    std::atexit(DestroyBacking);
  }
  return backing->ca;
}

std::string FrameInput(uint8_t method, uint8_t caller,
                       const google::protobuf::Message& request) {
  std::string input;
  input.push_back(static_cast<char>(method));
  input.push_back(static_cast<char>(caller));
  input += request.SerializeAsString();
  return input;
}

void MaybeWriteSeedsAndExit(const std::vector<Seed>& seeds) {
  const char* dir = getenv("ROTOR_FUZZ_WRITE_SEEDS");
  if (dir == nullptr || *dir == '\0') return;
  for (const Seed& seed : seeds) {
    const std::string path = absl::StrCat(dir, "/", seed.name);
    Must(path, WriteFileAtomically(path, seed.input, 0644));
  }
  std::fprintf(stderr, "wrote %zu seeds to %s\n", seeds.size(), dir);
  std::exit(0);
}

namespace {

bool IsApiCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kFailedPrecondition:
      return true;
    default:
      return false;
  }
}

}  // namespace

void CheckRefusal(const absl::Status& status) {
  if (!IsApiCode(status.code())) {
    std::fprintf(stderr, "unexpected refusal: %s\n", status.ToString().c_str());
  }
  FUZZ_CHECK(IsApiCode(status.code()));
  FUZZ_CHECK(!status.message().empty());
}

}  // namespace rotor::fuzz
