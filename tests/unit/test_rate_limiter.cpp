// Account and per-sender limits, 429 reduction and recovery, runtime changes
// (dispatcher/rate_limiter.hpp), all on a fake clock.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <string>
#include <vector>

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
    while (n < 100000 && limiter.try_acquire(sender, now)) ++n;
    return n;
}

// When acquisitions succeed polling every millisecond over [from, from + span).
std::vector<Clock::time_point> acquired_at(RateLimiter& limiter, const std::string& sender,
                                           Clock::time_point from, Clock::duration span) {
    std::vector<Clock::time_point> times;
    for (auto t = from; t < from + span; t += 1ms) {
        while (limiter.try_acquire(sender, t)) times.push_back(t);
    }
    return times;
}

// The most of `times` (in order) within any window of `length`, wherever it starts.
std::size_t busiest(const std::vector<Clock::time_point>& times, Clock::duration length) {
    std::size_t most = 0;
    for (std::size_t i = 0, j = 0; i < times.size(); ++i) {
        while (j < times.size() && times[j] < times[i] + length) ++j;
        most = std::max(most, j - i);
    }
    return most;
}

TEST(RateLimiter, DefaultsMatchPlivosAccountLimit) {
    RateLimiter limiter(RateLimits{}, kT0);
    // Over any 5 s window no more than 300 requests (Plivo's limit) after the burst settles.
    EXPECT_EQ(count_acquired(limiter, kA, kT0, 1s), 60 + 59);  // burst of 60, then 60/s
    EXPECT_NEAR(count_acquired(limiter, kA, kT0 + 1s, 5s), 300, 1);
}

TEST(RateLimiter, NoFiveSecondsSeeMoreThanPlivoAllows) {
    // The bucket alone would let its burst of 60 and 300 more into one 5 s (Plivo: 429).
    RateLimiter limiter(RateLimits{}, kT0);
    EXPECT_EQ(limiter.window_limit(), 300u);
    std::vector<Clock::time_point> times = acquired_at(limiter, kA, kT0, 30s);
    EXPECT_EQ(busiest(times, 5s), 300u);
    EXPECT_GE(times.size(), 1790u);  // and the rate is still reached: 60/s
    EXPECT_LE(times.size(), 1800u);
}

TEST(RateLimiter, WindowRoundsUpSoThatALowRateIsStillReached) {
    // 0.3/s: 1.5 requests per 5 s. A window of one would give 0.2/s.
    RateLimits limits;
    limits.account_rate = 0.3;
    limits.account_burst = 1.0;
    RateLimiter limiter(limits, kT0);
    EXPECT_EQ(limiter.window_limit(), 2u);
    std::vector<Clock::time_point> times = acquired_at(limiter, kA, kT0, 100s);
    EXPECT_EQ(times.size(), 30u);  // one at once, then every 3.33 s
    EXPECT_LE(busiest(times, 5s), 2u);
}

TEST(RateLimiter, RequestsThatAreNotSendsCountInTheWindowToo) {
    RateLimits limits;
    limits.account_rate = 1.0;
    limits.account_burst = 100.0;  // only the window (5 in 5 s) holds them back
    RateLimiter limiter(limits, kT0);
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.try_acquire_account(kT0 + i * 1ms));
    EXPECT_EQ(limiter.account_tokens(kT0 + 10ms), 2.0);
    EXPECT_TRUE(limiter.try_acquire(kA, kT0 + 10ms));
    EXPECT_TRUE(limiter.try_acquire(kB, kT0 + 10ms));
    EXPECT_EQ(limiter.account_tokens(kT0 + 10ms), 0.0);
    EXPECT_FALSE(limiter.try_acquire(kA, kT0 + 10ms));
    EXPECT_FALSE(limiter.try_acquire_account(kT0 + 10ms));
    EXPECT_EQ(limiter.account_wait_time(kT0 + 10ms), 5s - 10ms);  // the first leaves the window
    EXPECT_EQ(limiter.wait_time(kA, kT0 + 10ms), 5s - 10ms);
    EXPECT_TRUE(limiter.try_acquire(kA, kT0 + 5s));
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

// A limiter that sends exactly `rate` per second (burst 1), so what it sent is known.
RateLimits steady(double rate) {
    RateLimits limits;
    limits.account_rate = rate;
    limits.account_burst = 1.0;
    return limits;
}

TEST(RateLimiter, RateLimitedCutsWhatWasSentPausesAndRecovers) {
    RateLimiter limiter(steady(60), kT0);
    ASSERT_NEAR(count_acquired(limiter, kA, kT0, 2s), 118, 2);  // 17 ms apart on a 1 ms clock
    limiter.on_rate_limited(kT0 + 2s, 5s);
    EXPECT_NEAR(limiter.account_rate_now(), 0.7 * 59, 1.0);
    EXPECT_EQ(limiter.account_wait_time(kT0 + 2s), 5s);
    EXPECT_FALSE(limiter.try_acquire(kA, kT0 + 2s + 4999ms));
    EXPECT_TRUE(limiter.try_acquire(kA, kT0 + 7s));
    // 10% of 60/s back per second after the cut, more 429s or not.
    double cut = limiter.account_rate_now();
    limiter.try_acquire(kA, kT0 + 8s);
    EXPECT_DOUBLE_EQ(limiter.account_rate_now(), std::min(60.0, cut + 6 * 6));
    limiter.try_acquire(kA, kT0 + 20s);
    EXPECT_DOUBLE_EQ(limiter.account_rate_now(), 60.0);
}

TEST(RateLimiter, ConfiguredFarAboveWhatIsSentCutsToWhatIsSent) {
    // 100,000/s configured, 200/s really sent: the first 429 brings it to ~140/s, not 70,000.
    RateLimits limits;
    limits.account_rate = 100000;
    limits.account_burst = 100000;
    RateLimiter limiter(limits, kT0);
    int sent = 0;
    for (auto t = kT0; t < kT0 + 2s; t += 5ms) sent += limiter.try_acquire(kA, t);
    ASSERT_EQ(sent, 400);
    limiter.on_rate_limited(kT0 + 2s, std::nullopt);
    EXPECT_NEAR(limiter.account_rate_now(), 140.0, 1.0);
}

TEST(RateLimiter, SimultaneousRateLimitsCutOnce) {
    RateLimiter limiter(steady(60), kT0);
    count_acquired(limiter, kA, kT0, 2s);
    for (int i = 0; i < 8; ++i) limiter.on_rate_limited(kT0 + 2s + i * 10ms, std::nullopt);
    EXPECT_NEAR(limiter.account_rate_now(), 0.7 * 59, 1.0);
    // Nothing sent since: a 429 now (an old request answering late) cuts to the floor.
    for (int i = 0; i < 20; ++i) limiter.on_rate_limited(kT0 + 3s + i * 1s, std::nullopt);
    EXPECT_DOUBLE_EQ(limiter.account_rate_now(), 1.0);  // the floor
}

// Sends as fast as the limiter allows for `span`, answering every `every`-th request 429
// (a steady trickle, as when another client shares the account); returns requests sent.
int send_with_429s(RateLimiter& limiter, Clock::time_point from, Clock::duration span, int every) {
    int sent = 0;
    for (auto t = from; t < from + span; t += 1ms) {
        if (!limiter.try_acquire(kA, t)) continue;
        if (++sent % every == 0) limiter.on_rate_limited(t, std::nullopt);
    }
    return sent;
}

TEST(RateLimiter, SteadyTrickleOf429sSlowsButNeverStarves) {
    // 4% of requests answered 429 for two minutes: the rate keeps coming back between
    // cuts instead of sinking to the 1/s floor and staying there.
    RateLimiter limiter(RateLimits{}, kT0);
    send_with_429s(limiter, kT0, 60s, 25);  // settle into the cycle
    int sent = send_with_429s(limiter, kT0 + 60s, 60s, 25);
    // (~14/s here; before recovery ran regardless of 429s it sank to ~3/s.)
    EXPECT_GE(sent / 60.0, 0.2 * 60) << "requests per second under a 4% trickle of 429s";
    EXPECT_LE(sent / 60.0, 60.0);
    // Once the 429s stop, the configured rate is back within ten seconds.
    send_with_429s(limiter, kT0 + 120s, 10s, 1 << 30);
    EXPECT_DOUBLE_EQ(limiter.account_rate_now(), 60.0);
}

TEST(RateLimiter, ReducedRateAlsoShrinksTheBurst) {
    RateLimiter limiter(RateLimits{}, kT0);
    count_now(limiter, kA, kT0);  // 60 in a moment
    limiter.on_rate_limited(kT0, std::nullopt);
    // Drained, then 42/s with a burst of 42: one second later 42, not 60.
    EXPECT_EQ(count_now(limiter, kA, kT0 + 1s), 42);
    EXPECT_EQ(count_now(limiter, kA, kT0 + 1s + 100ms), 4);
}

TEST(RateLimiter, WindowMarginCountsLongerNotMore) {
    RateLimits limits;
    limits.account_rate = 1.0;
    limits.account_burst = 100.0;
    limits.window_margin = 50ms;
    RateLimiter limiter(limits, kT0);
    EXPECT_EQ(limiter.window_limit(), 5u);  // 1/s × 5 s, the margin aside
    EXPECT_EQ(count_now(limiter, kA, kT0), 5);
    EXPECT_EQ(limiter.account_wait_time(kT0 + 5s), 50ms);
    EXPECT_EQ(count_now(limiter, kA, kT0 + 5050ms), 5);
}

TEST(RateLimiter, WindowFollowsTheConfiguredRateNotACut) {
    RateLimiter limiter(steady(60), kT0);
    ASSERT_NEAR(count_acquired(limiter, kA, kT0, 5s), 295, 2);  // 17 ms apart on a 1 ms clock
    limiter.on_rate_limited(kT0 + 5s, std::nullopt);
    ASSERT_NEAR(limiter.account_rate_now(), 42.0, 1.0);
    // Counted from the cut rate (210 in 5 s), the window would be full: nothing for ~1.5 s.
    EXPECT_EQ(limiter.window_limit(), 300u);
    EXPECT_LE(limiter.account_wait_time(kT0 + 5s), 30ms);  // the drained bucket's next token
    RateLimits lowered = steady(20);
    limiter.configure(lowered, kT0 + 3s);
    EXPECT_EQ(limiter.window_limit(), 100u);
    lowered.window = 0ms;
    limiter.configure(lowered, kT0 + 3s);
    EXPECT_EQ(limiter.window_limit(), 0u);
}

// The worker's limits: burst 1 (paced evenly), plus what accrues in 100 ms (how late the
// loop may come for its tokens), and Plivo's window of 5 s counted over 5.05 s.
RateLimits paced(double account_rate, double sender_rate) {
    RateLimits limits;
    limits.account_rate = account_rate;
    limits.account_burst = 1.0;
    limits.sender_rate = sender_rate;
    limits.sender_burst = 1.0;
    limits.catch_up = 100ms;
    limits.window = 5s;
    limits.window_margin = 50ms;
    return limits;
}

TEST(RateLimiter, CatchUpLetsAFastRateStartWhatAccruedBetweenLooks) {
    RateLimiter limiter(paced(100000.0, 100000.0), kT0);
    count_now(limiter, kA, kT0);
    // 5 ms later, 500 tokens have accrued: all of them, not one per look.
    EXPECT_EQ(count_now(limiter, kA, kT0 + 5ms), 500);
    EXPECT_EQ(count_now(limiter, kA, kT0 + 5ms + 1s), 10001);  // 1 + 100 ms' worth at most
}

TEST(RateLimiter, CatchUpKeepsPlivosRatesNearlyEven) {
    RateLimiter account(paced(60.0, 0.0), kT0);
    EXPECT_EQ(count_now(account, kA, kT0 + 10s), 7);         // after a pause: 1 + 60/s × 100 ms
    EXPECT_EQ(count_now(account, kA, kT0 + 10s + 17ms), 1);  // then one per token
    std::vector<Clock::time_point> times = acquired_at(account, kA, kT0 + 20s, 20s);
    EXPECT_EQ(busiest(times, 5050ms), 300u);  // Plivo allows 300 in 5 s
    EXPECT_LE(busiest(times, 1s), 67u);       // 1.1 × 60 + 1

    RateLimits limits = paced(100000.0, 5.0);
    limits.sender_rates[kB] = 400.0;  // an override gets the catch-up of its own rate
    RateLimiter senders(limits, kT0);
    EXPECT_EQ(count_now(senders, kA, kT0 + 10s), 1);   // 5/s: 1.5 tokens
    EXPECT_EQ(count_now(senders, kB, kT0 + 10s), 41);  // 400/s: 1 + 40
}

// Drives the limiter as the worker does: each look starts what it may, then sleeps until
// the next token, rounded up to the millisecond (WaitLatch's unit), and comes back late
// by up to 3 ms (its step, the scheduler), one look in 25 by 30 ms more (a slow step).
std::vector<Clock::time_point> late_looks(RateLimiter& limiter, const std::string& sender,
                                          Clock::time_point from, Clock::duration span) {
    std::mt19937 random(42);
    std::uniform_int_distribution<int> late_us(0, 3000);
    std::vector<Clock::time_point> times;
    for (auto t = from; t < from + span;) {
        while (limiter.try_acquire(sender, t)) times.push_back(t);
        Clock::duration late = std::chrono::microseconds(late_us(random));
        if (random() % 25 == 0) late += 30ms;
        t += std::chrono::ceil<std::chrono::milliseconds>(limiter.wait_time(sender, t)) + late;
    }
    return times;
}

// Requests per second over the middle of a run (a tenth left out at each end).
double steady_rate(const std::vector<Clock::time_point>& times) {
    std::size_t cut = times.size() / 10;
    auto span = std::chrono::duration<double>(times[times.size() - 1 - cut] - times[cut]).count();
    return static_cast<double>(times.size() - 1 - 2 * cut) / span;
}

TEST(RateLimiter, LateLooksStillReachTheAccountRateAndNoWindowSeesMore) {
    for (double rate : {20.0, 60.0, 200.0}) {
        SCOPED_TRACE(rate);
        RateLimiter limiter(paced(rate, 0.0), kT0);
        std::vector<Clock::time_point> times = late_looks(limiter, kA, kT0, 60s);
        // 1% below the rate at most: the window's margin of 50 ms in 5 s.
        EXPECT_GE(steady_rate(times), 0.985 * rate);
        EXPECT_LE(steady_rate(times), 1.01 * rate);
        EXPECT_LE(busiest(times, 5050ms), static_cast<std::size_t>(rate * 5));
        EXPECT_GE(times.size(), static_cast<std::size_t>(0.985 * rate * 60));

        // The same looks with a burst of 1 and no catch-up lose every lateness for good
        // (what the worker did: 45/s for 60).
        RateLimits strict = paced(rate, 0.0);
        strict.catch_up = 0ms;
        RateLimiter even(strict, kT0);
        EXPECT_LT(steady_rate(late_looks(even, kA, kT0, 60s)), 0.95 * rate);
    }
}

TEST(RateLimiter, LateLooksStillReachASendersRate) {
    RateLimiter limiter(paced(100000.0, 25.0), kT0);  // a toll-free number
    std::vector<Clock::time_point> times = late_looks(limiter, kA, kT0, 60s);
    EXPECT_GE(steady_rate(times), 0.99 * 25);
    EXPECT_LE(steady_rate(times), 1.01 * 25);
    EXPECT_LE(busiest(times, 1s), 28u);  // 25 + 1 + 25 × 100 ms at most
}

TEST(RateLimiter, CutAndRecoveryWithTheWorkersLimits) {
    RateLimiter limiter(paced(60.0, 0.0), kT0);
    late_looks(limiter, kA, kT0, 10s);
    limiter.on_rate_limited(kT0 + 10s, 2s);
    // 70% of what was really sent over the last second (a little under 60/s).
    const double cut = limiter.account_rate_now();
    EXPECT_NEAR(cut, 0.7 * 60, 3.0);
    EXPECT_EQ(limiter.account_wait_time(kT0 + 10s), 2s);
    EXPECT_FALSE(limiter.try_acquire(kA, kT0 + 12s - 1ms));
    // A tenth of 60/s back each second after the cut, and no more than 60/s.
    std::vector<Clock::time_point> times = late_looks(limiter, kA, kT0 + 12s, 1s);
    EXPECT_DOUBLE_EQ(limiter.account_rate_now(), cut + 2 * 6);
    EXPECT_NEAR(static_cast<double>(times.size()), cut + 2 * 6, 7.0);  // and the bucket's tokens
    late_looks(limiter, kA, kT0 + 13s, 2s);
    EXPECT_DOUBLE_EQ(limiter.account_rate_now(), 60.0);
    times = late_looks(limiter, kA, kT0 + 20s, 20s);
    EXPECT_GE(steady_rate(times), 0.985 * 60);
    EXPECT_LE(busiest(times, 5050ms), 300u);
}

TEST(RateLimiter, ConfigureKeepsStateAndReduction) {
    RateLimits limits;
    limits.sender_rate = 1.0;
    RateLimiter limiter(limits, kT0);
    ASSERT_TRUE(limiter.try_acquire(kA, kT0));
    for (int i = 0; i < 59; ++i) limiter.try_acquire(kB + std::to_string(i), kT0);  // 60 sent
    limiter.on_rate_limited(kT0, std::nullopt);  // account now 42/s

    RateLimits raised = limits;
    raised.account_rate = 100.0;
    raised.account_burst = 100.0;
    raised.sender_rate = 2.0;
    limiter.configure(raised, kT0 + 100ms);
    EXPECT_DOUBLE_EQ(limiter.account_rate_now(), 42.0);  // still reduced after the 429
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
