// An in-memory CA for tests: a self-signed root and an intermediate signed by
// it, both with keys of one type, ready to sign leaves, CRLs and OCSP
// responses.
//
//   ASSERT_OK_AND_ASSIGN(TestCa ca, MakeTestCa(pki::KeyType::kEcP256, now));
//   pki::Signer signer = ca.signer();  // the intermediate and its key
//
// Thread-safety: a TestCa is immutable after MakeTestCa.
#ifndef ROTOR_TESTS_TESTING_TEST_CA_H_
#define ROTOR_TESTS_TESTING_TEST_CA_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pki/certificate.h"
#include "pki/key.h"

namespace rotor::testing {

inline constexpr char kTestTrustDomain[] = "example.org";
inline constexpr absl::Duration kTestRootValidity = absl::Hours(24 * 365 * 10);
inline constexpr absl::Duration kTestIntermediateValidity =
    absl::Hours(24 * 365);

struct TestCa {
  pki::PrivateKey root_key;
  pki::Certificate root;
  pki::PrivateKey intermediate_key;
  pki::Certificate intermediate;

  // The intermediate and its key. The Signer refers to this TestCa's
  // members: do not move or destroy the TestCa while it is in use.
  pki::Signer signer() const { return {intermediate, intermediate_key}; }
  // The root and its key (signs the root's CRL over the intermediate).
  pki::Signer root_signer() const { return {root, root_key}; }
};

// Generates two keys of `type` and builds, at `now`, a root
// ("rotor test root CA", trust domain example.org, valid kTestRootValidity)
// and an intermediate ("rotor test intermediate CA", valid
// kTestIntermediateValidity). Serials come from the system CSPRNG.
absl::StatusOr<TestCa> MakeTestCa(pki::KeyType type, absl::Time now);

}  // namespace rotor::testing

#endif  // ROTOR_TESTS_TESTING_TEST_CA_H_
