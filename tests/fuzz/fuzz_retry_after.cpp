// parse_retry_after: the input is "now\nmax\nvalue" (now in seconds since the epoch,
// max in seconds), or the value alone (then now is 2024-05-01 and max the default).
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "fuzz_util.hpp"
#include "retry_after.hpp"

namespace {

// A number from the line, clamped to [low, high]; `fallback` when it is not one.
long long number_in(const std::string& line, long long low, long long high, long long fallback) {
    char* end = nullptr;
    const long long value = std::strtoll(line.c_str(), &end, 10);
    if (end == line.c_str()) return fallback;
    return value < low ? low : value > high ? high : value;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string input = fuzz::as_string(data, size);
    const auto lines = fuzz::split_lines(input);
    long long now_seconds = 1714564800;  // 2024-05-01 12:00:00 UTC
    std::chrono::seconds max = plivo::kMaxRetryAfter;
    std::string value = input;
    if (lines.size() >= 3) {
        // Any time from 1970 to 2200, which system_clock (nanoseconds) holds.
        now_seconds = number_in(lines[0], 0, 7258118400LL, now_seconds);
        max = std::chrono::seconds(number_in(lines[1], 0, 86400 * 365, max.count()));
        value = input.substr(lines[0].size() + lines[1].size() + 2);
    }
    const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(now_seconds)) +
                     std::chrono::milliseconds(now_seconds % 1000);

    const auto wait = plivo::parse_retry_after(value, now, max);
    if (wait) FUZZ_CHECK(wait->count() >= 0 && *wait <= max);

    // Delta-seconds (digits, optionally surrounded by spaces and tabs) always give a
    // value: the number, or max when it is larger.
    const std::size_t first = value.find_first_not_of(" \t");
    if (first != std::string::npos) {
        const std::size_t last = value.find_last_not_of(" \t");
        const std::string trimmed = value.substr(first, last - first + 1);
        if (trimmed.find_first_not_of("0123456789") == std::string::npos) {
            FUZZ_CHECK(wait.has_value());
            const std::string digits = trimmed.substr(std::min(trimmed.find_first_not_of('0'), trimmed.size()));
            if (digits.size() <= 12) {
                const long long seconds = digits.empty() ? 0 : std::stoll(digits);
                FUZZ_CHECK(wait->count() == std::min<long long>(seconds, max.count()));
            } else {
                FUZZ_CHECK(*wait == max);
            }
        } else if (trimmed[0] == '-' || trimmed.find('.') != std::string::npos) {
            // Negative or fractional numbers are refused, never read as a date.
            if (trimmed.find_first_not_of("0123456789.-") == std::string::npos) FUZZ_CHECK(!wait);
        }
    } else {
        FUZZ_CHECK(!wait);
    }
    // Deterministic.
    FUZZ_CHECK(plivo::parse_retry_after(value, now, max) == wait);
    return 0;
}
