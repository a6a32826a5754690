// Time-ordered message ids (dispatcher/message_id.hpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "message_id.hpp"

namespace {

using std::chrono::nanoseconds;
using Clock = std::chrono::system_clock;

Clock::time_point at(std::int64_t nanos) { return Clock::time_point(nanoseconds(nanos)); }

TEST(MessageId, CarriesTheMillisecondsVersionAndVariantOfRfc9562) {
    // 2026-11-27 21:00:00.123456 UTC.
    const std::int64_t nanos = 1795813200123456000;
    plivo::UuidBytes id = plivo::message_id_from(at(nanos), {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff});
    std::uint64_t millis = 0;
    for (int i = 0; i < 6; ++i) millis = (millis << 8) | id[i];
    EXPECT_EQ(millis, 1795813200123u);
    EXPECT_EQ(id[6] >> 4, 7) << "version nibble";
    EXPECT_EQ(id[8] >> 6, 2) << "variant bits 10";
    // 456,000 ns of 1,000,000 is 1867/4096 of a millisecond.
    EXPECT_EQ(((id[6] & 0x0f) << 8) | id[7], 1867);
    EXPECT_EQ(id[15], 0xff);
}

TEST(MessageId, LaterIdsSortLaterAsBytes) {
    std::vector<plivo::UuidBytes> ids;
    const std::int64_t start = 1795813200000000000;
    for (int step = 0; step < 2000; ++step) {
        // 2000 ids 3 microseconds apart: finer than a millisecond, coarser than 1/4096 ms.
        ids.push_back(plivo::new_message_id(at(start + step * 3000)));
    }
    EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
    EXPECT_EQ(std::set<plivo::UuidBytes>(ids.begin(), ids.end()).size(), ids.size());
}

TEST(MessageId, IdsOfTheSameInstantDifferInTheirRandomBits) {
    std::set<plivo::UuidBytes> ids;
    for (int i = 0; i < 1000; ++i) ids.insert(plivo::new_message_id(at(1795813200000000000)));
    EXPECT_EQ(ids.size(), 1000u);
}

}  // namespace
