#include "sim_request.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>

#include "sim_store.hpp"
#include "sim_util.hpp"
#include "url.hpp"

namespace plivo_sim {

using nlohmann::json;

namespace {

constexpr std::size_t kMaxMedia = 10;

ApiError bad_request(std::string message) { return ApiError{400, std::move(message)}; }

bool is_alnum_sender_id(const std::string& text) {
    if (text.empty() || text.size() > 11) return false;
    bool has_letter = false;
    for (unsigned char c : text) {
        if (std::isalpha(c)) {
            has_letter = true;
        } else if (!std::isdigit(c) && c != ' ') {
            return false;
        }
    }
    return has_letter;
}

// Reads an optional array of non-empty strings into `out`; an error message otherwise.
std::optional<std::string> string_array(const json& body, const char* key,
                                        std::vector<std::string>& out) {
    if (!body.contains(key) || body[key].is_null()) return std::nullopt;
    const json& value = body[key];
    if (!value.is_array()) return std::string(key) + " must be a JSON array of strings";
    for (const auto& item : value) {
        if (!item.is_string() || item.get<std::string>().empty()) {
            return std::string(key) + " must contain non-empty strings only";
        }
        out.push_back(item.get<std::string>());
    }
    return std::nullopt;
}

// Decodes the next UTF-8 code point; U+FFFD for a malformed byte.
char32_t next_code_point(const std::string& s, std::size_t& i) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = byte(i);
    int extra = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
    if (extra < 0 || i + extra >= s.size()) {
        ++i;
        return 0xFFFD;
    }
    char32_t cp = extra == 0 ? c : c & (0x3F >> extra);
    for (int k = 1; k <= extra; ++k) {
        if ((byte(i + k) & 0xC0) != 0x80) {
            ++i;
            return 0xFFFD;
        }
        cp = (cp << 6) | (byte(i + k) & 0x3F);
    }
    i += extra + 1;
    return cp;
}

// The GSM 03.38 basic table (one septet per character), and the
// extension table (two septets: escape + character).
bool gsm_basic(char32_t cp) {
    static const std::u32string basic =
        U"@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
        U"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
    return basic.find(cp) != std::u32string::npos;
}
bool gsm_extension(char32_t cp) {
    static const std::u32string ext = U"^{}\\[~]|€\f";
    return ext.find(cp) != std::u32string::npos;
}

// The size a media URL of the simulator's own media server announces (its bytes=
// parameter, default 1024), 0 for any other URL.
std::int64_t sim_media_size(const std::string& url) {
    const auto parts = plivo::split_url(url);
    if (!parts || parts->path.rfind("/_sim/media/", 0) != 0) return 0;
    std::int64_t bytes = kDefaultMediaBytes;
    if (parts->query) {
        for (const auto& [key, value] : plivo::decode_query(*parts->query)) {
            if (key != "bytes") continue;
            try {
                bytes = std::stoll(value);
            } catch (const std::exception&) {
            }
        }
    }
    return std::max<std::int64_t>(bytes, 0);
}

}  // namespace

bool is_http_url(const std::string& url) {
    const auto parts = plivo::split_url(url);
    return parts && (parts->scheme == "http" || parts->scheme == "https") && !parts->host.empty();
}

int billed_units(const std::string& type, const std::string& text) {
    if (type == "mms") return 1;
    std::size_t septets = 0, utf16 = 0;
    bool gsm = true;
    for (std::size_t i = 0; i < text.size();) {
        const char32_t cp = next_code_point(text, i);
        utf16 += cp > 0xFFFF ? 2 : 1;
        if (gsm_basic(cp)) {
            septets += 1;
        } else if (gsm_extension(cp)) {
            septets += 2;
        } else {
            gsm = false;
        }
    }
    const std::size_t units = gsm ? septets : utf16;
    const std::size_t single = gsm ? 160 : 70;
    const std::size_t part = gsm ? 153 : 67;
    if (units <= single) return 1;
    return static_cast<int>((units + part - 1) / part);
}

std::variant<SendRequest, ApiError> parse_send_request(const std::string& body_text) {
    SendRequest request;
    request.body = json::parse(body_text, nullptr, /*allow_exceptions=*/false);
    request.raw_body = body_text;
    const json& body = request.body;
    if (body.is_discarded()) return bad_request("invalid JSON in the request body");
    if (!body.is_object()) return bad_request("the request body must be a JSON object");

    // type first: the number rules below depend on it
    request.type = "sms";
    if (body.contains("type") && !body["type"].is_null()) {
        if (!body["type"].is_string()) return bad_request("type must be a string");
        request.type = body["type"].get<std::string>();
        if (request.type == "whatsapp") {
            return bad_request("type whatsapp is not simulated (use sms or mms)");
        }
        if (request.type != "sms" && request.type != "mms") {
            return bad_request("invalid type '" + request.type + "': must be sms or mms");
        }
    }
    const bool mms = request.type == "mms";

    // sender: exactly one of src / powerpack_uuid
    const bool has_src = body.contains("src") && !body["src"].is_null();
    const bool has_powerpack = body.contains("powerpack_uuid") && !body["powerpack_uuid"].is_null();
    if (has_src && has_powerpack) {
        return bad_request("only one of src and powerpack_uuid may be given");
    }
    if (!has_src && !has_powerpack) return bad_request("src or powerpack_uuid is required");
    if (has_src) {
        if (!body["src"].is_string()) return bad_request("src must be a string");
        const std::string src = body["src"].get<std::string>();
        const auto digits = number_digits(src);
        if (digits && ((digits->size() >= 8 && digits->size() <= 15) || digits->size() == 5 ||
                       digits->size() == 6)) {
            request.from_number = *digits;  // long code, or a 5-6 digit short code
        } else if (!mms && is_alnum_sender_id(src)) {
            request.from_number = src;
        } else {
            return bad_request("invalid src '" + src + "'");
        }
    } else {
        if (!body["powerpack_uuid"].is_string() ||
            body["powerpack_uuid"].get<std::string>().empty()) {
            return bad_request("powerpack_uuid must be a non-empty string");
        }
        request.powerpack_uuid = body["powerpack_uuid"].get<std::string>();
    }

    // destinations: one string, several joined with '<'
    if (!body.contains("dst") || body["dst"].is_null()) return bad_request("dst is required");
    if (!body["dst"].is_string()) return bad_request("dst must be a string");
    const std::string dst = body["dst"].get<std::string>();
    std::size_t start = 0;
    while (start <= dst.size()) {
        std::size_t end = dst.find('<', start);
        if (end == std::string::npos) end = dst.size();
        const std::string part = dst.substr(start, end - start);
        const auto digits = number_digits(part);
        const bool valid = digits && digits->size() >= 8 && digits->size() <= 15 &&
                           // MMS reaches US and Canada only (+1, 11 digits)
                           (!mms || (digits->size() == 11 && (*digits)[0] == '1'));
        if (valid) {
            request.destinations.push_back(*digits);
        } else {
            request.invalid_numbers.push_back(part);
        }
        start = end + 1;
    }
    if (request.destinations.empty()) {
        ApiError error = bad_request(mms ? "no valid destination number in dst (MMS: US and "
                                           "Canada numbers only)"
                                         : "no valid destination number in dst");
        error.extra["invalid_number"] = request.invalid_numbers;
        return error;
    }

    // text and media
    if (body.contains("text") && !body["text"].is_null()) {
        if (!body["text"].is_string()) return bad_request("text must be a string");
        request.text = body["text"].get<std::string>();
    }
    if (auto error = string_array(body, "media_urls", request.media_urls))
        return bad_request(*error);
    if (auto error = string_array(body, "media_ids", request.media_ids)) return bad_request(*error);
    const std::size_t media = request.media_urls.size() + request.media_ids.size();
    if (media > kMaxMedia) {
        return bad_request("too many media: " + std::to_string(media) +
                           " (media_urls + media_ids), at most 10 are allowed");
    }
    for (const auto& url : request.media_urls) {
        if (!is_http_url(url)) return bad_request("invalid media url '" + url + "'");
    }
    if (mms) {
        if (media == 0 && request.text.empty()) {
            return bad_request("an MMS needs media_urls, media_ids or text");
        }
    } else {
        if (media > 0) return bad_request("media_urls and media_ids need type mms");
        if (request.text.empty()) return bad_request("text is required for an SMS");
    }

    // delivery reports
    if (body.contains("url") && !body["url"].is_null()) {
        if (!body["url"].is_string()) return bad_request("url must be a string");
        request.callback_url = body["url"].get<std::string>();
        if (!is_http_url(request.callback_url)) {
            return bad_request("invalid url '" + request.callback_url + "'");
        }
    }
    request.callback_method = "POST";
    if (body.contains("method") && !body["method"].is_null()) {
        if (!body["method"].is_string()) return bad_request("method must be a string");
        std::string method = body["method"].get<std::string>();
        std::transform(method.begin(), method.end(), method.begin(),
                       [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
        if (method != "GET" && method != "POST") {
            return bad_request("invalid method '" + body["method"].get<std::string>() +
                               "': must be GET or POST");
        }
        request.callback_method = method;
    }

    // the remaining documented keys
    // log is a string (plivo-api.md §1); a JSON boolean is refused
    if (body.contains("log") && !body["log"].is_null()) {
        const json& log = body["log"];
        const bool ok = log.is_string() && (log == "true" || log == "false" ||
                                            log == "content_only" || log == "number_only");
        if (!ok) {
            return bad_request("invalid log " + log.dump() +
                               ": must be one of the strings \"true\", \"false\", "
                               "\"content_only\", \"number_only\"");
        }
        request.log = log.get<std::string>();
    }
    if (body.contains("message_expiry") && !body["message_expiry"].is_null()) {
        const json& expiry = body["message_expiry"];
        if (!expiry.is_number_integer() || expiry.get<std::int64_t>() < 5 ||
            expiry.get<std::int64_t>() > 10799) {
            return bad_request("message_expiry must be an integer between 5 and 10799");
        }
        request.message_expiry_s = expiry.get<std::int64_t>();
        request.message_expiry_given = true;
    }
    for (const auto& url : request.media_urls) request.sim_media_bytes += sim_media_size(url);
    return request;
}

std::optional<std::string> base64_decode(const std::string& in) {
    std::string out;
    int bits = 0;
    std::uint32_t buffer = 0;
    std::size_t padding = 0;
    for (char c : in) {
        int value;
        if (c >= 'A' && c <= 'Z')
            value = c - 'A';
        else if (c >= 'a' && c <= 'z')
            value = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            value = c - '0' + 52;
        else if (c == '+')
            value = 62;
        else if (c == '/')
            value = 63;
        else if (c == '=') {
            ++padding;
            continue;
        } else
            return std::nullopt;
        if (padding > 0) return std::nullopt;
        buffer = (buffer << 6) | static_cast<std::uint32_t>(value);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((buffer >> bits) & 0xFF);
        }
    }
    return out;
}

ApiPath parse_api_path(const std::string& path) {
    static const std::string prefix = "/v1/Account/";
    ApiPath api;
    if (path.compare(0, prefix.size(), prefix) != 0) return api;
    const std::size_t id_end = path.find('/', prefix.size());
    if (id_end == std::string::npos || id_end == prefix.size()) return api;
    const std::string rest = path.substr(id_end + 1);
    static const std::string messages = "Message/";
    if (rest.compare(0, messages.size(), messages) != 0) return api;
    const std::string tail = rest.substr(messages.size());
    if (tail.empty()) {
        api.kind = ApiPath::Messages;
    } else if (tail.size() > 1 && tail.back() == '/' && tail.find('/') == tail.size() - 1) {
        api.kind = ApiPath::OneMessage;
        api.uuid = tail.substr(0, tail.size() - 1);
    } else {
        return api;
    }
    api.auth_id = path.substr(prefix.size(), id_end - prefix.size());
    return api;
}

std::variant<ListQuery, ApiError> parse_list_query(
    const std::multimap<std::string, std::string>& params) {
    ListQuery query;
    auto value_of = [&](const char* key) -> std::optional<std::string> {
        const auto it = params.find(key);
        if (it == params.end()) return std::nullopt;
        return it->second;
    };
    auto integer = [&](const char* key, int min, int max, int& out) -> std::optional<ApiError> {
        const auto text = value_of(key);
        if (!text) return std::nullopt;
        const auto digits = number_digits(*text);
        if (!digits || *digits != *text || digits->size() > 9 || std::stoi(*digits) < min ||
            std::stoi(*digits) > max) {
            return bad_request(std::string(key) + " must be an integer between " +
                               std::to_string(min) + " and " + std::to_string(max));
        }
        out = std::stoi(*digits);
        return std::nullopt;
    };
    if (auto error = integer("limit", 1, 20, query.limit)) return *error;
    if (auto error = integer("offset", 0, 1000000000, query.offset)) return *error;

    for (const char* key : {"to_number", "from_number"}) {
        const auto text = value_of(key);
        if (!text) continue;
        auto digits = number_digits(*text);
        // an alphanumeric sender id is matched as written
        const std::string value = digits ? *digits : *text;
        (std::string(key) == "to_number" ? query.to_number : query.from_number) = value;
    }
    query.message_state = value_of("message_state");
    query.message_type = value_of("message_type");
    query.message_direction = value_of("message_direction");
    if (query.message_direction && *query.message_direction != "outbound" &&
        *query.message_direction != "inbound") {
        return bad_request("message_direction must be inbound or outbound");
    }

    struct TimeFilter {
        const char* key;
        std::optional<std::int64_t> ListQuery::*field;
    };
    const TimeFilter filters[] = {
        {"message_time", &ListQuery::time_eq},       {"message_time__gt", &ListQuery::time_gt},
        {"message_time__gte", &ListQuery::time_gte}, {"message_time__lt", &ListQuery::time_lt},
        {"message_time__lte", &ListQuery::time_lte},
    };
    for (const auto& filter : filters) {
        const auto text = value_of(filter.key);
        if (!text) continue;
        const auto at = parse_filter_time(*text);
        if (!at) {
            return bad_request(std::string(filter.key) +
                               " must be a UTC time written YYYY-MM-DD HH:MM[:ss[.uuuuuu]]");
        }
        query.*(filter.field) = *at;
        if (filter.field == &ListQuery::time_eq) {
            query.time_eq_whole_second = text->find('.') == std::string::npos;
        }
    }
    return query;
}

}  // namespace plivo_sim
