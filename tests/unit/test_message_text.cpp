// analyze_text(): GSM-7 / UCS-2 as Plivo counts them (plivo-api.md §5), their limits,
// and the UTF-8 it refuses.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "message_text.hpp"
#include "input_error_testing.hpp"

namespace plivo {
namespace {

using testing::catch_input_error;
using testing::expect_postgres_style;

const std::string kField = "message_text";

std::string repeat(const std::string& piece, std::size_t times) {
    std::string out;
    for (std::size_t i = 0; i < times; ++i) out += piece;
    return out;
}

// The 127 characters of the GSM 03.38 basic table (0x1B, the escape, is not one), row by row.
const std::string kGsm7BasicTable =
    "@\u00A3$\u00A5\u00E8\u00E9\u00F9\u00EC\u00F2\u00C7\n\u00D8\u00F8\r\u00C5\u00E5"
    "\u0394_\u03A6\u0393\u039B\u03A9\u03A0\u03A8\u03A3\u0398\u039E\u00C6\u00E6\u00DF\u00C9"
    " !\"#\u00A4%&'()*+,-./"
    "0123456789:;<=>?"
    "\u00A1ABCDEFGHIJKLMNOPQRSTUVWXYZ\u00C4\u00D6\u00D1\u00DC\u00A7"
    "\u00BFabcdefghijklmnopqrstuvwxyz\u00E4\u00F6\u00F1\u00FC\u00E0";

// The extension table: form feed and ^ { } \ [ ~ ] | €.
const std::string kGsm7ExtensionTable = "\f^{}\\[~]|\u20AC";

void expect_stats(const TextStats& stats, TextEncoding encoding, std::size_t units,
                  std::size_t segments) {
    EXPECT_EQ(encoding_name(stats.encoding), std::string(encoding_name(encoding)));
    EXPECT_EQ(stats.units, units);
    EXPECT_EQ(stats.segments, segments);
}

TEST(MessageText, EncodingNames) {
    EXPECT_STREQ(encoding_name(TextEncoding::Gsm7), "GSM-7");
    EXPECT_STREQ(encoding_name(TextEncoding::Ucs2), "UCS-2");
}

TEST(MessageText, EmptyTextIsZeroSegments) {
    expect_stats(analyze_text("", kField), TextEncoding::Gsm7, 0, 0);
}

TEST(MessageText, WholeBasicTableIsGsm7OneUnitEach) {
    expect_stats(analyze_text(kGsm7BasicTable, kField), TextEncoding::Gsm7, 127, 1);
}

TEST(MessageText, EachExtensionCharacterCountsTwo) {
    expect_stats(analyze_text(kGsm7ExtensionTable, kField), TextEncoding::Gsm7, 20, 1);
    for (const std::string c : {"\f", "^", "{", "}", "\\", "[", "~", "]", "|", "\u20AC"}) {
        SCOPED_TRACE(c);
        expect_stats(analyze_text("a" + c, kField), TextEncoding::Gsm7, 3, 1);
    }
}

TEST(MessageText, Gsm7SingleMessageBoundary) {
    expect_stats(analyze_text(std::string(160, 'a'), kField), TextEncoding::Gsm7, 160, 1);
    expect_stats(analyze_text(std::string(161, 'a'), kField), TextEncoding::Gsm7, 161, 2);
}

TEST(MessageText, Gsm7SegmentBoundaries) {
    expect_stats(analyze_text(std::string(153 * 2, 'a'), kField), TextEncoding::Gsm7, 306, 2);
    expect_stats(analyze_text(std::string(153 * 2 + 1, 'a'), kField), TextEncoding::Gsm7, 307, 3);
    expect_stats(analyze_text(std::string(153 * 10, 'a'), kField), TextEncoding::Gsm7, 1530, 10);
}

TEST(MessageText, ExtensionCharactersMoveTheBoundary) {
    // 80 euro signs are 160 units: still one message; one more character makes two.
    expect_stats(analyze_text(repeat("\u20AC", 80), kField), TextEncoding::Gsm7, 160, 1);
    expect_stats(analyze_text(repeat("\u20AC", 80) + "a", kField), TextEncoding::Gsm7, 161, 2);
    expect_stats(analyze_text(std::string(159, 'a') + "{", kField), TextEncoding::Gsm7, 161, 2);
}

TEST(MessageText, Gsm7LimitIs1600Units) {
    expect_stats(analyze_text(std::string(1600, 'a'), kField), TextEncoding::Gsm7, 1600, 11);
    expect_stats(analyze_text(repeat("{", 800), kField), TextEncoding::Gsm7, 1600, 11);
}

TEST(MessageText, Gsm7Over1600IsTooLong) {
    const auto error = catch_input_error([] { analyze_text(std::string(1601, 'a'), kField); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), InputErrorKind::StringTooLong);
    EXPECT_EQ(error->field(), kField);
    EXPECT_STREQ(error->what(), "message_text is too long");
    EXPECT_NE(error->detail().find("1601 GSM-7 units"), std::string::npos) << error->detail();
    EXPECT_NE(error->detail().find("limit is 1600"), std::string::npos) << error->detail();
    EXPECT_NE(error->hint().find("Shorten"), std::string::npos) << error->hint();
    expect_postgres_style(*error);
}

TEST(MessageText, ExtensionCharacterCanCrossTheGsm7Limit) {
    const auto error =
        catch_input_error([] { analyze_text(std::string(1599, 'a') + "~", kField); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), InputErrorKind::StringTooLong);
    EXPECT_NE(error->detail().find("1601 GSM-7 units"), std::string::npos) << error->detail();
}

// Characters that look like GSM-7 or are common in texts but are not in either table.
class MessageTextNotGsm7 : public ::testing::TestWithParam<std::pair<std::string, std::size_t>> {};

TEST_P(MessageTextNotGsm7, MakesTheTextUcs2) {
    const auto& [character, utf16_units] = GetParam();
    expect_stats(analyze_text("Hi " + character, kField), TextEncoding::Ucs2, 3 + utf16_units, 1);
}

INSTANTIATE_TEST_SUITE_P(
    Lookalikes, MessageTextNotGsm7,
    ::testing::Values(std::pair<std::string, std::size_t>{"`", 1},
                      std::pair<std::string, std::size_t>{"\t", 1},
                      std::pair<std::string, std::size_t>{"\x01", 1},
                      std::pair<std::string, std::size_t>{"\u00E7", 1},      // ç (only Ç is GSM)
                      std::pair<std::string, std::size_t>{"\u00E1", 1},      // á
                      std::pair<std::string, std::size_t>{"\u00EA", 1},      // ê
                      std::pair<std::string, std::size_t>{"\u00A0", 1},      // no-break space
                      std::pair<std::string, std::size_t>{"\u2019", 1},      // ’
                      std::pair<std::string, std::size_t>{"\u201C", 1},      // “
                      std::pair<std::string, std::size_t>{"\u2026", 1},      // …
                      std::pair<std::string, std::size_t>{"\u0391", 1},      // Greek capital alpha
                      std::pair<std::string, std::size_t>{"\u03B1", 1},      // Greek small alpha
                      std::pair<std::string, std::size_t>{"\u0436", 1},      // ж
                      std::pair<std::string, std::size_t>{"\u00A2", 1},      // ¢
                      std::pair<std::string, std::size_t>{"\U0001F600", 2},  // 😀
                      std::pair<std::string, std::size_t>{"\U0010FFFF", 2}));

TEST(MessageText, OneNonGsm7CharacterMakesWholeTextUcs2) {
    // 100 letters and an emoji: 102 UTF-16 units, two UCS-2 segments (it would be one in GSM-7).
    expect_stats(analyze_text(std::string(100, 'a') + "\U0001F600", kField), TextEncoding::Ucs2,
                 102, 2);
}

TEST(MessageText, ExtensionCharacterCountsOneInUcs2) {
    expect_stats(analyze_text("\u20AC{\u0436", kField), TextEncoding::Ucs2, 3, 1);
}

TEST(MessageText, Ucs2SingleMessageBoundary) {
    expect_stats(analyze_text(repeat("\u0436", 70), kField), TextEncoding::Ucs2, 70, 1);
    expect_stats(analyze_text(repeat("\u0436", 71), kField), TextEncoding::Ucs2, 71, 2);
}

TEST(MessageText, Ucs2SegmentBoundaries) {
    expect_stats(analyze_text(repeat("\u0436", 67 * 2), kField), TextEncoding::Ucs2, 134, 2);
    expect_stats(analyze_text(repeat("\u0436", 67 * 2 + 1), kField), TextEncoding::Ucs2, 135, 3);
}

TEST(MessageText, EmojiCountTwoUnits) {
    expect_stats(analyze_text(repeat("\U0001F600", 35), kField), TextEncoding::Ucs2, 70, 1);
    expect_stats(analyze_text(repeat("\U0001F600", 36), kField), TextEncoding::Ucs2, 72, 2);
    // A family emoji: three people joined by two zero-width joiners, 8 units.
    expect_stats(analyze_text("\U0001F468\u200D\U0001F469\u200D\U0001F467", kField),
                 TextEncoding::Ucs2, 8, 1);
}

TEST(MessageText, Ucs2LimitIs737Units) {
    expect_stats(analyze_text(repeat("\u0436", 737), kField), TextEncoding::Ucs2, 737, 11);
    expect_stats(analyze_text("a" + repeat("\U0001F600", 368), kField), TextEncoding::Ucs2, 737,
                 11);
}

TEST(MessageText, Ucs2Over737IsTooLongAndNamesTheCulprit) {
    // GSM-7 text that would fit, made UCS-2 by one character at position 6.
    const std::string text = "Hello\u0436" + std::string(732, 'a');
    const auto error = catch_input_error([&] { analyze_text(text, kField); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), InputErrorKind::StringTooLong);
    EXPECT_EQ(error->field(), kField);
    EXPECT_STREQ(error->what(), "message_text is too long");
    EXPECT_NE(error->detail().find("738 UCS-2 units"), std::string::npos) << error->detail();
    EXPECT_NE(error->detail().find("limit is 737"), std::string::npos) << error->detail();
    EXPECT_NE(error->detail().find("character 6, \"\u0436\" (U+0436)"), std::string::npos)
        << error->detail();
    EXPECT_NE(error->hint().find("\"\u0436\" (U+0436)"), std::string::npos) << error->hint();
    EXPECT_NE(error->hint().find("1600"), std::string::npos) << error->hint();
    expect_postgres_style(*error);
}

TEST(MessageText, FirstNonGsm7CharacterIsTheOneNamed) {
    const std::string text = std::string(10, 'a') + "\U0001F600\u0436" + repeat("\u0436", 736);
    const auto error = catch_input_error([&] { analyze_text(text, kField); });
    ASSERT_TRUE(error);
    EXPECT_NE(error->detail().find("character 11, \"\U0001F600\" (U+1F600)"), std::string::npos)
        << error->detail();
}

TEST(MessageText, EmojiCanCrossTheUcs2Limit) {
    const auto error =
        catch_input_error([] { analyze_text("ab" + repeat("\U0001F600", 368), kField); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), InputErrorKind::StringTooLong);
    EXPECT_NE(error->detail().find("738 UCS-2 units"), std::string::npos) << error->detail();
}

TEST(MessageText, ControlCharacterIsEscapedWhenNamed) {
    const std::string text = "a\t" + std::string(736, 'b');
    const auto error = catch_input_error([&] { analyze_text(text, kField); });
    ASSERT_TRUE(error);
    EXPECT_NE(error->detail().find("\"\\t\" (U+0009)"), std::string::npos) << error->detail();
    expect_postgres_style(*error);
}

TEST(MessageText, ErrorsNameTheFieldGiven) {
    const auto error =
        catch_input_error([] { analyze_text(std::string(1601, 'a'), "text_column"); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->field(), "text_column");
    EXPECT_STREQ(error->what(), "text_column is too long");
}

TEST(MessageText, NulIsRefused) {
    const auto error = catch_input_error([] { analyze_text(std::string("ab\0c", 4), kField); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), InputErrorKind::InvalidParameter);
    EXPECT_EQ(error->field(), kField);
    EXPECT_STREQ(error->what(), "message_text contains a NUL character");
    EXPECT_NE(error->detail().find("Character 3"), std::string::npos) << error->detail();
    expect_postgres_style(*error);
}

struct BadUtf8 {
    const char* name;
    std::string bytes;
    std::size_t offset;  // where the bad sequence starts
};

class MessageTextInvalidUtf8 : public ::testing::TestWithParam<BadUtf8> {};

TEST_P(MessageTextInvalidUtf8, IsRefusedWithItsOffset) {
    const auto error = catch_input_error([] { analyze_text(GetParam().bytes, kField); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), InputErrorKind::InvalidParameter);
    EXPECT_EQ(error->field(), kField);
    EXPECT_STREQ(error->what(), "message_text is not valid UTF-8");
    EXPECT_NE(error->detail().find("offset " + std::to_string(GetParam().offset) + " "),
              std::string::npos)
        << error->detail();
    expect_postgres_style(*error);
}

INSTANTIATE_TEST_SUITE_P(
    Sequences, MessageTextInvalidUtf8,
    ::testing::Values(
        BadUtf8{"overlong_slash_2", "ab\xC0\xAF", 2}, BadUtf8{"overlong_C1", "\xC1\xBF", 0},
        BadUtf8{"overlong_slash_3", "a\xE0\x80\xAF", 1},
        BadUtf8{"overlong_3_max", "\xE0\x9F\xBF", 0}, BadUtf8{"overlong_4", "\xF0\x8F\xBF\xBF", 0},
        BadUtf8{"surrogate_high", "x\xED\xA0\x80", 1}, BadUtf8{"surrogate_low", "\xED\xBF\xBF", 0},
        BadUtf8{"above_10FFFF", "\xF4\x90\x80\x80", 0}, BadUtf8{"lead_F5", "\xF5\x80\x80\x80", 0},
        BadUtf8{"byte_FF", "abc\xFF", 3}, BadUtf8{"stray_continuation", "a\x80z", 1},
        BadUtf8{"truncated_at_end_2", "abc\xC3", 3},
        BadUtf8{"truncated_at_end_3", "abc\xE2\x82", 3},
        BadUtf8{"truncated_at_end_4", "\xF0\x9F\x98", 0},
        BadUtf8{"truncated_mid_text", "ab\xE2\x82z", 2}, BadUtf8{"latin1_e_acute", "caf\xE9!", 3}),
    [](const ::testing::TestParamInfo<BadUtf8>& info) { return std::string(info.param.name); });

TEST(MessageText, HighestValidSequencesAreAccepted) {
    // The last code point of each length and the characters on either side of the surrogates.
    expect_stats(analyze_text("\x7F", kField), TextEncoding::Ucs2, 1, 1);
    expect_stats(analyze_text("\xDF\xBF", kField), TextEncoding::Ucs2, 1, 1);          // U+07FF
    expect_stats(analyze_text("\xED\x9F\xBF", kField), TextEncoding::Ucs2, 1, 1);      // U+D7FF
    expect_stats(analyze_text("\xEE\x80\x80", kField), TextEncoding::Ucs2, 1, 1);      // U+E000
    expect_stats(analyze_text("\xEF\xBF\xBF", kField), TextEncoding::Ucs2, 1, 1);      // U+FFFF
    expect_stats(analyze_text("\xF0\x90\x80\x80", kField), TextEncoding::Ucs2, 2, 1);  // U+10000
    expect_stats(analyze_text("\xF4\x8F\xBF\xBF", kField), TextEncoding::Ucs2, 2, 1);  // U+10FFFF
}

TEST(MessageText, InvalidUtf8DetailShowsTheBytes) {
    const auto error = catch_input_error([] { analyze_text("x\xED\xA0\x80y", kField); });
    ASSERT_TRUE(error);
    EXPECT_NE(error->detail().find("0xED 0xA0 0x80"), std::string::npos) << error->detail();
}

}  // namespace
}  // namespace plivo
