// The sliding-window cap (dispatcher/sliding_window.hpp) on a fake clock.
#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <stdexcept>
#include <vector>

#include "sliding_window.hpp"

namespace plivo {
namespace {

using namespace std::chrono_literals;
using Clock = SlidingWindow::Clock;

const Clock::time_point kT0 = Clock::time_point(1000h);

TEST(SlidingWindow, WaitsExactlyUntilTheOldestLeaves) {
    SlidingWindow window(3, 1s);
    EXPECT_EQ(window.room(kT0), 3u);
    window.record(kT0);
    window.record(kT0);
    window.record(kT0 + 100ms);
    EXPECT_EQ(window.room(kT0 + 200ms), 0u);
    EXPECT_EQ(window.wait_time(kT0 + 200ms), 800ms);
    // One at t counts until t + length, not at it.
    EXPECT_GT(window.wait_time(kT0 + 1s - Clock::duration(1)), Clock::duration::zero());
    EXPECT_EQ(window.wait_time(kT0 + 1s), Clock::duration::zero());
    EXPECT_EQ(window.room(kT0 + 1s), 2u);
    EXPECT_EQ(window.room(kT0 + 1100ms), 3u);
}

TEST(SlidingWindow, NoWindowEverHoldsMoreThanTheLimit) {
    // Events as soon as the window allows, at random moments: every window of the
    // length, wherever it starts, holds at most the limit; and the limit is reached.
    SlidingWindow window(10, 1s);
    std::mt19937 random(7);
    std::uniform_int_distribution<int> step_us(1, 40000);
    std::vector<Clock::time_point> events;
    for (auto t = kT0; t < kT0 + 60s; t += std::chrono::microseconds(step_us(random))) {
        while (window.wait_time(t) == Clock::duration::zero()) {
            window.record(t);
            events.push_back(t);
        }
    }
    std::size_t busiest = 0;
    for (std::size_t i = 0, j = 0; i < events.size(); ++i) {
        while (j < events.size() && events[j] < events[i] + 1s) ++j;
        busiest = std::max(busiest, j - i);
    }
    EXPECT_EQ(busiest, 10u);
    // Ten per second, less the random lateness of each look (20 ms on average).
    EXPECT_GE(events.size(), 570u);
    EXPECT_LE(events.size(), 610u);
}

TEST(SlidingWindow, NewLimitKeepsWhatWasCounted) {
    SlidingWindow window(5, 1s);
    for (int i = 0; i < 4; ++i) window.record(kT0 + i * 100ms);
    window.set_limit(2, 1s);
    // The two newest are kept (200 and 300 ms): the older must leave before one more.
    EXPECT_EQ(window.wait_time(kT0 + 500ms), 700ms);
    window.set_limit(10, 2s);
    EXPECT_EQ(window.room(kT0 + 500ms), 8u);  // only two were kept: a limit of 2 needs no more
}

TEST(SlidingWindow, ClockGoingBackCountsNothingTwiceAndStaysOrdered) {
    SlidingWindow window(2, 1s);
    window.record(kT0 + 500ms);
    window.record(kT0);  // counted as at 500 ms
    EXPECT_EQ(window.wait_time(kT0 + 600ms), 900ms);
    EXPECT_EQ(window.wait_time(kT0 + 1500ms), Clock::duration::zero());
}

TEST(SlidingWindow, RejectsAnEmptyLimitOrLength) {
    EXPECT_THROW(SlidingWindow(0, 1s), std::invalid_argument);
    EXPECT_THROW(SlidingWindow(1, 0s), std::invalid_argument);
    SlidingWindow window(1, 1s);
    EXPECT_THROW(window.set_limit(0, 1s), std::invalid_argument);
}

}  // namespace
}  // namespace plivo
