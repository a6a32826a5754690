// Message text as Plivo counts it: GSM-7 unless one character is outside GSM-7's
// basic and extension tables, then UCS-2 for the whole message (plivo-api.md §5).
#pragma once

#include <string>

namespace plivo {

enum class TextEncoding { Gsm7, Ucs2 };

struct TextStats {
    TextEncoding encoding;
    std::size_t units;     // GSM-7 septets (extension characters count two) or UTF-16 code units
    std::size_t segments;  // 1 when it fits a single message, else ceil(units / 153 or 67)
};

constexpr std::size_t kMaxGsm7Units = 1600;
constexpr std::size_t kMaxUcs2Units = 737;

const char* encoding_name(TextEncoding encoding);  // "GSM-7" / "UCS-2"

// Counts `utf8_text`. Throws InputError naming `field` when it is not valid UTF-8,
// contains NUL, or exceeds Plivo's limit for its encoding.
TextStats analyze_text(const std::string& utf8_text, const std::string& field);

}  // namespace plivo
