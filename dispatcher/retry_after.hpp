// The Retry-After header (RFC 9110 §10.2.3): delta-seconds or an HTTP-date.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace plivo {

constexpr std::chrono::seconds kMaxRetryAfter{3600};

// Seconds to wait, clamped to [0, max]; a date in the past gives 0. HTTP-dates in all
// three RFC forms (IMF-fixdate, RFC 850, asctime) are read. Anything else, negative or
// fractional numbers included, gives nullopt (the caller falls back to its backoff).
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now,
                                                      std::chrono::seconds max = kMaxRetryAfter);

}  // namespace plivo
