// rotor-bench crypto: two figures on --threads cores (default one), in
// process, without RPC or disk:
//   verify_sign_per_second  X509_REQ_verify of a CSR plus X509_sign of a
//                           certificate with the CA key: the public-key
//                           work one issuance cannot avoid, i.e. the
//                           crypto limit of any CA with these key types;
//   issue_per_second        Authority::SignWorkload, rotor's whole issuance
//                           path (node authentication, rate limit, CSR
//                           parse and checks, policy, build, sign, parse
//                           back and re-check, record, log line), over a
//                           store in memory (memory_store.h).
// The CA is made by rotor-ca init's code in a temporary folder.
#include <fcntl.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/rotor_bench/enroll.h"
#include "bench/rotor_bench/memory_store.h"
#include "bench/rotor_bench/modes.h"
#include "bench/rotor_bench/report.h"
#include "ca/authority.h"
#include "ca/ca_keys.h"
#include "ca/init.h"
#include "pki/certificate.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "pki/random.h"
#include "pki/ssl_error.h"
#include "util/clock.h"
#include "util/status_macros.h"

namespace rotor::bench {
namespace {

constexpr char kTrustDomain[] = "bench.example";
constexpr size_t kCsrCount = 64;

struct CryptoOptions {
  absl::Duration duration = absl::Seconds(5);
  int64_t threads = 1;
  std::string key_type = "ec-p256";
  std::string ca_key_type = "ec-p256";
  bool json = false;
};

// Runs `op` in a loop on `threads` threads for `duration`; returns the
// operations per second of all threads together. The first error stops
// the run.
absl::StatusOr<double> Throughput(
    int threads, absl::Duration duration,
    const std::function<absl::Status(int thread, uint64_t i)>& op) {
  std::atomic<uint64_t> total{0};
  std::atomic<bool> failed{false};
  absl::Mutex mu;
  absl::Status error;
  const absl::Time start = absl::Now();
  const absl::Time stop = start + duration;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      uint64_t n = 0;
      // Check the clock every few operations only.
      while (!failed.load(std::memory_order_relaxed)) {
        if (n % 16 == 0 && absl::Now() >= stop) break;
        absl::Status status = op(t, n);
        if (!status.ok()) {
          absl::MutexLock lock(&mu);
          if (error.ok()) error = std::move(status);
          failed = true;
          break;
        }
        ++n;
      }
      total += n;
    });
  }
  for (std::thread& t : pool) t.join();
  ROTOR_RETURN_IF_ERROR(error);
  return static_cast<double>(total) /
         absl::ToDoubleSeconds(absl::Now() - start);
}

// Points stderr at /dev/null while alive: the Authority logs a line per
// issuance, which a terminal would make the slowest part of the loop.
class QuietStderr {
 public:
  QuietStderr() : saved_(dup(STDERR_FILENO)) {
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null >= 0) {
      dup2(null, STDERR_FILENO);
      close(null);
    }
  }
  ~QuietStderr() {
    if (saved_ >= 0) {
      dup2(saved_, STDERR_FILENO);
      close(saved_);
    }
  }

 private:
  int saved_;
};

absl::Status Run(const CryptoOptions& options, Report& report) {
  ROTOR_ASSIGN_OR_RETURN(pki::KeyType key_type,
                         pki::ParseKeyType(options.key_type));
  ROTOR_ASSIGN_OR_RETURN(pki::KeyType ca_key_type,
                         pki::ParseKeyType(options.ca_key_type));
  if (options.threads < 1) {
    return absl::InvalidArgumentError("--threads must be at least 1");
  }
  const int threads = static_cast<int>(options.threads);

  // A CA as rotor-ca init makes it.
  std::string dir_template = "/tmp/rotor-bench-crypto-XXXXXX";
  if (mkdtemp(dir_template.data()) == nullptr) {
    return absl::InternalError("cannot create a temporary folder in /tmp");
  }
  const std::string dir = dir_template;
  struct RemoveDir {
    std::string path;
    ~RemoveDir() {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
  } remove_dir{dir};
  ca::InitOptions init;
  init.data_dir = absl::StrCat(dir, "/ca");
  init.trust_domain = kTrustDomain;
  init.key_type = ca_key_type;
  {
    QuietStderr quiet;
    ROTOR_RETURN_IF_ERROR(
        ca::InitCa(init, absl::Now(), *pki::SystemRandom()).status());
  }
  ROTOR_ASSIGN_OR_RETURN(ca::CaKeys keys,
                         ca::LoadCaKeys(ca::DataDir{init.data_dir}));
  // Copies for the raw crypto loop (the Authority takes the originals).
  ROTOR_ASSIGN_OR_RETURN(pki::SecretString key_pem,
                         keys.intermediate_key.ToPem());
  ROTOR_ASSIGN_OR_RETURN(pki::PrivateKey ca_key,
                         pki::PrivateKey::FromPem(key_pem.view()));

  ca::CaConfig config;
  config.trust_domain = kTrustDomain;
  config.rate_limit.per_node_per_second = 1e9;
  config.rate_limit.per_node_burst = int64_t{1} << 40;
  MemoryStore store;
  std::unique_ptr<ca::Authority> authority;
  {
    QuietStderr quiet;
    ROTOR_ASSIGN_OR_RETURN(
        authority, ca::Authority::Create(std::move(keys), config, &store,
                                         RealClock(), pki::SystemRandom()));
  }

  // An entry, and one node attested with a join token, as over gRPC.
  const ca::Caller admin{
      absl::StrCat("spiffe://", kTrustDomain, "/rotor/admin/bench"), "1",
      "ipv4:127.0.0.1:1"};
  const std::string spiffe_id =
      absl::StrCat("spiffe://", kTrustDomain, "/bench/app");
  ca::Caller node;
  {
    QuietStderr quiet;
    ca::EntryRequest entry;
    entry.node_glob = "bench-*";
    entry.spiffe_id = spiffe_id;
    ROTOR_RETURN_IF_ERROR(authority->CreateEntry(admin, entry).status());
    ROTOR_ASSIGN_OR_RETURN(
        ca::JoinToken token,
        authority->CreateJoinToken(admin, "bench-0", absl::Hours(1)));
    ROTOR_ASSIGN_OR_RETURN(pki::PrivateKey node_key,
                           pki::PrivateKey::Generate(pki::KeyType::kEcP256));
    ROTOR_ASSIGN_OR_RETURN(std::string node_csr,
                           pki::BuildCsr(node_key, spiffe_id, {}));
    ROTOR_ASSIGN_OR_RETURN(
        ca::IssuedCertificate node_cert,
        authority->Attest(ca::Caller{"", "", "ipv4:127.0.0.1:1"},
                          token.token, node_csr));
    node.spiffe_id = node_cert.leaf.UriSans().front();
    node.serial = node_cert.leaf.SerialHex();
    node.peer = "ipv4:127.0.0.1:2";
  }

  ROTOR_ASSIGN_OR_RETURN(std::vector<std::string> csrs,
                         MakeCsrs(spiffe_id, key_type, kCsrCount, 2));

  // The crypto limit: verify a CSR, sign a certificate. The CSRs are
  // decoded and a certificate made once, outside the loop.
  std::vector<pki::SslPtr<X509_REQ>> requests;
  for (const std::string& der : csrs) {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
    pki::SslPtr<X509_REQ> req(d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size())));
    if (req == nullptr) return pki::SslInternalError("cannot decode a CSR");
    requests.push_back(std::move(req));
  }
  std::vector<pki::SslPtr<X509>> certificates;
  {
    QuietStderr quiet;
    for (int t = 0; t < threads; ++t) {
      ROTOR_ASSIGN_OR_RETURN(
          ca::IssuedCertificate issued,
          authority->SignWorkload(node, csrs.front(), std::nullopt));
      certificates.emplace_back(X509_dup(issued.leaf.get()));
    }
  }
  const EVP_MD* digest = pki::SignatureDigest(ca_key.get());
  auto verify = [&](uint64_t i) -> absl::Status {
    X509_REQ* req = requests[i % requests.size()].get();
    if (X509_REQ_verify(req, X509_REQ_get0_pubkey(req)) != 1) {
      return pki::SslInternalError("CSR signature does not verify");
    }
    return absl::OkStatus();
  };
  auto sign = [&](int t) -> absl::Status {
    if (X509_sign(certificates[static_cast<size_t>(t)].get(), ca_key.get(),
                  digest) <= 0) {
      return pki::SslInternalError("cannot sign the certificate");
    }
    return absl::OkStatus();
  };
  const absl::Duration part = options.duration / 4;
  ROTOR_ASSIGN_OR_RETURN(
      double verify_rate,
      Throughput(threads, part, [&](int, uint64_t i) { return verify(i); }));
  ROTOR_ASSIGN_OR_RETURN(
      double sign_rate,
      Throughput(threads, part, [&](int t, uint64_t) { return sign(t); }));
  ROTOR_ASSIGN_OR_RETURN(
      double verify_sign_rate,
      Throughput(threads, options.duration, [&](int t, uint64_t i) {
        ROTOR_RETURN_IF_ERROR(verify(i));
        return sign(t);
      }));

  // rotor's whole issuance path.
  double issue_rate = 0;
  {
    QuietStderr quiet;
    ROTOR_ASSIGN_OR_RETURN(
        issue_rate,
        Throughput(threads, options.duration, [&](int, uint64_t i) {
          return authority
              ->SignWorkload(node, csrs[i % csrs.size()], std::nullopt)
              .status();
        }));
  }

  report.Add("mode", "crypto");
  report.Add("threads", static_cast<double>(threads));
  report.Add("key_type", options.key_type);
  report.Add("ca_key_type", options.ca_key_type);
  report.Add("csr_verify_per_second", verify_rate);
  report.Add("cert_sign_per_second", sign_rate);
  report.Add("verify_sign_per_second", verify_sign_rate);
  report.Add("issue_per_second", issue_rate);
  report.Add("verify_sign_us", threads * 1e6 / verify_sign_rate);
  report.Add("issue_us", threads * 1e6 / issue_rate);
  report.Add("issue_vs_crypto_limit", issue_rate / verify_sign_rate);
  report.AddMachine();
  return absl::OkStatus();
}

}  // namespace

int RunCrypto(const std::vector<std::string>& args) {
  CryptoOptions options;
  FlagSet flags(
      "rotor-bench crypto",
      "[--duration 5s] [--threads N] [--key-type TYPE] [--ca-key-type TYPE] "
      "[--json]",
      "In process, on --threads cores (default 1), no RPC, no disk. Prints "
      "verify_sign_per_second\n(CSR signature verify + certificate sign: "
      "the crypto limit of one issuance) and\nissue_per_second (rotor's "
      "whole issuance path, Authority::SignWorkload, over a store\nin "
      "memory). --duration is the time of each of these two loops.");
  flags.AddDuration("duration", &options.duration,
                    "time of each measured loop");
  flags.AddInt("threads", &options.threads, "threads (cores) to use");
  flags.AddString("key-type", &options.key_type,
                  "workload key type in the CSRs", "TYPE");
  flags.AddString("ca-key-type", &options.ca_key_type,
                  "the CA's key type: ec-p256, ec-p384, ed25519, rsa-3072",
                  "TYPE");
  flags.AddBool("json", &options.json, "print one JSON line");
  int exit_code = 0;
  if (!ParseModeFlags(flags, args, &exit_code)) return exit_code;
  Report report;
  absl::Status status = Run(options, report);
  if (!status.ok()) return Fail(status);
  PrintReport(report, options.json);
  return 0;
}

}  // namespace rotor::bench
