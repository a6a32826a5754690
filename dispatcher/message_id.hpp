// Message ids: time-ordered UUIDs (version 7, RFC 9562 §5.7).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>

namespace plivo {

using UuidBytes = std::array<std::uint8_t, 16>;

// A version 7 UUID: 48 bits of Unix milliseconds, then the sub-millisecond fraction in
// rand_a's 12 bits (RFC 9562 §6.2, method 3), then 62 random bits. Ids made later sort
// later (to the 1/4096 ms), so a message's rows land next to those enqueued with it in
// every index keyed by id, instead of on a random page of a large index.
UuidBytes new_message_id(std::chrono::system_clock::time_point now);

// The same from given random bytes (the last 8 are used): for tests.
UuidBytes message_id_from(std::chrono::system_clock::time_point now,
                          const std::array<std::uint8_t, 8>& random);

}  // namespace plivo
