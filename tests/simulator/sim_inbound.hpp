// Inbound messages and Plivo's own opt-outs (plivo-api.md §9): the body of
// POST /_sim/inbound checked and turned into the fields Plivo posts to a message_url,
// Plivo's keyword rules (STOP, START, HELP, ...), and the (our number, their number)
// pairs a STOP has blocked.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim_config.hpp"

namespace plivo_sim {

// POST /_sim/inbound, checked; numbers are digits without '+', as Plivo writes them.
struct InboundRequest {
    std::string from_number;  // theirs
    std::string to_number;    // ours
    std::string type;         // "sms" or "mms"
    std::string text;
    std::vector<std::string> media;
    int media_start = 1;  // Media<n> numbering: Plivo's pages say 0 or 1
    std::string message_uuid;
    std::string intent;  // MessageIntent as sent: "optout", "optin", "help" or ""
    std::string url;
    std::string method;  // "POST" or "GET"
    int repeat = 1;      // deliveries of the same MessageUUID
    std::int64_t repeat_delay_ms = 0;
};

// Checks the body; `default_url` and `default_method` (inbound_url, inbound_method)
// stand in for a missing url / method. The error text on bad input.
std::variant<InboundRequest, std::string> parse_inbound_request(const std::string& body,
                                                                const std::string& default_url,
                                                                const std::string& default_method);

// Plivo's MessageIntent for an SMS text: the whole text, trimmed and case-insensitive,
// against Plivo's keywords. Other wordings ("Revoke", "opt out") are not Plivo's: "".
std::string keyword_intent(const std::string& text);

// The fields Plivo sends to the message_url, in its names and in a stable order.
// The rates (TotalRate, TotalAmount) come from `config`.
std::vector<std::pair<std::string, std::string>> inbound_fields(const InboundRequest& request,
                                                                const Config& config);

// The pairs Plivo blocks after a STOP: sends from our_number to their_number are
// accepted and then fail with error 200 until a START.
class OptOutList {
public:
    // Blocks the pair; keeps the first `since` when it already was.
    void block(const std::string& our_number, const std::string& their_number,
               std::int64_t since_us);
    void unblock(const std::string& our_number, const std::string& their_number);
    bool blocked(const std::string& our_number, const std::string& their_number) const;
    std::size_t size() const { return count_.load(std::memory_order_relaxed); }
    void clear();
    // {"opt_outs": [{"our_number", "their_number", "since"}, ...]}, oldest first.
    nlohmann::json to_json() const;

private:
    mutable std::mutex mutex_;
    std::map<std::pair<std::string, std::string>, std::int64_t> since_us_;
    std::atomic<std::size_t> count_{0};  // lets every send skip the lock while none is blocked
};

}  // namespace plivo_sim
