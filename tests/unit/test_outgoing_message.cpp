// validate_outgoing(): the one check behind send_mms(), send_sms() and INSERT into
// plivo.message_logs. Every rule is tried for what it accepts, what it refuses, and the
// field, kind and wording of its error.
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "outgoing_message.hpp"
#include "input_error_testing.hpp"

namespace plivo {
namespace {

using testing::catch_input_error;
using testing::expect_postgres_style;
using MediaList = std::vector<std::optional<std::string>>;

const std::string kRecipient = "+14155552671";
const std::string kSender = "+14155550100";
const std::string kPhoto = "https://example.com/a.jpg";

OutgoingMessage sms() {
    OutgoingMessage message;
    message.recipient = kRecipient;
    message.sender = kSender;
    message.text = "Hello";
    return message;
}

OutgoingMessage mms(std::size_t media_count = 1) {
    OutgoingMessage message;
    message.recipient = kRecipient;
    message.sender = kSender;
    message.media_urls = MediaList{};
    for (std::size_t i = 0; i < media_count; ++i) {
        message.media_urls->push_back("https://example.com/" + std::to_string(i + 1) + ".jpg");
    }
    return message;
}

// The error validate_outgoing() throws for `message`, checked for style on the way.
std::optional<InputError> error_for(const OutgoingMessage& message,
                                    const FieldNames& names = kFunctionArgumentNames) {
    auto error = catch_input_error([&] { validate_outgoing(message, names); });
    if (error) expect_postgres_style(*error);
    return error;
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

TEST(OutgoingNames, FunctionArgumentNames) {
    EXPECT_EQ(kFunctionArgumentNames.recipient, "destination_number");
    EXPECT_EQ(kFunctionArgumentNames.sender, "sender_number");
    EXPECT_EQ(kFunctionArgumentNames.text, "message_text");
    EXPECT_EQ(kFunctionArgumentNames.media_urls, "media_urls");
    EXPECT_EQ(kFunctionArgumentNames.callback_url, "callback_url");
    EXPECT_EQ(kFunctionArgumentNames.message_type, "message_type");
}

TEST(OutgoingNames, ColumnNames) {
    EXPECT_EQ(kColumnNames.recipient, "recipient");
    EXPECT_EQ(kColumnNames.sender, "sender");
    EXPECT_EQ(kColumnNames.text, "message_text");
    EXPECT_EQ(kColumnNames.media_urls, "media_urls");
    EXPECT_EQ(kColumnNames.callback_url, "callback_url");
    EXPECT_EQ(kColumnNames.message_type, "message_type");
}

TEST(OutgoingMessageType, NamesAndParsing) {
    EXPECT_STREQ(message_type_name(MessageType::Sms), "sms");
    EXPECT_STREQ(message_type_name(MessageType::Mms), "mms");
    EXPECT_EQ(parse_message_type("sms", "message_type"), MessageType::Sms);
    EXPECT_EQ(parse_message_type("MMS", "message_type"), MessageType::Mms);
    for (const std::string bad : {"", "fax", "sms ", "whatsapp"}) {
        SCOPED_TRACE(bad);
        const auto error = catch_input_error([&] { parse_message_type(bad, "message_type"); });
        ASSERT_TRUE(error);
        EXPECT_EQ(error->kind(), InputErrorKind::InvalidParameter);
        EXPECT_EQ(error->field(), "message_type");
        expect_postgres_style(*error);
    }
}

// ---- A valid SMS and a valid MMS, and what comes out of them ----

TEST(OutgoingSms, ValidSmsIsNormalised) {
    OutgoingMessage message = sms();
    message.recipient = "1 (415) 555-2671";
    message.sender = "1.415.555.0100";
    const ValidatedMessage valid = validate_outgoing(message, kFunctionArgumentNames);
    EXPECT_EQ(valid.type, MessageType::Sms);
    EXPECT_EQ(valid.recipient, "+14155552671");
    EXPECT_EQ(valid.sender, "+14155550100");
    EXPECT_EQ(valid.text, std::optional<std::string>("Hello"));
    EXPECT_TRUE(valid.media_urls.empty());
    EXPECT_FALSE(valid.callback_url);
    EXPECT_EQ(valid.text_stats.encoding, TextEncoding::Gsm7);
    EXPECT_EQ(valid.text_stats.units, 5u);
    EXPECT_EQ(valid.text_stats.segments, 1u);
}

TEST(OutgoingSms, SmsMayGoAbroad) {
    OutgoingMessage message = sms();
    message.recipient = "+44 20 7183 8750";
    EXPECT_EQ(validate_outgoing(message, kFunctionArgumentNames).recipient, "+442071838750");
}

TEST(OutgoingSms, SenderMayEqualRecipient) {
    OutgoingMessage message = sms();
    message.sender = kRecipient;
    EXPECT_EQ(validate_outgoing(message, kFunctionArgumentNames).sender, kRecipient);
}

TEST(OutgoingSms, TextStatsDescribeTheText) {
    OutgoingMessage message = sms();
    message.text = std::string(150, 'a') + "\U0001F600";
    const ValidatedMessage valid = validate_outgoing(message, kFunctionArgumentNames);
    EXPECT_EQ(valid.text_stats.encoding, TextEncoding::Ucs2);
    EXPECT_EQ(valid.text_stats.units, 152u);
    EXPECT_EQ(valid.text_stats.segments, 3u);
}

TEST(OutgoingMms, ValidMmsKeepsMediaInOrder) {
    OutgoingMessage message = mms(3);
    message.text = "Your photos";
    message.callback_url = "https://cb.example.com/plivo/status";
    const ValidatedMessage valid = validate_outgoing(message, kFunctionArgumentNames);
    EXPECT_EQ(valid.type, MessageType::Mms);
    EXPECT_EQ(valid.media_urls,
              (std::vector<std::string>{"https://example.com/1.jpg", "https://example.com/2.jpg",
                                        "https://example.com/3.jpg"}));
    EXPECT_EQ(valid.text, std::optional<std::string>("Your photos"));
    EXPECT_EQ(valid.text_stats.units, 11u);
    EXPECT_EQ(valid.callback_url,
              std::optional<std::string>("https://cb.example.com/plivo/status"));
}

TEST(OutgoingMms, TextIsOptional) {
    const ValidatedMessage valid = validate_outgoing(mms(), kFunctionArgumentNames);
    EXPECT_FALSE(valid.text);
    EXPECT_EQ(valid.text_stats.encoding, TextEncoding::Gsm7);
    EXPECT_EQ(valid.text_stats.units, 0u);
    EXPECT_EQ(valid.text_stats.segments, 0u);
}

TEST(OutgoingMms, EmptyTextCountsAsNoText) {
    OutgoingMessage message = mms();
    message.text = "";
    EXPECT_FALSE(validate_outgoing(message, kFunctionArgumentNames).text);
}

TEST(OutgoingMms, CanadianRecipientIsAccepted) {
    OutgoingMessage message = mms();
    message.recipient = "+1 613 555 0123";
    EXPECT_EQ(validate_outgoing(message, kFunctionArgumentNames).recipient, "+16135550123");
}

TEST(OutgoingMms, TenMediaAreAccepted) {
    EXPECT_EQ(validate_outgoing(mms(kMaxMediaUrls), kFunctionArgumentNames).media_urls.size(), 10u);
}

// ---- Message type ----

TEST(OutgoingType, MediaMakeItAnMms) {
    EXPECT_EQ(validate_outgoing(mms(), kFunctionArgumentNames).type, MessageType::Mms);
}

TEST(OutgoingType, EmptyMediaListMakesItAnSms) {
    OutgoingMessage message = sms();
    message.media_urls = MediaList{};
    EXPECT_EQ(validate_outgoing(message, kFunctionArgumentNames).type, MessageType::Sms);
}

TEST(OutgoingType, ListOfOneNullIsAnMmsWithANullUrl) {
    OutgoingMessage message = sms();
    message.media_urls = MediaList{std::nullopt};
    const auto error = error_for(message);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->field(), "media_urls[1]");
    EXPECT_EQ(error->kind(), InputErrorKind::NullValue);
}

TEST(OutgoingType, ExplicitTypeWins) {
    OutgoingMessage message = mms();
    message.type = MessageType::Sms;
    message.text = "Hello";
    const auto error = error_for(message);  // an SMS with media: refused, not turned into an MMS
    ASSERT_TRUE(error);
    EXPECT_EQ(error->field(), "media_urls");
    EXPECT_EQ(error->detail(), "The message type is sms and media_urls has 1 element.");
}

// ---- Recipient ----

TEST(OutgoingRecipient, NullIsNullValue) {
    OutgoingMessage message = sms();
    message.recipient.reset();
    const auto error = error_for(message);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), InputErrorKind::NullValue);
    EXPECT_EQ(error->field(), "destination_number");
    EXPECT_STREQ(error->what(), "destination_number is required");
    EXPECT_EQ(error->detail(), "The value was NULL.");
}

TEST(OutgoingRecipient, EmptyIsNullValue) {
    OutgoingMessage message = sms();
    message.recipient = "";
    const auto error = error_for(message);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), InputErrorKind::NullValue);
    EXPECT_EQ(error->field(), "destination_number");
    EXPECT_EQ(error->detail(), "The value was an empty string.");
}

TEST(OutgoingRecipient, InvalidNumber) {
    OutgoingMessage message = sms();
    message.recipient = "+1415";
    const auto error = error_for(message);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), InputErrorKind::InvalidParameter);
    EXPECT_EQ(error->field(), "destination_number");
    EXPECT_STREQ(error->what(), "destination_number is not a valid phone number");
    EXPECT_EQ(error->detail(), "The value was \"+1415\".");
}

TEST(OutgoingRecipient, CheckedBeforeSender) {
    OutgoingMessage message = sms();
    message.recipient = "+1415";
    message.sender = "nonsense";
    const auto error = error_for(message);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->field(), "destination_number");
}

TEST(OutgoingRecipient, ColumnNamesAreUsedForInsert) {
    OutgoingMessage message = sms();
    message.recipient = "+1415";
    const auto error = error_for(message, kColumnNames);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->field(), "recipient");
    EXPECT_STREQ(error->what(), "recipient is not a valid phone number");
}

// ---- Sender ----

TEST(OutgoingSender, InvalidSenderNamesSenderField) {
    OutgoingMessage message = sms();
    message.sender = "+1 415 555";
    const auto error = error_for(message);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), InputErrorKind::InvalidParameter);
    EXPECT_EQ(error->field(), "sender_number");
    EXPECT_STREQ(error->what(), "sender_number is not a valid phone number");
}

TEST(OutgoingSender, DefaultSenderIsUsedWhenNoneGiven) {
    OutgoingMessage message = sms();
    message.sender.reset();
    message.default_sender = "+1 (415) 555-0111";
    EXPECT_EQ(validate_outgoing(message, kFunctionArgumentNames).sender, "+14155550111");
}

TEST(OutgoingSender, EmptySenderFallsBackToDefault) {
    OutgoingMessage message = sms();
    message.sender = "";
    message.default_sender = "+14155550111";
    EXPECT_EQ(validate_outgoing(message, kFunctionArgumentNames).sender, "+14155550111");
}

TEST(OutgoingSender, GivenSenderBeatsDefault) {
    OutgoingMessage message = sms();
    message.default_sender = "+14155550111";
    EXPECT_EQ(validate_outgoing(message, kFunctionArgumentNames).sender, kSender);
}

TEST(OutgoingSender, NoSenderAndNoSettingIsMissingSetting) {
    for (const std::optional<std::string>& unset :
         {std::optional<std::string>(), std::optional<std::string>("")}) {
        OutgoingMessage message = sms();
        message.sender.reset();
        message.default_sender = unset;
        const auto error = error_for(message);
        ASSERT_TRUE(error);
        EXPECT_EQ(error->kind(), InputErrorKind::MissingSetting);
        EXPECT_EQ(error->field(), "sender_number");
        EXPECT_STREQ(error->what(), "sender_number is required");
        EXPECT_TRUE(contains(error->hint(), "sender_number")) << error->hint();
        EXPECT_TRUE(contains(error->hint(), "ALTER DATABASE")) << error->hint();
        EXPECT_TRUE(contains(error->hint(), "SET plivo.sender_number = '+1")) << error->hint();
    }
}

TEST(OutgoingSender, InvalidDefaultNamesTheSetting) {
    OutgoingMessage message = sms();
    message.sender.reset();
    message.default_sender = "555-0100";
    const auto error = error_for(message);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), InputErrorKind::MissingSetting);
    EXPECT_EQ(error->field(), "plivo.sender_number");
    EXPECT_STREQ(error->what(), "plivo.sender_number is not a valid phone number");
    EXPECT_EQ(error->detail(), "The value was \"555-0100\".");
    EXPECT_TRUE(contains(error->hint(), "ALTER DATABASE")) << error->hint();
}

TEST(OutgoingSender, ColumnName) {
    OutgoingMessage message = sms();
    message.sender.reset();
    const auto error = error_for(message, kColumnNames);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->field(), "sender");
}

// ---- SMS text and media ----

TEST(OutgoingSms, NullTextIsNullValue) {
    OutgoingMessage message = sms();
    message.text.reset();
    const auto error = error_for(message);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), InputErrorKind::NullValue);
    EXPECT_EQ(error->field(), "message_text");
    EXPECT_TRUE(contains(error->hint(), "send_mms")) << error->hint();
}

TEST(OutgoingSms, BlankTextIsRefused) {
    // Empty, ASCII white space, and Unicode spaces (no-break, ideographic, zero-width).
    for (const std::string blank : {"", " ", " \t\r\n ", "\u00A0", "\u3000 \u200B"}) {
        SCOPED_TRACE(quote_for_detail(blank));
        OutgoingMessage message = sms();
        message.text = blank;
        const auto error = error_for(message);
        ASSERT_TRUE(error);
        EXPECT_EQ(error->kind(), InputErrorKind::InvalidParameter);
        EXPECT_EQ(error->field(), "message_text");
        EXPECT_STREQ(error->what(), "message_text must not be empty for an SMS");
    }
}

TEST(OutgoingSms, TextWithSurroundingSpaceIsKeptAsGiven) {
    OutgoingMessage message = sms();
    message.text = "  a \n";
    EXPECT_EQ(validate_outgoing(message, kFunctionArgumentNames).text,
              std::optional<std::string>("  a \n"));
}

TEST(OutgoingSms, TooLongText) {
    OutgoingMessage message = sms();
    message.text = std::string(1601, 'a');
    const auto error = error_for(message);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), InputErrorKind::StringTooLong);
    EXPECT_EQ(error->field(), "message_text");
}

TEST(OutgoingSms, InvalidUtf8Text) {
    OutgoingMessage message = sms();
    message.text = "caf\xE9";
    const auto error = error_for(message);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), InputErrorKind::InvalidParameter);
    EXPECT_EQ(error->field(), "message_text");
}

TEST(OutgoingSms, MediaAreRefused) {
    OutgoingMessage message = sms();
    message.type = MessageType::Sms;
    message.media_urls = MediaList{kPhoto, kPhoto};
    const auto error = error_for(message);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), InputErrorKind::InvalidParameter);
    EXPECT_EQ(error->field(), "media_urls");
    EXPECT_STREQ(error->what(), "media_urls must be empty for an SMS");
    EXPECT_TRUE(contains(error->detail(), "2 elements")) << error->detail();
    EXPECT_TRUE(contains(error->hint(), "send_mms")) << error->hint();
}

TEST(OutgoingSms, NullMediaListIsFine) {
    OutgoingMessage message = sms();
    message.type = MessageType::Sms;
    message.media_urls.reset();
    EXPECT_TRUE(validate_outgoing(message, kFunctionArgumentNames).media_urls.empty());
}

// ---- MMS region, media and text ----

TEST(OutgoingMms, RecipientOutsideUsAndCanadaIsRefused) {
    for (const std::string abroad : {"+44 20 7183 8750", "+33612345678", "+1 787 555 0123"}) {
        SCOPED_TRACE(abroad);
        OutgoingMessage message = mms();
        message.recipient = abroad;
        const auto error = error_for(message);
        ASSERT_TRUE(error);
        EXPECT_EQ(error->kind(), InputErrorKind::InvalidParameter);
        EXPECT_EQ(error->field(), "destination_number");
        EXPECT_STREQ(error->what(), "destination_number cannot receive an MMS");
        EXPECT_TRUE(contains(error->detail(), quote_for_detail(abroad))) << error->detail();
        EXPECT_TRUE(contains(error->hint(), "US and Canadian")) << error->hint();
        EXPECT_TRUE(contains(error->hint(), "send_sms")) << error->hint();
    }
}

TEST(OutgoingMms, RegionIsNamedInDetail) {
    OutgoingMessage message = mms();
    message.recipient = "+442071838750";
    const auto error = error_for(message);
    ASSERT_TRUE(error);
    EXPECT_TRUE(contains(error->detail(), "region GB")) << error->detail();
}

TEST(OutgoingMms, ElevenMediaAreTooMany) {
    const auto error = error_for(mms(kMaxMediaUrls + 1));
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), InputErrorKind::InvalidParameter);
    EXPECT_EQ(error->field(), "media_urls");
    EXPECT_STREQ(error->what(), "media_urls has too many elements");
    EXPECT_TRUE(contains(error->detail(), "11 elements")) << error->detail();
    EXPECT_TRUE(contains(error->detail(), "at most 10")) << error->detail();
}

TEST(OutgoingMms, NullMediaListIsNullValue) {
    OutgoingMessage message = mms();
    message.type = MessageType::Mms;
    message.media_urls.reset();
    const auto error = error_for(message);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), InputErrorKind::NullValue);
    EXPECT_EQ(error->field(), "media_urls");
    EXPECT_STREQ(error->what(), "media_urls is required for an MMS");
}

TEST(OutgoingMms, EmptyMediaListIsRefused) {
    OutgoingMessage message = mms(0);
    message.type = MessageType::Mms;
    message.text = "Only text";
    const auto error = error_for(message);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), InputErrorKind::InvalidParameter);
    EXPECT_EQ(error->field(), "media_urls");
    EXPECT_STREQ(error->what(), "media_urls must not be empty for an MMS");
}

TEST(OutgoingMms, NullElementIsNamedOneBased) {
    OutgoingMessage message = mms(5);
    (*message.media_urls)[2].reset();
    const auto error = error_for(message);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), InputErrorKind::NullValue);
    EXPECT_EQ(error->field(), "media_urls[3]");
    EXPECT_STREQ(error->what(), "media_urls[3] must not be null");
}

TEST(OutgoingMms, EmptyElementIsRefused) {
    OutgoingMessage message = mms(2);
    (*message.media_urls)[1] = "";
    const auto error = error_for(message);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), InputErrorKind::InvalidParameter);
    EXPECT_EQ(error->field(), "media_urls[2]");
    EXPECT_STREQ(error->what(), "media_urls[2] must not be empty");
}

TEST(OutgoingMms, EachMediaUrlIsCheckedAsHttp) {
    for (const std::string bad :
         {"ftp://example.com/a.jpg", "file:///etc/passwd", "javascript:alert(1)",
          "example.com/a.jpg", "https://", "https://example.com/a b.jpg"}) {
        SCOPED_TRACE(bad);
        OutgoingMessage message = mms(4);
        (*message.media_urls)[3] = bad;
        const auto error = error_for(message);
        ASSERT_TRUE(error);
        EXPECT_EQ(error->kind(), InputErrorKind::InvalidParameter);
        EXPECT_EQ(error->field(), "media_urls[4]");
    }
}

TEST(OutgoingMms, TextIsCheckedWithTheSameLimits) {
    OutgoingMessage message = mms();
    message.text = std::string(737, 'a') + "\u0436";
    const auto error = error_for(message);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), InputErrorKind::StringTooLong);
    EXPECT_EQ(error->field(), "message_text");
    EXPECT_TRUE(contains(error->detail(), "738 UCS-2 units")) << error->detail();
}

TEST(OutgoingMms, ColumnNameForMediaElement) {
    OutgoingMessage message = mms(2);
    (*message.media_urls)[1] = "ftp://example.com/a.jpg";
    const auto error = error_for(message, kColumnNames);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->field(), "media_urls[2]");
}

// ---- Callback URL ----

TEST(OutgoingCallback, HttpCallbackIsKept) {
    OutgoingMessage message = sms();
    message.callback_url = "http://hooks.example.com:8080/plivo/status?tenant=42";
    EXPECT_EQ(validate_outgoing(message, kFunctionArgumentNames).callback_url,
              std::optional<std::string>("http://hooks.example.com:8080/plivo/status?tenant=42"));
}

TEST(OutgoingCallback, EmptyCallbackCountsAsNone) {
    OutgoingMessage message = sms();
    message.callback_url = "";
    EXPECT_FALSE(validate_outgoing(message, kFunctionArgumentNames).callback_url);
}

TEST(OutgoingCallback, NonHttpCallbackIsRefused) {
    for (const auto& names : {kFunctionArgumentNames, kColumnNames}) {
        OutgoingMessage message = mms();
        message.callback_url = "ftp://hooks.example.com/status";
        const auto error = error_for(message, names);
        ASSERT_TRUE(error);
        EXPECT_EQ(error->kind(), InputErrorKind::InvalidParameter);
        EXPECT_EQ(error->field(), "callback_url");
    }
}

}  // namespace
}  // namespace plivo

// ---- Powerpack instead of a sender ----

namespace plivo {
namespace {

constexpr const char* kPack = "d1b5a6c2-3e4f-4a5b-8c6d-7e8f9a0b1c2d";

TEST(OutgoingPowerpack, APackTakesThePlaceOfTheSender) {
    OutgoingMessage message = sms();
    message.sender.reset();
    message.default_sender = "+14155550100";
    message.powerpack_uuid = "D1B5A6C2-3E4F-4A5B-8C6D-7E8F9A0B1C2D";
    const ValidatedMessage valid = validate_outgoing(message, kFunctionArgumentNames);
    EXPECT_EQ(valid.powerpack_uuid, std::optional<std::string>(kPack));
    EXPECT_EQ(valid.sender, "");
}

TEST(OutgoingPowerpack, TheDefaultPackComesBeforeTheDefaultSenderButAfterAGivenOne) {
    OutgoingMessage message = sms();
    message.sender.reset();
    message.default_sender = "+14155550100";
    message.default_powerpack_uuid = kPack;
    EXPECT_EQ(validate_outgoing(message, kColumnNames).powerpack_uuid,
              std::optional<std::string>(kPack));
    message.sender = "+14155550199";
    const ValidatedMessage own = validate_outgoing(message, kColumnNames);
    EXPECT_FALSE(own.powerpack_uuid);
    EXPECT_EQ(own.sender, "+14155550199");
}

TEST(OutgoingPowerpack, SenderAndPackTogetherAreRefused) {
    OutgoingMessage message = sms();
    message.sender = "+14155550100";
    message.powerpack_uuid = kPack;
    auto error = error_for(message);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->field(), "powerpack_uuid");
    EXPECT_TRUE(contains(error->what(), "powerpack_uuid and sender_number"));
}

TEST(OutgoingPowerpack, OnlyUuidsAreAccepted) {
    for (const char* bad : {"pack-1", "d1b5a6c2-3e4f-4a5b-8c6d-7e8f9a0b1c2", "d1b5a6c2x3e4f-4a5b-8c6d-7e8f9a0b1c2d",
                            "g1b5a6c2-3e4f-4a5b-8c6d-7e8f9a0b1c2d"}) {
        OutgoingMessage message = sms();
        message.sender.reset();
        message.powerpack_uuid = bad;
        auto error = error_for(message);
        ASSERT_TRUE(error) << bad;
        EXPECT_EQ(error->field(), "powerpack_uuid") << bad;
        EXPECT_EQ(error->kind(), InputErrorKind::InvalidParameter) << bad;
    }
}

}  // namespace
}  // namespace plivo
