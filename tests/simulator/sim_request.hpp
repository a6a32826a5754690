// Plivo's checks on a send-message request body (plivo-api.md §1 and §5), as pure
// functions: body text in, a parsed request or a Plivo-shaped 400 out.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace plivo_sim {

// Plivo's default message_expiry: 3 hours (plivo-api.md §9).
constexpr std::int64_t kDefaultMessageExpiryS = 10800;
// Plivo's limit on all of an MMS's media together (plivo-api.md §5): over it, error 120.
constexpr std::int64_t kMaxMmsBytes = 5LL * 1024 * 1024;

// What GET /_sim/media/<name> serves without bytes=.
constexpr std::int64_t kDefaultMediaBytes = 1024;

struct SendRequest {
    std::string from_number;                // src digits (or sender id); "" for a powerpack
    std::string powerpack_uuid;             // "" when src was given
    // per destination, the powerpack number chosen for it (set by the server; empty
    // when src was given)
    std::vector<std::string> senders;
    std::vector<std::string> destinations;  // valid dst, digits only, in request order
    std::vector<std::string> invalid_numbers;  // dst parts that failed, as written
    std::string type;                          // "sms" or "mms"
    std::string text;                          // "" when absent
    std::vector<std::string> media_urls;
    std::vector<std::string> media_ids;
    std::string callback_url;     // "" when no delivery reports were asked for
    std::string callback_method;  // "POST" or "GET"
    std::string log = "true";     // "true", "false", "number_only", "content_only"
    std::int64_t message_expiry_s = kDefaultMessageExpiryS;
    bool message_expiry_given = false;
    // bytes of the media served by the simulator itself (/_sim/media/...?bytes=N),
    // summed: Plivo's 5 MB limit is checked on them (error 120)
    std::int64_t sim_media_bytes = 0;
    nlohmann::json body;          // the request, parsed
    std::string raw_body;         // the request as received
};

struct ApiError {
    int status;
    std::string message;
    nlohmann::json extra = nlohmann::json::object();  // merged into the error body
};

// Runs Plivo's validation on a POST /Message/ body.
std::variant<SendRequest, ApiError> parse_send_request(const std::string& body);

// Which resource of Plivo's API a request path names.
struct ApiPath {
    enum Kind { None, Messages, OneMessage } kind = None;  // .../Message/, .../Message/{uuid}/
    std::string auth_id;
    std::string uuid;
};
ApiPath parse_api_path(const std::string& path);

// Decodes standard Base64 (HTTP Basic credentials); nullopt when malformed.
std::optional<std::string> base64_decode(const std::string& in);

struct ListQuery;  // sim_store.hpp

// Reads the filters of GET .../Message/ (to_number, from_number, message_state,
// message_type, message_direction, message_time[__gt|__gte|__lt|__lte], limit 1..20,
// offset); numbers are reduced to digits. Unknown parameters are ignored, as Plivo does.
std::variant<ListQuery, ApiError> parse_list_query(
    const std::multimap<std::string, std::string>& params);

// An absolute http(s) URL with a host: media, callback and inbound URLs.
bool is_http_url(const std::string& url);

// Segments Plivo would bill for `text` (GSM-7: 160 single / 153 per part; otherwise
// UCS-2: 70 / 67). An approximation: extension characters count one here. MMS is 1.
int billed_units(const std::string& type, const std::string& text);

}  // namespace plivo_sim
