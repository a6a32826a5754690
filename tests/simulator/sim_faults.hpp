// Choosing which fault (if any) a request gets, and Plivo's API rate limits.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim_config.hpp"

namespace plivo_sim {

// "Fail the next N requests with X" entries, consumed in order before random draws.
using FailNext = std::vector<std::pair<Fault, std::int64_t>>;

// Parses fail_next from JSON: [{"kind":"error_503","count":2}, ...], one such object,
// or the flag form "error_503:2,accept_then_reset" (count 1 when left out).
// Throws std::invalid_argument on an unknown kind or a bad count.
FailNext parse_fail_next(const nlohmann::json& value);

class FaultPicker {
public:
    explicit FaultPicker(std::uint64_t seed);

    // The fault for one API request: the next deterministic entry when there is one,
    // else one random draw against the configured rates. For requests that do not
    // create messages (is_send false) the storing kinds are mapped to their
    // not-stored twins (see fault_for_read).
    Fault pick(const Config& config, bool is_send);

    void set_fail_next(FailNext entries);
    nlohmann::json fail_next_json() const;

    // Uniform draws from the seeded generator (lifecycle outcomes, jitter).
    double uniform01();
    std::int64_t uniform_int(std::int64_t low, std::int64_t high);

private:
    mutable std::mutex mutex_;
    std::mt19937_64 rng_;
    std::deque<std::pair<Fault, std::int64_t>> fail_next_;
};

// What a storing fault means on a request that stores nothing (GET list / get).
Fault fault_for_read(Fault fault);

// A sliding-window counter: at most `count` admitted requests in any `window`.
// A refused request is not recorded: it uses up nothing.
class SlidingWindowLimiter {
public:
    bool admit(std::int64_t count, std::int64_t window_ms);
    void clear();

    // For a request under two limits (a list request: the account's and the list
    // API's): admitted by both or recorded in neither. Which one refused, if any.
    enum class Both { Admitted, RefusedFirst, RefusedSecond };
    static Both admit_both(SlidingWindowLimiter& first, std::int64_t first_count,
                           std::int64_t first_window_ms, SlidingWindowLimiter& second,
                           std::int64_t second_count, std::int64_t second_window_ms);

private:
    using Clock = std::chrono::steady_clock;
    // With mutex_ held: forgets what left the window; true when another one fits.
    bool has_room_locked(Clock::time_point now, std::int64_t count, std::int64_t window_ms);

    std::mutex mutex_;
    std::deque<std::chrono::steady_clock::time_point> admitted_;
};

}  // namespace plivo_sim
