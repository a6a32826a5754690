#include "sim_config.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <variant>

#include "sim_request.hpp"
#include "sim_util.hpp"

namespace plivo_sim {

using nlohmann::json;

const std::array<FaultInfo, kFaultCount> kFaultInfo = {{
    {"none", false, ""},
    {"error_500", false, "500 before the message is created"},
    {"error_500_after_store", true, "message created, then 500 (settle through the list API)"},
    {"error_503", false, "503 before the message is created"},
    {"error_429_retry_after", false, "429 with Retry-After: retry_after_s, not created"},
    {"error_429", false, "429 without Retry-After, not created"},
    {"accept_then_timeout", true, "message created, no answer, connection closed after timeout_ms"},
    {"accept_then_reset", true, "message created, then TCP reset instead of an answer"},
    {"reject_timeout", false, "not created, no answer, connection closed after timeout_ms"},
    {"reset_before_body", false, "TCP reset before the request body is read, not created"},
    {"garbage_200", true, "message created, then 200 with half of the JSON answer"},
    {"garbage_202", true, "message created, then 202 with half of the JSON answer"},
}};

const char* fault_name(Fault fault) { return kFaultInfo[static_cast<int>(fault)].name; }

Fault fault_from_name(const std::string& name) {
    for (int i = 1; i < kFaultCount; ++i) {
        if (name == kFaultInfo[i].name) return static_cast<Fault>(i);
    }
    return Fault::None;
}

namespace {

using I64 = std::int64_t;
using StringList = std::vector<std::string>;
using Packs = std::map<std::string, std::vector<std::string>>;
using Member = std::variant<I64 Config::*, double Config::*, bool Config::*,
                            std::vector<I64> Config::*, std::string Config::*,
                            StringList Config::*, Packs Config::*>;

struct KeyInfo {
    const char* key;
    Member member;
    I64 min;  // for integers and list elements
    I64 max;  // (strings are checked in validate())
    const char* help;
};

constexpr I64 kDay = 24LL * 3600 * 1000;

const KeyInfo kKeys[] = {
    {"retry_after_s", &Config::retry_after_s, 0, 86400,
     "Retry-After seconds sent with error_429_retry_after"},
    {"timeout_ms", &Config::timeout_ms, 0, kDay,
     "how long accept_then_timeout / reject_timeout hold the connection"},
    {"latency_ms", &Config::latency_ms, 0, 600000, "fixed latency added to every API request"},
    {"jitter_ms", &Config::jitter_ms, 0, 600000, "plus a uniform random 0..jitter_ms"},
    {"faults_on_list", &Config::faults_on_list, 0, 0,
     "also inject the not-stored faults on GET (list / get) requests"},
    {"rate_limit", &Config::rate_limit, 0, 0,
     "enforce Plivo's API rate limits (429 \"too many requests\")"},
    {"rate_limit_count", &Config::rate_limit_count, 1, 100000000,
     "account limit: requests per window"},
    {"rate_limit_window_ms", &Config::rate_limit_window_ms, 1, kDay,
     "account limit: sliding window"},
    {"list_rate_limit_count", &Config::list_rate_limit_count, 0, 100000000,
     "list API (GET .../Message/) requests per window, 0 = none (Plivo: 20 per minute)"},
    {"list_rate_limit_window_ms", &Config::list_rate_limit_window_ms, 1, kDay,
     "list API limit: sliding window"},
    {"list_total_count", &Config::list_total_count, 0, 0,
     "put meta.total_count on list pages (Plivo's is unreliable: clients follow meta.next)"},
    {"report_delay_ms", &Config::report_delay_ms, 0, kDay,
     "lifecycle step: queued at 1x, sent at 2x, final state at 3x"},
    {"delivered_rate", &Config::delivered_rate, 0, 0, "share of messages that end delivered"},
    {"undelivered_rate", &Config::undelivered_rate, 0, 0,
     "share that end undelivered (ErrorCode from undelivered_error_codes)"},
    {"failed_rate", &Config::failed_rate, 0, 0,
     "share that end failed (from failed_error_codes); the rest stays sent"},
    {"undelivered_error_codes", &Config::undelivered_error_codes, 0, 9999,
     "error codes picked for undelivered (comma list)"},
    {"failed_error_codes", &Config::failed_error_codes, 0, 9999,
     "error codes picked for failed (comma list)"},
    {"report_duplicate_rate", &Config::report_duplicate_rate, 0, 0, "per report: deliver it twice"},
    {"report_out_of_order_rate", &Config::report_out_of_order_rate, 0, 0,
     "per message: deliver the \"sent\" report after the final one"},
    {"report_timeout_ms", &Config::report_timeout_ms, 1, 600000,
     "a report not answered within this is a failed attempt"},
    {"report_retry_delays_ms", &Config::report_retry_delays_ms, 0, kDay,
     "delays before each retry of a failed report (comma list)"},
    {"clock_offset_ms", &Config::clock_offset_ms, -kDay, kDay,
     "shift the simulator's clock (message_time, report times)"},
    {"inbound_url", &Config::inbound_url, 0, 0,
     "where POST /_sim/inbound delivers when its body has no url"},
    {"inbound_method", &Config::inbound_method, 0, 0,
     "POST (form body) or GET (query) for inbound messages without a method"},
    {"opt_out_enabled", &Config::opt_out_enabled, 0, 0,
     "Plivo's opt-outs: STOP blocks the pair, a send to it ends failed with error 200"},
    {"powerpacks", &Config::powerpacks, 0, 0,
     "powerpack uuid -> numbers, JSON {\"UUID\":[\"+14155550100\",...]} (or --powerpack UUID=N,N)"},
    {"sms_rate", &Config::sms_rate, 0, 0, "TotalRate of an SMS segment, USD"},
    {"mms_rate", &Config::mms_rate, 0, 0, "TotalRate of an MMS, USD"},
    {"queue_delay_ms", &Config::queue_delay_ms, 0, kDay,
     "time in Plivo's queue before sending; longer than message_expiry: failed, error 420"},
    {"no_mms_destinations", &Config::no_mms_destinations, 0, 0,
     "numbers (or prefixes ending in *) that cannot take MMS: undelivered, error 50"},
};

const KeyInfo* find_key(const std::string& key) {
    for (const auto& info : kKeys) {
        if (key == info.key) return &info;
    }
    return nullptr;
}

// The fault whose rate key is `key` ("error_503_rate"), or None.
Fault fault_for_rate_key(const std::string& key) {
    const std::string suffix = "_rate";
    if (key.size() <= suffix.size() ||
        key.compare(key.size() - suffix.size(), suffix.size(), suffix) != 0) {
        return Fault::None;
    }
    return fault_from_name(key.substr(0, key.size() - suffix.size()));
}

[[noreturn]] void bad(const std::string& key, const std::string& what) {
    throw std::invalid_argument(key + ": " + what);
}

double rate_value(const std::string& key, const json& value) {
    if (!value.is_number()) bad(key, "must be a number between 0 and 1");
    const double rate = value.get<double>();
    if (!(rate >= 0.0 && rate <= 1.0)) bad(key, "must be between 0 and 1");
    return rate;
}

I64 int_value(const std::string& key, const json& value, I64 min, I64 max) {
    if (!value.is_number_integer()) {
        // 2.0 is fine, 2.5 is not
        if (!value.is_number_float() || std::floor(value.get<double>()) != value.get<double>()) {
            bad(key, "must be an integer");
        }
    }
    const double as_double = value.get<double>();
    if (as_double < static_cast<double>(min) || as_double > static_cast<double>(max)) {
        bad(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    }
    return value.is_number_float() ? static_cast<I64>(as_double) : value.get<I64>();
}

// A phone number given as a string, reduced to its digits ("+1 415..." -> "1415...");
// with allow of a trailing '*' (a prefix pattern).
std::string number_pattern(const std::string& key, const json& value) {
    if (!value.is_string()) bad(key, "numbers must be strings");
    std::string text = value.get<std::string>();
    const bool prefix = !text.empty() && text.back() == '*';
    if (prefix) text.pop_back();
    const auto digits = number_digits(text);
    if (!digits || digits->size() > 15 || (!prefix && digits->size() < 3)) {
        bad(key, "'" + value.get<std::string>() + "' is not a phone number");
    }
    return *digits + (prefix ? "*" : "");
}

void apply_one(Config& config, const std::string& key, const json& value) {
    if (Fault fault = fault_for_rate_key(key); fault != Fault::None) {
        config.fault_rates[static_cast<int>(fault)] = rate_value(key, value);
        return;
    }
    const KeyInfo* info = find_key(key);
    if (info == nullptr) bad(key, "unknown configuration key (GET /_sim/config lists them)");
    if (auto p = std::get_if<I64 Config::*>(&info->member)) {
        config.*(*p) = int_value(key, value, info->min, info->max);
    } else if (auto d = std::get_if<double Config::*>(&info->member)) {
        config.*(*d) = rate_value(key, value);
    } else if (auto b = std::get_if<bool Config::*>(&info->member)) {
        if (value.is_boolean()) {
            config.*(*b) = value.get<bool>();
        } else if (value.is_number_integer() && (value == 0 || value == 1)) {
            config.*(*b) = value == 1;  // 0 / 1 as well, as shell scripts write them
        } else {
            bad(key, "must be true or false");
        }
    } else if (auto l = std::get_if<std::vector<I64> Config::*>(&info->member)) {
        if (!value.is_array()) bad(key, "must be an array of integers");
        std::vector<I64> list;
        for (const auto& element : value)
            list.push_back(int_value(key, element, info->min, info->max));
        config.*(*l) = std::move(list);
    } else if (auto s = std::get_if<std::string Config::*>(&info->member)) {
        if (!value.is_string()) bad(key, "must be a string");
        config.*(*s) = value.get<std::string>();
    } else if (auto sl = std::get_if<StringList Config::*>(&info->member)) {
        if (!value.is_array()) bad(key, "must be an array of numbers (strings)");
        StringList list;
        for (const auto& element : value) list.push_back(number_pattern(key, element));
        config.*(*sl) = std::move(list);
    } else if (auto pk = std::get_if<Packs Config::*>(&info->member)) {
        if (!value.is_object()) bad(key, "must be an object: powerpack uuid -> array of numbers");
        Packs packs;
        for (const auto& [uuid, numbers] : value.items()) {
            if (uuid.empty()) bad(key, "a powerpack uuid must not be empty");
            if (!numbers.is_array() || numbers.empty())
                bad(key, "powerpack " + uuid + ": must be a non-empty array of numbers");
            for (const auto& number : numbers) {
                const std::string digits = number_pattern(key, number);
                if (digits.back() == '*') bad(key, "powerpack " + uuid + ": no patterns, numbers only");
                packs[uuid].push_back(digits);
            }
        }
        config.*(*pk) = std::move(packs);
    }
}

void validate(const Config& config) {
    double sum = 0;
    for (int i = 1; i < kFaultCount; ++i) sum += config.fault_rates[i];
    if (sum > 1.0 + 1e-9) {
        throw std::invalid_argument("fault rates add up to " + std::to_string(sum) +
                                    ", more than 1");
    }
    const double outcomes = config.delivered_rate + config.undelivered_rate + config.failed_rate;
    if (outcomes > 1.0 + 1e-9) {
        throw std::invalid_argument(
            "delivered_rate + undelivered_rate + failed_rate add up to more than 1");
    }
    if (config.undelivered_rate > 0 && config.undelivered_error_codes.empty()) {
        throw std::invalid_argument("undelivered_error_codes: empty while undelivered_rate > 0");
    }
    if (config.failed_rate > 0 && config.failed_error_codes.empty()) {
        throw std::invalid_argument("failed_error_codes: empty while failed_rate > 0");
    }
    if (!config.inbound_url.empty() && !is_http_url(config.inbound_url)) {
        bad("inbound_url", "must be empty or an absolute http(s) URL");
    }
    if (config.inbound_method != "POST" && config.inbound_method != "GET") {
        bad("inbound_method", "must be POST or GET");
    }
}

std::string default_text(const Config& defaults, const KeyInfo& info) {
    return std::visit([&](auto member) { return json(defaults.*member).dump(); }, info.member);
}

}  // namespace

Config apply_config_json(const Config& config, const json& changes) {
    if (!changes.is_object())
        throw std::invalid_argument("the configuration must be a JSON object");
    Config updated = config;
    for (const auto& [key, value] : changes.items()) apply_one(updated, key, value);
    validate(updated);
    return updated;
}

json flag_value_to_json(const std::string& key, const std::string& value) {
    const KeyInfo* info = find_key(key);
    // a string setting takes the flag's text as it is ("--inbound-url 123" stays a string)
    if (info != nullptr && std::holds_alternative<std::string Config::*>(info->member)) {
        return json(value);
    }
    if (info != nullptr && std::holds_alternative<std::vector<I64> Config::*>(info->member)) {
        json list = json::array();
        std::stringstream in(value);
        std::string item;
        while (std::getline(in, item, ',')) {
            if (item.empty()) continue;
            try {
                std::size_t used = 0;
                const long long number = std::stoll(item, &used);
                if (used != item.size()) throw std::invalid_argument(item);
                list.push_back(number);
            } catch (const std::exception&) {
                bad(key, "'" + item + "' is not an integer");
            }
        }
        return list;
    }
    if (info != nullptr && std::holds_alternative<StringList Config::*>(info->member)) {
        json list = json::array();
        std::stringstream in(value);
        std::string item;
        while (std::getline(in, item, ',')) {
            if (!item.empty()) list.push_back(item);
        }
        return list;
    }
    json parsed = json::parse(value, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) return json(value);
    return parsed;
}

json config_to_json(const Config& config) {
    json out = json::object();
    for (int i = 1; i < kFaultCount; ++i) {
        out[std::string(kFaultInfo[i].name) + "_rate"] = config.fault_rates[i];
    }
    for (const auto& info : kKeys) {
        std::visit([&](auto member) { out[info.key] = config.*member; }, info.member);
    }
    return out;
}

bool is_config_key(const std::string& key) {
    return find_key(key) != nullptr || fault_for_rate_key(key) != Fault::None;
}

std::string config_help() {
    const Config defaults;
    auto flag = [](std::string key) {
        for (auto& c : key) {
            if (c == '_') c = '-';
        }
        return "--" + key;
    };
    std::ostringstream out;
    out << "Fault rates (0..1, one random draw per request, sum <= 1; default 0):\n";
    for (int i = 1; i < kFaultCount; ++i) {
        std::string name = flag(std::string(kFaultInfo[i].name) + "_rate") + " R";
        name.resize(std::max<std::size_t>(name.size() + 1, 38), ' ');
        out << "  " << name << kFaultInfo[i].help
            << (kFaultInfo[i].stores ? "  [STORED]" : "  [not stored]") << "\n";
    }
    out << "Other runtime settings (also keys of POST /_sim/config):\n";
    for (const auto& info : kKeys) {
        static const char* const placeholders[] = {" N", " R", " true|false", " N,N,...", "",
                                                   " NUMBER,...", " JSON"};
        std::string name = flag(info.key);
        if (std::holds_alternative<std::string Config::*>(info.member)) {
            // a string's placeholder is its key's last word: inbound_url -> URL
            std::string word = std::string(info.key).substr(std::string(info.key).rfind('_') + 1);
            for (auto& c : word) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
            name += " " + word;
        } else {
            name += placeholders[info.member.index()];
        }
        name.resize(std::max<std::size_t>(name.size() + 1, 38), ' ');
        out << "  " << name << info.help << " (default " << default_text(defaults, info) << ")\n";
    }
    return out.str();
}

}  // namespace plivo_sim
