// A token bucket with an injected clock: the caller passes `now` and never sleeps here,
// so the worker can fold wait_time() into its latch timeout and tests use a fake clock.
#pragma once

#include <chrono>

namespace plivo {

class TokenBucket {
public:
    using Clock = std::chrono::steady_clock;

    // Starts full. Throws std::invalid_argument unless rate > 0 and burst >= 1.
    TokenBucket(double rate_per_second, double burst, Clock::time_point now);

    // Takes `count` tokens when they are all there; false (taking nothing) otherwise.
    bool try_take(Clock::time_point now, double count = 1.0);

    // How long until `count` tokens are there: zero when now; Clock::duration::max()
    // when count exceeds the burst (it never will be).
    Clock::duration wait_time(Clock::time_point now, double count = 1.0) const;

    // Changes rate and burst keeping the tokens earned so far (capped to the new burst).
    void set_rate(double rate_per_second, double burst, Clock::time_point now);

    // Empties the bucket (after a 429: whatever we believed we had, Plivo disagreed).
    void drain(Clock::time_point now);

    double available(Clock::time_point now) const;
    double rate() const { return rate_; }
    double burst() const { return burst_; }

private:
    void refill(Clock::time_point now);

    double rate_;
    double burst_;
    double tokens_;
    Clock::time_point last_;
};

}  // namespace plivo
