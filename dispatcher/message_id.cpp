// Time-ordered message ids (RFC 9562 UUIDv7), random bits from OpenSSL's CSPRNG.
#include "message_id.hpp"

#include <openssl/rand.h>

#include <stdexcept>

#include "pure_cpp.hpp"

namespace plivo {

UuidBytes message_id_from(std::chrono::system_clock::time_point now,
                          const std::array<std::uint8_t, 8>& random) {
    using std::chrono::duration_cast;
    const auto since_epoch = duration_cast<std::chrono::nanoseconds>(now.time_since_epoch());
    const std::uint64_t nanos = since_epoch.count() < 0 ? 0 : since_epoch.count();
    const std::uint64_t millis = nanos / 1000000;
    const std::uint64_t fraction = (nanos % 1000000) * 4096 / 1000000;  // 12 bits

    UuidBytes id{};
    for (int i = 0; i < 6; ++i) id[i] = static_cast<std::uint8_t>(millis >> (8 * (5 - i)));
    id[6] = static_cast<std::uint8_t>(0x70 | (fraction >> 8));  // version 7
    id[7] = static_cast<std::uint8_t>(fraction & 0xff);
    for (int i = 0; i < 8; ++i) id[8 + i] = random[i];
    id[8] = static_cast<std::uint8_t>(0x80 | (id[8] & 0x3f));  // variant 10
    return id;
}

UuidBytes new_message_id(std::chrono::system_clock::time_point now) {
    std::array<std::uint8_t, 8> random{};
    if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1)
        throw std::runtime_error("the random number generator failed");
    return message_id_from(now, random);
}

}  // namespace plivo
