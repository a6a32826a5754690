// Helpers shared by the libFuzzer targets in this folder (not a target itself).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "utf8.hpp"

namespace fuzz {

// Fails the run with a message; libFuzzer keeps the input as a crash reproducer.
[[noreturn]] inline void fail(const char* what, const char* file, int line) {
    std::fprintf(stderr, "FUZZ INVARIANT FAILED at %s:%d: %s\n", file, line, what);
    std::abort();
}

// Unlike assert(), never compiled out (the fuzz build is RelWithDebInfo, NDEBUG set).
#define FUZZ_CHECK(cond) \
    do { \
        if (!(cond)) ::fuzz::fail(#cond, __FILE__, __LINE__); \
    } while (0)

inline std::string as_string(const uint8_t* data, std::size_t size) {
    return std::string(reinterpret_cast<const char*>(data), size);
}

// The input as '\n'-separated lines, so that seeds stay readable text files.
inline std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (true) {
        const std::size_t end = text.find('\n', start);
        if (end == std::string::npos) {
            lines.push_back(text.substr(start));
            return lines;
        }
        lines.push_back(text.substr(start, end - start));
        start = end + 1;
    }
}

inline bool is_utf8(std::string_view text) { return !plivo::utf8::find_invalid(text); }

}  // namespace fuzz
