// design.md promise 6: one token bucket for the account (Plivo: 300 requests / 5 s, so
// 60/s with a burst of 60 by default) and one per sender number. Plivo counts over a
// sliding window, which a bucket's burst would overrun: the account also keeps to at most
// ceil(account_rate × window) requests in any window. A 429 sets the account
// rate to 70% of what was actually sent over the last second (at most one cut per
// second, never below min_account_rate) and pauses it for Retry-After; every
// recovery_interval after a cut gives back 10% of the configured rate, whether or not
// more 429s came, so a steady trickle of them slows sending without starving it.
// configure() changes limits at runtime (SIGHUP) keeping all tokens.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>

#include "sliding_window.hpp"
#include "token_bucket.hpp"

namespace plivo {

struct RateLimits {
    double account_rate = 60.0;  // requests per second for the whole account
    double account_burst = 60.0;
    double sender_rate = 0.0;  // per sender number; 0 means no per-sender limit
    double sender_burst = 1.0;
    std::map<std::string, double> sender_rates;  // per-number overrides (E.164 → rate, 0: none)
    double min_account_rate = 1.0;               // floor for the 429 reduction
    std::chrono::milliseconds recovery_interval{1000};
    // Every bucket also holds what its rate gives in this time, on top of its burst: how
    // late a caller may come for its tokens without losing them. With a burst of 1 alone,
    // a loop that comes a few milliseconds late to each token sends below the rate (and
    // at 100,000/s starts one request per look).
    std::chrono::microseconds catch_up{0};
    // The account starts at most ceil(account_rate × window) requests in any window of
    // this length, Plivo's (0: no such cap). ceil, not floor: at 0.3/s floor would allow
    // one request per 5 s, a third below the rate; two is still within rate × window + 1.
    std::chrono::milliseconds window{5000};
    // Requests are counted this much longer than the window: a request's time on the way
    // varies, so one started exactly a window after the oldest counted may reach Plivo
    // less than a window after it, one too many there.
    std::chrono::milliseconds window_margin{0};
};

class RateLimiter {
public:
    using Clock = TokenBucket::Clock;

    // Throws std::invalid_argument for non-positive account rate or burst < 1.
    RateLimiter(const RateLimits& limits, Clock::time_point now);

    // Takes one token from the account and one from `sender` — both or neither.
    bool try_acquire(const std::string& sender, Clock::time_point now);

    // Takes one account token only: for requests that are not a send (list-messages GETs
    // while settling), which count against Plivo's API limit but not a sender's rate.
    bool try_acquire_account(Clock::time_point now);

    // Whole account tokens available now, no more than the window takes (0 while paused
    // after a 429): an upper bound on how many requests could start at once.
    double account_tokens(Clock::time_point now);

    // How long until try_acquire(sender) can succeed (zero: now). Account-wide pauses count.
    Clock::duration wait_time(const std::string& sender, Clock::time_point now);

    // How long until any sender can go (the account's tokens, its window, a pause): when
    // nonzero, no need to look at other messages.
    Clock::duration account_wait_time(Clock::time_point now);

    // Plivo answered 429: slow down, and pause everything for retry_after when given.
    void on_rate_limited(Clock::time_point now, std::optional<std::chrono::seconds> retry_after);

    // New limits (SIGHUP). Tokens, the reduced rate after a 429 and any pause are kept.
    void configure(const RateLimits& limits, Clock::time_point now);

    // Forgets sender buckets that are full again (they hold nothing a fresh one would not).
    void prune(Clock::time_point now);

    double account_rate_now() const { return account_.rate(); }  // after 429 reductions
    double sent_rate(Clock::time_point now) const;  // requests per second, last ~second
    std::size_t sender_count() const { return senders_.size(); }
    std::size_t window_limit() const { return window_ ? window_->limit() : 0; }  // 0: none

private:
    double sender_rate(const std::string& sender) const;
    double account_burst_for(double rate) const;
    double with_catch_up(double burst, double rate) const;
    TokenBucket* sender_bucket(const std::string& sender, Clock::time_point now);
    void recover(Clock::time_point now);
    void count_sent(Clock::time_point now);
    void set_window();

    RateLimits limits_;
    TokenBucket account_;
    std::optional<SlidingWindow> window_;  // from the configured rate, not a reduced one
    std::map<std::string, TokenBucket> senders_;
    Clock::time_point paused_until_{};
    std::optional<Clock::time_point> last_cut_;  // set while the rate is reduced
    Clock::time_point last_step_{};
    // Requests sent in the current and the previous one-second window.
    Clock::time_point window_start_{};
    double sent_this_window_ = 0;
    double sent_last_window_ = 0;
};

}  // namespace plivo
