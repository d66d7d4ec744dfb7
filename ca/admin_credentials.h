// Admin credentials for rotorctl: a client certificate with identity
// spiffe://TD/rotor/admin/NAME, its key and the trust bundle, written as
// OUT/admin.crt (leaf, then the intermediate), OUT/admin.key (0600) and
// OUT/bundle.crt. `rotor-ca init` makes the first set ("init"); `rotor-ca
// admin-credentials` makes more, e.g. one per operator, or a new one after
// the old was revoked. Every admin certificate is recorded in the store
// (kind admin) so that it can be listed and revoked like any other.
//
// Thread-safety: not for concurrent use on the same folder.
#ifndef ROTOR_CA_ADMIN_CREDENTIALS_H_
#define ROTOR_CA_ADMIN_CREDENTIALS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "ca/data_dir.h"
#include "pki/certificate.h"
#include "pki/key.h"
#include "pki/random.h"

namespace rotor::ca {

struct AdminCredential {
  pki::Certificate certificate;
  pki::PrivateKey key;
  std::string spiffe_id;
};

// InvalidArgument unless `name` is 1-64 of [a-z0-9._-], starting with a
// letter or digit.
absl::Status ValidateAdminName(absl::string_view name);

// Builds (in memory) an admin certificate for `name`, signed by `signer`,
// valid for `validity` from `now`, with a new EC P-256 key.
absl::StatusOr<AdminCredential> BuildAdminCredential(
    absl::string_view trust_domain, absl::string_view name,
    const pki::Signer& signer, absl::Duration validity, absl::Time now,
    pki::Random& random);

// Records `credential` in the store of `dir` (kind admin). The store must not
// be open in this process; REQUIRES: no server runs on `dir`.
absl::Status RecordAdminCertificate(const DataDir& dir,
                                    const AdminCredential& credential,
                                    absl::Time now);

struct AdminCredentialsOptions {
  std::string data_dir;
  std::string name;
  // Where admin.crt, admin.key and bundle.crt go; created (0700) if missing.
  std::string out_dir;
  absl::Duration validity = absl::Hours(24 * 365);
};

// Issues credentials for options.name from the CA in options.data_dir,
// records the certificate in the store, and writes the three files.
// Refuses, changing nothing: InvalidArgument for a bad name or validity;
// FailedPrecondition while a rotor-ca serves the folder (the store is
// written directly; stop it first); AlreadyExists if OUT already holds any
// of the three files. Returns what was issued (the key is already on disk).
absl::StatusOr<AdminCredential> IssueAdminCredentials(
    const AdminCredentialsOptions& options, absl::Time now,
    pki::Random& random);

}  // namespace rotor::ca

#endif  // ROTOR_CA_ADMIN_CREDENTIALS_H_
