#include "plivo_request.hpp"

#include <algorithm>
#include <ctime>

#include <nlohmann/json.hpp>

#include "input_error.hpp"
#include "utf8.hpp"
#include "pure_cpp.hpp"

namespace plivo {

namespace {

bool is_alnum(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// Percent-encodes everything outside RFC 3986's unreserved set (space becomes %20).
std::string percent_encode(const std::string& text) {
    static const char kHex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size() * 3);
    for (unsigned char c : text) {
        if (is_alnum(static_cast<char>(c)) || c == '-' || c == '.' || c == '_' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 0x0F];
        }
    }
    return out;
}

bool starts_with_ci(const std::string& text, const char* prefix) {
    for (std::size_t i = 0; prefix[i] != '\0'; ++i) {
        if (i >= text.size()) return false;
        char c = text[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != prefix[i]) return false;
    }
    return true;
}

std::vector<std::string> common_headers(const PlivoAccount& account, bool with_body) {
    std::vector<std::string> headers;
    if (with_body) headers.push_back("Content-Type: application/json");
    headers.push_back("Accept: application/json");
    headers.push_back("User-Agent: pg_plivo/" + account.version);
    return headers;
}

// nlohmann::json refuses to write a string that is not UTF-8: say which field it was.
void require_utf8(const std::optional<std::string>& value, const std::string& field) {
    if (!value || !utf8::find_invalid(*value)) return;
    throw InputError(InputErrorKind::InvalidParameter, field, field + " is not valid UTF-8",
                     "The stored value is " + quote_for_detail(*value) + ".",
                     "Store the message in a database with UTF-8 encoding.");
}

HttpRequest base_request(const PlivoAccount& account, RequestMethod method, std::string url) {
    HttpRequest request;
    request.method = method;
    request.url = std::move(url);
    request.headers = common_headers(account, method == RequestMethod::Post);
    request.auth = BasicAuth{account.auth_id, account.auth_token};
    return request;
}

}  // namespace

std::string message_endpoint(const PlivoAccount& account) {
    std::string base = account.api_url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    if (!starts_with_ci(base, "http://") && !starts_with_ci(base, "https://")) {
        throw InputError(
            InputErrorKind::MissingSetting, "plivo.api_url",
            "plivo.api_url must start with http:// or https://",
            "The value is " + quote_for_detail(account.api_url) + ".",
            "Set plivo.api_url to https://api.plivo.com, or to the simulator's address.");
    }
    bool id_ok = !account.auth_id.empty() && account.auth_id.size() <= 64;
    for (char c : account.auth_id) id_ok = id_ok && is_alnum(c);
    if (!id_ok) {
        throw InputError(InputErrorKind::MissingSetting, "plivo.auth_id",
                         "plivo.auth_id must be letters and digits",
                         "The value is " + quote_for_detail(account.auth_id) + ".",
                         "Copy the auth id (MA… or SA…) from the Plivo console.");
    }
    return base + "/v1/Account/" + account.auth_id + "/Message/";
}

std::string plivo_number(const std::string& e164, const std::string& field) {
    std::string digits = e164;
    if (!digits.empty() && digits.front() == '+') digits.erase(0, 1);
    bool ok = !digits.empty() && digits.size() <= 15;
    for (char c : digits) ok = ok && c >= '0' && c <= '9';
    if (!ok) {
        throw InputError(InputErrorKind::InvalidParameter, field,
                         field + " is not an E.164 phone number",
                         "The stored value is " + quote_for_detail(e164) + ".",
                         "Store numbers as + followed by the country code and the digits.");
    }
    return digits;
}

std::string format_plivo_time(std::chrono::system_clock::time_point time) {
    std::time_t seconds = std::chrono::system_clock::to_time_t(time);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &utc);
    return text;
}

std::string send_request_body(const SendParams& message) {
    require_utf8(message.text, "message_text");
    for (const std::string& url : message.media_urls) require_utf8(url, "media_urls");
    require_utf8(message.callback_url, "callback_url");
    nlohmann::json body;
    if (message.via_powerpack) {
        body["powerpack_uuid"] = message.sender;
    } else {
        body["src"] = plivo_number(message.sender, "sender");
    }
    body["dst"] = plivo_number(message.recipient, "recipient");
    if (message.text) body["text"] = *message.text;
    body["type"] = message.type == MessageType::Mms ? "mms" : "sms";
    if (!message.media_urls.empty()) body["media_urls"] = message.media_urls;
    if (message.callback_url) {
        body["url"] = *message.callback_url;
        body["method"] = "POST";
    }
    if (message.log) body["log"] = *message.log;
    if (message.message_expiry_seconds) {
        body["message_expiry"] = std::clamp(*message.message_expiry_seconds, kMinMessageExpiry,
                                            kMaxMessageExpiry);
    }
    return body.dump();
}

HttpRequest build_send_request(const PlivoAccount& account, const SendParams& message) {
    HttpRequest request = base_request(account, RequestMethod::Post, message_endpoint(account));
    request.body = send_request_body(message);
    return request;
}

HttpRequest build_list_request(const PlivoAccount& account, const ListQuery& query) {
    std::string url = message_endpoint(account) + "?";
    if (!query.recipient.empty()) url += "to_number=" + plivo_number(query.recipient, "recipient") + "&";
    if (query.sender) url += "from_number=" + plivo_number(*query.sender, "sender") + "&";
    url += "message_time__gte=" + percent_encode(format_plivo_time(query.since));
    if (query.until) {
        // Whole seconds: the last second of the window is in it.
        auto up = std::chrono::ceil<std::chrono::seconds>(query.until->time_since_epoch());
        url += "&message_time__lte=" +
               percent_encode(format_plivo_time(std::chrono::system_clock::time_point(up)));
    }
    if (query.message_type) url += "&message_type=" + percent_encode(*query.message_type);
    if (query.outbound_only) url += "&message_direction=outbound";
    url += "&limit=" + std::to_string(query.limit);
    url += "&offset=" + std::to_string(query.offset);
    return base_request(account, RequestMethod::Get, std::move(url));
}

HttpRequest build_list_page_request(const PlivoAccount& account, const std::string& next) {
    const std::string endpoint = message_endpoint(account);
    // The endpoint's origin: scheme and host (and port), without the path.
    const std::size_t host_start = endpoint.find("://") + 3;
    const std::size_t path_start = endpoint.find("/v1/Account/", host_start);
    const std::string origin = endpoint.substr(0, path_start);
    const std::string path = endpoint.substr(path_start);
    std::string url;
    if (next.compare(0, path.size(), path) == 0) {
        url = origin + next;
    } else if (next.compare(0, endpoint.size(), endpoint) == 0) {
        url = next;
    }
    const bool plain = next.find_first_of(" \r\n\t#") == std::string::npos;
    if (url.empty() || !plain || url.size() <= endpoint.size() || url[endpoint.size()] != '?') {
        throw InputError(InputErrorKind::InvalidParameter, "meta.next",
                         "the list reply's next link is not a page of this account's messages",
                         "The link is " + quote_for_detail(next.substr(0, 200)) + ".",
                         "Check plivo.api_url: the list reply came from another service.");
    }
    return base_request(account, RequestMethod::Get, std::move(url));
}

HttpRequest build_get_message_request(const PlivoAccount& account,
                                      const std::string& message_uuid) {
    if (message_uuid.empty()) {
        throw InputError(InputErrorKind::InvalidParameter, "message_uuid",
                         "message_uuid must not be empty", "The value is \"\".",
                         "Pass the message_uuid Plivo returned.");
    }
    return base_request(account, RequestMethod::Get,
                        message_endpoint(account) + percent_encode(message_uuid) + "/");
}

}  // namespace plivo
