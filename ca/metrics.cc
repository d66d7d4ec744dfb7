#include "ca/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace rotor::ca {
namespace {

// Integers print exactly ("1800000000", not "1.8e+09"); everything else
// with enough digits to round-trip.
std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 9007199254740992.0) {
    return absl::StrFormat("%.0f", v);
  }
  // The shortest form that reads back as the same double.
  for (int precision : {6, 15, 17}) {
    std::string text = absl::StrFormat("%.*g", precision, v);
    if (std::strtod(text.c_str(), nullptr) == v) return text;
  }
  return absl::StrFormat("%.17g", v);
}

// Label values escape backslash, double quote and newline.
std::string EscapeLabel(absl::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// HELP text escapes backslash and newline.
std::string EscapeHelp(absl::string_view help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

void Counter::Increment(absl::string_view label_value, double amount) {
  if (!(amount >= 0)) return;  // counters never go down
  absl::MutexLock lock(&mu_);
  auto it = values_.find(label_value);
  if (it == values_.end()) {
    values_.emplace(std::string(label_value), amount);
  } else {
    it->second += amount;
  }
}

void Counter::Declare(absl::string_view label_value) {
  absl::MutexLock lock(&mu_);
  values_.try_emplace(std::string(label_value), 0);
}

double Counter::Value(absl::string_view label_value) const {
  absl::MutexLock lock(&mu_);
  auto it = values_.find(label_value);
  return it == values_.end() ? 0 : it->second;
}

void Gauge::Set(double value) {
  absl::MutexLock lock(&mu_);
  value_ = value;
}

void Gauge::Add(double delta) {
  absl::MutexLock lock(&mu_);
  value_ += delta;
}

double Gauge::Value() const {
  absl::MutexLock lock(&mu_);
  return value_;
}

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), buckets_(bounds_.size() + 1, 0) {}

void Histogram::Observe(double value) {
  const size_t i =
      std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  absl::MutexLock lock(&mu_);
  ++buckets_[i];
  sum_ += value;
  ++count_;
}

uint64_t Histogram::Count() const {
  absl::MutexLock lock(&mu_);
  return count_;
}

struct MetricsRegistry::Family {
  std::string name;
  std::string help;
  std::string type;  // counter, gauge, histogram, summary
  std::string label_name;
  std::unique_ptr<Counter> counter;
  std::unique_ptr<Gauge> gauge;
  std::function<double()> gauge_function;
  std::unique_ptr<Histogram> histogram;
  std::function<SummaryValue()> summary_function;

  void Render(std::string& out) const {
    absl::StrAppend(&out, "# HELP ", name, " ", EscapeHelp(help), "\n",
                    "# TYPE ", name, " ", type, "\n");
    if (counter != nullptr) {
      std::map<std::string, double, std::less<>> values;
      {
        absl::MutexLock lock(&counter->mu_);
        values = counter->values_;
      }
      if (label_name.empty()) {
        absl::StrAppend(&out, name, " ", FormatValue(values[""]), "\n");
        return;
      }
      for (const auto& [label, value] : values) {
        absl::StrAppend(&out, name, "{", label_name, "=\"", EscapeLabel(label),
                        "\"} ", FormatValue(value), "\n");
      }
    } else if (gauge != nullptr) {
      absl::StrAppend(&out, name, " ", FormatValue(gauge->Value()), "\n");
    } else if (gauge_function) {
      absl::StrAppend(&out, name, " ", FormatValue(gauge_function()), "\n");
    } else if (histogram != nullptr) {
      std::vector<uint64_t> buckets;
      double sum;
      uint64_t count;
      {
        absl::MutexLock lock(&histogram->mu_);
        buckets = histogram->buckets_;
        sum = histogram->sum_;
        count = histogram->count_;
      }
      uint64_t cumulative = 0;
      for (size_t i = 0; i < histogram->bounds_.size(); ++i) {
        cumulative += buckets[i];
        absl::StrAppend(&out, name, "_bucket{le=\"",
                        FormatValue(histogram->bounds_[i]), "\"} ", cumulative,
                        "\n");
      }
      absl::StrAppend(&out, name, "_bucket{le=\"+Inf\"} ", count, "\n", name,
                      "_sum ", FormatValue(sum), "\n", name, "_count ", count,
                      "\n");
    } else if (summary_function) {
      const SummaryValue value = summary_function();
      absl::StrAppend(&out, name, "_sum ", FormatValue(value.sum), "\n", name,
                      "_count ", value.count, "\n");
    }
  }
};

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

Counter* MetricsRegistry::AddCounter(std::string name, std::string help,
                                     std::string label_name) {
  auto family = std::make_unique<Family>();
  family->name = std::move(name);
  family->help = std::move(help);
  family->type = "counter";
  family->label_name = std::move(label_name);
  family->counter = std::make_unique<Counter>();
  Counter* counter = family->counter.get();
  absl::MutexLock lock(&mu_);
  families_.push_back(std::move(family));
  return counter;
}

Gauge* MetricsRegistry::AddGauge(std::string name, std::string help) {
  auto family = std::make_unique<Family>();
  family->name = std::move(name);
  family->help = std::move(help);
  family->type = "gauge";
  family->gauge = std::make_unique<Gauge>();
  Gauge* gauge = family->gauge.get();
  absl::MutexLock lock(&mu_);
  families_.push_back(std::move(family));
  return gauge;
}

void MetricsRegistry::AddGaugeFunction(std::string name, std::string help,
                                       std::function<double()> read) {
  auto family = std::make_unique<Family>();
  family->name = std::move(name);
  family->help = std::move(help);
  family->type = "gauge";
  family->gauge_function = std::move(read);
  absl::MutexLock lock(&mu_);
  families_.push_back(std::move(family));
}

Histogram* MetricsRegistry::AddHistogram(std::string name, std::string help,
                                         std::vector<double> upper_bounds) {
  std::sort(upper_bounds.begin(), upper_bounds.end());
  auto family = std::make_unique<Family>();
  family->name = std::move(name);
  family->help = std::move(help);
  family->type = "histogram";
  family->histogram.reset(new Histogram(std::move(upper_bounds)));
  Histogram* histogram = family->histogram.get();
  absl::MutexLock lock(&mu_);
  families_.push_back(std::move(family));
  return histogram;
}

void MetricsRegistry::AddSummaryFunction(std::string name, std::string help,
                                         std::function<SummaryValue()> read) {
  auto family = std::make_unique<Family>();
  family->name = std::move(name);
  family->help = std::move(help);
  family->type = "summary";
  family->summary_function = std::move(read);
  absl::MutexLock lock(&mu_);
  families_.push_back(std::move(family));
}

std::string MetricsRegistry::Render() const {
  std::string out;
  absl::MutexLock lock(&mu_);
  for (const auto& family : families_) family->Render(out);
  return out;
}

CaMetrics::CaMetrics() {
  issued_ = registry_.AddCounter("rotor_issued_total",
                                 "Certificates issued, by kind.", "kind");
  for (const char* kind : {"workload", "node", "server"}) {
    issued_->Declare(kind);
  }
  refused_ = registry_.AddCounter(
      "rotor_refused_total", "Refused gRPC calls, by gRPC status code.",
      "code");
  revoked_ =
      registry_.AddCounter("rotor_revoked_total", "Certificates revoked.");
  issue_latency_ = registry_.AddHistogram(
      "rotor_issue_latency_seconds",
      "Time to answer Attest, RenewNode and SignWorkload, in seconds.",
      {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5});
  ca_expiry_ = registry_.AddGauge(
      "rotor_ca_expiry_timestamp_seconds",
      "notAfter of the signing (intermediate) CA, as a Unix time.");
  server_cert_renewals_ = registry_.AddCounter(
      "rotor_server_certificate_renewals_total",
      "Renewals of the CA's own gRPC server certificate, by outcome.",
      "outcome");
  server_cert_renewals_->Declare("ok");
  server_cert_renewals_->Declare("error");
  join_token_purges_ = registry_.AddCounter(
      "rotor_join_token_purges_total",
      "Runs of the purge of join tokens expired over a day ago, by outcome.",
      "outcome");
  join_token_purges_->Declare("ok");
  join_token_purges_->Declare("error");
  join_tokens_purged_ = registry_.AddCounter(
      "rotor_join_tokens_purged_total",
      "Join tokens deleted because they expired over a day ago.");
}

}  // namespace rotor::ca
