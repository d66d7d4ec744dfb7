// CrlPublisher: keeps the CA's current CRLs and rebuilds them when told
// (after a revocation) and periodically (every half of the CRL validity),
// on its own worker thread. Each rebuild takes a new number from the store
// (NextCrlNumber, durable, so numbers never repeat), lists the revoked
// certificates that have not been expired for more than a day, and signs:
//   1. the intermediate's CRL over them, and
//   2. with the root key, the root's CRL over the intermediate (no entries:
//      revoking the intermediate itself is a key ceremony, not an API call).
// Both carry the same cRLNumber; numbers are per issuer and grow for each.
// Every new set is published to the UpdateHub.
//
// Bursts of Trigger() coalesce: while a rebuild runs, any number of
// triggers cause exactly one more. A failed rebuild keeps the previous CRLs
// (logged); the worker retries after kRetryInterval.
//
// Thread-safety: every method is safe from any thread.
#ifndef ROTOR_CA_CRL_PUBLISHER_H_
#define ROTOR_CA_CRL_PUBLISHER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "ca/authority.h"
#include "ca/update_hub.h"
#include "pki/certificate.h"
#include "pki/revocation.h"
#include "store/store.h"
#include "util/clock.h"

namespace rotor::ca {

class CrlPublisher {
 public:
  // Revoked certificates stay on the CRL this long after they expire.
  static constexpr absl::Duration kExpiredGrace = absl::Hours(24);
  // How soon the worker retries after a failed rebuild.
  static constexpr absl::Duration kRetryInterval = absl::Seconds(10);

  struct Options {
    // nextUpdate - thisUpdate; the worker rebuilds at half of it.
    absl::Duration validity = absl::Hours(1);
    // Run the worker thread. Off: only RebuildNow() builds (for tests).
    bool start_worker = true;
  };

  // Builds the first CRLs synchronously (so Current() is valid at once) and
  // starts the worker. Fails with the store's or BuildCrl's error.
  // `intermediate`, `root` (may be null: no root key), `store`, `clock` and
  // `hub` must outlive the publisher.
  //
  // `all_revoked`, when given, is every revoked certificate as
  // store->ListRevoked(absl::InfinitePast()) has just returned it (the
  // Authority reads it at start-up anyway): the first CRLs are built from
  // it, leaving out what ListRevoked(now - kExpiredGrace) would, instead of
  // reading the store a second time. Later rebuilds read the store.
  static absl::StatusOr<std::unique_ptr<CrlPublisher>> Create(
      const pki::Signer& intermediate, const pki::Signer* root,
      store::CertificateStore* store, Clock* clock, UpdateHub* hub,
      const Options& options,
      std::optional<std::vector<pki::RevokedCertificate>> all_revoked =
          std::nullopt);

  // Stops the worker (waiting for a rebuild in progress).
  ~CrlPublisher();
  CrlPublisher(const CrlPublisher&) = delete;
  CrlPublisher& operator=(const CrlPublisher&) = delete;

  // Asks the worker to rebuild soon; returns at once. Without a worker this
  // rebuilds synchronously.
  void Trigger();

  // Rebuilds now on the calling thread and publishes the result.
  absl::Status RebuildNow();

  // The latest CRL set.
  CrlSet Current() const;

  // Waits until a CRL set numbered above `number` is current, or `timeout`
  // passes (real time). True if it came; it has then also been published to
  // every subscription of the hub.
  bool WaitForNumberAbove(uint64_t number, absl::Duration timeout) const;

  // Rebuilds so far that succeeded / failed (metrics).
  uint64_t rebuilds() const;
  uint64_t failures() const;

 private:
  CrlPublisher(const pki::Signer& intermediate, const pki::Signer* root,
               store::CertificateStore* store, Clock* clock, UpdateHub* hub,
               const Options& options);

  // RebuildNow, with the revoked certificates from `all_revoked` (every one
  // of them; see Create) or, when null, from the store.
  absl::Status Rebuild(const std::vector<pki::RevokedCertificate>* all_revoked);
  absl::StatusOr<CrlSet> Build(
      const std::vector<pki::RevokedCertificate>* all_revoked);
  void WorkerLoop();

  const pki::Signer intermediate_;
  const std::optional<pki::Signer> root_;
  store::CertificateStore* const store_;
  Clock* const clock_;
  UpdateHub* const hub_;
  const Options options_;

  // Serializes rebuilds, so CRLs become current in number order.
  absl::Mutex build_mu_ ABSL_ACQUIRED_BEFORE(mu_);

  mutable absl::Mutex mu_;
  CrlSet current_ ABSL_GUARDED_BY(mu_);
  bool pending_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t rebuilds_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t failures_ ABSL_GUARDED_BY(mu_) = 0;

  std::thread worker_;
};

}  // namespace rotor::ca

#endif  // ROTOR_CA_CRL_PUBLISHER_H_
