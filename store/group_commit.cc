#include "store/group_commit.h"

#include <algorithm>
#include <utility>

namespace rotor::store {

GroupCommitter::GroupCommitter(BatchRunner runner, size_t max_batch)
    : runner_(std::move(runner)), max_batch_(std::max<size_t>(max_batch, 1)) {
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
  while (true) {
    batch.clear();
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &GroupCommitter::HasWorkOrStopping));
      if (queue_.empty()) return;  // stopping, and nothing left to finish
      size_t n = std::min(queue_.size(), max_batch_);
      batch.assign(queue_.begin(), queue_.begin() + n);
      queue_.erase(queue_.begin(), queue_.begin() + n);
      ++stats_.batches;
      stats_.writes += n;
      stats_.largest_batch = std::max(stats_.largest_batch, n);
    }
    runner_(absl::MakeConstSpan(batch));
    // After Notify() a waiter may return and destroy its PendingWrite: touch
    // nothing of it afterwards.
    for (PendingWrite* write : batch) write->done.Notify();
  }
}

}  // namespace rotor::store
