#include "input_error.hpp"

#include <cstdio>

#include "utf8.hpp"
#include "pure_cpp.hpp"

namespace plivo {

namespace {

// Characters that are invisible or break a log line even though they are valid UTF-8:
// C1 controls, the Unicode line/paragraph separators, bidirectional overrides and
// isolates (they can reorder the rest of the line), zero-width space and BOM.
bool is_invisible_or_line_breaking(char32_t c) {
    return (c >= 0x80 && c <= 0x9F) || c == 0x061C || c == 0x200B || c == 0x200E || c == 0x200F ||
           (c >= 0x2028 && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069) || c == 0xFEFF;
}

std::string hex_escape(const char* format, unsigned value) {
    char buffer[16];
    std::snprintf(buffer, sizeof buffer, format, value);
    return buffer;
}

// How one character (or one invalid byte) of the value is written between the quotes.
std::string escaped_piece(const std::string& value, std::size_t pos, std::size_t* consumed) {
    const auto decoded = utf8::decode_char(value, pos);
    if (!decoded) {
        *consumed = 1;
        return hex_escape("\\x%02X", static_cast<unsigned char>(value[pos]));
    }
    *consumed = decoded->length;
    const char32_t c = decoded->code_point;
    switch (c) {
        case '"':
            return "\\\"";
        case '\\':
            return "\\\\";
        case '\n':
            return "\\n";
        case '\r':
            return "\\r";
        case '\t':
            return "\\t";
        default:
            break;
    }
    if (c < 0x20 || c == 0x7F) return hex_escape("\\x%02X", static_cast<unsigned>(c));
    if (is_invisible_or_line_breaking(c)) return hex_escape("\\u%04X", static_cast<unsigned>(c));
    return value.substr(pos, decoded->length);
}

}  // namespace

// The value in double quotes, on one line and safe to log: quotes and backslashes are
// escaped, control and invisible characters become \n, \t, \xNN or \uNNNN, bytes that
// are not UTF-8 become \xNN. At most `max_bytes` bytes go between the quotes; a longer
// value is cut on a character boundary (never inside an escape) and ends with "…".
std::string quote_for_detail(const std::string& value, std::size_t max_bytes) {
    std::string out = "\"";
    std::size_t pos = 0;
    std::size_t shown = 0;
    while (pos < value.size()) {
        std::size_t consumed = 0;
        const std::string piece = escaped_piece(value, pos, &consumed);
        if (shown + piece.size() > max_bytes) {
            out += "\u2026";
            break;
        }
        out += piece;
        shown += piece.size();
        pos += consumed;
    }
    out += '"';
    return out;
}

}  // namespace plivo
