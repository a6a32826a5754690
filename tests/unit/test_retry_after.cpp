// Retry-After in both RFC forms, clamped, garbage refused (dispatcher/retry_after.hpp).
#include <gtest/gtest.h>

#include <chrono>
#include <ctime>

#include "retry_after.hpp"

namespace plivo {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

// Sun, 06 Nov 1994 08:49:37 GMT, the RFC's example date.
const system_clock::time_point kRfcDate = system_clock::from_time_t(784111777);

TEST(RetryAfter, DeltaSeconds) {
    EXPECT_EQ(parse_retry_after("0", kRfcDate), seconds(0));
    EXPECT_EQ(parse_retry_after("7", kRfcDate), seconds(7));
    EXPECT_EQ(parse_retry_after("  120\t", kRfcDate), seconds(120));
    EXPECT_EQ(parse_retry_after("3600", kRfcDate), seconds(3600));
}

TEST(RetryAfter, LargeValuesAreClamped) {
    EXPECT_EQ(parse_retry_after("3601", kRfcDate), kMaxRetryAfter);
    EXPECT_EQ(parse_retry_after("99999999999999999999999999", kRfcDate), kMaxRetryAfter);
    EXPECT_EQ(parse_retry_after("90", kRfcDate, seconds(60)), seconds(60));
}

TEST(RetryAfter, HttpDateInAllThreeForms) {
    const auto earlier = kRfcDate - seconds(30);
    EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", earlier), seconds(30));
    EXPECT_EQ(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", earlier), seconds(30));
    EXPECT_EQ(parse_retry_after("Sun Nov  6 08:49:37 1994", earlier), seconds(30));
}

TEST(RetryAfter, DatesRoundUpAndClamp) {
    EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT",
                                kRfcDate - std::chrono::milliseconds(1500)),
              seconds(2));
    EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", kRfcDate - std::chrono::hours(5)),
              kMaxRetryAfter);
}

TEST(RetryAfter, PastDatesMeanNow) {
    EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", kRfcDate + seconds(10)),
              seconds(0));
    EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", kRfcDate), seconds(0));
}

TEST(RetryAfter, GarbageGivesNothing) {
    for (const char* value :
         {"", "   ", "-5", "+5", "1.5", "5s", "soon", "0x10", "Sun, 06 Nov 1994 08:49:37",
          "Sun, 06 Nov 1994 08:49:37 GMT+1", "Sun, 06 Foo 1994 08:49:37 GMT",
          "Sun, 32 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT",
          "Xyz, 06 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 GMT trailing"}) {
        SCOPED_TRACE(value);
        EXPECT_FALSE(parse_retry_after(value, kRfcDate).has_value());
    }
}

// Found by fuzzing: dates outside what system_clock holds (1677–2262) overflowed.
TEST(RetryAfter, DatesFarOutsideTheClockRange) {
    EXPECT_EQ(parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", kRfcDate), kMaxRetryAfter);
    EXPECT_EQ(parse_retry_after("Mon, 01 Jan 0001 00:00:00 GMT", kRfcDate), seconds(0));
}

}  // namespace
}  // namespace plivo
