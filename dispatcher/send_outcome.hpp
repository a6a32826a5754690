// Classifies one finished POST …/Message/ attempt into what the worker must do next
// (design.md promises 3 and 4). The table, in order:
//
//   4xx status line received (even if the body was then cut off):
//     429                      → RateLimited   resend later, honour Retry-After
//     408                      → OutcomeUnknown (a proxy may answer 408 after forwarding)
//     any other 4xx            → Rejected      never resent; 401 and 404 are account_wide
//   transport error (CURLcode ≠ OK), no 4xx:
//     body certainly not sent  → RetrySafe     DNS, connect, TLS, timeout before sending
//     body may have been sent  → OutcomeUnknown timeout, reset, empty reply after sending
//   complete response:
//     2xx with message_uuid    → Accepted
//     2xx, no uuid, invalid_number listed → Rejected (Plivo named our destination invalid)
//     2xx, no uuid otherwise   → OutcomeUnknown (garbage, truncated, or an error object)
//     3xx                      → Rejected      not followed; the api_url is wrong
//     5xx, 1xx, anything else  → OutcomeUnknown
//
// Accepted, Rejected and RateLimited/RetrySafe are final facts about this attempt;
// OutcomeUnknown means Plivo may have queued the message: settle it (settle.hpp)
// before any resend.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "http_result.hpp"

namespace plivo {

struct Accepted {
    long http_status = 0;
    std::vector<std::string> message_uuids;  // one for our single destination; keep them all
    std::string api_id;
    std::string message;
};

struct Rejected {
    long http_status = 0;
    std::string error;  // Plivo's error text, or an excerpt of a non-JSON body
    std::string api_id;
    // 401 (credentials) or 404 (auth id / api_url): every message will fail the same
    // way, so the worker may pause sending and warn instead of failing the whole queue.
    bool account_wide = false;
};

struct RateLimited {
    std::optional<std::chrono::seconds> retry_after;  // parsed and clamped; nullopt: back off
    std::string error;
};

struct RetrySafe {
    std::string reason;  // "couldn't connect: Connection refused" ...
};

struct OutcomeUnknown {
    long http_status = 0;  // 0: no response at all
    std::string reason;
    std::optional<std::chrono::seconds> retry_after;  // a 503 may carry one
    // What answer there was named a message_uuid (a 5xx or a cut-off body that still
    // reads): the outcome is settled by GET /Message/{uuid}/, not by the list.
    std::optional<std::string> message_uuid;
};

using SendOutcome = std::variant<Accepted, Rejected, RateLimited, RetrySafe, OutcomeUnknown>;

// `now` is used only to read an HTTP-date Retry-After.
SendOutcome classify_send(const HttpResult& result, std::chrono::system_clock::time_point now);

// One line for logs and the row's last error: "rejected: HTTP 400: invalid dst" ...
std::string describe_outcome(const SendOutcome& outcome);

}  // namespace plivo
