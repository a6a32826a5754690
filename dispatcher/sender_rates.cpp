// Parsing of plivo.sender_rate_limits (see sender_rates.hpp).
#include "sender_rates.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "input_error.hpp"
#include "phone_number.hpp"
#include "pure_cpp.hpp"

namespace plivo {

namespace {

constexpr const char* kSetting = "plivo.sender_rate_limits";
constexpr const char* kHint =
    "Write comma-separated number=rate pairs, for example "
    "'+14155550100=25, +14155550111=0.2' (requests per second).";

std::string trim(const std::string& text) {
    const char* spaces = " \t\r\n";
    std::size_t first = text.find_first_not_of(spaces);
    if (first == std::string::npos) return "";
    std::size_t last = text.find_last_not_of(spaces);
    return text.substr(first, last - first + 1);
}

}  // namespace

std::map<std::string, double> parse_sender_rates(const std::string& text) {
    std::map<std::string, double> rates;
    std::size_t start = 0;
    while (start <= text.size()) {
        std::size_t comma = text.find(',', start);
        std::string entry = trim(
            text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
        start = comma == std::string::npos ? text.size() + 1 : comma + 1;
        if (entry.empty()) continue;
        std::size_t equals = entry.find('=');
        if (equals == std::string::npos) {
            throw InputError(InputErrorKind::InvalidParameter, kSetting,
                             std::string(kSetting) + " entry has no rate",
                             "The entry was " + quote_for_detail(entry) + ".", kHint);
        }
        std::string number = trim(entry.substr(0, equals));
        std::string rate_text = trim(entry.substr(equals + 1));
        PhoneNumber phone = parse_phone_number(number, kSetting);
        errno = 0;
        char* end = nullptr;
        double rate = std::strtod(rate_text.c_str(), &end);
        if (rate_text.empty() || errno != 0 || end == nullptr || *end != '\0' ||
            !std::isfinite(rate) || rate <= 0.0) {
            throw InputError(
                InputErrorKind::InvalidParameter, kSetting,
                std::string(kSetting) + " has an invalid rate",
                "The rate for " + phone.e164 + " was " + quote_for_detail(rate_text) + ".", kHint);
        }
        rates[phone.e164] = rate;
    }
    return rates;
}

}  // namespace plivo
