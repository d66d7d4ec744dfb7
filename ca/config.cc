#include "ca/config.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cmath>
#include <functional>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pki/spiffe_id.h"
#include "util/command_line.h"
#include "util/file.h"
#include "util/status_macros.h"
#include "util/yaml_reader.h"

namespace rotor::ca {
namespace {

// `s` as a YAML scalar that reads back as exactly `s`: plain where that is
// safe, double-quoted otherwise ("", "[::]:8443", "#x", "a: b").
std::string Quote(absl::string_view s) {
  YAML::Emitter out;
  out << std::string(s);
  return out.c_str();
}

// A flow sequence, each item quoted as needed: [localhost, "a, b"].
std::string QuoteList(const std::vector<std::string>& items) {
  YAML::Emitter out;
  out << YAML::Flow << YAML::BeginSeq;
  for (const std::string& item : items) out << item;
  out << YAML::EndSeq;
  return out.c_str();
}

// The shortest text that parses back to exactly `v`.
std::string ExactDouble(double v) {
  char buf[64];
  std::to_chars_result r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

}  // namespace

absl::Status ValidateHostPort(absl::string_view address) {
  size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos || colon == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "address \"", address, "\" must be HOST:PORT, e.g. 127.0.0.1:8443"));
  }
  int port;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "address \"", address, "\" has a bad port (0-65535; 0 picks a free one)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateCaConfig(const CaConfig& c) {
  ROTOR_RETURN_IF_ERROR(pki::ValidateTrustDomain(c.trust_domain));
  auto address = [](absl::string_view key, absl::string_view value) {
    absl::Status s = ValidateHostPort(value);
    if (s.ok()) return s;
    return absl::InvalidArgumentError(absl::StrCat(key, ": ", s.message()));
  };
  ROTOR_RETURN_IF_ERROR(address("listen", c.listen));
  ROTOR_RETURN_IF_ERROR(address("http_listen", c.http_listen));
  if (c.server_names.empty()) {
    return absl::InvalidArgumentError(
        "server_names: needs at least one name the CA is reached by");
  }
  auto fmt = [](absl::Duration d) { return FormatDurationFlag(d); };
  if (c.min_ttl < kLowestMinTtl) {
    return absl::InvalidArgumentError(
        absl::StrCat("min_ttl (", fmt(c.min_ttl),
                     ") is below the lowest allowed (", fmt(kLowestMinTtl), ")"));
  }
  if (c.max_ttl < c.min_ttl) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_ttl (", fmt(c.max_ttl), ") is below min_ttl (", fmt(c.min_ttl), ")"));
  }
  if (c.default_ttl < c.min_ttl || c.default_ttl > c.max_ttl) {
    return absl::InvalidArgumentError(absl::StrCat(
        "default_ttl (", fmt(c.default_ttl), ") must be between min_ttl (",
        fmt(c.min_ttl), ") and max_ttl (", fmt(c.max_ttl), ")"));
  }
  if (c.node_ttl < c.min_ttl) {
    return absl::InvalidArgumentError(absl::StrCat(
        "node_ttl (", fmt(c.node_ttl), ") is below min_ttl (", fmt(c.min_ttl), ")"));
  }
  if (c.server_cert_ttl < absl::Minutes(1)) {
    return absl::InvalidArgumentError("server_cert_ttl must be at least 1m");
  }
  if (c.crl_validity < absl::Minutes(1)) {
    return absl::InvalidArgumentError("crl_validity must be at least 1m");
  }
  if (!std::isfinite(c.rate_limit.per_node_per_second)) {
    return absl::InvalidArgumentError(
        "rate_limit: per_node_per_second must be a finite number");
  }
  if (c.rate_limit.per_node_per_second <= 0 || c.rate_limit.per_node_burst < 1) {
    return absl::InvalidArgumentError(
        "rate_limit: per_node_per_second must be > 0 and per_node_burst >= 1");
  }
  if (c.rate_limit.attest_concurrency_per_source < 1) {
    return absl::InvalidArgumentError(
        "rate_limit: attest_concurrency_per_source must be >= 1");
  }
  if (c.store_max_size_mb < 16) {
    return absl::InvalidArgumentError("store: max_size_mb must be >= 16");
  }
  return absl::OkStatus();
}

absl::StatusOr<CaConfig> ParseCaConfig(absl::string_view yaml,
                                       absl::string_view source) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, " line ", e.mark.line + 1, ": not valid YAML: ", e.msg));
  }
  CaConfig c;
  YamlReader r(source);
  using N = const YAML::Node&;
  std::map<std::string, YamlReader::Handler> rate_limit = {
      {"per_node_per_second",
       [&](N n) {
         return r.Double(n, "rate_limit.per_node_per_second",
                         &c.rate_limit.per_node_per_second);
       }},
      {"per_node_burst",
       [&](N n) {
         return r.Int(n, "rate_limit.per_node_burst",
                      &c.rate_limit.per_node_burst);
       }},
      {"attest_concurrency_per_source",
       [&](N n) {
         return r.Int(n, "rate_limit.attest_concurrency_per_source",
                      &c.rate_limit.attest_concurrency_per_source);
       }},
  };
  std::map<std::string, YamlReader::Handler> store = {
      {"max_size_mb",
       [&](N n) { return r.Int(n, "store.max_size_mb", &c.store_max_size_mb); }},
  };
  std::map<std::string, YamlReader::Handler> top = {
      {"trust_domain", [&](N n) { return r.String(n, "trust_domain", &c.trust_domain); }},
      {"listen", [&](N n) { return r.String(n, "listen", &c.listen); }},
      {"http_listen", [&](N n) { return r.String(n, "http_listen", &c.http_listen); }},
      {"server_names", [&](N n) { return r.StringList(n, "server_names", "[localhost, 127.0.0.1]", &c.server_names); }},
      {"default_ttl", [&](N n) { return r.Duration(n, "default_ttl", &c.default_ttl); }},
      {"min_ttl", [&](N n) { return r.Duration(n, "min_ttl", &c.min_ttl); }},
      {"max_ttl", [&](N n) { return r.Duration(n, "max_ttl", &c.max_ttl); }},
      {"node_ttl", [&](N n) { return r.Duration(n, "node_ttl", &c.node_ttl); }},
      {"server_cert_ttl", [&](N n) { return r.Duration(n, "server_cert_ttl", &c.server_cert_ttl); }},
      {"crl_validity", [&](N n) { return r.Duration(n, "crl_validity", &c.crl_validity); }},
      {"crl_url", [&](N n) { return r.String(n, "crl_url", &c.crl_url); }},
      {"ocsp_url", [&](N n) { return r.String(n, "ocsp_url", &c.ocsp_url); }},
      {"rate_limit", [&](N n) { return r.Map(n, "rate_limit", rate_limit); }},
      {"store", [&](N n) { return r.Map(n, "store", store); }},
  };
  if (!root.IsDefined() || root.IsNull()) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, " is empty; it needs at least trust_domain (rotor-ca init writes a full one)"));
  }
  try {
    ROTOR_RETURN_IF_ERROR(r.Map(root, "", top));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, " line ", e.mark.line + 1, ": ", e.msg));
  }
  if (c.trust_domain.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": trust_domain is missing"));
  }
  absl::Status valid = ValidateCaConfig(c);
  if (!valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", valid.message()));
  }
  return c;
}

absl::StatusOr<CaConfig> LoadCaConfig(const std::string& path) {
  ROTOR_ASSIGN_OR_RETURN(std::string text, ReadFile(path, 1 << 20));
  return ParseCaConfig(text, path);
}

std::string RenderCaConfig(const CaConfig& c) {
  auto d = [](absl::Duration v) { return FormatDurationFlag(v); };
  return absl::StrCat(
      "# rotor-ca configuration. Every key is shown with its default.\n"
      "# Unknown keys are refused at start. Durations: 90s, 15m, 24h, 7d.\n"
      "\n"
      "# SPIFFE trust domain: identities are spiffe://<trust_domain>/...\n"
      "trust_domain: ", Quote(c.trust_domain), "\n",
      "\n"
      "# gRPC (TLS, client certificates verified). Port 0 picks a free port.\n"
      "listen: ", Quote(c.listen), "\n",
      "# HTTP: /bundle, /crl, /ocsp, /metrics, /healthz.\n"
      "http_listen: ", Quote(c.http_listen), "\n",
      "# Names (DNS or IP) in the CA's own gRPC server certificate; agents\n"
      "# must reach the CA by one of them.\n"
      "server_names: ", QuoteList(c.server_names), "\n",
      "\n"
      "# TTL of a workload certificate when the request names none (lowered to\n"
      "# the registration entry's max_ttl).\n"
      "default_ttl: ", d(c.default_ttl), "\n",
      "# Shortest TTL a request may ask for (at least 5s).\n"
      "min_ttl: ", d(c.min_ttl), "\n",
      "# Longest TTL any certificate may have.\n"
      "max_ttl: ", d(c.max_ttl), "\n",
      "# Lifetime of node (agent) certificates.\n"
      "node_ttl: ", d(c.node_ttl), "\n",
      "# Lifetime of the CA's own gRPC server certificate (renewed at half).\n"
      "server_cert_ttl: ", d(c.server_cert_ttl), "\n",
      "# Validity of each CRL and OCSP response (nextUpdate - thisUpdate).\n"
      "crl_validity: ", d(c.crl_validity), "\n",
      "\n"
      "# HTTP URL of the CRL, written into issued certificates as their CRL\n"
      "# distribution point; empty: none.\n"
      "crl_url: ", Quote(c.crl_url), "\n",
      "# HTTP URL of the OCSP responder; empty: none.\n"
      "ocsp_url: ", Quote(c.ocsp_url), "\n",
      "\n"
      "rate_limit:\n"
      "  # Token bucket per node for SignWorkload and RenewNode.\n"
      "  per_node_per_second: ", ExactDouble(c.rate_limit.per_node_per_second),
      "\n",
      "  per_node_burst: ", c.rate_limit.per_node_burst, "\n",
      "  # Concurrent Attest calls allowed from one source address.\n"
      "  attest_concurrency_per_source: ",
      c.rate_limit.attest_concurrency_per_source, "\n",
      "\n"
      "store:\n"
      "  # Largest size the LMDB store may grow to, in MiB.\n"
      "  max_size_mb: ", c.store_max_size_mb, "\n");
}

}  // namespace rotor::ca
