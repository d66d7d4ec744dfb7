// Fuzzes ca.yaml parsing (ca::ParseCaConfig) and its round trip: whatever
// ParseCaConfig accepts, RenderCaConfig must write back as a file that
// parses to the same config (rotor-ca init writes ca.yaml that way).
//
// Input: the text of a ca.yaml. Oracles, besides the sanitizers: refusals
// are InvalidArgument; an accepted config passes ValidateCaConfig and
// survives the round trip field by field (for UTF-8 text, which YAML is).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ca/config.h"
#include "tests/fuzz/fuzz_check.h"

namespace rotor::ca {
namespace {

bool SameConfig(const CaConfig& a, const CaConfig& b) {
  return a.trust_domain == b.trust_domain && a.listen == b.listen &&
         a.http_listen == b.http_listen && a.server_names == b.server_names &&
         a.default_ttl == b.default_ttl && a.min_ttl == b.min_ttl &&
         a.max_ttl == b.max_ttl && a.node_ttl == b.node_ttl &&
         a.server_cert_ttl == b.server_cert_ttl &&
         a.crl_validity == b.crl_validity && a.crl_url == b.crl_url &&
         a.ocsp_url == b.ocsp_url &&
         a.rate_limit.per_node_per_second ==
             b.rate_limit.per_node_per_second &&
         a.rate_limit.per_node_burst == b.rate_limit.per_node_burst &&
         a.rate_limit.attest_concurrency_per_source ==
             b.rate_limit.attest_concurrency_per_source &&
         a.store_max_size_mb == b.store_max_size_mb;
}

// True if `text` is well-formed UTF-8 (shortest forms, no surrogates, at
// most U+10FFFF).
bool IsUtf8(absl::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    size_t extra;
    uint32_t min;
    uint32_t code;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      extra = 1, min = 0x80, code = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2, min = 0x800, code = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3, min = 0x10000, code = c & 0x07;
    } else {
      return false;
    }
    if (text.size() - i <= extra) return false;
    for (size_t k = 1; k <= extra; ++k) {
      const unsigned char next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xc0) != 0x80) return false;
      code = (code << 6) | (next & 0x3f);
    }
    if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

}  // namespace
}  // namespace rotor::ca

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rotor::ca;
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<CaConfig> config = ParseCaConfig(text);
  if (!config.ok()) {
    FUZZ_CHECK(config.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  FUZZ_CHECK(ValidateCaConfig(*config).ok());
  // YAML text is UTF-8: other bytes that yaml-cpp let through cannot be
  // written back as themselves, so the round trip holds for UTF-8 input.
  if (!IsUtf8(text)) return 0;
  const std::string rendered = RenderCaConfig(*config);
  absl::StatusOr<CaConfig> again = ParseCaConfig(rendered);
  if (!again.ok()) {
    std::fprintf(stderr, "rendered ca.yaml does not parse: %s\n%s\n",
                 std::string(again.status().message()).c_str(),
                 rendered.c_str());
  }
  FUZZ_CHECK(again.ok());
  if (!SameConfig(*config, *again)) {
    std::fprintf(stderr, "rendered ca.yaml parses to another config:\n%s\n",
                 rendered.c_str());
  }
  FUZZ_CHECK(SameConfig(*config, *again));
  return 0;
}
