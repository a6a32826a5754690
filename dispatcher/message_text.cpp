#include "message_text.hpp"

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <optional>

#include "input_error.hpp"
#include "utf8.hpp"
#include "pure_cpp.hpp"

namespace plivo {

namespace {

constexpr std::size_t kGsm7SingleMessage = 160;
constexpr std::size_t kGsm7PerSegment = 153;
constexpr std::size_t kUcs2SingleMessage = 70;
constexpr std::size_t kUcs2PerSegment = 67;

// The GSM 03.38 basic table outside printable ASCII (3GPP TS 23.038 §6.2.1), sorted.
// Printable ASCII is in the table except '`' and the extension characters below; '$' and
// '@' sit at other positions than in ASCII but are there.
constexpr char32_t kGsm7BasicNonAscii[] = {
    U'\n',     U'\r',     U'\u00A1', U'\u00A3', U'\u00A4', U'\u00A5', U'\u00A7',
    U'\u00BF', U'\u00C4', U'\u00C5', U'\u00C6', U'\u00C7', U'\u00C9', U'\u00D1',
    U'\u00D6', U'\u00D8', U'\u00DC', U'\u00DF', U'\u00E0', U'\u00E4', U'\u00E5',
    U'\u00E6', U'\u00E8', U'\u00E9', U'\u00EC', U'\u00F1', U'\u00F2', U'\u00F6',
    U'\u00F8', U'\u00F9', U'\u00FC', U'\u0393', U'\u0394', U'\u0398', U'\u039B',
    U'\u039E', U'\u03A0', U'\u03A3', U'\u03A6', U'\u03A8', U'\u03A9',
};

// The GSM 03.38 extension table: sent as ESC + character, so each counts two units.
bool is_gsm7_extension(char32_t c) {
    switch (c) {
        case U'\f':
        case U'^':
        case U'{':
        case U'}':
        case U'\\':
        case U'[':
        case U'~':
        case U']':
        case U'|':
        case U'\u20AC':  // €
            return true;
        default:
            return false;
    }
}

bool is_gsm7_basic(char32_t c) {
    if (c >= 0x20 && c <= 0x7E) return c != U'`' && !is_gsm7_extension(c);
    return std::binary_search(std::begin(kGsm7BasicNonAscii), std::end(kGsm7BasicNonAscii), c);
}

std::size_t segments_for(std::size_t units, std::size_t single, std::size_t per_segment) {
    if (units == 0) return 0;
    if (units <= single) return 1;
    return (units + per_segment - 1) / per_segment;
}

// `"😀" (U+1F600)`: the character as a reader sees it and as they can search for it.
std::string describe_char(char32_t c) {
    return quote_for_detail(utf8::encode(c)) + " (" + utf8::code_point_name(c) + ")";
}

[[noreturn]] void throw_invalid_utf8(const std::string& text, std::size_t offset,
                                     const std::string& field) {
    char bytes[32];
    std::string shown;
    for (std::size_t i = offset; i < text.size() && i < offset + 4; ++i) {
        std::snprintf(bytes, sizeof bytes, "%s0x%02X", shown.empty() ? "" : " ",
                      static_cast<unsigned char>(text[i]));
        shown += bytes;
    }
    throw InputError(InputErrorKind::InvalidParameter, field, field + " is not valid UTF-8",
                     "The bytes at offset " + std::to_string(offset) + " (" + shown +
                         ") do not form a UTF-8 character.",
                     "Pass the text as UTF-8; overlong forms, surrogates and truncated "
                     "sequences are not accepted.");
}

}  // namespace

const char* encoding_name(TextEncoding encoding) {
    return encoding == TextEncoding::Gsm7 ? "GSM-7" : "UCS-2";
}

// One pass over the text counts it both ways; the first character outside GSM-7 decides
// the encoding and is kept for the error message.
TextStats analyze_text(const std::string& utf8_text, const std::string& field) {
    std::size_t gsm7_units = 0;
    std::size_t utf16_units = 0;
    std::size_t characters = 0;
    std::optional<char32_t> first_non_gsm7;
    std::size_t first_non_gsm7_position = 0;  // 1-based, in characters

    std::size_t pos = 0;
    while (pos < utf8_text.size()) {
        const auto decoded = utf8::decode_char(utf8_text, pos);
        if (!decoded) throw_invalid_utf8(utf8_text, pos, field);
        const char32_t c = decoded->code_point;
        ++characters;
        if (c == 0) {
            throw InputError(InputErrorKind::InvalidParameter, field,
                             field + " contains a NUL character",
                             "Character " + std::to_string(characters) + " is U+0000.",
                             "Remove the NUL character from the text.");
        }
        utf16_units += c > 0xFFFF ? 2 : 1;
        if (is_gsm7_basic(c)) {
            gsm7_units += 1;
        } else if (is_gsm7_extension(c)) {
            gsm7_units += 2;
        } else if (!first_non_gsm7) {
            first_non_gsm7 = c;
            first_non_gsm7_position = characters;
        }
        pos += decoded->length;
    }

    if (!first_non_gsm7) {
        if (gsm7_units > kMaxGsm7Units) {
            throw InputError(InputErrorKind::StringTooLong, field, field + " is too long",
                             "The text is " + std::to_string(gsm7_units) +
                                 " GSM-7 units long; the limit is " +
                                 std::to_string(kMaxGsm7Units) +
                                 " (each of ^ { } [ ] ~ \\ | € and form feed counts two).",
                             "Shorten the text to at most " + std::to_string(kMaxGsm7Units) +
                                 " GSM-7 units, or send it as several messages.");
        }
        return {TextEncoding::Gsm7, gsm7_units,
                segments_for(gsm7_units, kGsm7SingleMessage, kGsm7PerSegment)};
    }

    if (utf16_units > kMaxUcs2Units) {
        throw InputError(
            InputErrorKind::StringTooLong, field, field + " is too long",
            "The text is " + std::to_string(utf16_units) + " UCS-2 units long; the limit is " +
                std::to_string(kMaxUcs2Units) + ". It is sent as UCS-2 because character " +
                std::to_string(first_non_gsm7_position) + ", " + describe_char(*first_non_gsm7) +
                ", is not in the GSM-7 alphabet.",
            "Shorten the text to at most " + std::to_string(kMaxUcs2Units) +
                " UCS-2 units, or replace " + describe_char(*first_non_gsm7) +
                " and any other character outside GSM-7 so that the text is sent as GSM-7, "
                "whose limit is " +
                std::to_string(kMaxGsm7Units) + ".");
    }
    return {TextEncoding::Ucs2, utf16_units,
            segments_for(utf16_units, kUcs2SingleMessage, kUcs2PerSegment)};
}

}  // namespace plivo
