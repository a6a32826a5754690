// Token bucket timing with a fake clock (dispatcher/token_bucket.hpp).
#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>

#include "token_bucket.hpp"

namespace plivo {
namespace {

using namespace std::chrono_literals;
using Clock = TokenBucket::Clock;

const Clock::time_point kT0 = Clock::time_point(1000h);

TEST(TokenBucket, StartsFullAndDrainsAtBurst) {
    TokenBucket bucket(10.0, 3.0, kT0);
    EXPECT_TRUE(bucket.try_take(kT0));
    EXPECT_TRUE(bucket.try_take(kT0));
    EXPECT_TRUE(bucket.try_take(kT0));
    EXPECT_FALSE(bucket.try_take(kT0));
    EXPECT_EQ(bucket.wait_time(kT0), 100ms + Clock::duration(1));
}

TEST(TokenBucket, RefillsAtTheRateAndCapsAtBurst) {
    TokenBucket bucket(10.0, 3.0, kT0);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(bucket.try_take(kT0));
    EXPECT_FALSE(bucket.try_take(kT0 + 99ms));
    EXPECT_TRUE(bucket.try_take(kT0 + 100ms));
    EXPECT_FALSE(bucket.try_take(kT0 + 150ms));
    EXPECT_NEAR(bucket.available(kT0 + 10s), 3.0, 1e-9);  // capped
}

TEST(TokenBucket, WaitingExactlyWaitTimeAlwaysSucceeds) {
    TokenBucket bucket(3.0, 1.0, kT0);  // 1/3 s does not divide evenly
    Clock::time_point now = kT0;
    for (int i = 0; i < 1000; ++i) {
        now += bucket.wait_time(now);
        ASSERT_TRUE(bucket.try_take(now)) << i;
    }
    // 1000 tokens at 3/s after the first: about 333 s.
    EXPECT_NEAR(std::chrono::duration<double>(now - kT0).count(), 333.0, 0.01);
}

TEST(TokenBucket, SustainedRateMatches) {
    TokenBucket bucket(60.0, 60.0, kT0);
    int taken = 0;
    for (auto t = kT0; t < kT0 + 10s; t += 1ms) {
        if (bucket.try_take(t)) ++taken;
    }
    EXPECT_NEAR(taken, 60 + 600, 1);  // the burst, then 60/s for 10 s
}

TEST(TokenBucket, CountAboveBurstNeverFits) {
    TokenBucket bucket(1.0, 2.0, kT0);
    EXPECT_EQ(bucket.wait_time(kT0, 3.0), Clock::duration::max());
    EXPECT_FALSE(bucket.try_take(kT0 + 1h, 3.0));
}

TEST(TokenBucket, ClockGoingBackEarnsNothing) {
    TokenBucket bucket(1.0, 1.0, kT0);
    ASSERT_TRUE(bucket.try_take(kT0));
    EXPECT_FALSE(bucket.try_take(kT0 - 10s));
    EXPECT_TRUE(bucket.try_take(kT0 + 1s));
}

TEST(TokenBucket, SetRateKeepsTokens) {
    TokenBucket bucket(1.0, 10.0, kT0);
    for (int i = 0; i < 6; ++i) ASSERT_TRUE(bucket.try_take(kT0));
    bucket.set_rate(100.0, 10.0, kT0);
    EXPECT_NEAR(bucket.available(kT0), 4.0, 1e-9);  // not refilled by the change
    EXPECT_NEAR(bucket.available(kT0 + 20ms), 6.0, 1e-9);
    bucket.set_rate(100.0, 2.0, kT0 + 20ms);  // smaller burst caps what is there
    EXPECT_NEAR(bucket.available(kT0 + 20ms), 2.0, 1e-9);
    EXPECT_EQ(bucket.rate(), 100.0);
    EXPECT_EQ(bucket.burst(), 2.0);
}

TEST(TokenBucket, DrainEmpties) {
    TokenBucket bucket(2.0, 5.0, kT0);
    bucket.drain(kT0);
    EXPECT_FALSE(bucket.try_take(kT0));
    EXPECT_EQ(bucket.wait_time(kT0), 500ms + Clock::duration(1));
}

TEST(TokenBucket, RefusesNonsense) {
    EXPECT_THROW(TokenBucket(0.0, 1.0, kT0), std::invalid_argument);
    EXPECT_THROW(TokenBucket(-1.0, 1.0, kT0), std::invalid_argument);
    EXPECT_THROW(TokenBucket(1.0, 0.5, kT0), std::invalid_argument);
    TokenBucket bucket(1.0, 1.0, kT0);
    EXPECT_THROW(bucket.set_rate(0.0, 1.0, kT0), std::invalid_argument);
}

}  // namespace
}  // namespace plivo
