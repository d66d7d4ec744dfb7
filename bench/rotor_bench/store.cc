// rotor-bench store: the CA at scale, on disk. In a CA data folder made by
// rotor-ca init's code (--dir, or a temporary folder removed afterwards):
//   fill        --records certificates put through LmdbStore (durable,
//               --writers at once, so group commit batches them), spread
//               over --nodes nodes, expiring over the next day;
//   revoke      --revoked of them (durable revocations, --writers at once);
//   list        one node's certificates (a page of 100) and a page of an
//               expiry window, each timed over --samples queries;
//   crl         the CRL publisher's rebuild over every revoked certificate
//               (new number, list, sign the intermediate's and the root's
//               CRL);
//   start-up    rotor-ca serve's CaServer::Start over that folder (store,
//               keys, Authority with its revoked set and first CRL, TLS
//               certificate, both listeners), in process, until it serves.
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "bench/rotor_bench/enroll.h"
#include "bench/rotor_bench/modes.h"
#include "bench/rotor_bench/report.h"
#include "ca/ca_keys.h"
#include "ca/crl_publisher.h"
#include "ca/init.h"
#include "ca/server.h"
#include "ca/update_hub.h"
#include "pki/random.h"
#include "store/lmdb_store.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/status_macros.h"

namespace rotor::bench {
namespace {

struct StoreOptions {
  int64_t records = 1000000;
  int64_t revoked = 100000;
  int64_t nodes = 10000;
  int64_t writers = 64;
  int64_t samples = 1000;
  int64_t startups = 3;
  std::string dir;
  bool json = false;
};

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Record n of the fill: a random-looking 127-bit serial (canonical hex), a
// leaf-sized DER, one of `nodes` nodes, expiring n * spread after `start`.
store::CertificateRecord RecordFor(uint64_t n, int64_t nodes, absl::Time start,
                                   absl::Duration spread) {
  store::CertificateRecord r;
  const uint64_t hi = SplitMix64(n) & 0x7fffffffffffffffULL;
  const uint64_t lo = SplitMix64(n ^ 0x5bd1e9955bd1e995ULL);
  r.serial = hi == 0 ? absl::StrFormat("%x", lo | 1)
                     : absl::StrFormat("%x%016x", hi, lo);
  r.der.resize(700);
  for (size_t i = 0; i < r.der.size(); i += 8) {
    const uint64_t word = SplitMix64(n * 131 + i);
    std::memcpy(r.der.data() + i, &word, std::min<size_t>(8, r.der.size() - i));
  }
  r.node_name = absl::StrCat(
      "node-", SplitMix64(n * 7) % static_cast<uint64_t>(nodes));
  r.spiffe_id = absl::StrCat("spiffe://bench.example/app-", n % 500);
  r.dns_names = {absl::StrCat("app-", n % 500, ".internal")};
  r.not_after = start + spread * static_cast<double>(n);
  r.not_before = start - absl::Minutes(1);
  r.issued_at = start;
  r.kind = store::CertificateKind::kWorkload;
  return r;
}

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

absl::Status Run(const StoreOptions& options, Report& report) {
  if (options.records < 1 || options.revoked < 0 ||
      options.revoked > options.records || options.nodes < 1 ||
      options.writers < 1 || options.samples < 1 || options.startups < 1) {
    return absl::InvalidArgumentError(
        "--records, --nodes, --writers, --samples and --startups must be at "
        "least 1, --revoked between 0 and --records");
  }
  std::string dir = options.dir;
  bool remove = false;
  if (dir.empty()) {
    std::string tmpl = "/var/tmp/rotor-bench-store-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
      return absl::InternalError("cannot create a folder in /var/tmp");
    }
    dir = tmpl;
    remove = true;
  }
  struct RemoveDir {
    std::string path;
    bool active;
    ~RemoveDir() {
      std::error_code ignored;
      if (active) std::filesystem::remove_all(path, ignored);
    }
  } remove_dir{dir, remove};
  const ca::DataDir data{absl::StrCat(dir, "/ca")};
  ca::InitOptions init;
  init.data_dir = data.root;
  init.trust_domain = "bench.example";
  ROTOR_RETURN_IF_ERROR(
      ca::InitCa(init, absl::Now(), *pki::SystemRandom()).status());

  const uint64_t records = static_cast<uint64_t>(options.records);
  const int writers = static_cast<int>(options.writers);
  const absl::Time start = absl::Now() + absl::Hours(1);
  const absl::Duration spread = absl::Hours(24) / static_cast<double>(records);
  std::unique_ptr<store::LmdbStore> store;
  ROTOR_ASSIGN_OR_RETURN(store, store::LmdbStore::Open(data.StoreDir()));

  // Fill.
  const absl::Time fill_start = absl::Now();
  absl::Status filled = ParallelFor(records, writers, [&](size_t n) {
    return store->PutCertificate(RecordFor(n, options.nodes, start, spread));
  });
  ROTOR_RETURN_IF_ERROR(filled);
  const absl::Duration fill_time = absl::Now() - fill_start;

  // Revoke every k-th record.
  const uint64_t revoked = static_cast<uint64_t>(options.revoked);
  const absl::Time revoke_start = absl::Now();
  absl::Status revoked_all = ParallelFor(revoked, writers, [&](size_t k) {
    const uint64_t n = k * records / std::max<uint64_t>(revoked, 1);
    return store
        ->RevokeCertificate(RecordFor(n, options.nodes, start, spread).serial,
                            pki::RevocationReason::kSuperseded, absl::Now(),
                            "spiffe://bench.example/rotor/admin/bench")
        .status();
  });
  ROTOR_RETURN_IF_ERROR(revoked_all);
  const absl::Duration revoke_time = absl::Now() - revoke_start;

  // Queries.
  std::mt19937_64 rng(42);
  LatencyRecorder by_node;
  LatencyRecorder by_expiry;
  size_t listed_by_node = 0;
  for (int64_t i = 0; i < options.samples; ++i) {
    store::CertificateFilter filter;
    filter.node_name =
        absl::StrCat("node-", rng() % static_cast<uint64_t>(options.nodes));
    const absl::Time t0 = absl::Now();
    ROTOR_ASSIGN_OR_RETURN(store::CertificatePage page,
                           store->ListCertificates(filter, "", 100));
    by_node.Add(absl::Now() - t0);
    listed_by_node += page.records.size();
  }
  for (int64_t i = 0; i < options.samples; ++i) {
    store::CertificateFilter filter;
    filter.not_after_from = start + absl::Seconds(rng() % 86000);
    filter.not_after_to = filter.not_after_from + absl::Minutes(10);
    const absl::Time t0 = absl::Now();
    ROTOR_ASSIGN_OR_RETURN(store::CertificatePage page,
                           store->ListCertificates(filter, "", 100));
    by_expiry.Add(absl::Now() - t0);
  }

  // CRL.
  const absl::Time list_revoked_start = absl::Now();
  ROTOR_ASSIGN_OR_RETURN(
      std::vector<pki::RevokedCertificate> revoked_list,
      store->ListRevoked(absl::Now() - ca::CrlPublisher::kExpiredGrace));
  const absl::Duration list_revoked_time = absl::Now() - list_revoked_start;
  ROTOR_ASSIGN_OR_RETURN(ca::CaKeys keys, ca::LoadCaKeys(data));
  const pki::Signer intermediate{keys.intermediate, keys.intermediate_key};
  std::optional<pki::Signer> root;
  if (keys.root_key.has_value()) {
    root.emplace(pki::Signer{keys.roots.front(), *keys.root_key});
  }
  ca::UpdateHub hub;
  ca::CrlPublisher::Options crl_options;
  crl_options.start_worker = false;
  const absl::Time crl_first_start = absl::Now();
  ROTOR_ASSIGN_OR_RETURN(
      std::unique_ptr<ca::CrlPublisher> crl,
      ca::CrlPublisher::Create(intermediate, root ? &*root : nullptr,
                               store.get(), RealClock(), &hub, crl_options));
  const absl::Duration crl_first = absl::Now() - crl_first_start;
  LatencyRecorder crl_rebuild;
  for (int i = 0; i < 3; ++i) {
    const absl::Time t0 = absl::Now();
    ROTOR_RETURN_IF_ERROR(crl->RebuildNow());
    crl_rebuild.Add(absl::Now() - t0);
  }
  const size_t crl_bytes = crl->Current().der.empty()
                               ? 0
                               : crl->Current().der.front().size();
  crl.reset();
  ROTOR_ASSIGN_OR_RETURN(store::StoreStats stats, store->GetStats());
  store.reset();  // one LmdbStore per folder and process

  // CA start-up over the filled folder.
  LatencyRecorder startup;
  for (int64_t i = 0; i < options.startups; ++i) {
    ca::ServeOptions serve;
    serve.data_dir = data.root;
    serve.listen = "127.0.0.1:0";
    serve.http_listen = "127.0.0.1:0";
    const absl::Time t0 = absl::Now();
    ROTOR_ASSIGN_OR_RETURN(
        std::unique_ptr<ca::CaServer> server,
        ca::CaServer::Start(serve, RealClock(), pki::SystemRandom()));
    startup.Add(absl::Now() - t0);
    server->Shutdown(absl::ZeroDuration());
  }
  const uintmax_t data_bytes = std::filesystem::file_size(
      std::filesystem::path(data.StoreDir()) / "data.mdb");

  report.Add("mode", "store");
  report.Add("records", static_cast<double>(records));
  // Everything the store holds: the fill plus what init recorded.
  report.Add("stored_certificates", static_cast<double>(stats.certificates));
  report.Add("revoked", static_cast<double>(stats.revoked_certificates));
  report.Add("data_mb", static_cast<double>(data_bytes) / (1024.0 * 1024.0));
  report.Add("fill_s", absl::ToDoubleSeconds(fill_time));
  report.Add("fill_per_second",
             static_cast<double>(records) / absl::ToDoubleSeconds(fill_time));
  report.Add("revoke_per_second",
             revoked == 0 ? 0.0
                          : static_cast<double>(revoked) /
                                absl::ToDoubleSeconds(revoke_time));
  report.Add("list_by_node_avg_records",
             static_cast<double>(listed_by_node) /
                 static_cast<double>(options.samples));
  report.Add("list_by_node_p50_ms", by_node.PercentileMs(0.5));
  report.Add("list_by_node_p99_ms", by_node.PercentileMs(0.99));
  report.Add("list_by_expiry_p50_ms", by_expiry.PercentileMs(0.5));
  report.Add("list_by_expiry_p99_ms", by_expiry.PercentileMs(0.99));
  report.Add("crl_entries", static_cast<double>(revoked_list.size()));
  report.Add("crl_bytes", static_cast<double>(crl_bytes));
  report.Add("list_revoked_ms", Ms(list_revoked_time));
  report.Add("crl_first_ms", Ms(crl_first));
  report.Add("crl_rebuild_ms", crl_rebuild.PercentileMs(0.5));
  report.Add("startup_ms", startup.PercentileMs(0.5));
  report.Add("startup_max_ms", startup.PercentileMs(1.0));
  report.AddMachine();
  return absl::OkStatus();
}

}  // namespace

int RunStore(const std::vector<std::string>& args) {
  StoreOptions options;
  FlagSet flags(
      "rotor-bench store",
      "[--records N] [--revoked N] [--nodes N] [--dir DIR] [--json]",
      "Fills a CA's store with --records certificates on --nodes nodes and "
      "revokes --revoked\nof them, then times: one node's certificates (a "
      "page of 100), a page of an expiry\nwindow, the CRL rebuild over every "
      "revoked certificate, and rotor-ca serve's start-up\nover that data "
      "folder (in process). --dir keeps the folder (it must not exist);\n"
      "without it a folder in /var/tmp is used and removed.");
  flags.AddInt("records", &options.records, "certificates to store");
  flags.AddInt("revoked", &options.revoked, "of which revoked");
  flags.AddInt("nodes", &options.nodes, "nodes the certificates belong to");
  flags.AddInt("writers", &options.writers, "concurrent writers in the fill");
  flags.AddInt("samples", &options.samples, "queries timed per list kind");
  flags.AddInt("startups", &options.startups, "CA start-ups timed");
  flags.AddString("dir", &options.dir,
                  "folder for the CA data, kept afterwards (DIR/ca must not exist)", "DIR");
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
