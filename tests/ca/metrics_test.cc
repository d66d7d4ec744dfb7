#include "ca/metrics.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rotor::ca {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(MetricsTest, CounterWithoutLabelRendersOneSeries) {
  MetricsRegistry registry;
  Counter* c = registry.AddCounter("rotor_x_total", "Things done.");
  c->Increment();
  c->Increment("", 2);
  EXPECT_EQ(registry.Render(),
            "# HELP rotor_x_total Things done.\n"
            "# TYPE rotor_x_total counter\n"
            "rotor_x_total 3\n");
}

TEST(MetricsTest, CounterWithLabelRendersDeclaredAndIncrementedSeries) {
  MetricsRegistry registry;
  Counter* c = registry.AddCounter("rotor_refused_total", "Refused.", "code");
  c->Declare("OK");
  c->Increment("PERMISSION_DENIED");
  c->Increment("PERMISSION_DENIED");
  c->Increment("quote\"back\\slash\nline");
  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("rotor_refused_total{code=\"OK\"} 0\n"));
  EXPECT_THAT(text,
              HasSubstr("rotor_refused_total{code=\"PERMISSION_DENIED\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("rotor_refused_total{code=\"quote\\\"back\\\\"
                              "slash\\nline\"} 1\n"));
  EXPECT_EQ(c->Value("PERMISSION_DENIED"), 2);
  EXPECT_EQ(c->Value("never"), 0);
}

TEST(MetricsTest, CounterIgnoresNegativeIncrements) {
  MetricsRegistry registry;
  Counter* c = registry.AddCounter("rotor_x_total", "x");
  c->Increment("", -5);
  EXPECT_EQ(c->Value(), 0);
}

TEST(MetricsTest, GaugesPrintIntegersExactlyAndFractionsShortest) {
  MetricsRegistry registry;
  Gauge* expiry = registry.AddGauge("rotor_ca_expiry_timestamp_seconds", "t");
  expiry->Set(1953638228);
  registry.AddGaugeFunction("rotor_ratio", "r", [] { return 0.1; });
  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("rotor_ca_expiry_timestamp_seconds 1953638228\n"));
  EXPECT_THAT(text, HasSubstr("rotor_ratio 0.1\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE rotor_ratio gauge\n"));
}

TEST(MetricsTest, HistogramBucketsAreCumulative) {
  MetricsRegistry registry;
  Histogram* h =
      registry.AddHistogram("rotor_latency_seconds", "Latency.", {0.5, 0.1, 1});
  h->Observe(0.05);
  h->Observe(0.1);  // le is inclusive
  h->Observe(0.7);
  h->Observe(3);
  EXPECT_EQ(registry.Render(),
            "# HELP rotor_latency_seconds Latency.\n"
            "# TYPE rotor_latency_seconds histogram\n"
            "rotor_latency_seconds_bucket{le=\"0.1\"} 2\n"
            "rotor_latency_seconds_bucket{le=\"0.5\"} 2\n"
            "rotor_latency_seconds_bucket{le=\"1\"} 3\n"
            "rotor_latency_seconds_bucket{le=\"+Inf\"} 4\n"
            "rotor_latency_seconds_sum 3.85\n"
            "rotor_latency_seconds_count 4\n");
  EXPECT_EQ(h->Count(), 4u);
}

TEST(MetricsTest, SummaryFunctionRendersSumAndCount) {
  MetricsRegistry registry;
  registry.AddSummaryFunction("rotor_store_commit_batch_size", "Batches.",
                              [] { return SummaryValue{120, 7}; });
  EXPECT_EQ(registry.Render(),
            "# HELP rotor_store_commit_batch_size Batches.\n"
            "# TYPE rotor_store_commit_batch_size summary\n"
            "rotor_store_commit_batch_size_sum 120\n"
            "rotor_store_commit_batch_size_count 7\n");
}

TEST(MetricsTest, HelpTextIsEscaped) {
  MetricsRegistry registry;
  registry.AddGauge("rotor_g", "two\nlines \\ here");
  EXPECT_THAT(registry.Render(),
              HasSubstr("# HELP rotor_g two\\nlines \\\\ here\n"));
}

TEST(MetricsTest, CaMetricsDeclareTheContractSeries) {
  CaMetrics metrics;
  const std::string text = metrics.registry().Render();
  for (const char* line :
       {"rotor_issued_total{kind=\"workload\"} 0\n",
        "rotor_issued_total{kind=\"node\"} 0\n",
        "rotor_issued_total{kind=\"server\"} 0\n", "rotor_revoked_total 0\n",
        "# TYPE rotor_refused_total counter\n",
        "# TYPE rotor_issue_latency_seconds histogram\n",
        "rotor_ca_expiry_timestamp_seconds 0\n"}) {
    EXPECT_THAT(text, HasSubstr(line));
  }
  EXPECT_THAT(text, Not(HasSubstr("rotor_refused_total{")));
}

}  // namespace
}  // namespace rotor::ca
