// The certificate store under load:
//   Fsync                       one 4 KiB write + fdatasync: the disk's floor
//   DurablePut/group_commit:G/redo_log:R/threads:T
//                               PutCertificate from T threads at once, each
//                               returning only when durable. G=0: one LMDB
//                               transaction and fsync per put; G=1, R=0:
//                               the group-commit writer, one durable LMDB
//                               commit per batch; G=1, R=1 (the default):
//                               batches logged to the redo log, LMDB
//                               committed at checkpoints. Counters:
//                               puts_per_s (all threads together),
//                               writes_per_commit (per batch),
//                               checkpoints, cpu_us_per_put (CPU of the
//                               whole process).
//   ListByNode, ListByExpiry, GetBySerial
//                               over a store filled once with
//                               ROTOR_BENCH_RECORDS records (default
//                               1,000,000) on 10,000 nodes, so one node has
//                               ~100 certificates; pages of 100. Records
//                               look like a CA's: random serials, ~700-byte
//                               DER, not_after increasing with issuance.
//
// Run (the fill of 1M records takes a few minutes the first time; keep it
// with ROTOR_BENCH_DIR and later runs reuse it):
//   ROTOR_BENCH_DIR=/var/tmp/rotor-bench build/bin/rotor_store_bench
//   ROTOR_BENCH_RECORDS=100000 build/bin/rotor_store_bench --benchmark_filter=List
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "store/lmdb_store.h"

namespace rotor::store {
namespace {

constexpr int kNodes = 10000;
constexpr int kPageSize = 100;
const absl::Time kStart = absl::FromUnixSeconds(1800000000);
// Certificates expire evenly over one day per million records.
constexpr int64_t kExpirySpreadSeconds = 86400;

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// A serial that looks like a real one (16 random-looking bytes, top bit
// clear, canonical hex), so inserts land all over the B-tree as they do in
// production.
std::string SerialFor(uint64_t n) {
  uint64_t hi = SplitMix64(n) & 0x7fffffffffffffffULL;
  uint64_t lo = SplitMix64(n ^ 0x5bd1e9955bd1e995ULL);
  if (hi == 0) return absl::StrFormat("%x", lo | 1);
  return absl::StrFormat("%x%016x", hi, lo);
}

CertificateRecord RecordFor(uint64_t n) {
  CertificateRecord r;
  r.serial = SerialFor(n);
  r.der = std::string(700, static_cast<char>('0' + n % 64));  // a typical leaf
  const int node = static_cast<int>(SplitMix64(n * 7) % kNodes);
  r.node_name = absl::StrCat("node-", node);
  r.spiffe_id = absl::StrCat("spiffe://bench.example/app-", n % 500);
  r.dns_names = {absl::StrCat("app-", n % 500, ".internal")};
  // Issued in time order, as a CA does (not_after = now + TTL): record n
  // expires n * 86.4 ms after kStart, so 1M records span one day.
  r.not_after = kStart + absl::Microseconds(static_cast<int64_t>(n) *
                                            kExpirySpreadSeconds);
  r.not_before = r.not_after - absl::Hours(24);
  r.issued_at = r.not_before + absl::Seconds(60);
  return r;
}

std::string BaseDir() {
  const char* dir = getenv("ROTOR_BENCH_DIR");
  if (dir == nullptr || *dir == '\0') dir = getenv("TMPDIR");
  if (dir == nullptr || *dir == '\0') dir = "/tmp";
  std::filesystem::create_directories(dir);
  return dir;
}

std::string FreshDir(absl::string_view name) {
  std::string tmpl = absl::StrCat(BaseDir(), "/rotor-bench-", name, "-XXXXXX");
  if (mkdtemp(tmpl.data()) == nullptr) {
    std::perror("mkdtemp");
    abort();
  }
  return tmpl;
}

// --- The disk's floor ---

void BM_Fsync(benchmark::State& state) {
  const std::string dir = FreshDir("fsync");
  const std::string path = dir + "/f";
  int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600);
  std::string block(4096, 'x');
  for (auto _ : state) {
    if (pwrite(fd, block.data(), block.size(), 0) !=
            static_cast<ssize_t>(block.size()) ||
        fdatasync(fd) != 0) {
      state.SkipWithError("write or fdatasync failed");
      break;
    }
  }
  close(fd);
  std::filesystem::remove_all(dir);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Fsync)->UseRealTime()->Unit(benchmark::kMicrosecond);

// --- Durable puts ---

// CPU time of the whole process (every thread), in seconds: under a
// loaded machine this says more about the store's cost than wall time.
double ProcessCpuSeconds() {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) /
             1e6;
}

struct PutRun {
  std::string dir;
  std::unique_ptr<LmdbStore> store;
  std::atomic<uint64_t> next{0};
  absl::Time started;
  double cpu_started = 0;
};
PutRun* g_put = nullptr;

void BM_DurablePut(benchmark::State& state) {
  if (state.thread_index() == 0) {
    g_put = new PutRun;
    g_put->dir = FreshDir("put");
    LmdbStoreOptions options;
    options.group_commit = state.range(0) != 0;
    options.redo_log = state.range(1) != 0;
    options.initial_map_size = size_t{1} << 30;
    absl::StatusOr<std::unique_ptr<LmdbStore>> store =
        LmdbStore::Open(g_put->dir, options);
    if (!store.ok()) {
      state.SkipWithError(store.status().ToString().c_str());
    } else {
      g_put->store = *std::move(store);
    }
    g_put->started = absl::Now();
    g_put->cpu_started = ProcessCpuSeconds();
  }
  // The loop starts with a barrier: every thread sees the store thread 0
  // opened.
  for (auto _ : state) {
    if (g_put->store == nullptr) break;
    uint64_t n = g_put->next.fetch_add(1);
    absl::Status status = g_put->store->PutCertificate(RecordFor(n));
    if (!status.ok()) {
      state.SkipWithError(status.ToString().c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    const double seconds = absl::ToDoubleSeconds(absl::Now() - g_put->started);
    const uint64_t puts = g_put->next.load();
    if (g_put->store != nullptr) {
      state.counters["puts_per_s"] = static_cast<double>(puts) / seconds;
      state.counters["cpu_us_per_put"] =
          (ProcessCpuSeconds() - g_put->cpu_started) * 1e6 /
          static_cast<double>(puts);
      GroupCommitter::Stats stats = g_put->store->commit_stats();
      state.counters["writes_per_commit"] =
          stats.batches == 0 ? 1.0
                             : static_cast<double>(stats.writes) /
                                   static_cast<double>(stats.batches);
      const LmdbStore::RedoStats redo = g_put->store->redo_stats();
      state.counters["checkpoints"] = static_cast<double>(redo.checkpoints);
      // The share of the run writes spent waiting on checkpoints, and the
      // longest wait.
      state.counters["checkpoint_share"] =
          absl::ToDoubleSeconds(redo.checkpoint_time) / seconds;
      state.counters["longest_checkpoint_ms"] =
          absl::ToDoubleMilliseconds(redo.longest_checkpoint);
    }
    g_put->store.reset();
    std::filesystem::remove_all(g_put->dir);
    delete g_put;
    g_put = nullptr;
  }
}
BENCHMARK(BM_DurablePut)
    ->ArgNames({"group_commit", "redo_log"})
    ->Args({0, 0})
    ->Args({1, 0})
    ->Args({1, 1})
    ->Threads(1)
    ->Threads(8)
    ->Threads(64)
    ->UseRealTime()
    ->MinTime(2.0)
    ->Unit(benchmark::kMicrosecond);

// --- Listing over a large store ---

int64_t RecordCount() {
  const char* env = getenv("ROTOR_BENCH_RECORDS");
  int64_t n = 1000000;
  if (env != nullptr && *env != '\0' && !absl::SimpleAtoi(env, &n)) {
    std::fprintf(stderr, "ROTOR_BENCH_RECORDS=%s is not a number\n", env);
    abort();
  }
  return n;
}

// Opens (filling it the first time) the store of RecordCount() records in
// ROTOR_BENCH_DIR/rotor-bench-list-v2-<n>/.
LmdbStore& ListStore() {
  static LmdbStore* store = [] {
    const int64_t n = RecordCount();
    // "v2": the layout of RecordFor; change it when RecordFor changes.
    const std::string dir = absl::StrCat(BaseDir(), "/rotor-bench-list-v2-", n);
    LmdbStoreOptions options;
    options.initial_map_size = size_t{4} << 30;
    options.max_map_size = size_t{64} << 30;
    absl::StatusOr<std::unique_ptr<LmdbStore>> opened =
        LmdbStore::Open(dir, options);
    if (!opened.ok()) {
      std::fprintf(stderr, "%s\n", opened.status().ToString().c_str());
      abort();
    }
    LmdbStore* s = opened->release();
    absl::StatusOr<StoreStats> stats = s->GetStats();
    if (!stats.ok() || static_cast<int64_t>(stats->certificates) < n) {
      // Many writers so that group commit fills it at full speed; records
      // already there (an interrupted fill) are skipped.
      const int64_t have = stats.ok() ? stats->certificates : 0;
      std::fprintf(stderr, "filling %s with %lld records (have %lld)...\n",
                   dir.c_str(), static_cast<long long>(n),
                   static_cast<long long>(have));
      absl::Time t0 = absl::Now();
      std::atomic<int64_t> next{0};
      std::vector<std::thread> threads;
      for (int t = 0; t < 256; ++t) {
        threads.emplace_back([&] {
          for (int64_t i = next++; i < n; i = next++) {
            absl::Status status = s->PutCertificate(RecordFor(i));
            if (!status.ok() && !absl::IsAlreadyExists(status)) {
              std::fprintf(stderr, "%s\n", status.ToString().c_str());
              abort();
            }
          }
        });
      }
      for (std::thread& t : threads) t.join();
      double seconds = absl::ToDoubleSeconds(absl::Now() - t0);
      std::fprintf(stderr, "filled in %.1f s (%.0f records/s)\n", seconds,
                   static_cast<double>(n - have) / seconds);
    }
    return s;
  }();
  return *store;
}

void BM_ListByNode(benchmark::State& state) {
  LmdbStore& store = ListStore();
  uint64_t i = 0;
  size_t records = 0;
  for (auto _ : state) {
    CertificateFilter filter;
    filter.node_name = absl::StrCat("node-", SplitMix64(i++) % kNodes);
    absl::StatusOr<CertificatePage> page =
        store.ListCertificates(filter, "", kPageSize);
    if (!page.ok()) {
      state.SkipWithError(page.status().ToString().c_str());
      break;
    }
    records += page->records.size();
    benchmark::DoNotOptimize(page);
  }
  state.counters["records_per_list"] =
      static_cast<double>(records) / static_cast<double>(state.iterations());
  state.counters["store_records"] = static_cast<double>(RecordCount());
}
BENCHMARK(BM_ListByNode)->Unit(benchmark::kMicrosecond);

void BM_ListByExpiry(benchmark::State& state) {
  LmdbStore& store = ListStore();
  // A window that holds about one page at this store size.
  const int64_t span_seconds =
      std::max<int64_t>(2, kExpirySpreadSeconds * RecordCount() / 1000000);
  const int64_t window_seconds = std::max<int64_t>(
      1, kExpirySpreadSeconds * kPageSize / 1000000);
  uint64_t i = 0;
  size_t records = 0;
  for (auto _ : state) {
    CertificateFilter filter;
    filter.not_after_from =
        kStart + absl::Seconds(static_cast<int64_t>(
                     SplitMix64(i++) % (span_seconds - window_seconds + 1)));
    filter.not_after_to = filter.not_after_from + absl::Seconds(window_seconds);
    absl::StatusOr<CertificatePage> page =
        store.ListCertificates(filter, "", kPageSize);
    if (!page.ok()) {
      state.SkipWithError(page.status().ToString().c_str());
      break;
    }
    records += page->records.size();
    benchmark::DoNotOptimize(page);
  }
  state.counters["records_per_list"] =
      static_cast<double>(records) / static_cast<double>(state.iterations());
  state.counters["window_s"] = static_cast<double>(window_seconds);
}
BENCHMARK(BM_ListByExpiry)->Unit(benchmark::kMicrosecond);

void BM_GetBySerial(benchmark::State& state) {
  LmdbStore& store = ListStore();
  const uint64_t n = static_cast<uint64_t>(RecordCount());
  uint64_t i = 0;
  for (auto _ : state) {
    absl::StatusOr<std::optional<CertificateRecord>> record =
        store.GetCertificate(SerialFor(SplitMix64(i++) % n));
    if (!record.ok() || !record->has_value()) {
      state.SkipWithError("record missing");
      break;
    }
    benchmark::DoNotOptimize(record);
  }
}
BENCHMARK(BM_GetBySerial)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace rotor::store

BENCHMARK_MAIN();
