#include "store/group_commit.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace rotor::store {
namespace {

using ::rotor::testing::StatusIs;
using ::testing::ElementsAre;

// These runners only look at the batch and set statuses; applying writes to
// a transaction is the store's business (tested in lmdb_store_test.cc).
class RecordingRunner {
 public:
  void Run(absl::Span<PendingWrite* const> writes) {
    // Only the first batch waits.
    absl::Notification* gate = gate_.exchange(nullptr);
    if (gate != nullptr) gate->WaitForNotification();
    absl::MutexLock lock(&mu_);
    sizes_.push_back(writes.size());
    for (PendingWrite* write : writes) write->status = next_status_;
  }
  void HoldFirstBatch(absl::Notification* gate) { gate_ = gate; }
  void set_status(absl::Status status) {
    absl::MutexLock lock(&mu_);
    next_status_ = status;
  }
  std::vector<size_t> sizes() {
    absl::MutexLock lock(&mu_);
    return sizes_;
  }

 private:
  std::atomic<absl::Notification*> gate_{nullptr};
  absl::Mutex mu_;
  std::vector<size_t> sizes_;
  absl::Status next_status_;
};

absl::Status Noop(LmdbTxn&) { return absl::OkStatus(); }

TEST(GroupCommitTest, WritesQueuedDuringACommitShareTheNextOne) {
  RecordingRunner runner;
  absl::Notification gate;
  runner.HoldFirstBatch(&gate);
  GroupCommitter committer(
      [&](absl::Span<PendingWrite* const> w) { runner.Run(w); }, 100);

  std::vector<std::thread> threads;
  threads.emplace_back([&] { EXPECT_OK(committer.Submit(Noop)); });
  // The first write is taken into a batch that is now held at the gate.
  while (committer.stats().batches < 1) std::this_thread::yield();
  for (int i = 0; i < 10; ++i) {
    threads.emplace_back([&] { EXPECT_OK(committer.Submit(Noop)); });
  }
  while (committer.pending() < 10) std::this_thread::yield();
  gate.Notify();
  for (std::thread& t : threads) t.join();
  EXPECT_THAT(runner.sizes(), ElementsAre(1, 10));
  GroupCommitter::Stats stats = committer.stats();
  EXPECT_EQ(stats.batches, 2);
  EXPECT_EQ(stats.writes, 11);
  EXPECT_EQ(stats.largest_batch, 10);
}

TEST(GroupCommitTest, BatchesAreCappedAtMaxBatch) {
  RecordingRunner runner;
  absl::Notification gate;
  runner.HoldFirstBatch(&gate);
  GroupCommitter committer(
      [&](absl::Span<PendingWrite* const> w) { runner.Run(w); }, 4);
  std::vector<std::thread> threads;
  threads.emplace_back([&] { EXPECT_OK(committer.Submit(Noop)); });
  while (committer.stats().batches < 1) std::this_thread::yield();
  for (int i = 0; i < 10; ++i) {
    threads.emplace_back([&] { EXPECT_OK(committer.Submit(Noop)); });
  }
  while (committer.pending() < 10) std::this_thread::yield();
  gate.Notify();
  for (std::thread& t : threads) t.join();
  EXPECT_THAT(runner.sizes(), ElementsAre(1, 4, 4, 2));
}

TEST(GroupCommitTest, EachWriterGetsItsOwnStatus) {
  GroupCommitter committer(
      [](absl::Span<PendingWrite* const> writes) {
        for (size_t i = 0; i < writes.size(); ++i) {
          writes[i]->status = absl::OkStatus();
        }
        writes.back()->status = absl::AlreadyExistsError("duplicate");
      },
      100);
  EXPECT_THAT(committer.Submit(Noop),
              StatusIs(absl::StatusCode::kAlreadyExists, "duplicate"));
}

TEST(GroupCommitTest, SubmitAfterStopIsUnavailable) {
  RecordingRunner runner;
  GroupCommitter committer(
      [&](absl::Span<PendingWrite* const> w) { runner.Run(w); }, 100);
  EXPECT_OK(committer.Submit(Noop));
  committer.Stop();
  committer.Stop();  // idempotent
  EXPECT_THAT(committer.Submit(Noop),
              StatusIs(absl::StatusCode::kUnavailable, "store is closed"));
}

TEST(GroupCommitTest, StopFinishesQueuedWrites) {
  RecordingRunner runner;
  absl::Notification gate;
  runner.HoldFirstBatch(&gate);
  GroupCommitter committer(
      [&](absl::Span<PendingWrite* const> w) { runner.Run(w); }, 100);
  std::vector<std::thread> threads;
  for (int i = 0; i < 5; ++i) {
    threads.emplace_back([&] { EXPECT_OK(committer.Submit(Noop)); });
  }
  while (committer.stats().writes + committer.pending() < 5) {
    std::this_thread::yield();
  }
  std::thread stopper([&] { committer.Stop(); });
  gate.Notify();
  stopper.join();
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(committer.stats().writes, 5);
}

TEST(GroupCommitTest, IdleRunsOnTheWriterThreadAfterTheLastBatchAtStop) {
  std::vector<std::string> events;  // only the writer thread touches it
  std::thread::id writer;
  GroupCommitter committer(
      [&](absl::Span<PendingWrite* const> w) {
        writer = std::this_thread::get_id();
        events.push_back(absl::StrCat("batch ", w.size()));
      },
      100,
      [&] {
        EXPECT_EQ(std::this_thread::get_id(), writer);
        events.push_back("idle");
      },
      absl::Hours(24));
  EXPECT_OK(committer.Submit(Noop));
  committer.Stop();
  EXPECT_THAT(events, ElementsAre("batch 1", "idle"));
}

TEST(GroupCommitTest, IdleRunsOnceTheQueueStaysEmpty) {
  absl::Notification idled;
  GroupCommitter committer([](absl::Span<PendingWrite* const>) {}, 100,
                           [&] {
                             if (!idled.HasBeenNotified()) idled.Notify();
                           },
                           absl::ZeroDuration());
  EXPECT_OK(committer.Submit(Noop));
  // With no delay the writer goes idle as soon as the batch is done.
  EXPECT_TRUE(idled.WaitForNotificationWithTimeout(absl::Seconds(30)));
}

}  // namespace
}  // namespace rotor::store
