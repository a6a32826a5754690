// Strict UTF-8 decoding shared by text counting and error quoting. Strict means what
// RFC 3629 allows and nothing else: no overlong forms, no surrogates (U+D800..U+DFFF),
// nothing above U+10FFFF, no truncated sequences, no stray continuation bytes.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace plivo::utf8 {

struct DecodedChar {
    char32_t code_point;
    std::size_t length;  // bytes, 1..4
};

// Decodes the character that starts at text[pos] (pos < text.size()). Returns nullopt
// when the bytes there are not a valid UTF-8 sequence.
std::optional<DecodedChar> decode_char(std::string_view text, std::size_t pos);

// The offset of the first byte that does not start a valid sequence, or nullopt when
// the whole of `text` is valid UTF-8.
std::optional<std::size_t> find_invalid(std::string_view text);

// Encodes one Unicode scalar value (the caller guarantees it is one).
std::string encode(char32_t code_point);

// "U+00E9", "U+1F600": how Unicode writes a code point (at least four hex digits).
std::string code_point_name(char32_t code_point);

}  // namespace plivo::utf8
