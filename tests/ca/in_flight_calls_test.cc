#include "ca/in_flight_calls.h"

#include <memory>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace rotor::ca {
namespace {

using Interceptor = grpc::experimental::Interceptor;

// gRPC makes one interceptor per call and destroys it with the call; the
// tests play gRPC's part.
TEST(InFlightCallsTest, CountsCallsFromCreationToDestruction) {
  InFlightCalls calls;
  auto factory = calls.Factory();
  EXPECT_EQ(calls.count(), 0);
  EXPECT_TRUE(calls.AwaitNone(absl::ZeroDuration()));

  std::unique_ptr<Interceptor> first(factory->CreateServerInterceptor(nullptr));
  std::unique_ptr<Interceptor> second(
      factory->CreateServerInterceptor(nullptr));
  EXPECT_EQ(calls.count(), 2);
  EXPECT_FALSE(calls.AwaitNone(absl::ZeroDuration()));

  first.reset();
  EXPECT_EQ(calls.count(), 1);
  second.reset();
  EXPECT_EQ(calls.count(), 0);
  EXPECT_TRUE(calls.AwaitNone(absl::ZeroDuration()));
}

TEST(InFlightCallsTest, AwaitNoneReturnsWhenTheLastCallEnds) {
  InFlightCalls calls;
  auto factory = calls.Factory();
  std::unique_ptr<Interceptor> call(factory->CreateServerInterceptor(nullptr));
  absl::Notification waiting;
  bool none = false;
  std::thread waiter([&] {
    waiting.Notify();
    none = calls.AwaitNone(absl::Seconds(30));
  });
  waiting.WaitForNotification();
  call.reset();  // the call ends
  waiter.join();
  EXPECT_TRUE(none);
}

}  // namespace
}  // namespace rotor::ca
