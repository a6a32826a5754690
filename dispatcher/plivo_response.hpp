// Parsing what Plivo answers (plivo-api.md §1): send replies (202 or error), and the
// list / get-message replies used to settle unknown outcomes. Nothing here throws on a
// bad body: garbage is a normal input from the network.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace plivo {

// A reply to POST …/Message/ (any status). Text fields are already safe to store.
struct SendReply {
    bool is_json = false;  // the body was a JSON object
    std::string api_id;
    std::string message;                       // "message(s) queued"
    std::vector<std::string> message_uuids;    // one per accepted destination
    std::vector<std::string> invalid_numbers;  // "invalid_number"
    std::optional<std::string> error;          // "error": a string, or an object as JSON text
    std::string excerpt;  // when not JSON: the body, cleaned and cut (kMaxExcerptBytes)
};

constexpr std::size_t kMaxExcerptBytes = 300;

SendReply parse_send_reply(std::string_view body);

// The most useful human text of a reply: the error, else the excerpt, else "empty body".
std::string reply_error_text(const SendReply& reply);

// One message object of the list or get-message API.
struct ListedMessage {
    std::string message_uuid;
    std::string message_state;      // queued, sent, delivered, undelivered, failed, ...
    std::string message_direction;  // outbound / inbound; empty when absent
    std::string from_number;        // digits, as Plivo writes them
    std::string to_number;
    std::string message_time;               // as Plivo writes it, e.g. "2024-05-01 12:00:00+00:00"
    std::string message_type;               // sms, mms, ...
    std::optional<std::string> error_code;  // "000", "30", ...: numbers become text
    // What Plivo charged, as it writes it ("1", "0.00500"); empty when absent.
    std::string units, total_rate, total_amount;
};

struct MessageList {
    std::string api_id;
    long limit = 0;
    long offset = 0;
    long total_count = 0;
    std::optional<std::string> next;  // Plivo's link to the next page; nullopt on the last
    std::vector<ListedMessage> objects;
};

// nullopt unless the body is an object with an "objects" array; objects without a
// message_uuid are skipped.
std::optional<MessageList> parse_message_list(std::string_view body);

// One message (GET …/Message/{uuid}/); nullopt unless it has a message_uuid.
std::optional<ListedMessage> parse_listed_message(std::string_view body);

// Makes remote text storable in a Postgres text column: invalid UTF-8, NUL and other
// control characters (except tab) become '?', and the result is cut to max_bytes on a
// character boundary with "…" appended when cut.
std::string clean_remote_text(std::string_view text, std::size_t max_bytes);

}  // namespace plivo
