// When to try a message again: capped exponential backoff with FULL jitter
// (delay = uniform(0, min(cap, base·2^(n-1)))). Full jitter is stateless, so the
// worker needs only the attempt count it already keeps in the row; it also spreads a
// burst of failures the widest. A Retry-After from Plivo is a floor on the delay.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

namespace plivo {

struct RetryConfig {
    std::chrono::milliseconds base{1000};   // ceiling of the first delay
    std::chrono::milliseconds cap{300000};  // no delay ceiling above 5 min
    int max_attempts = 8;                   // attempts in total, the first included
};

// Returns a number in [0, 1). Injected so that tests are deterministic.
using UniformRandom = std::function<double()>;

// A UniformRandom over a std::mt19937_64 seeded from std::random_device.
UniformRandom make_uniform_random();

struct RetryDecision {
    bool give_up = false;
    std::chrono::milliseconds delay{0};  // when !give_up: wait this long before the next attempt
    std::string reason;                  // when give_up: "gave up after 8 attempts: <last error>"
};

class RetryPolicy {
public:
    // Throws std::invalid_argument for base <= 0, cap < base or max_attempts < 1.
    explicit RetryPolicy(RetryConfig config);

    const RetryConfig& config() const { return config_; }

    // The delay ceiling before attempt attempts_made + 1: min(cap, base·2^(attempts_made-1)).
    std::chrono::milliseconds ceiling(int attempts_made) const;

    // After `attempts_made` attempts (≥ 1) failed in a retryable way with `last_error`:
    // give up once max_attempts are used, else wait max(retry_after, jittered delay).
    RetryDecision next(int attempts_made, const std::string& last_error,
                       std::optional<std::chrono::seconds> retry_after,
                       const UniformRandom& random) const;

private:
    RetryConfig config_;
};

}  // namespace plivo
