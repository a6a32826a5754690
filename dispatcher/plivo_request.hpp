// The Plivo REST requests the worker makes (plivo-api.md §1): send one message, list
// messages to settle an unknown outcome, and fetch one message.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "http_request.hpp"
#include "outgoing_message.hpp"

namespace plivo {

// Plivo's bounds for message_expiry, in seconds (plivo-api.md §1).
constexpr int kMinMessageExpiry = 5;
constexpr int kMaxMessageExpiry = 10799;

// Where and as whom to call Plivo.
struct PlivoAccount {
    std::string api_url;     // "https://api.plivo.com"; trailing slashes are ignored
    std::string auth_id;     // "MA…" or "SA…": letters and digits only
    std::string auth_token;  // secret: copied only into HttpRequest::auth
    std::string version;     // ours, sent as "User-Agent: pg_plivo/<version>"
};

// One message as the worker reads it back from its row (already validated at enqueue).
struct SendParams {
    MessageType type = MessageType::Sms;
    // E.164, "+14155550100"; for a Powerpack message the pack's uuid, which rate limits,
    // the one-at-a-time rule and settling go by until Plivo names the number it used.
    std::string sender;
    bool via_powerpack = false;  // sender is a Powerpack uuid: sent as powerpack_uuid, no src
    std::string recipient;                    // E.164
    std::optional<std::string> text;          // left out of the body when absent
    std::vector<std::string> media_urls;      // left out when empty
    std::optional<std::string> callback_url;  // delivery reports, always with method POST
    std::optional<std::string> log;           // Plivo's log option: true, false, number_only, content_only
    // Plivo drops the message when it could not deliver it within this many seconds
    // (5–10799; error 420). Left out: Plivo's default (3 hours).
    std::optional<int> message_expiry_seconds;
};

// A list-messages query (plivo-api.md §1, "To settle an unknown outcome").
struct ListQuery {
    std::string recipient;                        // E.164; sent as to_number (empty: any)
    std::optional<std::string> sender;            // E.164; sent as from_number when set
    std::chrono::system_clock::time_point since;  // message_time__gte, in UTC (whole seconds, down)
    // message_time__lte, in UTC (whole seconds, up): a closed window of time.
    std::optional<std::chrono::system_clock::time_point> until;
    std::optional<std::string> message_type;      // "sms" / "mms"
    bool outbound_only = false;                   // message_direction=outbound
    int limit = 20;                               // Plivo's maximum page size
    int offset = 0;
};

// "{api_url}/v1/Account/{auth_id}/Message/". Throws InputError for an api_url that is not
// http(s) or an auth id that is not alphanumeric (it becomes part of the path).
std::string message_endpoint(const PlivoAccount& account);

// The JSON body: src (or powerpack_uuid) and dst as digits, text, type, media_urls, url + method, log and
// message_expiry when set (message_expiry clamped to Plivo's 5–10799). Keys come out
// sorted (nlohmann::json), so the text is deterministic. Throws InputError when a stored
// value is unusable (a number that is not E.164, a string that is not UTF-8).
std::string send_request_body(const SendParams& message);

// POST …/Message/ with JSON headers, our User-Agent and Basic auth.
HttpRequest build_send_request(const PlivoAccount& account, const SendParams& message);

// GET …/Message/?[to_number=…&][from_number=…&]message_time__gte=…[&message_time__lte=…]
// [&message_type=…][&message_direction=outbound]&limit=…&offset=…
HttpRequest build_list_request(const PlivoAccount& account, const ListQuery& query);

// GET of a list reply's meta.next: a path ("/v1/Account/{auth_id}/Message/?…") on the
// api_url's host, or an absolute URL under the message endpoint. The request carries
// our credentials, so any other link throws InputError rather than be followed.
HttpRequest build_list_page_request(const PlivoAccount& account, const std::string& next);

// GET …/Message/{message_uuid}/
HttpRequest build_get_message_request(const PlivoAccount& account, const std::string& message_uuid);

// "+14155550100" → "14155550100": Plivo's form. Throws InputError naming `field`
// unless the value is '+' and digits only.
std::string plivo_number(const std::string& e164, const std::string& field);

// "YYYY-mm-dd HH:MM:SS" in UTC, the form message_time__gte takes.
std::string format_plivo_time(std::chrono::system_clock::time_point time);

}  // namespace plivo
