// Capped exponential backoff with full jitter (dispatcher/retry_policy.hpp).
#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>

#include "retry_policy.hpp"

namespace plivo {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

UniformRandom fixed(double value) {
    return [value]() { return value; };
}

RetryPolicy policy() {
    return RetryPolicy(RetryConfig{milliseconds(1000), milliseconds(60000), 8});
}

TEST(RetryPolicy, CeilingDoublesUpToTheCap) {
    const RetryPolicy p = policy();
    EXPECT_EQ(p.ceiling(1), milliseconds(1000));
    EXPECT_EQ(p.ceiling(2), milliseconds(2000));
    EXPECT_EQ(p.ceiling(3), milliseconds(4000));
    EXPECT_EQ(p.ceiling(6), milliseconds(32000));
    EXPECT_EQ(p.ceiling(7), milliseconds(60000));
    EXPECT_EQ(p.ceiling(1000), milliseconds(60000));  // no overflow
}

TEST(RetryPolicy, FullJitterSpansZeroToTheCeiling) {
    const RetryPolicy p = policy();
    EXPECT_EQ(p.next(3, "e", std::nullopt, fixed(0.0)).delay, milliseconds(0));
    EXPECT_EQ(p.next(3, "e", std::nullopt, fixed(0.5)).delay, milliseconds(2000));
    EXPECT_EQ(p.next(3, "e", std::nullopt, fixed(0.999999)).delay, milliseconds(3999));
    EXPECT_EQ(p.next(7, "e", std::nullopt, fixed(0.999999)).delay, milliseconds(59999));
    // A misbehaving source cannot push the delay out of bounds.
    EXPECT_EQ(p.next(2, "e", std::nullopt, fixed(7.0)).delay, milliseconds(2000));
    EXPECT_EQ(p.next(2, "e", std::nullopt, fixed(-1.0)).delay, milliseconds(0));
}

TEST(RetryPolicy, RealRandomStaysWithinBounds) {
    const RetryPolicy p = policy();
    const UniformRandom random = make_uniform_random();
    for (int attempt = 1; attempt < 8; ++attempt) {
        for (int i = 0; i < 200; ++i) {
            const RetryDecision d = p.next(attempt, "e", std::nullopt, random);
            ASSERT_FALSE(d.give_up);
            ASSERT_GE(d.delay, milliseconds(0));
            ASSERT_LE(d.delay, p.ceiling(attempt));
        }
    }
}

TEST(RetryPolicy, RetryAfterIsAFloor) {
    const RetryPolicy p = policy();
    EXPECT_EQ(p.next(1, "e", seconds(30), fixed(0.5)).delay, milliseconds(30000));
    EXPECT_EQ(p.next(7, "e", seconds(1), fixed(0.5)).delay, milliseconds(30000));
    EXPECT_EQ(p.next(1, "e", seconds(0), fixed(0.5)).delay, milliseconds(500));
    // Plivo's word beats our cap (parse_retry_after already clamps it to an hour).
    EXPECT_EQ(p.next(1, "e", seconds(600), fixed(0.5)).delay, milliseconds(600000));
}

TEST(RetryPolicy, GivesUpAfterMaxAttemptsWithAReason) {
    const RetryPolicy p = policy();
    EXPECT_FALSE(p.next(7, "HTTP 503", std::nullopt, fixed(0.5)).give_up);
    const RetryDecision last = p.next(8, "outcome unknown: HTTP 503", std::nullopt, fixed(0.5));
    EXPECT_TRUE(last.give_up);
    EXPECT_EQ(last.reason, "gave up after 8 attempts: outcome unknown: HTTP 503");
    const RetryDecision once = RetryPolicy(RetryConfig{milliseconds(10), milliseconds(10), 1})
                                   .next(1, "x", std::nullopt, fixed(0));
    EXPECT_TRUE(once.give_up);
    EXPECT_EQ(once.reason, "gave up after 1 attempt: x");
}

TEST(RetryPolicy, RefusesNonsenseConfig) {
    EXPECT_THROW(RetryPolicy(RetryConfig{milliseconds(0), milliseconds(10), 3}),
                 std::invalid_argument);
    EXPECT_THROW(RetryPolicy(RetryConfig{milliseconds(10), milliseconds(5), 3}),
                 std::invalid_argument);
    EXPECT_THROW(RetryPolicy(RetryConfig{milliseconds(10), milliseconds(10), 0}),
                 std::invalid_argument);
}

}  // namespace
}  // namespace plivo
