#include "store/group_commit.h"

#include <algorithm>
#include <utility>

namespace rotor::store {

GroupCommitter::GroupCommitter(BatchRunner runner, size_t max_batch,
                               std::function<void()> idle,
                               absl::Duration idle_delay)
    : runner_(std::move(runner)),
      max_batch_(std::max<size_t>(max_batch, 1)),
      idle_(std::move(idle)),
      idle_delay_(idle_delay) {
  thread_ = std::thread([this] { Run(); });
}

GroupCommitter::~GroupCommitter() { Stop(); }

absl::Status GroupCommitter::Submit(
    absl::FunctionRef<absl::Status(LmdbTxn&)> apply) {
  PendingWrite write(apply);
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::UnavailableError("store is closed");
    queue_.push_back(&write);
  }
  write.done.WaitForNotification();
  return write.status;
}

void GroupCommitter::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

size_t GroupCommitter::pending() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

GroupCommitter::Stats GroupCommitter::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

bool GroupCommitter::HasWorkOrStopping() const {
  return !queue_.empty() || stopping_;
}

void GroupCommitter::Run() {
  std::vector<PendingWrite*> batch;
  // A batch ran and the queue has not yet been seen empty for idle_delay_.
  bool idle_due = false;
  while (true) {
    batch.clear();
    bool quiet = false;
    bool finished = false;
    {
      absl::MutexLock lock(&mu_);
      const absl::Condition ready(this, &GroupCommitter::HasWorkOrStopping);
      if (idle_due) {
        quiet = !mu_.AwaitWithTimeout(ready, idle_delay_);
      } else {
        mu_.Await(ready);
      }
      if (!quiet) {
        if (queue_.empty()) {
          finished = true;  // stopping, and nothing left to finish
        } else {
          size_t n = std::min(queue_.size(), max_batch_);
          batch.assign(queue_.begin(), queue_.begin() + n);
          queue_.erase(queue_.begin(), queue_.begin() + n);
          ++stats_.batches;
          stats_.writes += n;
          stats_.largest_batch = std::max(stats_.largest_batch, n);
        }
      }
    }
    if (quiet || finished) {
      if (idle_) idle_();
      if (finished) return;
      idle_due = false;
      continue;
    }
    runner_(absl::MakeConstSpan(batch));
    // After Notify() a waiter may return and destroy its PendingWrite: touch
    // nothing of it afterwards.
    for (PendingWrite* write : batch) write->done.Notify();
    idle_due = idle_ != nullptr;
  }
}

}  // namespace rotor::store
