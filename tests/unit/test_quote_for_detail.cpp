// quote_for_detail(): user values in errdetail stay one readable, bounded line.
// (Suite named *Text* so that `ctest -R Text` runs it with the other text tests.)
#include <string>

#include <gtest/gtest.h>

#include "input_error.hpp"
#include "utf8.hpp"

namespace plivo {
namespace {

TEST(QuotedDetailText, PlainValueIsQuoted) {
    EXPECT_EQ(quote_for_detail("+1415"), "\"+1415\"");
    EXPECT_EQ(quote_for_detail(""), "\"\"");
}

TEST(QuotedDetailText, NonAsciiIsKeptAsWritten) {
    EXPECT_EQ(quote_for_detail("caf\u00E9 \U0001F600 \u0436"), "\"caf\u00E9 \U0001F600 \u0436\"");
}

TEST(QuotedDetailText, QuotesAndBackslashesAreEscaped) {
    EXPECT_EQ(quote_for_detail("say \"hi\" \\o/"), "\"say \\\"hi\\\" \\\\o/\"");
}

TEST(QuotedDetailText, ControlCharactersAreEscaped) {
    EXPECT_EQ(quote_for_detail("a\nb\rc\td"), "\"a\\nb\\rc\\td\"");
    EXPECT_EQ(quote_for_detail(std::string("a\0b", 3)), "\"a\\x00b\"");
    EXPECT_EQ(quote_for_detail("\x1B[31m\x7F"), "\"\\x1B[31m\\x7F\"");
}

TEST(QuotedDetailText, InvisibleAndLineBreakingUnicodeIsEscaped) {
    EXPECT_EQ(quote_for_detail("a\u2028b\u2029c"), "\"a\\u2028b\\u2029c\"");
    EXPECT_EQ(quote_for_detail("x\u0085y"), "\"x\\u0085y\"");      // NEL, a C1 control
    EXPECT_EQ(quote_for_detail("\u202Eevil"), "\"\\u202Eevil\"");  // right-to-left override
    EXPECT_EQ(quote_for_detail("\uFEFF+1"), "\"\\uFEFF+1\"");      // byte order mark
}

TEST(QuotedDetailText, InvalidUtf8BytesAreEscaped) {
    EXPECT_EQ(quote_for_detail("caf\xE9"), "\"caf\\xE9\"");
    EXPECT_EQ(quote_for_detail("\xED\xA0\x80"), "\"\\xED\\xA0\\x80\"");
}

TEST(QuotedDetailText, ValueOfExactlyMaxBytesIsWhole) {
    const std::string value(120, 'a');
    EXPECT_EQ(quote_for_detail(value), "\"" + value + "\"");
}

TEST(QuotedDetailText, LongerValueIsCutWithEllipsis) {
    EXPECT_EQ(quote_for_detail(std::string(121, 'a')), "\"" + std::string(120, 'a') + "\u2026\"");
    EXPECT_EQ(quote_for_detail("abcdef", 3), "\"abc\u2026\"");
    EXPECT_EQ(quote_for_detail("abc", 0), "\"\u2026\"");
}

TEST(QuotedDetailText, CutNeverSplitsACharacter) {
    // 119 bytes of ASCII then "é" (2 bytes): the é does not fit, so it goes whole.
    const std::string quoted = quote_for_detail(std::string(119, 'a') + "\u00E9");
    EXPECT_EQ(quoted, "\"" + std::string(119, 'a') + "\u2026\"");
    EXPECT_FALSE(utf8::find_invalid(quoted));
    // Same for a 4-byte emoji straddling the limit.
    const std::string emoji = quote_for_detail(std::string(118, 'a') + "\U0001F600");
    EXPECT_EQ(emoji, "\"" + std::string(118, 'a') + "\u2026\"");
}

TEST(QuotedDetailText, CutNeverSplitsAnEscape) {
    EXPECT_EQ(quote_for_detail(std::string(119, 'a') + "\n"),
              "\"" + std::string(119, 'a') + "\u2026\"");
}

TEST(QuotedDetailText, HugeValueStaysSmall) {
    const std::string quoted = quote_for_detail(std::string(1 << 20, '\n'));
    EXPECT_LE(quoted.size(), 120u + 2 + 3);
}

TEST(QuotedDetailText, EveryByteGivesOneValidLine) {
    std::string all_bytes;
    for (int b = 0; b < 256; ++b) all_bytes += static_cast<char>(b);
    const std::string quoted = quote_for_detail(all_bytes, 10000);
    EXPECT_FALSE(utf8::find_invalid(quoted));
    for (char c : quoted) {
        const auto byte = static_cast<unsigned char>(c);
        EXPECT_FALSE(byte < 0x20 || byte == 0x7F) << "raw control byte " << int(byte);
    }
}

}  // namespace
}  // namespace plivo
