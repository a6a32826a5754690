// Parsing Plivo's replies (dispatcher/plivo_response.hpp), garbage included.
#include <gtest/gtest.h>

#include <limits>

#include <string>

#include "plivo_response.hpp"

namespace plivo {
namespace {

using Strings = std::vector<std::string>;

TEST(PlivoResponse, Accepted202) {
    const SendReply reply = parse_send_reply(
        R"({"api_id":"97d9f0c2-1","message":"message(s) queued","message_uuid":["db3ce55a-7f1d"]})");
    EXPECT_TRUE(reply.is_json);
    EXPECT_EQ(reply.api_id, "97d9f0c2-1");
    EXPECT_EQ(reply.message, "message(s) queued");
    EXPECT_EQ(reply.message_uuids, Strings{"db3ce55a-7f1d"});
    EXPECT_TRUE(reply.invalid_numbers.empty());
    EXPECT_FALSE(reply.error.has_value());
}

TEST(PlivoResponse, InvalidNumbersAndSeveralUuids) {
    const SendReply reply = parse_send_reply(
        R"({"api_id":"a","message":"message(s) queued","message_uuid":["u1","u2"],)"
        R"("invalid_number":["123"]})");
    EXPECT_EQ(reply.message_uuids, (Strings{"u1", "u2"}));
    EXPECT_EQ(reply.invalid_numbers, Strings{"123"});
}

TEST(PlivoResponse, UuidAsASingleStringIsAccepted) {
    EXPECT_EQ(parse_send_reply(R"({"message_uuid":"u1"})").message_uuids, Strings{"u1"});
    EXPECT_TRUE(parse_send_reply(R"({"message_uuid":{"x":1}})").message_uuids.empty());
    EXPECT_TRUE(parse_send_reply(R"({"message_uuid":null})").message_uuids.empty());
}

TEST(PlivoResponse, ErrorBodies) {
    const SendReply reply = parse_send_reply(R"({"api_id":"e1","error":"invalid dst"})");
    EXPECT_TRUE(reply.is_json);
    ASSERT_TRUE(reply.error.has_value());
    EXPECT_EQ(*reply.error, "invalid dst");
    EXPECT_EQ(reply_error_text(reply), "invalid dst");

    const SendReply nested = parse_send_reply(R"({"api_id":"e2","error":{"dst":["required"]}})");
    ASSERT_TRUE(nested.error.has_value());
    EXPECT_EQ(*nested.error, R"({"dst":["required"]})");
}

TEST(PlivoResponse, NonJsonBodiesAreKeptAsCleanedText) {
    const SendReply html = parse_send_reply("<html>\r\n<h1>502 Bad Gateway</h1>\n</html>");
    EXPECT_FALSE(html.is_json);
    EXPECT_EQ(html.excerpt, "<html>  <h1>502 Bad Gateway</h1> </html>");
    EXPECT_EQ(reply_error_text(html), html.excerpt);

    EXPECT_EQ(reply_error_text(parse_send_reply("")), "empty body");
    EXPECT_FALSE(parse_send_reply("[1,2]").is_json);         // JSON, but not an object
    EXPECT_FALSE(parse_send_reply("{\"api_id\":").is_json);  // cut off
    EXPECT_EQ(reply_error_text(parse_send_reply("{}")), "no error text in the reply");
}

TEST(PlivoResponse, LongGarbageIsCutOnACharacterBoundary) {
    std::string body(kMaxExcerptBytes - 1, 'x');
    body += "\xC3\xA9 and more";  // é straddles the limit
    const SendReply reply = parse_send_reply(body);
    EXPECT_EQ(reply.excerpt, std::string(kMaxExcerptBytes - 1, 'x') + "\xE2\x80\xA6");
}

TEST(PlivoResponse, CleanRemoteTextMakesAnythingStorable) {
    EXPECT_EQ(clean_remote_text(std::string("a\0b", 3), 100), "a?b");
    EXPECT_EQ(clean_remote_text("bad \xFF\xFE utf8 \xE2\x82", 100), "bad ?? utf8 ??");
    EXPECT_EQ(clean_remote_text("tab\there\x7F", 100), "tab here?");
    EXPECT_EQ(clean_remote_text("caf\xC3\xA9 \xF0\x9F\x98\x80", 100),
              "caf\xC3\xA9 \xF0\x9F\x98\x80");
    EXPECT_EQ(clean_remote_text("abcdef", 3), "abc\xE2\x80\xA6");
    EXPECT_EQ(clean_remote_text("abc", 3), "abc");
    // A NUL escaped inside JSON must not reach Postgres either.
    const SendReply reply = parse_send_reply(R"({"error":"bad\u0000thing"})");
    EXPECT_EQ(*reply.error, "bad?thing");
}

TEST(PlivoResponse, MessageList) {
    const auto list = parse_message_list(R"({
      "api_id": "l1",
      "meta": {"limit": 20, "next": "/v1/Account/MA/Message/?limit=20&offset=20",
               "offset": 0, "previous": null, "total_count": 23},
      "objects": [
        {"message_uuid": "u1", "message_state": "delivered", "message_direction": "outbound",
         "from_number": "14155550100", "to_number": "14155550111",
         "message_time": "2024-05-01 12:00:00+00:00", "message_type": "mms", "error_code": "000"},
        {"message_uuid": "u2", "message_state": "failed", "error_code": 30},
        {"message_state": "no uuid: skipped"},
        "not an object",
        {"message_uuid": "u3", "error_code": null}
      ]})");
    ASSERT_TRUE(list.has_value());
    EXPECT_EQ(list->api_id, "l1");
    EXPECT_EQ(list->limit, 20);
    EXPECT_EQ(list->offset, 0);
    EXPECT_EQ(list->total_count, 23);
    ASSERT_TRUE(list->next.has_value());
    ASSERT_EQ(list->objects.size(), 3u);
    const ListedMessage& first = list->objects[0];
    EXPECT_EQ(first.message_uuid, "u1");
    EXPECT_EQ(first.message_state, "delivered");
    EXPECT_EQ(first.message_direction, "outbound");
    EXPECT_EQ(first.from_number, "14155550100");
    EXPECT_EQ(first.to_number, "14155550111");
    EXPECT_EQ(first.message_time, "2024-05-01 12:00:00+00:00");
    EXPECT_EQ(first.message_type, "mms");
    EXPECT_EQ(first.error_code, "000");
    EXPECT_EQ(list->objects[1].error_code, "30");
    EXPECT_FALSE(list->objects[2].error_code.has_value());
}

TEST(PlivoResponse, LastPageAndEmptyList) {
    const auto list = parse_message_list(
        R"({"api_id":"l2","meta":{"limit":20,"next":null,"offset":0,"total_count":0},"objects":[]})");
    ASSERT_TRUE(list.has_value());
    EXPECT_FALSE(list->next.has_value());
    EXPECT_TRUE(list->objects.empty());
}

TEST(PlivoResponse, ListGarbageIsRefused) {
    EXPECT_FALSE(parse_message_list("").has_value());
    EXPECT_FALSE(parse_message_list("<html>").has_value());
    EXPECT_FALSE(parse_message_list(R"({"api_id":"x","error":"not found"})").has_value());
    EXPECT_FALSE(parse_message_list(R"({"objects":{}})").has_value());
    EXPECT_TRUE(parse_message_list(R"({"objects":[]})").has_value());  // meta is optional
}

TEST(PlivoResponse, SingleMessage) {
    const auto message = parse_listed_message(
        R"({"api_id":"g","message_uuid":"u9","message_state":"sent","to_number":"1415"})");
    ASSERT_TRUE(message.has_value());
    EXPECT_EQ(message->message_uuid, "u9");
    EXPECT_EQ(message->message_state, "sent");
    EXPECT_FALSE(parse_listed_message(R"({"api_id":"g","error":"not found"})").has_value());
    EXPECT_FALSE(parse_listed_message("garbage").has_value());
}

// Found by fuzzing: numbers a long cannot hold in the list's meta were undefined behaviour.
TEST(PlivoResponse, ListMetaNumbersOutOfRangeAreClamped) {
    auto list = plivo::parse_message_list(
        R"({"meta": {"limit": 1e300, "offset": 18446744073709551615, "total_count": -1e300},
            "objects": []})");
    ASSERT_TRUE(list);
    EXPECT_EQ(list->limit, std::numeric_limits<long>::max());
    EXPECT_EQ(list->offset, std::numeric_limits<long>::max());
    EXPECT_EQ(list->total_count, std::numeric_limits<long>::min());
}

}  // namespace
}  // namespace plivo
