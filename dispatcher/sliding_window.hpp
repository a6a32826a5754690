// At most `limit` events in any window of `length`: Plivo counts its account limit (300
// requests in any 5 s) over a sliding window, which no token bucket with a burst above 1
// keeps to exactly. Remembers the times of the last `limit` events; the clock is
// injected as for TokenBucket.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>

namespace plivo {

class SlidingWindow {
public:
    using Clock = std::chrono::steady_clock;

    // Throws std::invalid_argument unless limit >= 1 and length > 0.
    SlidingWindow(std::size_t limit, Clock::duration length);

    // Zero when one more event now keeps every window within the limit; else how long
    // until it does (exact: the oldest counted event leaves the window then).
    Clock::duration wait_time(Clock::time_point now) const;

    // How many more events the window takes now.
    std::size_t room(Clock::time_point now) const;

    // Counts an event at `now` (the caller asked wait_time() first).
    void record(Clock::time_point now);

    // New limits; the events so far still count.
    void set_limit(std::size_t limit, Clock::duration length);

    std::size_t limit() const { return limit_; }
    Clock::duration length() const { return length_; }

private:
    std::size_t counted(Clock::time_point now) const;

    std::size_t limit_;
    Clock::duration length_;
    // Oldest first, never more than limit_ (an older event cannot matter once limit_
    // newer ones are counted), none older than the window at the last record().
    std::deque<Clock::time_point> times_;
};

}  // namespace plivo
