// rotorctl's commands, one function each: given the parsed flags and an
// AdminClient, make the calls, write the result to `out` (table or JSON) and
// short notes for people to `err`. They return the first error: a usage
// error (ctl/usage_error.h) for bad input found before any call, else the
// server's status as AdminClient::ToStatus maps it, or a local failure
// (e.g. writing --out).
//
// docs/design.md, "Binaries and command lines", is the contract; cli.h parses
// the command line into these structs.
//
// Thread-safety: each call is independent; the streams are not locked.
#ifndef ROTOR_CTL_COMMANDS_H_
#define ROTOR_CTL_COMMANDS_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ctl/client.h"
#include "rotor/v1/ca.pb.h"

namespace rotor::ctl {

// Where and how a command writes.
struct Output {
  std::ostream& out;  // the result: a token, a table, PEM, JSON
  std::ostream& err;  // notes for people ("rotorctl: wrote ...")
  bool json = false;  // print the response message as JSON instead
  absl::Time now;     // for "expired" in tables
};

// `token create`: prints only the token (or the response as JSON); the node
// and expiry go to `err`.
struct TokenCreateFlags {
  std::string node;
  absl::Duration ttl = absl::Hours(1);
};
absl::Status TokenCreate(AdminClient& client, const TokenCreateFlags& flags,
                         const Output& output);

// `entry create`: prints the new entry's ID (or the entry as JSON).
struct EntryCreateFlags {
  std::string node_glob;
  std::string spiffe_id;
  std::vector<std::string> dns_names;
  std::optional<absl::Duration> max_ttl;  // unset: the CA's max_ttl
};
absl::Status EntryCreate(AdminClient& client, const EntryCreateFlags& flags,
                         const Output& output);

// `entry list`: a table of every entry.
absl::Status EntryList(AdminClient& client, const Output& output);

// `entry delete ID`: prints "deleted entry ID".
absl::Status EntryDelete(AdminClient& client, const std::string& id,
                         const Output& output);

// `cert list`: every matching certificate, paging through
// ListCertificates by next_page_token until it is empty, or until `limit`
// certificates when limit > 0. JSON output is one ListCertificatesResponse
// holding them all (next_page_token empty unless --limit cut it short).
struct CertListFlags {
  std::string node;
  std::string spiffe_id;
  std::optional<absl::Duration> expiring_within;
  bool revoked_only = false;
  int64_t limit = 0;  // 0: all
};
absl::Status CertList(AdminClient& client, const CertListFlags& flags,
                      const Output& output);

// The certificates cert list prints: the pages in order, at most `limit`
// when limit > 0 (the last request asks for no more than are missing).
// Internal if the server returns a page token it returned before (a loop).
// REQUIRES: limit >= 0.
absl::StatusOr<rotor::v1::ListCertificatesResponse> ListAllCertificates(
    AdminClient& client, const rotor::v1::ListCertificatesRequest& filter,
    int64_t limit);

// A serial as people paste it (any case, colons, leading zeros, "0x") in
// canonical form (pki::NormalizeSerial); a usage error naming the input
// otherwise.
absl::StatusOr<std::string> ParseSerialArgument(const std::string& serial);

// A revocation reason in its RFC 5280 name ("key-compromise" ->
// "keyCompromise"); "" stays "" (unspecified). A usage error listing the
// names otherwise.
absl::StatusOr<std::string> ParseReasonArgument(const std::string& reason);

// `cert show SERIAL`: the certificate's fields, or with `pem` only its PEM.
// The serial is accepted as people paste it (pki::NormalizeSerial); a
// serial that is not hex is a usage error and no call is made.
absl::Status CertShow(AdminClient& client, const std::string& serial, bool pem,
                      const Output& output);

// `cert revoke SERIAL [--reason R]`: reason as RFC 5280 names it or in
// kebab/snake case ("key-compromise"), empty for unspecified; checked
// before the call (a usage error otherwise) and sent in its RFC form.
absl::Status CertRevoke(AdminClient& client, const std::string& serial,
                        const std::string& reason, const Output& output);

// `crl [--out FILE]`: without --out, prints every CRL of the chain as PEM
// (the intermediate's first, then the root's over the intermediate when the
// CA has one), the form nginx's ssl_crl wants; with --out, writes the
// intermediate's CRL as DER to FILE (replacing it atomically, mode 0644),
// the form served at GET /crl. With --json, prints the Crl message.
absl::Status FetchCrl(AdminClient& client, const std::string& out_path,
                      const Output& output);

// `bundle [--out FILE]`: the trust roots as PEM, to stdout or FILE (mode
// 0644). With --json, prints the TrustBundle message.
absl::Status FetchBundle(AdminClient& client, const std::string& out_path,
                         const Output& output);

}  // namespace rotor::ctl

#endif  // ROTOR_CTL_COMMANDS_H_
