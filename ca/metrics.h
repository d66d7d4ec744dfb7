// Metrics of the CA daemon, served on GET /metrics in the Prometheus text
// exposition format (version 0.0.4). Debian has no prometheus-cpp, and rotor
// needs only a few kinds, so this is a small registry: counters (optionally
// with one label), gauges (set, or read from a function at scrape time),
// histograms with fixed buckets, and summaries read from a function.
//
// Thread-safety: every method is safe from any thread. Metrics are created
// once, at start-up, and live as long as the registry; pointers to them stay
// valid.
#ifndef ROTOR_CA_METRICS_H_
#define ROTOR_CA_METRICS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace rotor::ca {

// A monotonically increasing count; with a label name, one series per label
// value ("rotor_refused_total{code=\"PERMISSION_DENIED\"}").
class Counter {
 public:
  // Adds `amount` (>= 0) to the series for `label_value` ("" without a
  // label).
  void Increment(absl::string_view label_value = "", double amount = 1);
  // Makes a series show up (as 0) before its first increment.
  void Declare(absl::string_view label_value);
  double Value(absl::string_view label_value = "") const;

 private:
  friend class MetricsRegistry;
  mutable absl::Mutex mu_;
  std::map<std::string, double, std::less<>> values_ ABSL_GUARDED_BY(mu_);
};

class Gauge {
 public:
  void Set(double value);
  void Add(double delta);
  double Value() const;

 private:
  mutable absl::Mutex mu_;
  double value_ ABSL_GUARDED_BY(mu_) = 0;
};

// Cumulative buckets with fixed upper bounds, plus sum and count.
class Histogram {
 public:
  void Observe(double value);
  uint64_t Count() const;

 private:
  friend class MetricsRegistry;
  explicit Histogram(std::vector<double> upper_bounds);
  const std::vector<double> bounds_;
  mutable absl::Mutex mu_;
  std::vector<uint64_t> buckets_ ABSL_GUARDED_BY(mu_);  // not cumulative
  double sum_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t count_ ABSL_GUARDED_BY(mu_) = 0;
};

// What a summary function reports: the sum of observed values and their count.
struct SummaryValue {
  double sum = 0;
  uint64_t count = 0;
};

class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Each name must be a valid Prometheus metric name, registered once.
  Counter* AddCounter(std::string name, std::string help,
                      std::string label_name = "");
  Gauge* AddGauge(std::string name, std::string help);
  // A gauge whose value `read` gives at each scrape. `read` must be safe from
  // any thread and must not call back into the registry.
  void AddGaugeFunction(std::string name, std::string help,
                        std::function<double()> read);
  Histogram* AddHistogram(std::string name, std::string help,
                          std::vector<double> upper_bounds);
  void AddSummaryFunction(std::string name, std::string help,
                          std::function<SummaryValue()> read);

  // Every metric in registration order, in the text format.
  std::string Render() const;

 private:
  struct Family;
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Family>> families_ ABSL_GUARDED_BY(mu_);
};

// The metrics rotor-ca exports, registered in one registry.
class CaMetrics {
 public:
  CaMetrics();

  MetricsRegistry& registry() { return registry_; }

  // rotor_issued_total{kind="workload"|"node"|"server"}
  Counter& issued() { return *issued_; }
  // rotor_refused_total{code="PERMISSION_DENIED",...}: refused RPCs.
  Counter& refused() { return *refused_; }
  // rotor_revoked_total
  Counter& revoked() { return *revoked_; }
  // rotor_issue_latency_seconds: time to answer an issuing RPC.
  Histogram& issue_latency() { return *issue_latency_; }
  // rotor_ca_expiry_timestamp_seconds: notAfter of the signing CA.
  Gauge& ca_expiry() { return *ca_expiry_; }
  // rotor_server_certificate_renewals_total{outcome="ok"|"error"}
  Counter& server_cert_renewals() { return *server_cert_renewals_; }
  // rotor_join_token_purges_total{outcome="ok"|"error"}: runs of the
  // purge of long-expired join tokens.
  Counter& join_token_purges() { return *join_token_purges_; }
  // rotor_join_tokens_purged_total: join tokens that purge deleted.
  Counter& join_tokens_purged() { return *join_tokens_purged_; }

 private:
  MetricsRegistry registry_;
  Counter* issued_;
  Counter* refused_;
  Counter* revoked_;
  Histogram* issue_latency_;
  Gauge* ca_expiry_;
  Counter* server_cert_renewals_;
  Counter* join_token_purges_;
  Counter* join_tokens_purged_;
};

}  // namespace rotor::ca

#endif  // ROTOR_CA_METRICS_H_
