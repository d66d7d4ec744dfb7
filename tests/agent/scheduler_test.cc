#include "agent/scheduler.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/fakes.h"

namespace rotor::agent {
namespace {

using ::testing::ElementsAre;

const absl::Time kStart = absl::FromUnixSeconds(1800000000);

TEST(RenewalTimeTest, NominalPointIsRenewAtOfTheLifetime) {
  // u = 0.5 is the middle of the jitter range: no jitter.
  EXPECT_EQ(RenewalTime(kStart, kStart + absl::Hours(1), 0.5, 0.5),
            kStart + absl::Minutes(30));
  EXPECT_EQ(RenewalTime(kStart, kStart + absl::Hours(10), 0.8, 0.5),
            kStart + absl::Hours(8));
}

TEST(RenewalTimeTest, JitterStaysWithinTenPercentOfTheRenewPoint) {
  const absl::Time end = kStart + absl::Hours(1);
  // u = 0 gives the earliest point (-10%), u -> 1 the latest (+10%).
  EXPECT_EQ(RenewalTime(kStart, end, 0.5, 0.0), kStart + absl::Minutes(27));
  EXPECT_LT(RenewalTime(kStart, end, 0.5, 0.999999), kStart + absl::Minutes(33));
  EXPECT_GT(RenewalTime(kStart, end, 0.5, 0.999999),
            kStart + absl::Minutes(33) - absl::Seconds(1));
  rotor::testing::FakeRandom random;
  absl::Time lo = absl::InfiniteFuture(), hi = absl::InfinitePast();
  for (int i = 0; i < 10000; ++i) {
    absl::Time t = RenewalTime(kStart, end, 0.5, UniformDouble(random));
    lo = std::min(lo, t);
    hi = std::max(hi, t);
  }
  EXPECT_GE(lo, kStart + absl::Minutes(27));
  EXPECT_LT(hi, kStart + absl::Minutes(33));
  // The draws spread over the window rather than sitting in one spot.
  EXPECT_LT(lo, kStart + absl::Minutes(28));
  EXPECT_GT(hi, kStart + absl::Minutes(32));
}

TEST(RenewalTimeTest, NeverLaterThanNinetyFivePercentOfTheLifetime) {
  const absl::Time end = kStart + absl::Hours(1);
  EXPECT_EQ(RenewalTime(kStart, end, 0.9, 0.9999), kStart + absl::Minutes(57));
  EXPECT_EQ(RenewalTime(kStart, end, 0.99, 0.5), kStart + absl::Minutes(57));
}

TEST(RenewalTimeTest, ExpiredOrEmptyLifetimeRenewsAtOnce) {
  EXPECT_EQ(RenewalTime(kStart, kStart, 0.5, 0.5), kStart);
  EXPECT_EQ(RenewalTime(kStart, kStart - absl::Hours(1), 0.5, 0.5), kStart);
}

TEST(BackoffTest, CapsDoubleFromInitialToMax) {
  Backoff backoff(absl::Seconds(1), absl::Seconds(60));
  std::vector<absl::Duration> caps;
  for (int i = 0; i < 9; ++i) {
    caps.push_back(backoff.NextCap());
    // u just below 1: the delay is (almost) the whole cap.
    EXPECT_LE(backoff.NextDelay(0.9999999), caps.back());
  }
  EXPECT_THAT(caps, ElementsAre(absl::Seconds(1), absl::Seconds(2),
                                absl::Seconds(4), absl::Seconds(8),
                                absl::Seconds(16), absl::Seconds(32),
                                absl::Seconds(60), absl::Seconds(60),
                                absl::Seconds(60)));
  EXPECT_EQ(backoff.failures(), 9);
}

TEST(BackoffTest, FullJitterDrawsBetweenZeroAndTheCap) {
  Backoff backoff(absl::Seconds(1), absl::Seconds(60));
  for (int i = 0; i < 5; ++i) backoff.NextDelay(0.5);
  // Sixth failure: cap 32 s.
  EXPECT_EQ(backoff.NextDelay(0.0), absl::ZeroDuration());
  EXPECT_EQ(backoff.NextDelay(0.5), absl::Seconds(30));  // cap 60 s
  EXPECT_EQ(backoff.NextDelay(0.25), absl::Seconds(15));
}

TEST(BackoffTest, ResetStartsOverAndAHugeFailureCountStaysCapped) {
  Backoff backoff(absl::Milliseconds(500), absl::Seconds(10));
  for (int i = 0; i < 1000; ++i) backoff.NextDelay(0.5);
  EXPECT_EQ(backoff.NextCap(), absl::Seconds(10));
  backoff.Reset();
  EXPECT_EQ(backoff.NextCap(), absl::Milliseconds(500));
  EXPECT_EQ(backoff.failures(), 0);
}

TEST(IsRetryableTest, OutagesAreRetryableRefusalsAreNot) {
  EXPECT_TRUE(IsRetryable(absl::StatusCode::kUnavailable));
  EXPECT_TRUE(IsRetryable(absl::StatusCode::kDeadlineExceeded));
  EXPECT_TRUE(IsRetryable(absl::StatusCode::kResourceExhausted));
  EXPECT_FALSE(IsRetryable(absl::StatusCode::kPermissionDenied));
  EXPECT_FALSE(IsRetryable(absl::StatusCode::kInvalidArgument));
  EXPECT_FALSE(IsRetryable(absl::StatusCode::kUnauthenticated));
}

ScheduleOptions Options() {
  ScheduleOptions o;
  o.renew_at = 0.5;
  o.backoff_initial = absl::Seconds(1);
  o.backoff_max = absl::Seconds(60);
  return o;
}

TEST(RotationScheduleTest, FirstIssuanceIsDueAtOnce) {
  rotor::testing::FakeClock clock(kStart);
  RotationSchedule s(Options());
  s.IssueNow(clock.Now());
  EXPECT_TRUE(s.Due(clock.Now()));
  EXPECT_TRUE(s.Expired(clock.Now()));
}

TEST(RotationScheduleTest, RenewsAtTheScheduledPointNotBefore) {
  rotor::testing::FakeClock clock(kStart);
  RotationSchedule s(Options());
  s.OnIssued(clock.Now(), clock.Now() + absl::Hours(1), 0.5);
  EXPECT_EQ(s.next_attempt(), kStart + absl::Minutes(30));
  clock.Advance(absl::Minutes(29));
  EXPECT_FALSE(s.Due(clock.Now()));
  EXPECT_FALSE(s.Expired(clock.Now()));
  clock.Advance(absl::Minutes(1));
  EXPECT_TRUE(s.Due(clock.Now()));
}

TEST(RotationScheduleTest, FailuresBackOffAndAnswerResumesAtOnce) {
  rotor::testing::FakeClock clock(kStart);
  RotationSchedule s(Options());
  s.OnIssued(clock.Now(), clock.Now() + absl::Hours(1), 0.5);
  clock.Advance(absl::Minutes(30));
  ASSERT_TRUE(s.Due(clock.Now()));

  // The CA is down: each attempt waits a growing, capped step.
  std::vector<absl::Duration> delays;
  for (int i = 0; i < 8; ++i) {
    absl::Duration d = s.OnFailure(clock.Now(), absl::StatusCode::kUnavailable,
                                   0.9999999);
    delays.push_back(absl::Ceil(d, absl::Seconds(1)));
    EXPECT_FALSE(s.Due(clock.Now()));
    clock.Advance(d);
    EXPECT_TRUE(s.Due(clock.Now()));
  }
  EXPECT_THAT(delays, ElementsAre(absl::Seconds(1), absl::Seconds(2),
                                  absl::Seconds(4), absl::Seconds(8),
                                  absl::Seconds(16), absl::Seconds(32),
                                  absl::Seconds(60), absl::Seconds(60)));

  // One more failure schedules a minute away; the CA answering (the update
  // stream reconnects) makes it due now.
  s.OnFailure(clock.Now(), absl::StatusCode::kUnavailable, 0.9);
  clock.Advance(absl::Seconds(3));
  EXPECT_FALSE(s.Due(clock.Now()));
  s.OnCaAvailable(clock.Now());
  EXPECT_TRUE(s.Due(clock.Now()));

  // Success resets the backoff.
  s.OnIssued(clock.Now(), clock.Now() + absl::Hours(1), 0.5);
  EXPECT_EQ(s.failures(), 0);
  EXPECT_EQ(s.next_attempt(), clock.Now() + absl::Minutes(30));
}

TEST(RotationScheduleTest, CaAvailableDoesNotPullARenewalForward) {
  rotor::testing::FakeClock clock(kStart);
  RotationSchedule s(Options());
  s.OnIssued(clock.Now(), clock.Now() + absl::Hours(1), 0.5);
  s.OnCaAvailable(clock.Now());
  EXPECT_FALSE(s.Due(clock.Now()));
  EXPECT_EQ(s.next_attempt(), kStart + absl::Minutes(30));
}

TEST(RotationScheduleTest, RefusalsRetrySlowlyEvenWhenTheCaAnswers) {
  rotor::testing::FakeClock clock(kStart);
  RotationSchedule s(Options());
  s.IssueNow(clock.Now());
  EXPECT_EQ(s.OnFailure(clock.Now(), absl::StatusCode::kPermissionDenied, 0.0),
            absl::Seconds(60));
  s.OnCaAvailable(clock.Now() + absl::Seconds(1));
  EXPECT_FALSE(s.Due(clock.Now() + absl::Seconds(1)));
  EXPECT_TRUE(s.Due(clock.Now() + absl::Seconds(60)));
}

TEST(RotationScheduleTest, ExpiryIsReportedAndRetriesContinue) {
  rotor::testing::FakeClock clock(kStart);
  RotationSchedule s(Options());
  s.OnIssued(clock.Now(), clock.Now() + absl::Seconds(10), 0.5);
  clock.Advance(absl::Seconds(5));
  ASSERT_TRUE(s.Due(clock.Now()));
  // The CA stays down past expiry.
  while (clock.Now() < kStart + absl::Seconds(12)) {
    clock.Advance(s.OnFailure(clock.Now(), absl::StatusCode::kUnavailable, 0.9));
  }
  EXPECT_TRUE(s.Expired(clock.Now()));
  EXPECT_TRUE(s.Due(clock.Now()));
  EXPECT_EQ(s.not_after(), kStart + absl::Seconds(10));
}

TEST(UniformDoubleTest, StaysInTheUnitIntervalAndSurvivesAFailingSource) {
  rotor::testing::FakeRandom random;
  for (int i = 0; i < 1000; ++i) {
    double u = UniformDouble(random);
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
  }
  random.set_fail(true);
  EXPECT_EQ(UniformDouble(random), 0.5);
}

}  // namespace
}  // namespace rotor::agent
