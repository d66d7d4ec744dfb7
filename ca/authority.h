// The CA core: everything rotor-ca decides, without a network. The gRPC and
// HTTP layers (ca/grpc_service.h, ca/http_server.h) only translate to and from
// these calls; unit tests drive them directly with a fake clock.
//
// Split by security context, as Boulder splits its CA:
//   Policy (ca/policy.h)   decides who may get what: node names, entries,
//                          SANs, TTLs. Pure functions, no keys.
//   Issuer (ca/issuer.h)   only builds and signs what it is told, re-checks
//                          the result against the profile, holds the keys.
//   Store  (store/)        keeps records.
// Authority ties them together, and owns the CRL (ca/crl_publisher.h) and the
// update hub that WatchUpdates streams read (ca/update_hub.h). It remembers
// the node certificate records and entry matches it read from the store
// (ca/read_cache.h), so it must be the only writer of revocations and
// entries while it runs; a revoked node is still refused on the next call.
//
// Every refusal is a status whose code is the gRPC code the caller gets
// (docs/design.md): Unauthenticated, PermissionDenied, InvalidArgument,
// NotFound, AlreadyExists, ResourceExhausted, Unavailable; the message says
// what to fix. A refused request stores nothing.
//
// Thread-safety: every method is safe to call from any number of threads.
#ifndef ROTOR_CA_AUTHORITY_H_
#define ROTOR_CA_AUTHORITY_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "ca/config.h"
#include "pki/certificate.h"
#include "pki/key.h"
#include "pki/random.h"
#include "store/store.h"
#include "util/clock.h"

namespace rotor::ca {

class UpdateHub;
class CrlPublisher;
class Issuer;

// How long a join token stays in the store after it expires, used or not.
// Within this, a late Attest with it is refused as "join token expired",
// which tells the operator what to fix; after it the token is deleted
// (Authority::PurgeExpiredJoinTokens) and would be an "unknown join token".
// The daemon purges at start-up and hourly (ca/server.h).
inline constexpr absl::Duration kJoinTokenRetention = absl::Hours(24);

// The audit actor of what the CA does by itself, not for a caller.
inline constexpr absl::string_view kCaActor = "rotor-ca";

// The CA's key material, as loaded from the data folder.
struct CaKeys {
  // Trust anchors served in the bundle (the self-signed root, or the
  // upstream CA certificate).
  std::vector<pki::Certificate> roots;
  // Present when the CA holds the root key (not with an upstream CA): then
  // the CA also issues the root's CRL over the intermediate.
  std::optional<pki::PrivateKey> root_key;
  pki::Certificate intermediate;
  pki::PrivateKey intermediate_key;
};

// Who is calling, as the transport established it. The gRPC layer fills it
// from the verified client certificate (or leaves it empty).
struct Caller {
  // The URI SAN of the verified client certificate; empty without one.
  std::string spiffe_id;
  // The client certificate's serial (canonical hex); empty without one.
  std::string serial;
  // The peer address as gRPC reports it ("ipv4:127.0.0.1:5555").
  std::string peer;
};

// An issued certificate with its chain up to (not including) the root.
struct IssuedCertificate {
  pki::Certificate leaf;
  std::vector<pki::Certificate> chain;  // intermediates, issuing CA first
};

struct TrustBundle {
  std::vector<pki::Certificate> roots;
  uint64_t version = 1;
};

// The CRLs of the chain: the intermediate's, then (with the root key) the
// root's over the intermediate.
struct CrlSet {
  std::vector<std::string> der;
  uint64_t number = 0;  // the intermediate CRL's cRLNumber
  absl::Time this_update;
  absl::Time next_update;
};

struct JoinToken {
  std::string token;  // shown once; only its SHA-256 is stored
  std::string node_name;
  absl::Time expires_at;
};

struct EntryRequest {
  std::string node_glob;
  std::string spiffe_id;
  std::vector<std::string> dns_names;
  absl::Duration max_ttl = absl::ZeroDuration();  // zero: the CA's max_ttl
};

struct CertificateQuery {
  std::string node_name;
  std::string spiffe_id;
  absl::Duration expiring_within = absl::ZeroDuration();  // zero: any
  bool revoked_only = false;
  int page_size = 0;
  std::string page_token;
};

class Authority {
 public:
  // Validates the keys (intermediate matches its key, chains to a root, is
  // valid at clock->Now()) and loads the revocation state. Starts the CRL
  // publisher. `store`, `clock` and `random` must outlive the Authority.
  static absl::StatusOr<std::unique_ptr<Authority>> Create(
      CaKeys keys, const CaConfig& config, store::CertificateStore* store,
      Clock* clock, pki::Random* random);

  ~Authority();

  // --- Identity of callers ---

  // The node name of a caller presenting a node certificate
  // (spiffe://TD/rotor/node/<name>) that this CA issued and has not revoked.
  // Unauthenticated without a client certificate; PermissionDenied for a
  // non-node identity or a revoked certificate ("node certificate 1a2b was
  // revoked; attest again with a new join token").
  absl::StatusOr<std::string> AuthenticateNode(const Caller& caller);

  // OK for an unrevoked admin identity spiffe://TD/rotor/admin/*.
  // Unauthenticated without a client certificate; PermissionDenied
  // otherwise.
  absl::Status AuthorizeAdmin(const Caller& caller);

  // --- NodeService ---

  TrustBundle GetBundle() const;

  // Consumes the join token (single use; Unauthenticated for unknown, used
  // or expired tokens, saying which) and issues a node certificate for the
  // token's node name (SAN spiffe://TD/rotor/node/<name>, clientAuth only,
  // node_ttl) whatever the CSR's SANs say. ResourceExhausted when too many
  // Attest calls from the address of `caller.peer` (its port left out) are
  // in flight. The CSR is checked before the token is used up.
  absl::StatusOr<IssuedCertificate> Attest(const Caller& caller,
                                           absl::string_view join_token,
                                           absl::string_view csr_der);

  // A new node certificate for the calling node (its name from its current
  // certificate).
  absl::StatusOr<IssuedCertificate> RenewNode(const Caller& caller,
                                              absl::string_view csr_der);

  // A workload certificate: the CSR's SPIFFE ID (exactly one URI SAN) and
  // every DNS name must be granted to the caller's node by one entry; the
  // TTL must be within [min_ttl, entry max_ttl]; none means default_ttl
  // lowered to the entry's max_ttl. ResourceExhausted past the node's rate
  // limit, with the seconds to wait in the message.
  absl::StatusOr<IssuedCertificate> SignWorkload(
      const Caller& caller, absl::string_view csr_der,
      std::optional<absl::Duration> ttl);

  // --- AdminService (each checks AuthorizeAdmin first) ---

  absl::StatusOr<JoinToken> CreateJoinToken(const Caller& caller,
                                            absl::string_view node_name,
                                            absl::Duration ttl);
  absl::StatusOr<store::RegistrationEntry> CreateEntry(
      const Caller& caller, const EntryRequest& request);
  absl::StatusOr<std::vector<store::RegistrationEntry>> ListEntries(
      const Caller& caller);
  absl::Status DeleteEntry(const Caller& caller, absl::string_view id);
  absl::StatusOr<store::CertificatePage> ListCertificates(
      const Caller& caller, const CertificateQuery& query);
  // `serial` as a person pastes it (pki::NormalizeSerial).
  absl::StatusOr<store::CertificateRecord> GetCertificate(
      const Caller& caller, absl::string_view serial);
  // Revokes, then within one second: a new CRL is published and the holder's
  // node is told through the update hub; a revoked node certificate is
  // refused from then on.
  absl::StatusOr<store::CertificateRecord> RevokeCertificate(
      const Caller& caller, absl::string_view serial,
      absl::string_view reason);

  // The current CRLs (no admin check: CRLs are public).
  CrlSet GetCrl() const;

  // --- Housekeeping ---

  // Deletes the join tokens, used or not, whose expiry is more than
  // kJoinTokenRetention before clock->Now() (one that expired exactly that
  // long ago is kept), with one audit record (actor kCaActor) when any
  // went. Returns how many; when that is not zero, logs one line, "purged
  // expired join tokens removed=N expired_before=TIME". On failure nothing
  // is deleted, and the store's error is logged and returned.
  absl::StatusOr<uint64_t> PurgeExpiredJoinTokens();

  // --- The CA's own TLS server certificate ---

  // Issues (and records, kind server) a serverAuth certificate for
  // `public_key_der` with SANs `names` (DNS names and IP addresses),
  // lifetime server_cert_ttl.
  absl::StatusOr<IssuedCertificate> IssueServerCertificate(
      absl::string_view public_key_der, const std::vector<std::string>& names);

  // Where WatchUpdates streams subscribe.
  UpdateHub& updates();

  // The CRL publisher (tests rebuild synchronously or wait on it).
  CrlPublisher& crl_publisher();

  const CaConfig& config() const;

  // Counters for metrics, since Create.
  struct Stats {
    uint64_t issued = 0;   // certificates stored and returned
    uint64_t refused = 0;  // calls that returned an error, by any code
    std::map<absl::StatusCode, uint64_t> refused_by_code;
    uint64_t revoked = 0;
  };
  Stats stats() const;

 private:
  Authority();
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace rotor::ca

#endif  // ROTOR_CA_AUTHORITY_H_
