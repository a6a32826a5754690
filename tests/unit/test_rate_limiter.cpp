// Account and per-sender limits, 429 reduction and recovery, runtime changes
// (dispatcher/rate_limiter.hpp), all on a fake clock.
#include <gtest/gtest.h>

#include <chrono>

#include "rate_limiter.hpp"

namespace plivo {
namespace {

using namespace std::chrono_literals;
using Clock = RateLimiter::Clock;

const Clock::time_point kT0 = Clock::time_point(1000h);
const std::string kA = "+14155550100";
const std::string kB = "+14155550101";

// How many acquisitions succeed polling every millisecond over [from, from + span).
int count_acquired(RateLimiter& limiter, const std::string& sender, Clock::time_point from,
                   Clock::duration span) {
    int n = 0;
    for (auto t = from; t < from + span; t += 1ms) {
        if (limiter.try_acquire(sender, t)) ++n;
    }
    return n;
}

// How many acquisitions succeed at one instant.
int count_now(RateLimiter& limiter, const std::string& sender, Clock::time_point now) {
    int n = 0;
    while (n < 1000 && limiter.try_acquire(sender, now)) ++n;
    return n;
}

TEST(RateLimiter, DefaultsMatchPlivosAccountLimit) {
    RateLimiter limiter(RateLimits{}, kT0);
    // Over any 5 s window no more than 300 requests (Plivo's limit) after the burst settles.
    EXPECT_EQ(count_acquired(limiter, kA, kT0, 1s), 60 + 59);  // burst of 60, then 60/s
    EXPECT_NEAR(count_acquired(limiter, kA, kT0 + 1s, 5s), 300, 1);
}

TEST(RateLimiter, PerSenderLimitDoesNotBlockOtherSenders) {
    RateLimits limits;
    limits.sender_rate = 1.0;
    RateLimiter limiter(limits, kT0);
    EXPECT_TRUE(limiter.try_acquire(kA, kT0));
    EXPECT_FALSE(limiter.try_acquire(kA, kT0));
    EXPECT_TRUE(limiter.try_acquire(kB, kT0));  // no head-of-line blocking across senders
    EXPECT_EQ(limiter.wait_time(kA, kT0), 1s + Clock::duration(1));
    EXPECT_EQ(limiter.wait_time(kB + "9", kT0), Clock::duration::zero());
    EXPECT_TRUE(limiter.try_acquire(kA, kT0 + 1s + Clock::duration(1)));
}

TEST(RateLimiter, PerNumberOverrides) {
    RateLimits limits;
    limits.sender_rate = 1.0;
    limits.sender_burst = 2.0;
    limits.sender_rates[kB] = 25.0;    // a toll-free number
    limits.sender_rates["+1999"] = 0;  // explicitly unlimited
    RateLimiter limiter(limits, kT0);
    EXPECT_EQ(count_acquired(limiter, kA, kT0, 2s), 2 + 1);
    EXPECT_EQ(count_acquired(limiter, kB, kT0 + 10s, 2s), 2 + 49);
    EXPECT_EQ(count_now(limiter, "+1999", kT0 + 20s), 60);  // only the account limits it
    EXPECT_EQ(limiter.sender_count(), 2u);                  // the unlimited number needs no bucket
}

TEST(RateLimiter, AccountAndSenderAreTakenTogetherOrNotAtAll) {
    RateLimits limits;
    limits.account_rate = 1.0;
    limits.account_burst = 1.0;
    limits.sender_rate = 1.0;
    RateLimiter limiter(limits, kT0);
    EXPECT_TRUE(limiter.try_acquire(kA, kT0));
    EXPECT_FALSE(limiter.try_acquire(kB, kT0));  // account empty: B's token stays
    EXPECT_EQ(limiter.account_wait_time(kT0), 1s + Clock::duration(1));
    EXPECT_TRUE(limiter.try_acquire(kB, kT0 + 2s));
}

TEST(RateLimiter, RateLimitedHalvesPausesAndRecovers) {
    RateLimiter limiter(RateLimits{}, kT0);
    limiter.on_rate_limited(kT0, 5s);
    EXPECT_DOUBLE_EQ(limiter.account_rate_now(), 30.0);
    EXPECT_EQ(limiter.account_wait_time(kT0), 5s);
    EXPECT_FALSE(limiter.try_acquire(kA, kT0 + 4999ms));
    EXPECT_TRUE(limiter.try_acquire(kA, kT0 + 5s));
    // 10% of 60/s back per quiet 10 s.
    limiter.try_acquire(kA, kT0 + 10s);
    EXPECT_DOUBLE_EQ(limiter.account_rate_now(), 36.0);
    limiter.try_acquire(kA, kT0 + 35s);
    EXPECT_DOUBLE_EQ(limiter.account_rate_now(), 48.0);
    limiter.try_acquire(kA, kT0 + 2min);
    EXPECT_DOUBLE_EQ(limiter.account_rate_now(), 60.0);
}

TEST(RateLimiter, SimultaneousRateLimitsCutOnce) {
    RateLimiter limiter(RateLimits{}, kT0);
    for (int i = 0; i < 8; ++i) limiter.on_rate_limited(kT0 + i * 10ms, std::nullopt);
    EXPECT_DOUBLE_EQ(limiter.account_rate_now(), 30.0);
    limiter.on_rate_limited(kT0 + 2s, std::nullopt);
    EXPECT_DOUBLE_EQ(limiter.account_rate_now(), 15.0);
    for (int i = 0; i < 20; ++i) limiter.on_rate_limited(kT0 + 3s + i * 1s, std::nullopt);
    EXPECT_DOUBLE_EQ(limiter.account_rate_now(), 1.0);  // the floor
}

TEST(RateLimiter, ReducedRateAlsoShrinksTheBurst) {
    RateLimiter limiter(RateLimits{}, kT0);
    limiter.on_rate_limited(kT0, std::nullopt);
    // Drained, then 30/s with a burst of 30: one second later 30, not 60.
    EXPECT_EQ(count_now(limiter, kA, kT0 + 1s), 30);
    EXPECT_EQ(count_now(limiter, kA, kT0 + 1s + 100ms), 3);
}

TEST(RateLimiter, ConfigureKeepsStateAndReduction) {
    RateLimits limits;
    limits.sender_rate = 1.0;
    RateLimiter limiter(limits, kT0);
    ASSERT_TRUE(limiter.try_acquire(kA, kT0));
    limiter.on_rate_limited(kT0, std::nullopt);  // account now 30/s

    RateLimits raised = limits;
    raised.account_rate = 100.0;
    raised.account_burst = 100.0;
    raised.sender_rate = 2.0;
    limiter.configure(raised, kT0 + 100ms);
    EXPECT_DOUBLE_EQ(limiter.account_rate_now(), 30.0);  // still reduced after the 429
    EXPECT_GT(limiter.wait_time(kA, kT0 + 100ms), Clock::duration::zero());  // A's token spent

    RateLimits lowered = raised;
    lowered.account_rate = 10.0;
    lowered.account_burst = 10.0;
    lowered.sender_rate = 0.0;  // per-sender limits off
    limiter.configure(lowered, kT0 + 200ms);
    EXPECT_DOUBLE_EQ(limiter.account_rate_now(), 10.0);
    EXPECT_EQ(limiter.sender_count(), 0u);
}

TEST(RateLimiter, PruneForgetsOnlyFullBuckets) {
    RateLimits limits;
    limits.sender_rate = 1.0;
    RateLimiter limiter(limits, kT0);
    ASSERT_TRUE(limiter.try_acquire(kA, kT0));
    ASSERT_TRUE(limiter.try_acquire(kB, kT0 + 900ms));
    limiter.prune(kT0 + 1s);
    EXPECT_EQ(limiter.sender_count(), 1u);  // A is full again, B is not
    EXPECT_FALSE(limiter.try_acquire(kB, kT0 + 1s));
}

}  // namespace
}  // namespace plivo
