#include "retry_after.hpp"

#include <cstring>
#include <ctime>
#include <string>

#include "pure_cpp.hpp"

namespace plivo {

namespace {

int month_index(const char* name) {
    static const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    for (int i = 0; i < 12; ++i) {
        if (std::strcmp(name, kMonths[i]) == 0) return i;
    }
    return -1;
}

bool is_day_name(const char* name, bool full) {
    static const char* const kShort[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
    static const char* const kLong[] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                        "Friday", "Saturday", "Sunday"};
    for (int i = 0; i < 7; ++i) {
        if (std::strcmp(name, full ? kLong[i] : kShort[i]) == 0) return true;
    }
    return false;
}

// sscanf whose format ends in %n, succeeding only when all fields and all text are used.
template <typename... Fields>
bool scan_whole(const std::string& text, const char* format, Fields*... fields) {
    int consumed = -1;
    int assigned = std::sscanf(text.c_str(), format, fields..., &consumed);
    return assigned == static_cast<int>(sizeof...(Fields)) &&
           consumed == static_cast<int>(text.size());
}

// Parses the three HTTP-date forms into seconds since the epoch (UTC).
std::optional<std::time_t> parse_http_date(const std::string& text) {
    char day[16] = {0};
    char month[4] = {0};
    std::tm tm{};
    int* d = &tm.tm_mday;
    int* y = &tm.tm_year;
    int* h = &tm.tm_hour;
    int* m = &tm.tm_min;
    int* s = &tm.tm_sec;
    if (scan_whole(text, "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT%n", day, d, month, y, h, m,
                   s) &&
        is_day_name(day, false)) {
        tm.tm_year -= 1900;  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    } else if (scan_whole(text, "%15[A-Za-z], %2d-%3[A-Za-z]-%2d %2d:%2d:%2d GMT%n", day, d, month,
                          y, h, m, s) &&
               is_day_name(day, true)) {
        if (tm.tm_year < 70) tm.tm_year += 100;  // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
    } else if (scan_whole(text, "%3[A-Za-z] %3[A-Za-z] %2d %2d:%2d:%2d %4d%n", day, month, d, h, m,
                          s, y) &&
               is_day_name(day, false)) {
        tm.tm_year -= 1900;  // asctime: "Sun Nov  6 08:49:37 1994"
    } else {
        return std::nullopt;
    }
    tm.tm_mon = month_index(month);
    if (tm.tm_mon < 0 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour < 0 || tm.tm_hour > 23 ||
        tm.tm_min < 0 || tm.tm_min > 59 || tm.tm_sec < 0 || tm.tm_sec > 60) {
        return std::nullopt;
    }
    return timegm(&tm);
}

}  // namespace

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now,
                                                      std::chrono::seconds max) {
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (value.empty()) return std::nullopt;

    if (value.find_first_not_of("0123456789") == std::string_view::npos) {
        std::chrono::seconds::rep seconds = 0;
        for (char c : value) {
            seconds = seconds * 10 + (c - '0');
            if (seconds > max.count()) return max;  // also stops overflow on long inputs
        }
        return std::chrono::seconds(seconds);
    }

    auto date = parse_http_date(std::string(value));
    if (!date) return std::nullopt;
    // Compared in seconds first: from_time_t() overflows system_clock's nanoseconds for
    // dates after 2262 or before 1677, and "Fri, 31 Dec 9999 23:59:59 GMT" is a valid date.
    const auto now_seconds =
        std::chrono::floor<std::chrono::seconds>(now.time_since_epoch()).count();
    if (*date < now_seconds) return std::chrono::seconds(0);
    if (*date - now_seconds > max.count()) return max;
    auto wait = std::chrono::system_clock::from_time_t(*date) - now;
    if (wait <= wait.zero()) return std::chrono::seconds(0);
    auto seconds = std::chrono::ceil<std::chrono::seconds>(wait);
    return seconds > max ? max : seconds;
}

}  // namespace plivo
