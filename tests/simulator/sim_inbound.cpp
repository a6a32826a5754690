#include "sim_inbound.hpp"

#include <algorithm>
#include <cctype>
#include <optional>

#include "sim_request.hpp"
#include "sim_store.hpp"
#include "sim_util.hpp"

namespace plivo_sim {

using nlohmann::json;

namespace {

constexpr std::size_t kMaxMedia = 10;
constexpr int kMaxRepeat = 100;
constexpr std::int64_t kMaxRepeatDelayMs = 600000;

const char* const kKnownKeys[] = {"from",         "to",     "text",
                                  "type",         "media",  "media_start",
                                  "message_uuid", "repeat", "repeat_delay_ms",
                                  "url",          "method", "intent"};

std::string upper(std::string text) {
    for (auto& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return text;
}

// A key that is present and not null (null reads as absent, as on the send API).
bool given(const json& body, const char* key) { return body.contains(key) && !body[key].is_null(); }

// Reads an integer key between min and max into `out`; the error text otherwise.
std::optional<std::string> integer_key(const json& body, const char* key, std::int64_t min,
                                       std::int64_t max, std::int64_t& out) {
    if (!given(body, key)) return std::nullopt;
    const json& value = body[key];
    if (!value.is_number_integer() || value.get<std::int64_t>() < min ||
        value.get<std::int64_t>() > max) {
        return std::string(key) + " must be an integer between " + std::to_string(min) + " and " +
               std::to_string(max);
    }
    out = value.get<std::int64_t>();
    return std::nullopt;
}

// Our number or theirs: what Plivo strips removed, 3-15 digits (short codes included).
std::optional<std::string> number_key(const json& body, const char* key, std::string& out) {
    if (!given(body, key)) {
        return std::string(key) + " is required (a phone number, e.g. \"+14155550123\")";
    }
    if (!body[key].is_string()) return std::string(key) + " must be a string";
    const std::string text = body[key].get<std::string>();
    const auto digits = number_digits(text);
    if (!digits || digits->size() < 3 || digits->size() > 15) {
        return "invalid " + std::string(key) + " '" + text + "': 3 to 15 digits expected";
    }
    out = *digits;
    return std::nullopt;
}

}  // namespace

std::variant<InboundRequest, std::string> parse_inbound_request(const std::string& body_text,
                                                                const std::string& default_url,
                                                                const std::string& default_method) {
    const json body = json::parse(body_text.empty() ? "{}" : body_text, nullptr, false);
    if (body.is_discarded() || !body.is_object())
        return std::string("the body must be a JSON object");
    // a misspelt key ("media_urls") would otherwise be dropped without a word
    for (const auto& [key, value] : body.items()) {
        if (std::find(std::begin(kKnownKeys), std::end(kKnownKeys), key) == std::end(kKnownKeys)) {
            return "unknown key '" + key +
                   "' (known: from, to, text, type, media, media_start, message_uuid, repeat, "
                   "repeat_delay_ms, url, method, intent)";
        }
    }

    InboundRequest request;
    if (auto error = number_key(body, "from", request.from_number)) return *error;
    if (auto error = number_key(body, "to", request.to_number)) return *error;

    if (given(body, "text")) {
        if (!body["text"].is_string()) return std::string("text must be a string");
        request.text = body["text"].get<std::string>();
    }
    if (given(body, "media")) {
        if (!body["media"].is_array()) return std::string("media must be an array of URLs");
        for (const auto& item : body["media"]) {
            if (!item.is_string() || !is_http_url(item.get<std::string>())) {
                return "media must hold absolute http(s) URLs, not " + item.dump();
            }
            request.media.push_back(item.get<std::string>());
        }
        if (request.media.size() > kMaxMedia) {
            return "too many media: " + std::to_string(request.media.size()) +
                   ", at most 10 (Plivo's MMS limit)";
        }
    }
    request.type = request.media.empty() ? "sms" : "mms";
    if (given(body, "type")) {
        if (!body["type"].is_string()) return std::string("type must be a string");
        request.type = body["type"].get<std::string>();
        if (request.type != "sms" && request.type != "mms") {
            return "invalid type '" + request.type + "': must be sms or mms";
        }
        if (request.type == "sms" && !request.media.empty()) {
            return std::string("an sms has no media: leave type out or make it mms");
        }
    }
    std::int64_t media_start = 1;
    if (auto error = integer_key(body, "media_start", 0, 1, media_start)) return *error;
    request.media_start = static_cast<int>(media_start);

    if (given(body, "message_uuid")) {
        const std::string uuid =
            body["message_uuid"].is_string() ? body["message_uuid"].get<std::string>() : "";
        if (uuid.empty() || uuid.size() > 100 ||
            std::any_of(uuid.begin(), uuid.end(),
                        [](unsigned char c) { return c <= ' ' || c == 0x7f; })) {
            return std::string(
                "message_uuid must be a non-empty string of at most 100 characters, without "
                "spaces");
        }
        request.message_uuid = uuid;
    } else {
        request.message_uuid = new_uuid();
    }

    std::int64_t repeat = 1;
    if (auto error = integer_key(body, "repeat", 1, kMaxRepeat, repeat)) return *error;
    request.repeat = static_cast<int>(repeat);
    if (auto error =
            integer_key(body, "repeat_delay_ms", 0, kMaxRepeatDelayMs, request.repeat_delay_ms)) {
        return *error;
    }

    request.url = default_url;
    if (given(body, "url")) {
        if (!body["url"].is_string()) return std::string("url must be a string");
        request.url = body["url"].get<std::string>();
        if (!is_http_url(request.url)) {
            return "invalid url '" + request.url + "': an absolute http(s) URL expected";
        }
    }
    if (request.url.empty()) {
        return std::string("no url: give one, or set inbound_url (flag or POST /_sim/config)");
    }
    request.method = default_method;
    if (given(body, "method")) {
        if (!body["method"].is_string()) return std::string("method must be a string");
        request.method = upper(body["method"].get<std::string>());
        if (request.method != "POST" && request.method != "GET") {
            return "invalid method '" + body["method"].get<std::string>() +
                   "': must be POST or GET";
        }
    }

    // Plivo reports an intent for SMS only (plivo-api.md §9); `intent` overrides it
    request.intent = request.type == "sms" ? keyword_intent(request.text) : "";
    if (given(body, "intent")) {
        const json& intent = body["intent"];
        if (!intent.is_string() ||
            (intent != "optout" && intent != "optin" && intent != "help" && intent != "")) {
            return std::string("intent must be \"optout\", \"optin\", \"help\" or \"\"");
        }
        request.intent = intent.get<std::string>();
    }
    return request;
}

std::string keyword_intent(const std::string& text) {
    const auto space = [](unsigned char c) { return std::isspace(c) != 0; };
    const auto first = std::find_if_not(text.begin(), text.end(), space);
    const auto last = std::find_if_not(text.rbegin(), text.rend(), space).base();
    const std::string word = first < last ? upper(std::string(first, last)) : "";
    static const char* const optout[] = {"STOP", "STOPALL", "STOP ALL", "END",
                                         "QUIT", "CANCEL",  "UNSUB",    "UNSUBSCRIBE"};
    static const char* const optin[] = {"START", "UNSTOP"};
    static const char* const help[] = {"HELP", "INFO"};
    const auto in = [&word](const auto& list) {
        return std::find(std::begin(list), std::end(list), word) != std::end(list);
    };
    if (in(optout)) return "optout";
    if (in(optin)) return "optin";
    if (in(help)) return "help";
    return "";
}

std::vector<std::pair<std::string, std::string>> inbound_fields(const InboundRequest& request,
                                                                const Config& config) {
    const bool mms = request.type == "mms";
    const int units = billed_units(request.type, request.text);
    std::vector<std::pair<std::string, std::string>> fields;
    fields.reserve(12 + request.media.size());
    fields.emplace_back("From", request.from_number);
    fields.emplace_back("To", request.to_number);
    fields.emplace_back("Type", request.type);
    fields.emplace_back("MessageUUID", request.message_uuid);
    fields.emplace_back(mms ? "Body" : "Text", request.text);
    fields.emplace_back("Units", std::to_string(units));
    const double rate = unit_rate(config, request.type);
    fields.emplace_back("TotalRate", money(rate));
    fields.emplace_back("TotalAmount", money(rate * units));
    fields.emplace_back("MessageIntent", request.intent);
    fields.emplace_back("PowerpackUUID", "");
    if (mms) {
        fields.emplace_back("MediaCount", std::to_string(request.media.size()));
        for (std::size_t i = 0; i < request.media.size(); ++i) {
            fields.emplace_back("Media" + std::to_string(request.media_start + i),
                                request.media[i]);
        }
    }
    return fields;
}

void OptOutList::block(const std::string& our_number, const std::string& their_number,
                       std::int64_t since_us) {
    std::lock_guard<std::mutex> lock(mutex_);
    since_us_.emplace(std::make_pair(our_number, their_number), since_us);
    count_.store(since_us_.size());
}

void OptOutList::unblock(const std::string& our_number, const std::string& their_number) {
    std::lock_guard<std::mutex> lock(mutex_);
    since_us_.erase(std::make_pair(our_number, their_number));
    count_.store(since_us_.size());
}

bool OptOutList::blocked(const std::string& our_number, const std::string& their_number) const {
    if (count_.load(std::memory_order_relaxed) == 0) return false;
    std::lock_guard<std::mutex> lock(mutex_);
    return since_us_.count(std::make_pair(our_number, their_number)) > 0;
}

void OptOutList::clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    since_us_.clear();
    count_.store(0);
}

json OptOutList::to_json() const {
    std::vector<std::pair<std::int64_t, std::pair<std::string, std::string>>> pairs;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        for (const auto& [pair, since] : since_us_) pairs.emplace_back(since, pair);
    }
    std::stable_sort(pairs.begin(), pairs.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    json list = json::array();
    for (const auto& [since, pair] : pairs) {
        list.push_back({{"our_number", pair.first},
                        {"their_number", pair.second},
                        {"since", format_time(since, TimeStyle::Micros)}});
    }
    return {{"opt_outs", std::move(list)}};
}

}  // namespace plivo_sim
