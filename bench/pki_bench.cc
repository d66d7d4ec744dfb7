// The cost of issuance against the crypto alone, per key type:
//   RawSign/T, RawVerify/T   one signature / verification over 512 bytes
//   CsrParseVerify/T         ParsedCsr::Parse (decode, checks, signature)
//   CertBuildSign/T          BuildLeafCertificate (profile + CA signature)
//   IssueCrypto/T            both: the CA's per-request crypto path
// T is the key type of both the CSR and the CA. Run:
//   build/bin/rotor_pki_bench --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <map>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "pki/ca_certificate.h"
#include "pki/certificate_builder.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "pki/random.h"

namespace rotor::pki {
namespace {

struct Fixture {
  PrivateKey ca_key;
  Certificate ca_cert;
  PrivateKey leaf_key;
  std::string csr_der;
};

Fixture& GetFixture(KeyType type) {
  static std::map<KeyType, Fixture>* fixtures = new std::map<KeyType, Fixture>;
  auto it = fixtures->find(type);
  if (it != fixtures->end()) return it->second;
  PrivateKey ca_key = *PrivateKey::Generate(type);
  Certificate root = *BuildRootCertificate(
      ca_key, {.common_name = "bench root", .trust_domain = "bench.example"},
      absl::Now(), *SystemRandom());
  PrivateKey leaf_key = *PrivateKey::Generate(type);
  std::string csr = *BuildCsr(leaf_key, "spiffe://bench.example/workload",
                              {"workload.internal"});
  return fixtures
      ->emplace(type, Fixture{std::move(ca_key), std::move(root),
                              std::move(leaf_key), std::move(csr)})
      .first->second;
}

void RawSign(benchmark::State& state, KeyType type) {
  Fixture& f = GetFixture(type);
  std::string message(512, 'm');
  std::vector<unsigned char> sig(1024);
  for (auto _ : state) {
    SslPtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
    EVP_DigestSignInit(ctx.get(), nullptr, SignatureDigest(f.ca_key.get()),
                       nullptr, f.ca_key.get());
    size_t len = sig.size();
    if (EVP_DigestSign(ctx.get(), sig.data(), &len,
                       reinterpret_cast<const unsigned char*>(message.data()),
                       message.size()) != 1) {
      state.SkipWithError("sign failed");
      break;
    }
    benchmark::DoNotOptimize(len);
  }
}

void RawVerify(benchmark::State& state, KeyType type) {
  Fixture& f = GetFixture(type);
  std::string message(512, 'm');
  std::vector<unsigned char> sig(1024);
  size_t len = sig.size();
  {
    SslPtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
    EVP_DigestSignInit(ctx.get(), nullptr, SignatureDigest(f.ca_key.get()),
                       nullptr, f.ca_key.get());
    EVP_DigestSign(ctx.get(), sig.data(), &len,
                   reinterpret_cast<const unsigned char*>(message.data()),
                   message.size());
  }
  for (auto _ : state) {
    SslPtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
    EVP_DigestVerifyInit(ctx.get(), nullptr, SignatureDigest(f.ca_key.get()),
                         nullptr, f.ca_key.get());
    int ok = EVP_DigestVerify(
        ctx.get(), sig.data(), len,
        reinterpret_cast<const unsigned char*>(message.data()), message.size());
    if (ok != 1) {
      state.SkipWithError("verify failed");
      break;
    }
  }
}

void CsrParseVerify(benchmark::State& state, KeyType type) {
  Fixture& f = GetFixture(type);
  for (auto _ : state) {
    absl::StatusOr<ParsedCsr> csr = ParsedCsr::Parse(f.csr_der);
    if (!csr.ok()) {
      state.SkipWithError(std::string(csr.status().message()).c_str());
      break;
    }
    benchmark::DoNotOptimize(csr->public_key_der().size());
  }
}

LeafTemplate TemplateFor(const ParsedCsr& csr) {
  LeafTemplate leaf;
  leaf.public_key_der = csr.public_key_der();
  leaf.spiffe_id = csr.uris().empty() ? "" : csr.uris()[0];
  leaf.dns_names = csr.dns_names();
  leaf.ttl = absl::Hours(1);
  return leaf;
}

void CertBuildSign(benchmark::State& state, KeyType type) {
  Fixture& f = GetFixture(type);
  ParsedCsr csr = *ParsedCsr::Parse(f.csr_der);
  LeafTemplate leaf = TemplateFor(csr);
  Signer signer{f.ca_cert, f.ca_key};
  absl::Time now = absl::Now();
  for (auto _ : state) {
    absl::StatusOr<Certificate> cert =
        BuildLeafCertificate(leaf, signer, now, *SystemRandom());
    if (!cert.ok()) {
      state.SkipWithError(std::string(cert.status().message()).c_str());
      break;
    }
    benchmark::DoNotOptimize(cert->der().size());
  }
}

void IssueCrypto(benchmark::State& state, KeyType type) {
  Fixture& f = GetFixture(type);
  Signer signer{f.ca_cert, f.ca_key};
  absl::Time now = absl::Now();
  for (auto _ : state) {
    absl::StatusOr<ParsedCsr> csr = ParsedCsr::Parse(f.csr_der);
    if (!csr.ok()) {
      state.SkipWithError(std::string(csr.status().message()).c_str());
      break;
    }
    absl::StatusOr<Certificate> cert =
        BuildLeafCertificate(TemplateFor(*csr), signer, now, *SystemRandom());
    if (!cert.ok()) {
      state.SkipWithError(std::string(cert.status().message()).c_str());
      break;
    }
    benchmark::DoNotOptimize(cert->der().size());
  }
}

void RegisterAll() {
  for (KeyType type : {KeyType::kEcP256, KeyType::kEcP384, KeyType::kEd25519,
                       KeyType::kRsa2048, KeyType::kRsa3072}) {
    std::string name(KeyTypeName(type));
    benchmark::RegisterBenchmark(("RawSign/" + name).c_str(), RawSign, type);
    benchmark::RegisterBenchmark(("RawVerify/" + name).c_str(), RawVerify, type);
    benchmark::RegisterBenchmark(("CsrParseVerify/" + name).c_str(),
                                 CsrParseVerify, type);
    benchmark::RegisterBenchmark(("CertBuildSign/" + name).c_str(),
                                 CertBuildSign, type);
    benchmark::RegisterBenchmark(("IssueCrypto/" + name).c_str(), IssueCrypto,
                                 type);
  }
}

}  // namespace
}  // namespace rotor::pki

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  rotor::pki::RegisterAll();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
