#include "sim_util.hpp"

#include <cstdio>
#include <ctime>
#include <random>
#include <thread>

namespace plivo_sim {

namespace {

std::atomic<std::uint64_t> g_thread_counter{0};
std::atomic<std::int64_t> g_clock_offset_us{0};

// One generator per thread: ids are made on the hot path, so no shared lock.
std::mt19937_64& id_rng() {
    thread_local std::mt19937_64 rng = [] {
        std::random_device rd;
        std::seed_seq seq{rd(), rd(), rd(), rd(),
                          static_cast<unsigned>(g_thread_counter.fetch_add(1))};
        return std::mt19937_64(seq);
    }();
    return rng;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads exactly `width` digits at `pos`.
bool read_int(const std::string& s, std::size_t& pos, std::size_t width, int& out) {
    if (pos + width > s.size()) return false;
    int value = 0;
    for (std::size_t i = 0; i < width; ++i) {
        if (!is_digit(s[pos + i])) return false;
        value = value * 10 + (s[pos + i] - '0');
    }
    pos += width;
    out = value;
    return true;
}

}  // namespace

std::string new_uuid() {
    auto& rng = id_rng();
    std::uint64_t hi = rng();
    std::uint64_t lo = rng();
    hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
    lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // RFC 4122 variant
    char buf[37];
    std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                  static_cast<unsigned>((hi >> 16) & 0xffff), static_cast<unsigned>(hi & 0xffff),
                  static_cast<unsigned>(lo >> 48),
                  static_cast<unsigned long long>(lo & 0xffffffffffffULL));
    return buf;
}

std::string random_digits(std::size_t count) {
    auto& rng = id_rng();
    std::string out(count, '0');
    for (auto& c : out) c = static_cast<char>('0' + rng() % 10);
    return out;
}

std::int64_t now_us() {
    const auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
    return std::chrono::duration_cast<std::chrono::microseconds>(since_epoch).count() +
           g_clock_offset_us.load(std::memory_order_relaxed);
}

void set_clock_offset_ms(std::int64_t offset_ms) { g_clock_offset_us.store(offset_ms * 1000); }

std::string format_time(std::int64_t us, TimeStyle style) {
    std::int64_t secs = us / 1000000;
    std::int64_t micros = us % 1000000;
    if (micros < 0) {
        micros += 1000000;
        secs -= 1;
    }
    const std::time_t t = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    switch (style) {
        case TimeStyle::Seconds:
            break;
        case TimeStyle::Micros:
            std::snprintf(buf + n, sizeof buf - n, ".%06lld", static_cast<long long>(micros));
            break;
        case TimeStyle::PlivoObject:
            std::snprintf(buf + n, sizeof buf - n, "+00:00");
            break;
    }
    return buf;
}

std::optional<std::int64_t> parse_filter_time(const std::string& text) {
    std::size_t pos = 0;
    int year, month, day, hour, minute, second = 0;
    if (!read_int(text, pos, 4, year) || pos >= text.size() || text[pos++] != '-' ||
        !read_int(text, pos, 2, month) || pos >= text.size() || text[pos++] != '-' ||
        !read_int(text, pos, 2, day) || pos >= text.size() ||
        (text[pos] != ' ' && text[pos] != 'T') || !read_int(text, ++pos, 2, hour) ||
        pos >= text.size() || text[pos++] != ':' || !read_int(text, pos, 2, minute)) {
        return std::nullopt;
    }
    std::int64_t micros = 0;
    if (pos < text.size() && text[pos] == ':') {
        if (!read_int(text, ++pos, 2, second)) return std::nullopt;
        if (pos < text.size() && text[pos] == '.') {
            ++pos;
            int digits = 0;
            while (pos < text.size() && is_digit(text[pos])) {
                if (digits < 6) micros = micros * 10 + (text[pos] - '0');
                ++digits;
                ++pos;
            }
            if (digits == 0) return std::nullopt;
            for (; digits < 6; ++digits) micros *= 10;
        }
    }
    const std::string rest = text.substr(pos);
    if (!rest.empty() && rest != "Z" && rest != "+00:00" && rest != "+0000") return std::nullopt;
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
        return std::nullopt;
    }
    std::tm tm{};
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    const std::time_t t = timegm(&tm);
    return static_cast<std::int64_t>(t) * 1000000 + micros;
}

std::optional<std::string> number_digits(const std::string& text) {
    std::string digits;
    digits.reserve(text.size());
    for (char c : text) {
        if (is_digit(c)) {
            digits += c;
        } else if (c != '+' && c != '-' && c != '.' && c != '(' && c != ')' && c != '/' &&
                   c != ' ') {
            return std::nullopt;
        }
    }
    if (digits.empty()) return std::nullopt;
    return digits;
}

std::string form_encode(const std::string& text) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size() * 3 / 2);
    for (unsigned char c : text) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(static_cast<char>(c)) ||
            c == '-' || c == '_' || c == '.' || c == '*') {
            out += static_cast<char>(c);
        } else if (c == ' ') {
            out += '+';
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields) {
    std::string out;
    for (const auto& [key, value] : fields) {
        if (!out.empty()) out += '&';
        out += form_encode(key);
        out += '=';
        out += form_encode(value);
    }
    return out;
}

void log_line(const std::string& line) {
    const std::string text =
        format_time(now_us(), TimeStyle::Micros) + " plivo_simulator: " + line + "\n";
    std::fwrite(text.data(), 1, text.size(), stderr);  // one locked stdio call
}

bool Stopper::sleep_ms(std::int64_t ms) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (ms <= 0) return !stopped();
    return !cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stopped(); });
}

void Stopper::stop() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopped_.store(true);
    }
    cv_.notify_all();
}

}  // namespace plivo_sim
