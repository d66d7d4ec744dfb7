// Issuer: the only part of the CA core that holds the intermediate's private
// key. It signs exactly what it is told (policy has already decided) with
// pki::BuildLeafCertificate, then parses the result back and re-checks it
// against the request before handing it out, as Boulder lints before it
// issues: SANs exactly as asked, the EKU of the usage, not a CA, the
// requested public key, validity within the TTL and the issuer's own
// lifetime. A mismatch is Internal and the certificate is discarded.
//
// Thread-safety: immutable after Create; Issue* may run concurrently.
#ifndef ROTOR_CA_ISSUER_H_
#define ROTOR_CA_ISSUER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "pki/certificate.h"
#include "pki/certificate_builder.h"
#include "pki/key.h"
#include "pki/random.h"

namespace rotor::ca {

class Issuer {
 public:
  // Takes the signing CA. InvalidArgument if `certificate` is not a CA or
  // `key` is not its key. `crl_url` (may be empty) goes into every leaf's
  // CRL distribution point.
  static absl::StatusOr<std::unique_ptr<Issuer>> Create(
      pki::Certificate certificate, pki::PrivateKey key, std::string crl_url);

  // Signs a leaf for `leaf` (its crl_url is replaced by the issuer's) at
  // `now`, then re-checks it (CheckIssued). Errors of BuildLeafCertificate
  // pass through (InvalidArgument for a bad template or an expired CA);
  // Internal if the re-check fails.
  absl::StatusOr<pki::Certificate> Issue(pki::LeafTemplate leaf,
                                         absl::Time now,
                                         pki::Random& random) const;

  // serverAuth + clientAuth, URI SAN `spiffe_id` and `dns_names`.
  absl::StatusOr<pki::Certificate> IssueWorkload(
      absl::string_view public_key_der, absl::string_view spiffe_id,
      const std::vector<std::string>& dns_names, absl::Duration ttl,
      absl::Time now, pki::Random& random) const;

  // clientAuth only, URI SAN `spiffe_id` and nothing else.
  absl::StatusOr<pki::Certificate> IssueNode(absl::string_view public_key_der,
                                             absl::string_view spiffe_id,
                                             absl::Duration ttl,
                                             absl::Time now,
                                             pki::Random& random) const;

  // serverAuth only, DNS and IP SANs, no URI.
  absl::StatusOr<pki::Certificate> IssueServer(
      absl::string_view public_key_der,
      const std::vector<std::string>& dns_names,
      const std::vector<std::string>& ip_addresses, absl::Duration ttl,
      absl::Time now, pki::Random& random) const;

  const pki::Certificate& certificate() const { return certificate_; }
  pki::Signer signer() const { return {certificate_, key_}; }

 private:
  Issuer(pki::Certificate certificate, pki::PrivateKey key,
         std::string crl_url)
      : certificate_(std::move(certificate)),
        key_(std::move(key)),
        crl_url_(std::move(crl_url)) {}

  const pki::Certificate certificate_;
  const pki::PrivateKey key_;
  const std::string crl_url_;
};

// The re-check Issue runs on every certificate: `cert` has exactly the SANs
// of `leaf` (URI, DNS, IP, in order), exactly the EKU of `leaf.usage`, is not
// a CA, carries `leaf.public_key_der`, is issued by `issuer`, starts no later
// than `now` and ends no later than min(now + ttl, issuer's notAfter). OK, or
// Internal ("issued certificate does not match the request: ...").
absl::Status CheckIssued(const pki::Certificate& cert,
                         const pki::LeafTemplate& leaf,
                         const pki::Certificate& issuer, absl::Time now);

}  // namespace rotor::ca

#endif  // ROTOR_CA_ISSUER_H_
