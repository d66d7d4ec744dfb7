// A fixed set of threads for work that may block: the gRPC callback API runs
// handlers on a few library threads that must never wait on a disk, so the
// service layer hands each core call (signing, store commits) to this pool
// and finishes the RPC from there. Many calls in flight at once is also what
// lets the store commit them in groups.
//
// Thread-safety: Schedule is safe from any thread. The destructor runs every
// task already scheduled, then joins the threads; REQUIRES: nothing
// schedules during or after destruction.
#ifndef ROTOR_CA_WORKER_POOL_H_
#define ROTOR_CA_WORKER_POOL_H_

#include <deque>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace rotor::ca {

class WorkerPool {
 public:
  // REQUIRES: threads >= 1.
  explicit WorkerPool(int threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Runs `task` on one of the pool's threads, in FIFO order of scheduling.
  void Schedule(absl::AnyInvocable<void() &&> task);

 private:
  void Run();

  absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void() &&>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace rotor::ca

#endif  // ROTOR_CA_WORKER_POOL_H_
