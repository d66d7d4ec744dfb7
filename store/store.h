// The certificate store: the CA's durable memory. Every certificate the CA
// issued and its revocation state, join tokens (as hashes), registration
// entries, the CRL number and the audit log.
//
// CertificateStore is the interface the CA core codes against; LmdbStore
// (store/lmdb_store.h) is the embedded default. The store never reads the
// clock and never makes up randomness: times, ids and actors come in as
// parameters.
//
// Status codes, chosen by what the caller should do:
//   InvalidArgument     a malformed argument (empty serial, bad cursor, ...)
//   AlreadyExists       duplicate serial / token hash / entry id
//   NotFound            revoke, delete or consume of something unknown
//   FailedPrecondition  already revoked, token used or expired, store newer
//                       than this binary
//   ResourceExhausted   the store reached its configured size limit
//   Unavailable         the store is closed, or its disk refused the write
//                       (I/O error, disk full, read-only): try again later
//   DataLoss            a stored record cannot be decoded
//   Internal            anything else LMDB reports
// A call that fails writes nothing: no record, no index entry, no audit line.
// "Not found" from a lookup (GetCertificate) is a normal result, not an error.
//
// Thread-safety: every method of every implementation is safe to call from
// any number of threads at once.
#ifndef ROTOR_STORE_STORE_H_
#define ROTOR_STORE_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "pki/revocation.h"

namespace rotor::store {

enum class CertificateKind {
  kWorkload,  // SignWorkload
  kNode,      // Attest, RenewNode
  kServer,    // the CA's own gRPC server certificate
  kAdmin,     // an operator credential, made by `rotor-ca init`
};

// "workload", "node", "server" or "admin": how logs and the admin API name
// a kind.
inline absl::string_view CertificateKindName(CertificateKind kind) {
  switch (kind) {
    case CertificateKind::kWorkload:
      return "workload";
    case CertificateKind::kNode:
      return "node";
    case CertificateKind::kServer:
      return "server";
    case CertificateKind::kAdmin:
      return "admin";
  }
  return "unknown";
}

// One issued certificate and its revocation state.
struct CertificateRecord {
  // Canonical hex: lowercase, no leading zeros, at most 40 digits
  // (pki/serial.h). The primary key.
  std::string serial;
  std::string der;
  std::string spiffe_id;
  std::vector<std::string> dns_names;
  std::string node_name;
  absl::Time not_before = absl::UnixEpoch();
  absl::Time not_after = absl::UnixEpoch();
  absl::Time issued_at = absl::UnixEpoch();
  CertificateKind kind = CertificateKind::kWorkload;

  // Set by RevokeCertificate; a record is put unrevoked.
  bool revoked = false;
  absl::Time revoked_at = absl::UnixEpoch();
  pki::RevocationReason revocation_reason =
      pki::RevocationReason::kUnspecified;
  std::string revoked_by;

  friend bool operator==(const CertificateRecord&,
                         const CertificateRecord&) = default;
};

// Which certificates ListCertificates returns. Every condition that is set
// must hold; an empty filter matches everything.
struct CertificateFilter {
  // Exact node name; empty: any.
  std::string node_name;
  // Exact SPIFFE ID; empty: any.
  std::string spiffe_id;
  // not_after in [not_after_from, not_after_to). The defaults mean "any".
  // "Expiring within d" is {now, now + d}.
  absl::Time not_after_from = absl::InfinitePast();
  absl::Time not_after_to = absl::InfiniteFuture();
  bool revoked_only = false;
};

// A page of ListCertificates.
struct CertificatePage {
  std::vector<CertificateRecord> records;
  // Pass to the next call (with the same filter) to get the next page; empty
  // when there are no more matching records.
  std::string next_cursor;
};

// ListCertificates' page size when the caller passes 0, and the largest it
// returns (larger limits are lowered to it).
inline constexpr int kDefaultListLimit = 100;
inline constexpr int kMaxListLimit = 1000;

// Which identities nodes whose name matches `node_glob` may obtain.
struct RegistrationEntry {
  // Chosen by the caller (the CA generates it); unique.
  std::string id;
  // fnmatch(3) pattern over node names, no flags: "web-*", "db-?", "*".
  std::string node_glob;
  std::string spiffe_id;
  std::vector<std::string> dns_names;
  // Longest TTL for this entry's certificates; zero means the CA's max_ttl.
  absl::Duration max_ttl = absl::ZeroDuration();
  absl::Time created_at = absl::UnixEpoch();
  std::string created_by;

  friend bool operator==(const RegistrationEntry&,
                         const RegistrationEntry&) = default;
};

// One line of the audit log.
struct AuditRecord {
  // Assigned by the store when appended: 1, 2, 3, ... in commit order.
  uint64_t sequence = 0;
  absl::Time time = absl::UnixEpoch();
  std::string actor;   // a SPIFFE ID, or "rotor-ca" for the daemon itself
  std::string action;  // "revoke_certificate", "create_join_token", ...
  std::string target;  // "certificate 1a2b", "entry e-1", "node web-1"
  std::string outcome; // "ok", or the status the action ended with
  std::string detail;  // free text for a person

  friend bool operator==(const AuditRecord&, const AuditRecord&) = default;
};

// The actions the store itself writes to the audit log.
inline constexpr absl::string_view kAuditRevokeCertificate =
    "revoke_certificate";
inline constexpr absl::string_view kAuditCreateJoinToken = "create_join_token";
inline constexpr absl::string_view kAuditCreateEntry = "create_entry";
inline constexpr absl::string_view kAuditDeleteEntry = "delete_entry";
inline constexpr absl::string_view kAuditPurgeJoinTokens = "purge_join_tokens";

struct AuditPage {
  std::vector<AuditRecord> records;
  // The sequence to pass as `after_sequence` for the next page; 0 when there
  // are no more records.
  uint64_t next_after_sequence = 0;
};

// Record counts, for tests and metrics.
struct StoreStats {
  uint64_t certificates = 0;
  uint64_t revoked_certificates = 0;
  uint64_t join_tokens = 0;
  uint64_t entries = 0;
  uint64_t audit_records = 0;
};

class CertificateStore {
 public:
  virtual ~CertificateStore() = default;

  // --- Certificates ---

  // Stores a newly issued certificate. Returns only once the record is
  // durable (survives a crash or power loss from then on).
  // InvalidArgument if the serial is not canonical hex, or the record is
  // already marked revoked; AlreadyExists if the serial is stored already
  // (the stored record is left as it was).
  virtual absl::Status PutCertificate(const CertificateRecord& record) = 0;

  // The record with this serial, or std::nullopt if there is none.
  // InvalidArgument if `serial` is not canonical hex.
  virtual absl::StatusOr<std::optional<CertificateRecord>> GetCertificate(
      absl::string_view serial) = 0;

  // Up to `limit` records matching `filter`, starting after `cursor` (empty:
  // from the start). Records come in the order of the index the filter uses:
  // by serial within one node or SPIFFE ID, by not_after for an expiry
  // window, by serial otherwise. limit 0 means kDefaultListLimit; limits
  // above kMaxListLimit are lowered to it. InvalidArgument for a negative
  // limit, or a cursor that is malformed or came from a different filter.
  // Pages are consistent each on its own; records added between calls may or
  // may not show up in later pages.
  virtual absl::StatusOr<CertificatePage> ListCertificates(
      const CertificateFilter& filter, absl::string_view cursor,
      int limit) = 0;

  // Marks a certificate revoked at `time` for `reason` by `actor`, and
  // appends an audit record (action kAuditRevokeCertificate) in the same
  // transaction. Returns the updated record. NotFound ("certificate 1a2b not
  // found") for an unknown serial; FailedPrecondition ("certificate 1a2b is
  // already revoked") if it is; InvalidArgument for a malformed serial or
  // reason 8 (removeFromCRL, which is not a revocation).
  virtual absl::StatusOr<CertificateRecord> RevokeCertificate(
      absl::string_view serial, pki::RevocationReason reason, absl::Time time,
      absl::string_view actor) = 0;

  // Every revoked certificate whose not_after is after `not_after_after`, in
  // serial order (each with its not_after), for building a CRL. Pass
  // absl::InfinitePast() for all; a CRL may leave out certificates that
  // expired (RFC 5280 5.1.2.6), so the CA passes `now` minus a grace period.
  virtual absl::StatusOr<std::vector<pki::RevokedCertificate>> ListRevoked(
      absl::Time not_after_after) = 0;

  // --- CRL numbers ---

  // Returns the next CRL number (1 for the first call on a new store) and
  // makes it durable, so numbers never repeat, even across a crash.
  virtual absl::StatusOr<uint64_t> NextCrlNumber() = 0;

  // --- Join tokens ---

  // Stores a join token's hash (the caller hashes; the token itself is never
  // stored) bound to `node_name`, valid until `expires_at`, and appends an
  // audit record (kAuditCreateJoinToken, target "node <name>") in the same
  // transaction. InvalidArgument for an empty hash or node name, a hash over
  // 64 bytes, or expires_at not after created_at; AlreadyExists if the hash
  // is stored already.
  virtual absl::Status CreateJoinToken(absl::string_view token_hash,
                                       absl::string_view node_name,
                                       absl::Time created_at,
                                       absl::Time expires_at,
                                       absl::string_view actor) = 0;

  // Uses up a join token: atomically checks it and marks it used, so of two
  // concurrent calls with the same token exactly one succeeds. Returns the
  // node name the token binds. Errors (the CA answers all of them with
  // UNAUTHENTICATED and logs the message):
  //   NotFound            "unknown join token"
  //   FailedPrecondition  "join token already used"
  //   FailedPrecondition  "join token expired"  (now >= expires_at; the
  //                       token is left unused)
  virtual absl::StatusOr<std::string> ConsumeJoinToken(
      absl::string_view token_hash, absl::Time now) = 0;

  // Deletes every join token whose expires_at is before `expired_before`
  // (strictly: one that expires exactly then is kept), used or not, in one
  // transaction, and returns how many it deleted. When it deleted any, it
  // appends an audit record in the same transaction (kAuditPurgeJoinTokens,
  // time `time`, `actor`, target "join tokens", the counts in the detail);
  // when there was nothing to delete it writes nothing, not even an audit
  // record. A deleted token is from then on "unknown join token" to
  // ConsumeJoinToken, so callers keep tokens a while past their expiry.
  // InvalidArgument for an empty actor; DataLoss if a stored token cannot be
  // decoded (then nothing is deleted).
  virtual absl::StatusOr<uint64_t> PurgeExpiredJoinTokens(
      absl::Time expired_before, absl::Time time, absl::string_view actor) = 0;

  // --- Registration entries ---

  // Stores an entry and appends an audit record (kAuditCreateEntry, actor
  // entry.created_by, time entry.created_at) in the same transaction.
  // InvalidArgument for an empty id, node glob or SPIFFE ID, or a negative
  // max_ttl; AlreadyExists if the id is taken.
  virtual absl::Status CreateEntry(const RegistrationEntry& entry) = 0;

  // Every entry, in id order.
  virtual absl::StatusOr<std::vector<RegistrationEntry>> ListEntries() = 0;

  // Deletes an entry and appends an audit record (kAuditDeleteEntry) in the
  // same transaction. NotFound ("entry e-1 not found") for an unknown id.
  virtual absl::Status DeleteEntry(absl::string_view id, absl::Time time,
                                   absl::string_view actor) = 0;

  // The entries whose node glob matches `node_name`, in id order.
  virtual absl::StatusOr<std::vector<RegistrationEntry>> MatchEntries(
      absl::string_view node_name) = 0;

  // --- Audit log ---

  // Appends a record (its `sequence` is ignored and assigned) and returns
  // the sequence it got. For actions outside the store: refused requests,
  // CA key changes. InvalidArgument for an empty actor or action.
  virtual absl::StatusOr<uint64_t> AppendAudit(const AuditRecord& record) = 0;

  // Up to `limit` records with sequence > after_sequence, oldest first.
  // limit 0 means kDefaultListLimit; larger than kMaxListLimit is lowered;
  // negative is InvalidArgument.
  virtual absl::StatusOr<AuditPage> ListAudit(uint64_t after_sequence,
                                              int limit) = 0;

  // --- Metadata ---

  virtual absl::StatusOr<StoreStats> GetStats() = 0;
};

}  // namespace rotor::store

#endif  // ROTOR_STORE_STORE_H_
