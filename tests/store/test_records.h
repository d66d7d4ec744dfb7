// Records and helpers shared by the store tests.
#ifndef ROTOR_TESTS_STORE_TEST_RECORDS_H_
#define ROTOR_TESTS_STORE_TEST_RECORDS_H_

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "store/store.h"

namespace rotor::store::testing {

inline constexpr absl::Time kT0 = absl::FromUnixSeconds(1800000000);

// A canonical serial for a number: lowercase hex, no leading zeros, with a
// fixed high digit so different numbers never collide and order is stable.
inline std::string SerialFor(uint64_t n) {
  return absl::StrFormat("7%015x", n);
}

// A record whose every field is derived from its serial, so a reader can
// check that what it got back is intact.
inline CertificateRecord MakeRecord(const std::string& serial,
                                    const std::string& node = "node-1",
                                    const std::string& spiffe_id =
                                        "spiffe://example.org/web",
                                    absl::Time not_after = kT0 +
                                                           absl::Hours(1)) {
  CertificateRecord r;
  r.serial = serial;
  r.der = absl::StrCat("DER:", serial, ":", std::string(200, 'x'));
  r.spiffe_id = spiffe_id;
  r.dns_names = {absl::StrCat(serial, ".internal"), "web.internal"};
  r.node_name = node;
  r.not_before = not_after - absl::Hours(1);
  r.not_after = not_after;
  r.issued_at = r.not_before + absl::Seconds(60);
  r.kind = CertificateKind::kWorkload;
  return r;
}

// Matches an OK StatusOr whose value matches `matcher`.
MATCHER_P(IsOkAndHolds, matcher,
          absl::StrCat("is OK and holds a value that ",
                       ::testing::DescribeMatcher<
                           typename std::remove_cvref_t<arg_type>::value_type>(
                           matcher, negation))) {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status();
    return false;
  }
  return ::testing::ExplainMatchResult(matcher, *arg, result_listener);
}

}  // namespace rotor::store::testing

#endif  // ROTOR_TESTS_STORE_TEST_RECORDS_H_
