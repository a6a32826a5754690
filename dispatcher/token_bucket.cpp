#include "token_bucket.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "pure_cpp.hpp"

namespace plivo {

namespace {

// Float slack so that waiting exactly wait_time() always makes try_take() succeed.
constexpr double kEpsilon = 1e-9;

void check(double rate, double burst) {
    if (!(rate > 0.0) || !std::isfinite(rate))
        throw std::invalid_argument("token rate must be positive");
    if (!(burst >= 1.0) || !std::isfinite(burst))
        throw std::invalid_argument("token burst must be at least 1");
}

}  // namespace

TokenBucket::TokenBucket(double rate_per_second, double burst, Clock::time_point now)
    : rate_(rate_per_second), burst_(burst), tokens_(burst), last_(now) {
    check(rate_per_second, burst);
}

double TokenBucket::available(Clock::time_point now) const {
    if (now <= last_) return tokens_;  // an injected clock that went back earns nothing
    double elapsed = std::chrono::duration<double>(now - last_).count();
    return std::min(burst_, tokens_ + elapsed * rate_);
}

void TokenBucket::refill(Clock::time_point now) {
    tokens_ = available(now);
    if (now > last_) last_ = now;
}

bool TokenBucket::try_take(Clock::time_point now, double count) {
    refill(now);
    if (tokens_ + kEpsilon < count) return false;
    tokens_ = std::max(0.0, tokens_ - count);
    return true;
}

TokenBucket::Clock::duration TokenBucket::wait_time(Clock::time_point now, double count) const {
    if (count > burst_ + kEpsilon) return Clock::duration::max();
    double missing = count - available(now);
    if (missing <= kEpsilon) return Clock::duration::zero();
    auto wait = std::chrono::duration<double>(missing / rate_);
    // Round up to the clock's tick so that the tokens are surely there by then.
    return std::chrono::ceil<Clock::duration>(wait) + Clock::duration(1);
}

void TokenBucket::set_rate(double rate_per_second, double burst, Clock::time_point now) {
    check(rate_per_second, burst);
    refill(now);
    rate_ = rate_per_second;
    burst_ = burst;
    tokens_ = std::min(tokens_, burst_);
}

void TokenBucket::drain(Clock::time_point now) {
    refill(now);
    tokens_ = 0.0;
}

}  // namespace plivo
