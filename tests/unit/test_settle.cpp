// Picking our message out of Plivo's list (dispatcher/settle.hpp).
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "settle.hpp"

namespace plivo {
namespace {

using namespace std::chrono_literals;
using std::chrono::system_clock;

// 2024-05-01 12:00:00 UTC
const system_clock::time_point kWindow = system_clock::from_time_t(1714564800);

SettleQuery query() {
    SettleQuery q;
    q.sender = "+14155550100";
    q.recipient = "+14155550111";
    q.type = MessageType::Mms;
    q.window_start = kWindow;
    return q;
}

ListedMessage listed(std::string uuid, std::string time = "2024-05-01 12:00:05") {
    ListedMessage m;
    m.message_uuid = std::move(uuid);
    m.message_state = "queued";
    m.message_direction = "outbound";
    m.from_number = "14155550100";
    m.to_number = "14155550111";
    m.message_time = std::move(time);
    m.message_type = "mms";
    return m;
}

TEST(Settle, FindsTheOneMatch) {
    const SettleResult result = settle_unknown(query(), {listed("u1")}, true);
    EXPECT_EQ(result.verdict, SettleVerdict::Found);
    ASSERT_TRUE(result.message.has_value());
    EXPECT_EQ(result.message->message_uuid, "u1");
    EXPECT_EQ(result.candidates, std::vector<std::string>{"u1"});
}

TEST(Settle, ThroughAPowerpackAnyOfOurNumbersFits) {
    SettleQuery q = query();
    q.sender.clear();  // the pack picked the number
    ListedMessage picked = listed("uuid-pack");
    picked.from_number = "14155550199";
    SettleResult result = settle_unknown(q, {picked}, true);
    EXPECT_EQ(result.verdict, SettleVerdict::Found);
    ASSERT_TRUE(result.message);
    EXPECT_EQ(result.message->from_number, "14155550199");
    // with a sender, another number rules the message out
    EXPECT_EQ(settle_unknown(query(), {picked}, true).verdict, SettleVerdict::NotFound);
}

TEST(Settle, NothingListedMeansNotFound) {
    const SettleResult result = settle_unknown(query(), {}, true);
    EXPECT_EQ(result.verdict, SettleVerdict::NotFound);
    EXPECT_FALSE(result.message.has_value());
    EXPECT_STREQ(settle_verdict_name(result.verdict), "not found");
}

TEST(Settle, OthersAreRuledOut) {
    ListedMessage other_sender = listed("x1");
    other_sender.from_number = "14155550199";
    ListedMessage other_recipient = listed("x2");
    other_recipient.to_number = "14155550198";
    ListedMessage sms = listed("x3");
    sms.message_type = "sms";
    ListedMessage inbound = listed("x4");
    inbound.message_direction = "inbound";
    ListedMessage known = listed("x5");
    ListedMessage too_old = listed("x6", "2024-05-01 11:54:59");  // before window - 5 min
    SettleQuery q = query();
    q.known_uuids = {"x5"};
    const SettleResult result = settle_unknown(
        q, {other_sender, other_recipient, sms, inbound, known, too_old, listed("u1")}, true);
    EXPECT_EQ(result.verdict, SettleVerdict::Found);
    EXPECT_EQ(result.message->message_uuid, "u1");
}

TEST(Settle, SeveralMatchesAreAmbiguous) {
    const SettleResult result = settle_unknown(query(), {listed("u1"), listed("u2")}, true);
    EXPECT_EQ(result.verdict, SettleVerdict::Ambiguous);
    EXPECT_FALSE(result.message.has_value());
    EXPECT_EQ(result.candidates, (std::vector<std::string>{"u1", "u2"}));
}

TEST(Settle, TheSameObjectOnTwoPagesCountsOnce) {
    EXPECT_EQ(settle_unknown(query(), {listed("u1"), listed("u1")}, true).verdict,
              SettleVerdict::Found);
}

TEST(Settle, MissingPagesAreIncompleteEvenWithAMatch) {
    EXPECT_EQ(settle_unknown(query(), {}, false).verdict, SettleVerdict::Incomplete);
    const SettleResult result = settle_unknown(query(), {listed("u1")}, false);
    EXPECT_EQ(result.verdict, SettleVerdict::Incomplete);
    EXPECT_FALSE(result.message.has_value());
}

TEST(Settle, EmptyOrUnreadableFieldsNeverRuleOut) {
    ListedMessage sparse;
    sparse.message_uuid = "u1";
    sparse.message_time = "yesterday-ish";
    EXPECT_EQ(settle_unknown(query(), {sparse}, true).verdict, SettleVerdict::Found);
    ListedMessage formatted = listed("u2");
    formatted.to_number = "+1 (415) 555-0111";
    formatted.message_type = "MMS";
    EXPECT_EQ(settle_unknown(query(), {formatted}, true).verdict, SettleVerdict::Found);
}

TEST(Settle, TimeOffsetsAreApplied) {
    // 17:20 at +05:30 is 11:50 UTC: older than the window minus 5 minutes.
    EXPECT_EQ(settle_unknown(query(), {listed("u1", "2024-05-01 17:20:00+05:30")}, true).verdict,
              SettleVerdict::NotFound);
    EXPECT_EQ(
        settle_unknown(query(), {listed("u1", "2024-05-01 17:30:00.123456+05:30")}, true).verdict,
        SettleVerdict::Found);
}

TEST(Settle, ParsesPlivoTimes) {
    EXPECT_EQ(parse_plivo_time("2024-05-01 12:00:00"), kWindow);
    EXPECT_EQ(parse_plivo_time("2024-05-01 12:00:00.999999"), kWindow);
    EXPECT_EQ(parse_plivo_time("2024-05-01 12:00:00Z"), kWindow);
    EXPECT_EQ(parse_plivo_time("2024-05-01 17:30:00+05:30"), kWindow);
    EXPECT_EQ(parse_plivo_time("2024-05-01 17:30:00+0530"), kWindow);
    EXPECT_EQ(parse_plivo_time("2024-05-01 08:00:00-04"), kWindow);
    for (const char* bad : {"", "2024-05-01", "2024-13-01 00:00:00", "2024-05-01 12:00:00 UTC",
                            "2024-05-01 12:00:00+5", "2024-05-01 12:00:00+05:3"}) {
        EXPECT_FALSE(parse_plivo_time(bad).has_value()) << bad;
    }
}

TEST(Settle, HasNextPage) {
    MessageList page;
    EXPECT_FALSE(has_next_page(page));
    page.next = "/v1/Account/MA/Message/?offset=20";
    EXPECT_TRUE(has_next_page(page));
}

}  // namespace
}  // namespace plivo
