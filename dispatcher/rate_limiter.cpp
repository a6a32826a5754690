#include "rate_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "pure_cpp.hpp"

namespace plivo {

namespace {

// 429s arriving together (several requests were in flight) count as one.
constexpr std::chrono::seconds kCutSpacing{1};
constexpr double kCutFactor = 0.7;  // as AWS SDKs' adaptive retry mode
constexpr double kRecoveryStep = 0.1;  // of the configured rate, per recovery interval
constexpr std::chrono::seconds kSentWindow{1};

void check(const RateLimits& limits) {
    if (!(limits.account_rate > 0.0)) throw std::invalid_argument("account rate must be positive");
    if (!(limits.account_burst >= 1.0))
        throw std::invalid_argument("account burst must be at least 1");
    if (!(limits.sender_burst >= 1.0))
        throw std::invalid_argument("sender burst must be at least 1");
    if (!(limits.min_account_rate > 0.0))
        throw std::invalid_argument("minimum account rate must be positive");
    if (limits.catch_up.count() < 0) throw std::invalid_argument("catch-up time must not be negative");
    if (limits.window.count() < 0 || limits.window_margin.count() < 0)
        throw std::invalid_argument("window and its margin must not be negative");
}

// Requests the account may start in one window; the slack absorbs floating-point error
// (60/s × 5 s must stay 300), the cap keeps an absurd rate from overflowing.
std::size_t window_requests(const RateLimits& limits) {
    double requests = limits.account_rate * std::chrono::duration<double>(limits.window).count();
    return static_cast<std::size_t>(std::clamp(std::ceil(requests - 1e-6), 1.0, 1e12));
}

}  // namespace

RateLimiter::RateLimiter(const RateLimits& limits, Clock::time_point now)
    // limits_ is set before account_ (declaration order): account_burst_for() reads it.
    : limits_(limits), account_(limits.account_rate, account_burst_for(limits.account_rate), now) {
    check(limits);
    set_window();
}

// From the configured rate: a 429's cut slows the bucket, and a window counting from the
// cut rate would stop sending altogether until the requests before the cut had left it.
void RateLimiter::set_window() {
    if (limits_.window.count() == 0) {
        window_.reset();
    } else if (window_) {
        window_->set_limit(window_requests(limits_), limits_.window + limits_.window_margin);
    } else {
        window_.emplace(window_requests(limits_), limits_.window + limits_.window_margin);
    }
}

double RateLimiter::with_catch_up(double burst, double rate) const {
    return burst + rate * std::chrono::duration<double>(limits_.catch_up).count();
}

double RateLimiter::sender_rate(const std::string& sender) const {
    auto it = limits_.sender_rates.find(sender);
    return it != limits_.sender_rates.end() ? it->second : limits_.sender_rate;
}

// A reduced rate gets a proportionally smaller burst, so recovery does not start with a spike.
double RateLimiter::account_burst_for(double rate) const {
    if (rate >= limits_.account_rate) return with_catch_up(limits_.account_burst, rate);
    return with_catch_up(std::max(1.0, limits_.account_burst * rate / limits_.account_rate), rate);
}

TokenBucket* RateLimiter::sender_bucket(const std::string& sender, Clock::time_point now) {
    double rate = sender_rate(sender);
    if (!(rate > 0.0)) return nullptr;
    auto it = senders_.find(sender);
    if (it == senders_.end()) {
        it = senders_.emplace(sender, TokenBucket(rate, with_catch_up(limits_.sender_burst, rate), now)).first;
    }
    return &it->second;
}

// Additive increase: each recovery interval since the cut gives back a tenth of the
// configured rate. 429s that did not cut (within kCutSpacing) do not stop it.
void RateLimiter::recover(Clock::time_point now) {
    if (!last_cut_) return;
    double rate = account_.rate();
    if (limits_.recovery_interval.count() <= 0) rate = limits_.account_rate;
    while (rate < limits_.account_rate && now - last_step_ >= limits_.recovery_interval) {
        rate = std::min(limits_.account_rate, rate + limits_.account_rate * kRecoveryStep);
        last_step_ += limits_.recovery_interval;
    }
    if (rate >= limits_.account_rate) {
        rate = limits_.account_rate;
        last_cut_.reset();
    }
    if (rate != account_.rate()) account_.set_rate(rate, account_burst_for(rate), now);
}

// Every request started: the last second's rate (for a 429's cut) and Plivo's window.
void RateLimiter::count_sent(Clock::time_point now) {
    if (window_) window_->record(now);
    if (now - window_start_ >= kSentWindow) {
        sent_last_window_ = now - window_start_ < 2 * kSentWindow ? sent_this_window_ : 0;
        sent_this_window_ = 0;
        window_start_ = now;
    }
    sent_this_window_ += 1;
}

// The last full window plus the current part of one, over the time they span.
double RateLimiter::sent_rate(Clock::time_point now) const {
    auto into_window = now - window_start_;
    if (into_window >= 2 * kSentWindow) return 0.0;
    if (into_window >= kSentWindow)
        return sent_this_window_ / std::chrono::duration<double>(into_window).count();
    double span = std::chrono::duration<double>(kSentWindow + into_window).count();
    return (sent_last_window_ + sent_this_window_) / span;
}

bool RateLimiter::try_acquire(const std::string& sender, Clock::time_point now) {
    recover(now);
    if (now < paused_until_) return false;
    TokenBucket* bucket = sender_bucket(sender, now);
    if (account_.wait_time(now) != Clock::duration::zero()) return false;
    if (window_ && window_->wait_time(now) != Clock::duration::zero()) return false;
    if (bucket && bucket->wait_time(now) != Clock::duration::zero()) return false;
    account_.try_take(now);
    if (bucket) bucket->try_take(now);
    count_sent(now);
    return true;
}

bool RateLimiter::try_acquire_account(Clock::time_point now) {
    recover(now);
    if (now < paused_until_) return false;
    if (window_ && window_->wait_time(now) != Clock::duration::zero()) return false;
    if (!account_.try_take(now)) return false;
    count_sent(now);
    return true;
}

double RateLimiter::account_tokens(Clock::time_point now) {
    recover(now);
    if (now < paused_until_) return 0.0;
    double tokens = std::floor(account_.available(now) + 1e-9);
    if (window_) tokens = std::min(tokens, static_cast<double>(window_->room(now)));
    return tokens;
}

RateLimiter::Clock::duration RateLimiter::account_wait_time(Clock::time_point now) {
    recover(now);
    Clock::duration pause = now < paused_until_ ? paused_until_ - now : Clock::duration::zero();
    Clock::duration wait = std::max(pause, account_.wait_time(now));
    if (window_) wait = std::max(wait, window_->wait_time(now));
    return wait;
}

RateLimiter::Clock::duration RateLimiter::wait_time(const std::string& sender,
                                                    Clock::time_point now) {
    Clock::duration wait = account_wait_time(now);
    if (TokenBucket* bucket = sender_bucket(sender, now))
        wait = std::max(wait, bucket->wait_time(now));
    return wait;
}

void RateLimiter::on_rate_limited(Clock::time_point now,
                                  std::optional<std::chrono::seconds> retry_after) {
    recover(now);
    if (!last_cut_ || now - *last_cut_ >= kCutSpacing) {
        // Cut from what was really sent: a configured rate far above Plivo's limit would
        // otherwise take many cuts before it bites.
        double sending = std::min({account_.rate(), limits_.account_rate, sent_rate(now)});
        double rate = std::min(limits_.account_rate,
                               std::max(limits_.min_account_rate, sending * kCutFactor));
        account_.set_rate(rate, account_burst_for(rate), now);
        last_cut_ = now;
        last_step_ = now;
    }
    account_.drain(now);
    if (retry_after) paused_until_ = std::max(paused_until_, now + *retry_after);
}

void RateLimiter::configure(const RateLimits& limits, Clock::time_point now) {
    check(limits);
    recover(now);
    bool reduced = last_cut_.has_value();
    limits_ = limits;
    double rate = reduced ? std::min(account_.rate(), limits_.account_rate) : limits_.account_rate;
    if (reduced && rate >= limits_.account_rate) last_cut_.reset();
    account_.set_rate(rate, account_burst_for(rate), now);
    set_window();
    for (auto it = senders_.begin(); it != senders_.end();) {
        double sender = sender_rate(it->first);
        if (sender > 0.0) {
            it->second.set_rate(sender, with_catch_up(limits_.sender_burst, sender), now);
            ++it;
        } else {
            it = senders_.erase(it);
        }
    }
}

void RateLimiter::prune(Clock::time_point now) {
    for (auto it = senders_.begin(); it != senders_.end();) {
        if (it->second.available(now) >= it->second.burst()) {
            it = senders_.erase(it);
        } else {
            ++it;
        }
    }
}

}  // namespace plivo
