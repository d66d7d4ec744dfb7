#include "ca/rate_limiter.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/fakes.h"

namespace rotor::ca {
namespace {

using ::rotor::testing::FakeClock;

TEST(RateLimiterTest, NewKeyStartsWithAFullBurst) {
  FakeClock clock;
  RateLimiter limiter(/*per_second=*/1, /*burst=*/3, &clock);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(limiter.TryAcquire("web-1"), absl::ZeroDuration()) << i;
  }
  // The fourth has to wait one full token at 1/s.
  EXPECT_EQ(limiter.TryAcquire("web-1"), absl::Seconds(1));
}

TEST(RateLimiterTest, RefillsWithTime) {
  FakeClock clock;
  RateLimiter limiter(/*per_second=*/10, /*burst=*/1, &clock);
  EXPECT_EQ(limiter.TryAcquire("web-1"), absl::ZeroDuration());
  clock.Advance(absl::Milliseconds(60));
  // 0.6 of a token is there; 0.4 more takes 40 ms.
  absl::Duration wait = limiter.TryAcquire("web-1");
  EXPECT_NEAR(absl::ToDoubleMilliseconds(wait), 40, 1e-6);
  clock.Advance(absl::Milliseconds(40));
  EXPECT_EQ(limiter.TryAcquire("web-1"), absl::ZeroDuration());
}

TEST(RateLimiterTest, RefusalTakesNothing) {
  FakeClock clock;
  RateLimiter limiter(/*per_second=*/1, /*burst=*/1, &clock);
  EXPECT_EQ(limiter.TryAcquire("n"), absl::ZeroDuration());
  for (int i = 0; i < 5; ++i) {
    EXPECT_GT(limiter.TryAcquire("n"), absl::ZeroDuration());
  }
  clock.Advance(absl::Seconds(1));
  EXPECT_EQ(limiter.TryAcquire("n"), absl::ZeroDuration());
}

TEST(RateLimiterTest, NeverExceedsBurst) {
  FakeClock clock;
  RateLimiter limiter(/*per_second=*/100, /*burst=*/2, &clock);
  clock.Advance(absl::Hours(1));
  EXPECT_EQ(limiter.TryAcquire("n"), absl::ZeroDuration());
  clock.Advance(absl::Hours(1));
  EXPECT_EQ(limiter.TryAcquire("n"), absl::ZeroDuration());
  EXPECT_EQ(limiter.TryAcquire("n"), absl::ZeroDuration());
  EXPECT_GT(limiter.TryAcquire("n"), absl::ZeroDuration());
}

TEST(RateLimiterTest, KeysAreIndependent) {
  FakeClock clock;
  RateLimiter limiter(/*per_second=*/1, /*burst=*/1, &clock);
  EXPECT_EQ(limiter.TryAcquire("web-1"), absl::ZeroDuration());
  EXPECT_GT(limiter.TryAcquire("web-1"), absl::ZeroDuration());
  EXPECT_EQ(limiter.TryAcquire("web-2"), absl::ZeroDuration());
}

TEST(RateLimiterTest, ClockSteppingBackRefillsNothing) {
  FakeClock clock;
  RateLimiter limiter(/*per_second=*/1, /*burst=*/1, &clock);
  EXPECT_EQ(limiter.TryAcquire("n"), absl::ZeroDuration());
  clock.Advance(-absl::Hours(1));
  EXPECT_GT(limiter.TryAcquire("n"), absl::ZeroDuration());
}

TEST(RateLimiterTest, DropsFullIdleBuckets) {
  FakeClock clock;
  RateLimiter limiter(/*per_second=*/1, /*burst=*/1, &clock);
  for (int i = 0; i < 5000; ++i) {
    limiter.TryAcquire(absl::StrCat("node-", i));
  }
  clock.Advance(absl::Seconds(2));  // every bucket is full again
  for (int i = 0; i < 5000; ++i) {
    limiter.TryAcquire(absl::StrCat("other-", i));
  }
  // The first 5000 were swept once the map passed its threshold.
  EXPECT_LT(limiter.bucket_count(), 10000u);
}

TEST(ConcurrencyLimiterTest, LimitsInFlightPerKey) {
  ConcurrencyLimiter limiter(2);
  std::optional<ConcurrencyLimiter::Permit> a = limiter.TryAcquire("1.2.3.4");
  std::optional<ConcurrencyLimiter::Permit> b = limiter.TryAcquire("1.2.3.4");
  ASSERT_TRUE(a.has_value());
  ASSERT_TRUE(b.has_value());
  EXPECT_FALSE(limiter.TryAcquire("1.2.3.4").has_value());
  EXPECT_TRUE(limiter.TryAcquire("5.6.7.8").has_value());
  EXPECT_EQ(limiter.in_flight("1.2.3.4"), 2);
  a.reset();
  EXPECT_EQ(limiter.in_flight("1.2.3.4"), 1);
  EXPECT_TRUE(limiter.TryAcquire("1.2.3.4").has_value());
}

TEST(ConcurrencyLimiterTest, MovedPermitReleasesOnce) {
  ConcurrencyLimiter limiter(1);
  {
    std::optional<ConcurrencyLimiter::Permit> a = limiter.TryAcquire("k");
    ASSERT_TRUE(a.has_value());
    ConcurrencyLimiter::Permit moved = std::move(*a);
    a.reset();  // the moved-from permit holds nothing
    EXPECT_EQ(limiter.in_flight("k"), 1);
  }
  EXPECT_EQ(limiter.in_flight("k"), 0);
}

}  // namespace
}  // namespace rotor::ca
