// Group commit: many threads hand their writes to one writer thread, which
// applies everything pending in one transaction, commits it with one fsync,
// and only then wakes every waiter. A durable commit costs about the same
// for one record as for a hundred, so this is what keeps the fsync from
// capping the CA's issuance rate.
//
// GroupCommitter only queues and wakes; what "apply a batch" means (the LMDB
// transaction, nesting, retries) is the BatchRunner the store gives it.
//
// Thread-safety: Submit() may be called from any number of threads at once.
// The BatchRunner runs on the writer thread only, one batch at a time.
#ifndef ROTOR_STORE_GROUP_COMMIT_H_
#define ROTOR_STORE_GROUP_COMMIT_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "store/lmdb_txn.h"

namespace rotor::store {

// One caller's write, waiting in the queue. Lives on the caller's stack
// until `done` is notified.
struct PendingWrite {
  explicit PendingWrite(absl::FunctionRef<absl::Status(LmdbTxn&)> fn)
      : apply(fn) {}

  // Applies the write to a transaction. It may be called more than once (a
  // batch is retried after the map grows), each time on a fresh
  // transaction, so it must not depend on having run before. It should
  // make every check that can refuse it before its first Put or Delete, so
  // that a refusal leaves the transaction untouched for the other writes.
  absl::FunctionRef<absl::Status(LmdbTxn&)> apply;
  // The outcome, set by the BatchRunner: OK only once the write is durable.
  absl::Status status;
  absl::Notification done;
};

class GroupCommitter {
 public:
  // Applies and commits a batch, setting every write's `status`. It must not
  // notify `done`; the committer does that after it returns.
  using BatchRunner = std::function<void(absl::Span<PendingWrite* const>)>;

  // Starts the writer thread. A batch holds at most `max_batch` writes.
  // `idle`, when set, runs on the writer thread once the queue has stayed
  // empty for `idle_delay` after a batch, and once more as the thread ends
  // (after the last batch). REQUIRES: max_batch >= 1.
  GroupCommitter(BatchRunner runner, size_t max_batch,
                 std::function<void()> idle = nullptr,
                 absl::Duration idle_delay = absl::ZeroDuration());
  // Stop()s.
  ~GroupCommitter();
  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  // Queues `apply`, waits until the batch holding it has committed (or
  // failed), and returns the write's status. Unavailable ("store is
  // closed") after Stop().
  absl::Status Submit(absl::FunctionRef<absl::Status(LmdbTxn&)> apply);

  // Finishes every write queued so far, then ends the writer thread.
  // Idempotent.
  void Stop();

  // Writes queued and not yet taken into a batch.
  size_t pending() const;

  struct Stats {
    uint64_t batches = 0;
    uint64_t writes = 0;
    size_t largest_batch = 0;
  };
  Stats stats() const;

 private:
  void Run();
  bool HasWorkOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const BatchRunner runner_;
  const size_t max_batch_;
  const std::function<void()> idle_;
  const absl::Duration idle_delay_;

  mutable absl::Mutex mu_;
  std::vector<PendingWrite*> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  Stats stats_ ABSL_GUARDED_BY(mu_);

  std::thread thread_;
};

}  // namespace rotor::store

#endif  // ROTOR_STORE_GROUP_COMMIT_H_
