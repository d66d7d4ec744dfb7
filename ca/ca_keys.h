// Loading the CA's key material from its data folder (ca/data_dir.h):
//   ca/root.crt            the trust anchor(s) served in the bundle
//   ca/root.key            optional: present for a self-signed root, absent
//                          when the intermediate chains to an upstream CA
//   ca/intermediate.crt    the signing CA
//   ca/intermediate.key
//
// Thread-safety: LoadCaKeys only reads files; safe from any thread.
#ifndef ROTOR_CA_CA_KEYS_H_
#define ROTOR_CA_CA_KEYS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ca/authority.h"
#include "ca/data_dir.h"

namespace rotor::ca {

// Reads the four files. Errors name the file: NotFound ("CA file
// /d/ca/intermediate.key is missing: ...; run rotor-ca init first") for a
// missing required file, InvalidArgument for one that does not parse, for a
// root.key that matches no certificate in root.crt, or an intermediate.key
// that does not match intermediate.crt. Other file errors pass through with
// their code. Does not check validity periods (Authority::Create does).
absl::StatusOr<CaKeys> LoadCaKeys(const DataDir& dir);

// The checks Authority::Create runs on loaded keys: the intermediate is a
// CA, matches its key, is signed by one of the roots and is valid at `now`;
// the root key, if any, matches the first root. InvalidArgument (or
// FailedPrecondition for an expired or not yet valid intermediate) saying
// which.
absl::Status CheckCaKeys(const CaKeys& keys, absl::Time now);

}  // namespace rotor::ca

#endif  // ROTOR_CA_CA_KEYS_H_
