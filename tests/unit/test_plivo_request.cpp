// The Plivo requests (dispatcher/plivo_request.hpp): URLs, headers and bodies exactly.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "input_error_testing.hpp"
#include "plivo_request.hpp"

namespace plivo {
namespace {

using std::chrono::system_clock;

PlivoAccount account(const std::string& api_url = "https://api.plivo.com") {
    return PlivoAccount{api_url, "MAXXXXXXXXXXXXXXXXX1", "s3cr3t-token", "1.2.3"};
}

SendParams mms() {
    SendParams message;
    message.type = MessageType::Mms;
    message.sender = "+14155550100";
    message.recipient = "+14155550111";
    message.text = "Your photos";
    message.media_urls = {"https://example.com/a.jpg", "https://example.com/b.png"};
    message.callback_url = "https://cb.example.com/plivo/status";
    return message;
}

system_clock::time_point utc(int year, int month, int day, int hour, int minute, int second) {
    std::tm tm{};
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    return system_clock::from_time_t(timegm(&tm));
}

TEST(PlivoRequest, SendRequestIsTheDocumentedPost) {
    const HttpRequest request = build_send_request(account(), mms());
    EXPECT_EQ(request.method, RequestMethod::Post);
    EXPECT_EQ(request.url, "https://api.plivo.com/v1/Account/MAXXXXXXXXXXXXXXXXX1/Message/");
    EXPECT_EQ(request.headers,
              (std::vector<std::string>{"Content-Type: application/json",
                                        "Accept: application/json", "User-Agent: pg_plivo/1.2.3"}));
    EXPECT_EQ(request.auth.user, "MAXXXXXXXXXXXXXXXXX1");
    EXPECT_EQ(request.auth.password, "s3cr3t-token");
    EXPECT_EQ(request.body,
              R"({"dst":"14155550111","media_urls":["https://example.com/a.jpg",)"
              R"("https://example.com/b.png"],"method":"POST","src":"14155550100",)"
              R"("text":"Your photos","type":"mms","url":"https://cb.example.com/plivo/status"})");
}

TEST(PlivoRequest, TrailingSlashesOfTheApiUrlAreIgnored) {
    EXPECT_EQ(message_endpoint(account("http://127.0.0.1:8080/")),
              "http://127.0.0.1:8080/v1/Account/MAXXXXXXXXXXXXXXXXX1/Message/");
    EXPECT_EQ(message_endpoint(account("https://api.plivo.com//")),
              "https://api.plivo.com/v1/Account/MAXXXXXXXXXXXXXXXXX1/Message/");
}

TEST(PlivoRequest, SmsWithoutOptionalFieldsLeavesThemOut) {
    SendParams message;
    message.sender = "+14155550100";
    message.recipient = "+447700900123";
    message.text = "h\xC3\xA9llo \"quoted\"";
    EXPECT_EQ(send_request_body(message),
              "{\"dst\":\"447700900123\",\"src\":\"14155550100\",\"text\":\"h\xC3\xA9llo "
              "\\\"quoted\\\"\",\"type\":\"sms\"}");
}

TEST(PlivoRequest, MmsWithoutTextOmitsText) {
    SendParams message = mms();
    message.text.reset();
    message.callback_url.reset();
    EXPECT_EQ(send_request_body(message),
              R"({"dst":"14155550111","media_urls":["https://example.com/a.jpg",)"
              R"("https://example.com/b.png"],"src":"14155550100","type":"mms"})");
}

TEST(PlivoRequest, LogAndMessageExpiryGoInTheBodyWhenSet) {
    SendParams message;
    message.sender = "+14155550100";
    message.recipient = "+14155550111";
    message.text = "code 1234";
    message.log = "number_only";
    message.message_expiry_seconds = 600;
    EXPECT_EQ(send_request_body(message),
              R"({"dst":"14155550111","log":"number_only","message_expiry":600,)"
              R"("src":"14155550100","text":"code 1234","type":"sms"})");
}

TEST(PlivoRequest, APowerpackMessageCarriesPowerpackUuidAndNoSrc) {
    SendParams message;
    message.sender = "d1b5a6c2-3e4f-4a5b-8c6d-7e8f9a0b1c2d";
    message.via_powerpack = true;
    message.recipient = "+14155550111";
    message.text = "from the pack";
    EXPECT_EQ(send_request_body(message),
              R"({"dst":"14155550111","powerpack_uuid":"d1b5a6c2-3e4f-4a5b-8c6d-7e8f9a0b1c2d",)"
              R"("text":"from the pack","type":"sms"})");
}

TEST(PlivoRequest, MessageExpiryIsClampedToPlivosBounds) {
    SendParams message;
    message.sender = "+14155550100";
    message.recipient = "+14155550111";
    message.text = "x";
    message.message_expiry_seconds = 2;
    EXPECT_NE(send_request_body(message).find("\"message_expiry\":5,"), std::string::npos);
    message.message_expiry_seconds = 86400;
    EXPECT_NE(send_request_body(message).find("\"message_expiry\":10799,"), std::string::npos);
}

TEST(PlivoRequest, DescriptionForLogsNeverShowsTheToken) {
    const HttpRequest request = build_send_request(account(), mms());
    const std::string description = request.describe();
    EXPECT_EQ(description.find("s3cr3t"), std::string::npos);
    EXPECT_EQ(description, "POST https://api.plivo.com/v1/Account/MAXXXXXXXXXXXXXXXXX1/Message/ (" +
                               std::to_string(request.body.size()) +
                               " bytes, basic auth MAXXXXXXXXXXXXXXXXX1:<redacted>)");
    for (const std::string& header : request.headers) {
        EXPECT_EQ(header.find("s3cr3t"), std::string::npos) << header;
    }
}

TEST(PlivoRequest, ListRequestEncodesTheTimeInUtc) {
    ListQuery query;
    query.recipient = "+14155550111";
    query.since = utc(2024, 5, 1, 12, 0, 7);
    query.offset = 40;
    const HttpRequest request = build_list_request(account(), query);
    EXPECT_EQ(request.method, RequestMethod::Get);
    EXPECT_EQ(
        request.url,
        "https://api.plivo.com/v1/Account/MAXXXXXXXXXXXXXXXXX1/Message/"
        "?to_number=14155550111&message_time__gte=2024-05-01%2012%3A00%3A07&limit=20&offset=40");
    EXPECT_EQ(request.headers,
              (std::vector<std::string>{"Accept: application/json", "User-Agent: pg_plivo/1.2.3"}));
    EXPECT_TRUE(request.body.empty());
    EXPECT_EQ(request.auth.password, "s3cr3t-token");
}

TEST(PlivoRequest, ListRequestCanFilterBySender) {
    ListQuery query;
    query.recipient = "+14155550111";
    query.sender = "+14155550100";
    query.since = utc(1999, 12, 31, 23, 59, 59);
    query.limit = 5;
    EXPECT_EQ(build_list_request(account(), query).url,
              "https://api.plivo.com/v1/Account/MAXXXXXXXXXXXXXXXXX1/Message/"
              "?to_number=14155550111&from_number=14155550100"
              "&message_time__gte=1999-12-31%2023%3A59%3A59&limit=5&offset=0");
}

TEST(PlivoRequest, GetMessageRequest) {
    const HttpRequest request =
        build_get_message_request(account(), "db3ce55a-7f1d-11e1-8ea7-1231380bc196");
    EXPECT_EQ(request.method, RequestMethod::Get);
    EXPECT_EQ(request.url,
              "https://api.plivo.com/v1/Account/MAXXXXXXXXXXXXXXXXX1/Message/"
              "db3ce55a-7f1d-11e1-8ea7-1231380bc196/");
    EXPECT_EQ(build_get_message_request(account(), "a/b?c").url,
              "https://api.plivo.com/v1/Account/MAXXXXXXXXXXXXXXXXX1/Message/a%2Fb%3Fc/");
}

TEST(PlivoRequest, FormatsPlivoTime) {
    EXPECT_EQ(format_plivo_time(utc(2024, 2, 29, 1, 2, 3)), "2024-02-29 01:02:03");
    EXPECT_EQ(format_plivo_time(utc(2024, 2, 29, 1, 2, 3) + std::chrono::milliseconds(999)),
              "2024-02-29 01:02:03");
}

TEST(PlivoRequest, PlivoNumberStripsThePlus) {
    EXPECT_EQ(plivo_number("+14155550100", "sender"), "14155550100");
    EXPECT_EQ(plivo_number("14155550100", "sender"), "14155550100");
    for (const char* bad : {"", "+", "+1 415 555 0100", "+1415555010a", "+1234567890123456"}) {
        SCOPED_TRACE(bad);
        auto error = testing::catch_input_error([&] { plivo_number(bad, "recipient"); });
        ASSERT_TRUE(error.has_value());
        EXPECT_EQ(error->field(), "recipient");
        testing::expect_postgres_style(*error);
    }
}

TEST(PlivoRequest, RejectsUnusableSettings) {
    for (const char* url : {"", "ftp://api.plivo.com", "api.plivo.com"}) {
        auto error = testing::catch_input_error([&] { message_endpoint(account(url)); });
        ASSERT_TRUE(error.has_value());
        EXPECT_EQ(error->field(), "plivo.api_url");
        testing::expect_postgres_style(*error);
    }
    for (const char* id : {"", "MA/../x", "MA X", "MA?"}) {
        PlivoAccount bad = account();
        bad.auth_id = id;
        auto error = testing::catch_input_error([&] { build_send_request(bad, mms()); });
        ASSERT_TRUE(error.has_value());
        EXPECT_EQ(error->field(), "plivo.auth_id");
        testing::expect_postgres_style(*error);
    }
}

TEST(PlivoRequest, TextThatIsNotUtf8IsAnInputError) {
    SendParams message = mms();
    message.text = "caf\xE9";
    auto error = testing::catch_input_error([&] { send_request_body(message); });
    ASSERT_TRUE(error.has_value());
    EXPECT_EQ(error->field(), "message_text");
    testing::expect_postgres_style(*error);

    message = mms();
    message.media_urls.push_back("https://example.com/\xFF.jpg");
    error = testing::catch_input_error([&] { send_request_body(message); });
    ASSERT_TRUE(error.has_value());
    EXPECT_EQ(error->field(), "media_urls");
}

}  // namespace
}  // namespace plivo
