// Small helpers shared by the Plivo simulator: ids, clocks, time formats, numbers,
// form encoding and an interruptible sleep.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace plivo_sim {

// A random version-4 UUID in lower-case hex ("8c6a3f0e-..."). Never from --seed:
// two runs must not hand out the same uuids.
std::string new_uuid();

// `count` random decimal digits (the signature nonces).
std::string random_digits(std::size_t count);

// Microseconds since the Unix epoch, UTC, shifted by the configured clock offset.
std::int64_t now_us();
void set_clock_offset_ms(std::int64_t offset_ms);

enum class TimeStyle {
    Seconds,      // 2024-05-01 12:00:00          (MessageTime in reports)
    Micros,       // 2024-05-01 12:00:00.123456   (QueuedTime, SentTime, DeliveryReportTime)
    PlivoObject,  // 2024-05-01 12:00:00+00:00    (message_time on the message object)
};
std::string format_time(std::int64_t us, TimeStyle style);

// Parses Plivo's filter format "YYYY-MM-DD HH:MM[:ss[.uuuuuu]]" (UTC; a 'T' instead of
// the space, a trailing "Z" or "+00:00" are accepted too). nullopt when malformed.
std::optional<std::int64_t> parse_filter_time(const std::string& text);

// The digits of a phone number after removing what Plivo strips (+ - . ( ) / and
// spaces). nullopt when anything else is left or nothing at all.
std::optional<std::string> number_digits(const std::string& text);

// application/x-www-form-urlencoded encoding of one key or value (space as '+').
std::string form_encode(const std::string& text);
std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields);

// Writes one line to stderr, prefixed with the UTC time; lines never interleave.
void log_line(const std::string& line);

// A stop flag with a sleep that ends early when stop() is called, so that shutdown
// never waits for a fault's long sleep.
class Stopper {
public:
    // Sleeps `ms` milliseconds; returns false when stopped before (or while) sleeping.
    bool sleep_ms(std::int64_t ms);
    void stop();
    bool stopped() const { return stopped_.load(std::memory_order_relaxed); }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::atomic<bool> stopped_{false};
};

}  // namespace plivo_sim
