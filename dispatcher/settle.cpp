#include "settle.hpp"

#include <cstdio>
#include <ctime>
#include <string>

#include "pure_cpp.hpp"

namespace plivo {

namespace {

std::string lower(std::string text) {
    for (char& c : text) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return text;
}

// Empty on Plivo's side means "unknown": it matches.
bool number_fits(const std::string& listed, const std::string& ours) {
    std::string digits = digits_of(listed);
    return digits.empty() || digits == digits_of(ours);
}

bool is_candidate(const SettleQuery& query, const ListedMessage& message) {
    if (query.known_uuids.count(message.message_uuid)) return false;
    if (lower(message.message_direction) == "inbound") return false;
    if (!number_fits(message.to_number, query.recipient)) return false;
    if (!query.sender.empty() && !number_fits(message.from_number, query.sender)) return false;
    if (!message.message_type.empty() &&
        lower(message.message_type) != (query.type == MessageType::Mms ? "mms" : "sms")) {
        return false;
    }
    if (auto time = parse_plivo_time(message.message_time)) {
        if (*time < query.window_start - query.clock_tolerance) return false;
    }
    return true;
}

}  // namespace

std::string digits_of(const std::string& text) {
    std::string digits;
    for (char c : text) {
        if (c >= '0' && c <= '9') digits += c;
    }
    return digits;
}

const char* settle_verdict_name(SettleVerdict verdict) {
    switch (verdict) {
        case SettleVerdict::Found:
            return "found";
        case SettleVerdict::NotFound:
            return "not found";
        case SettleVerdict::Ambiguous:
            return "ambiguous";
        case SettleVerdict::Incomplete:
            return "incomplete";
    }
    return "unknown";
}

bool has_next_page(const MessageList& page) { return page.next.has_value(); }

std::optional<std::chrono::system_clock::time_point> parse_plivo_time(const std::string& text) {
    std::tm tm{};
    int consumed = 0;
    if (std::sscanf(text.c_str(), "%4d-%2d-%2d %2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                    &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
        return std::nullopt;
    }
    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour < 0 ||
        tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 || tm.tm_sec < 0 || tm.tm_sec > 60) {
        return std::nullopt;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    std::size_t i = static_cast<std::size_t>(consumed);
    if (i < text.size() && text[i] == '.') {  // fractions do not matter at this scale
        ++i;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    }
    // Offset: none, "Z", or a sign and "HH", "HHMM" or "HH:MM".
    long offset_seconds = 0;
    std::string rest = text.substr(i);
    if (!rest.empty() && rest != "Z") {
        std::string digits;
        for (std::size_t k = 1; k < rest.size(); ++k) {
            if (rest[k] >= '0' && rest[k] <= '9')
                digits += rest[k];
            else if (!(rest[k] == ':' && k == 3))
                return std::nullopt;
        }
        if ((rest[0] != '+' && rest[0] != '-') || (digits.size() != 2 && digits.size() != 4)) {
            return std::nullopt;
        }
        long hours = std::stol(digits.substr(0, 2));
        long minutes = digits.size() == 4 ? std::stol(digits.substr(2)) : 0;
        if (hours > 14 || minutes > 59) return std::nullopt;
        offset_seconds = (hours * 3600 + minutes * 60) * (rest[0] == '+' ? 1 : -1);
    }
    std::time_t utc = timegm(&tm) - offset_seconds;
    return std::chrono::system_clock::from_time_t(utc);
}

SettleResult settle_unknown(const SettleQuery& query, const std::vector<ListedMessage>& objects,
                            bool all_pages_read) {
    SettleResult result;
    std::set<std::string> seen;
    for (const ListedMessage& message : objects) {
        if (!is_candidate(query, message) || !seen.insert(message.message_uuid).second) continue;
        result.candidates.push_back(message.message_uuid);
        if (!result.message) result.message = message;
    }
    if (!all_pages_read) {
        result.verdict = SettleVerdict::Incomplete;
        result.message.reset();
    } else if (result.candidates.empty()) {
        result.verdict = SettleVerdict::NotFound;
    } else if (result.candidates.size() == 1) {
        result.verdict = SettleVerdict::Found;
    } else {
        result.verdict = SettleVerdict::Ambiguous;
        result.message.reset();
    }
    return result;
}

}  // namespace plivo
