// rotor-bench's four modes run end to end on tiny inputs and print the
// report docs/performance.md describes: one JSON line with the named
// figures. Only that the figures are there and consistent is checked, never
// how fast anything was (timings belong to the bench's own runs).
#include <string>
#include <vector>

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/ca_process.h"
#include "tests/testing/process.h"
#include "tests/testing/temp_dir.h"
#include "util/file.h"

namespace rotor {
namespace {

using ::rotor::testing::BinaryPath;
using ::rotor::testing::CaProcess;
using ::rotor::testing::RunCommand;
using ::rotor::testing::TempDir;
using ::testing::HasSubstr;

// Runs rotor-bench with `args`; on exit 0 parses the last line of its output
// (stderr is interleaved before it) as the JSON report.
struct BenchRun {
  int exit_code = -1;
  std::string output;
  google::protobuf::Struct report;

  double Number(const std::string& name) const {
    auto it = report.fields().find(name);
    if (it == report.fields().end()) {
      ADD_FAILURE() << "report has no " << name << ": " << output;
      return -1;
    }
    return it->second.number_value();
  }
};

BenchRun RunBench(const std::string& args) {
  BenchRun run;
  run.exit_code =
      RunCommand(absl::StrCat(BinaryPath("rotor-bench"), " ", args), &run.output);
  if (run.exit_code != 0) return run;
  std::vector<std::string> lines =
      absl::StrSplit(absl::StripTrailingAsciiWhitespace(run.output), '\n');
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(lines.back(),
                                                          &run.report)
                  .ok())
      << run.output;
  return run;
}

// rotor-bench is built with the benchmarks; a build without them
// (-DROTOR_BUILD_BENCH=OFF, as the sanitizer build) has nothing to run.
class RotorBenchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!PathExists(BinaryPath("rotor-bench"))) {
      GTEST_SKIP() << "rotor-bench is not built (ROTOR_BUILD_BENCH=OFF)";
    }
  }
};

// A CA with the rate limits raised, as bench/compare.sh serves it.
void StartBenchCa(CaProcess& ca) {
  ASSERT_TRUE(ca.Init());
  ASSERT_TRUE(ca.SetConfig("per_node_per_second", "100000"));
  ASSERT_TRUE(ca.SetConfig("per_node_burst", "100000"));
  ASSERT_TRUE(ca.SetConfig("attest_concurrency_per_source", "64"));
  ASSERT_TRUE(ca.Start());
}

TEST_F(RotorBenchTest, IssueReportsDurableIssuancesAndLatencies) {
  TempDir tmp;
  CaProcess ca(tmp.path());
  ASSERT_NO_FATAL_FAILURE(StartBenchCa(ca));
  BenchRun run = RunBench(absl::StrCat(
      "issue --ca ", ca.grpc_address(), " --credentials ", ca.admin_dir(),
      " --concurrency 2 --duration 1s --warmup 200ms --csrs 4 --ca-pid ",
      ca.process().pid(), " --json"));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_GT(run.Number("issued"), 0);
  EXPECT_EQ(run.Number("errors"), 0) << run.output;
  EXPECT_EQ(run.Number("throttled"), 0);
  EXPECT_DOUBLE_EQ(run.Number("per_second"), run.Number("issued") / 1.0);
  EXPECT_GT(run.Number("p50_ms"), 0);
  EXPECT_GE(run.Number("p99_ms"), run.Number("p50_ms"));
  EXPECT_GE(run.Number("p999_ms"), run.Number("p99_ms"));
  EXPECT_GT(run.Number("ca_cpu_us_per_issue"), 0);
  EXPECT_GE(run.Number("load_average_1m"), 0);
  // The certificates are the CA's: they are listed under the bench's nodes.
  EXPECT_THAT(ca.MustCtl("cert list"), HasSubstr("/bench/issue-"));
}

TEST_F(RotorBenchTest, CryptoReportsTheLimitAndTheIssuancePath) {
  BenchRun run = RunBench("crypto --duration 200ms --json");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_GT(run.Number("verify_sign_per_second"), 0);
  EXPECT_GT(run.Number("issue_per_second"), 0);
  EXPECT_GT(run.Number("csr_verify_per_second"), 0);
  EXPECT_GT(run.Number("cert_sign_per_second"), 0);
  EXPECT_GT(run.Number("issue_vs_crypto_limit"), 0);
  EXPECT_EQ(run.Number("threads"), 1);
}

TEST_F(RotorBenchTest, WatchDeliversEveryRevocationToItsHolder) {
  TempDir tmp;
  CaProcess ca(tmp.path());
  ASSERT_NO_FATAL_FAILURE(StartBenchCa(ca));
  BenchRun run = RunBench(absl::StrCat(
      "watch --ca ", ca.grpc_address(), " --credentials ", ca.admin_dir(),
      " --agents 4 --revocations 2 --interval 10ms --ca-pid ",
      ca.process().pid(), " --json"));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(run.Number("connected"), 4);
  EXPECT_EQ(run.Number("notified"), 2);
  EXPECT_EQ(run.Number("missed"), 0);
  EXPECT_EQ(run.Number("revoke_errors"), 0);
  EXPECT_GT(run.Number("notify_p50_ms"), 0);
  EXPECT_GE(run.Number("notify_p99_ms"), run.Number("notify_p50_ms"));
  EXPECT_EQ(run.Number("ca_pid"), ca.process().pid());
  EXPECT_GT(run.Number("ca_rss_mb"), 0);
  EXPECT_THAT(ca.MustCtl("cert list --revoked"), HasSubstr("/bench/watch-"));
}

TEST_F(RotorBenchTest, StoreReportsListsCrlAndStartUp) {
  TempDir tmp;
  BenchRun run = RunBench(absl::StrCat(
      "store --records 200 --revoked 20 --nodes 10 --samples 5 --startups 1 "
      "--dir ",
      tmp.path(), " --json"));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(run.Number("records"), 200);
  EXPECT_GE(run.Number("stored_certificates"), 200);
  EXPECT_EQ(run.Number("revoked"), 20);
  EXPECT_EQ(run.Number("crl_entries"), 20);
  EXPECT_GT(run.Number("list_by_node_avg_records"), 0);
  EXPECT_GT(run.Number("list_by_node_p50_ms"), 0);
  EXPECT_GT(run.Number("crl_rebuild_ms"), 0);
  EXPECT_GT(run.Number("startup_ms"), 0);
  // --dir keeps the CA data folder it filled.
  EXPECT_TRUE(PathExists(tmp.Path("ca/store/data.mdb")));
}

TEST_F(RotorBenchTest, RefusesAMissingFlagAndAnUnknownMode) {
  std::string output;
  EXPECT_EQ(RunCommand(BinaryPath("rotor-bench") + " issue --credentials /x",
                       &output),
            2);
  EXPECT_THAT(output, HasSubstr("rotor-bench: "));
  EXPECT_THAT(output, HasSubstr("--ca"));
  EXPECT_EQ(RunCommand(BinaryPath("rotor-bench") + " fly", &output), 2);
  EXPECT_THAT(output, HasSubstr("rotor-bench: unknown mode \"fly\""));
  EXPECT_EQ(RunCommand(BinaryPath("rotor-bench") + " watch --help", &output), 0);
  EXPECT_THAT(output, HasSubstr("usage: rotor-bench watch"));
}

}  // namespace
}  // namespace rotor
