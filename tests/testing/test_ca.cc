#include "tests/testing/test_ca.h"

#include "pki/ca_certificate.h"
#include "pki/random.h"
#include "util/status_macros.h"

namespace rotor::testing {

absl::StatusOr<TestCa> MakeTestCa(pki::KeyType type, absl::Time now) {
  ROTOR_ASSIGN_OR_RETURN(pki::PrivateKey root_key,
                         pki::PrivateKey::Generate(type));
  pki::CaCertificateOptions root_options;
  root_options.common_name = "rotor test root CA";
  root_options.trust_domain = kTestTrustDomain;
  root_options.validity = kTestRootValidity;
  ROTOR_ASSIGN_OR_RETURN(pki::Certificate root,
                         pki::BuildRootCertificate(root_key, root_options, now,
                                                   *pki::SystemRandom()));

  ROTOR_ASSIGN_OR_RETURN(pki::PrivateKey intermediate_key,
                         pki::PrivateKey::Generate(type));
  pki::CaCertificateOptions intermediate_options;
  intermediate_options.common_name = "rotor test intermediate CA";
  intermediate_options.trust_domain = kTestTrustDomain;
  intermediate_options.validity = kTestIntermediateValidity;
  ROTOR_ASSIGN_OR_RETURN(
      pki::Certificate intermediate,
      pki::BuildIntermediateCertificate(
          intermediate_key.get(), intermediate_options,
          pki::Signer{root, root_key}, now, *pki::SystemRandom()));
  return TestCa{std::move(root_key), std::move(root),
                std::move(intermediate_key), std::move(intermediate)};
}

}  // namespace rotor::testing
