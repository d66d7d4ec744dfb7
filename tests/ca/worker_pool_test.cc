#include "ca/worker_pool.h"

#include <atomic>

#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace rotor::ca {
namespace {

TEST(WorkerPoolTest, RunsEveryTaskAndDrainsOnDestruction) {
  std::atomic<int> ran{0};
  {
    WorkerPool pool(3);
    for (int i = 0; i < 1000; ++i) pool.Schedule([&ran] { ++ran; });
  }
  EXPECT_EQ(ran.load(), 1000);
}

TEST(WorkerPoolTest, ABlockedTaskDoesNotHoldUpOthers) {
  WorkerPool pool(2);
  absl::Notification release;
  absl::Notification other_ran;
  pool.Schedule([&release] { release.WaitForNotification(); });
  pool.Schedule([&other_ran] { other_ran.Notify(); });
  EXPECT_TRUE(other_ran.WaitForNotificationWithTimeout(absl::Seconds(10)));
  release.Notify();
}

TEST(WorkerPoolTest, TasksMayOwnMoveOnlyState) {
  absl::BlockingCounter done(1);
  WorkerPool pool(1);
  auto owned = std::make_unique<int>(7);
  int seen = 0;
  pool.Schedule([owned = std::move(owned), &seen, &done] {
    seen = *owned;
    done.DecrementCount();
  });
  done.Wait();
  EXPECT_EQ(seen, 7);
}

}  // namespace
}  // namespace rotor::ca
