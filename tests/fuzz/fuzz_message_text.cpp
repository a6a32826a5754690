// analyze_text: the encoding, units and segments against an independent count, and
// the reason of every rejection.
#include <cstdint>
#include <string>

#include "fuzz_util.hpp"
#include "input_error.hpp"
#include "message_text.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text = fuzz::as_string(data, size);

    // Independent facts about the input.
    const bool valid = fuzz::is_utf8(text);
    const bool has_nul = text.find('\0') != std::string::npos;
    std::size_t characters = 0;
    std::size_t utf16 = 0;
    bool ascii_gsm7_only = true;  // printable ASCII of the basic table, no '`' nor extensions
    for (std::size_t pos = 0; valid && pos < text.size();) {
        const auto decoded = plivo::utf8::decode_char(text, pos);
        ++characters;
        utf16 += decoded->code_point > 0xFFFF ? 2 : 1;
        const char32_t c = decoded->code_point;
        if (c < 0x20 || c > 0x7E || std::string("`^{}[]~\\|").find(static_cast<char>(c)) != std::string::npos)
            ascii_gsm7_only = false;
        pos += decoded->length;
    }

    plivo::TextStats stats;
    try {
        stats = plivo::analyze_text(text, "message_text");
    } catch (const plivo::InputError& error) {
        FUZZ_CHECK(error.field() == "message_text");
        if (error.kind() == plivo::InputErrorKind::StringTooLong) {
            FUZZ_CHECK(valid && !has_nul);
            FUZZ_CHECK(utf16 > plivo::kMaxUcs2Units);  // GSM-7 units are never fewer
        } else {
            FUZZ_CHECK(error.kind() == plivo::InputErrorKind::InvalidParameter);
            FUZZ_CHECK(!valid || has_nul);
        }
        FUZZ_CHECK(fuzz::is_utf8(error.detail()) && fuzz::is_utf8(error.what()));
        return 0;
    }

    FUZZ_CHECK(valid && !has_nul);
    std::size_t single = 0;
    std::size_t per_segment = 0;
    if (stats.encoding == plivo::TextEncoding::Gsm7) {
        FUZZ_CHECK(stats.units >= characters && stats.units <= 2 * characters);
        FUZZ_CHECK(stats.units <= plivo::kMaxGsm7Units);
        single = 160, per_segment = 153;
    } else {
        FUZZ_CHECK(!ascii_gsm7_only);
        FUZZ_CHECK(stats.units == utf16);
        FUZZ_CHECK(stats.units <= plivo::kMaxUcs2Units);
        single = 70, per_segment = 67;
    }
    if (ascii_gsm7_only) FUZZ_CHECK(stats.encoding == plivo::TextEncoding::Gsm7 && stats.units == characters);
    // Segments: 0 for nothing, 1 when it fits one message, else enough 153/67-unit parts
    // and not one more.
    if (stats.units == 0) {
        FUZZ_CHECK(stats.segments == 0 && text.empty());
    } else if (stats.units <= single) {
        FUZZ_CHECK(stats.segments == 1);
    } else {
        FUZZ_CHECK(stats.segments * per_segment >= stats.units);
        FUZZ_CHECK((stats.segments - 1) * per_segment < stats.units);
    }
    FUZZ_CHECK(stats.segments <= 11);  // 1600 / 153 and 737 / 67 both round up to 11
    return 0;
}
