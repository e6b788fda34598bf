#include "delivery/retry_policy.h"

#include <gtest/gtest.h>

namespace sluice::delivery {
namespace {

using std::chrono::milliseconds;

TEST(RetryPolicy, DoublesFromOneSecondWithoutJitterAtMidpoint) {
  RetryPolicy p;
  EXPECT_EQ(p.Delay(1, 0.5), milliseconds(1000));
  EXPECT_EQ(p.Delay(2, 0.5), milliseconds(2000));
  EXPECT_EQ(p.Delay(3, 0.5), milliseconds(4000));
  EXPECT_EQ(p.Delay(8, 0.5), milliseconds(128000));
}

TEST(RetryPolicy, CapsAtThreeMinutes) {
  RetryPolicy p;
  EXPECT_EQ(p.Delay(9, 0.5), milliseconds(180000));
  EXPECT_EQ(p.Delay(1000000, 0.5), milliseconds(180000));
  // Jitter never lifts a delay above the cap, and still spreads below it.
  EXPECT_EQ(p.Delay(9, 0.999999), milliseconds(180000));
  EXPECT_EQ(p.Delay(9, 0.0), milliseconds(153000));
}

TEST(RetryPolicy, JitterStaysWithinFifteenPercent) {
  RetryPolicy p;
  EXPECT_EQ(p.Delay(1, 0.0), milliseconds(850));
  EXPECT_EQ(p.Delay(1, 0.999999), milliseconds(1150));
  EXPECT_EQ(p.Delay(3, 0.0), milliseconds(3400));
}

TEST(RetryPolicy, MaxRetryCountBoundsAttempts) {
  RetryPolicy forever;
  EXPECT_FALSE(forever.Exhausted(1000000));
  RetryPolicy three;
  three.max_retry_count = 3;
  EXPECT_FALSE(three.Exhausted(3));
  EXPECT_TRUE(three.Exhausted(4));
  RetryPolicy none;
  none.max_retry_count = 0;
  EXPECT_TRUE(none.Exhausted(1));
}

}  // namespace
}  // namespace sluice::delivery
