// The simulator's memory: accepted messages (what Plivo's list API shows), their
// lifecycle state, and the counters behind GET /_sim/stats.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim_config.hpp"
#include "sim_request.hpp"

namespace plivo_sim {

// One message per accepted destination. The fields above `state` never change after
// accept; the lifecycle fields are guarded by MessageStore's mutex.
struct Message {
    std::string uuid;
    std::string api_id;  // of the request that created it
    std::string auth_id;
    std::string from_number;
    std::string to_number;
    std::string type;
    std::string text;
    std::string powerpack_uuid;
    std::string log = "true";  // the send's log option
    std::int64_t message_expiry_s = kDefaultMessageExpiryS;
    std::int64_t sim_media_bytes = 0;  // see SendRequest
    std::vector<std::string> request_keys;  // the send body's keys, sorted
    double rate = 0;  // per unit, as configured at accept
    std::string callback_url;     // "" when none
    std::string callback_method;  // "POST" / "GET"
    std::string requester_ip;
    std::string fault;  // fault kind that hit the creating request ("" when none)
    int units = 1;
    std::int64_t message_time_us = 0;
    std::uint64_t sequence_number = 0;        // accept order, from 1
    std::shared_ptr<const std::string> body;  // request body as received, shared per request

    std::string state = "queued";
    std::string error_code;           // "" while none is known
    std::int64_t queued_time_us = 0;  // 0 until the step happened
    std::int64_t sent_time_us = 0;
    std::int64_t final_time_us = 0;
};
using MessagePtr = std::shared_ptr<Message>;

// Filters of GET /v1/Account/{id}/Message/ (Plivo's names), already validated.
struct ListQuery {
    std::optional<std::string> to_number, from_number, message_state, message_type;
    std::optional<std::string> message_direction;
    std::optional<std::int64_t> time_eq, time_gt, time_gte, time_lt, time_lte;
    bool time_eq_whole_second = false;  // message_time without a fraction: that second
    int limit = 20;
    int offset = 0;
};

struct ListResult {
    std::size_t total_count = 0;  // all matches; only when list() was asked to count them
    bool more = false;            // a match exists after this page (meta.next)
    nlohmann::json objects = nlohmann::json::array();
};

// Request, fault and report counters; atomics, so the hot path takes no lock.
struct Stats {
    std::atomic<std::uint64_t> requests{0};       // /v1/ API requests
    std::atomic<std::uint64_t> send_requests{0};  // POST .../Message/
    std::atomic<std::uint64_t> rate_limited{0};         // every 429 of a rate limit
    std::atomic<std::uint64_t> list_requests{0};        // GET .../Message/ past the limits
    std::atomic<std::uint64_t> list_rate_limited{0};    // GET .../Message/ refused with 429
    std::atomic<std::uint64_t> get_message_requests{0};  // GET .../Message/{uuid}/
    std::atomic<std::int64_t> concurrent_requests{0};  // API requests being handled now
    std::atomic<std::int64_t> max_concurrent_requests{0};
    std::array<std::atomic<std::uint64_t>, 600> status_codes{};
    std::array<std::atomic<std::uint64_t>, kFaultCount> faults{};
    std::atomic<std::uint64_t> reports_sent{0};            // answered 2xx
    std::atomic<std::uint64_t> report_attempts_failed{0};  // non-2xx, error or timeout
    std::atomic<std::uint64_t> reports_retried{0};
    std::atomic<std::uint64_t> reports_gave_up{0};
    std::atomic<std::uint64_t> reports_duplicated{0};
    std::atomic<std::uint64_t> reports_out_of_order{0};
    std::atomic<std::uint64_t> inbound_messages{0};   // POST /_sim/inbound accepted
    std::atomic<std::uint64_t> inbound_requested{0};  // deliveries asked for (repeat summed)
    std::atomic<std::uint64_t> inbound_delivered{0};  // answered 2xx
    std::atomic<std::uint64_t> inbound_attempts_failed{0};
    std::atomic<std::uint64_t> inbound_retried{0};
    std::atomic<std::uint64_t> inbound_gave_up{0};
    std::atomic<std::uint64_t> opted_out_sends{0};  // messages failed with 200 (pair blocked)

    void count_status(int status) {
        if (status >= 0 && status < 600)
            status_codes[status].fetch_add(1, std::memory_order_relaxed);
    }
    void count_fault(Fault fault) {
        if (fault != Fault::None)
            faults[static_cast<int>(fault)].fetch_add(1, std::memory_order_relaxed);
    }
    void reset();
    nlohmann::json to_json() const;
};

// Counts one API request as in progress for its lifetime (max_concurrent_requests
// shows how many requests a client really had in flight at once).
class ConcurrentRequest {
public:
    explicit ConcurrentRequest(Stats& stats) : stats_(stats) {
        const std::int64_t now = stats_.concurrent_requests.fetch_add(1) + 1;
        std::int64_t max = stats_.max_concurrent_requests.load();
        while (now > max && !stats_.max_concurrent_requests.compare_exchange_weak(max, now)) {
        }
    }
    ~ConcurrentRequest() { stats_.concurrent_requests.fetch_sub(1); }
    ConcurrentRequest(const ConcurrentRequest&) = delete;
    ConcurrentRequest& operator=(const ConcurrentRequest&) = delete;

private:
    Stats& stats_;
};

class MessageStore {
public:
    explicit MessageStore(std::size_t max_messages) : max_messages_(max_messages) {}

    // Creates one message per destination of `request` and counts duplicates.
    // `config` gives the rates.
    std::vector<MessagePtr> accept(const SendRequest& request, const std::string& auth_id,
                                   const std::string& api_id, const std::string& requester_ip,
                                   Fault fault, const Config& config);

    // Plivo's message object (GET .../Message/{uuid}/ adds its own api_id).
    std::optional<nlohmann::json> object_json(const std::string& uuid) const;
    // A page of the list API, newest first. Without count_all the scan stops at the
    // first match after the page (enough for `more`), and total_count is not set.
    ListResult list(const ListQuery& query, std::int64_t now_us, bool count_all) const;

    // GET /_sim/messages: oldest first, with each message's full request body.
    nlohmann::json dump(std::size_t limit, std::size_t offset,
                        const std::optional<std::string>& to_number) const;

    // Moves a message to `state` (the lifecycle engine calls this).
    void set_state(const MessagePtr& message, const std::string& state,
                   const std::string& error_code, std::int64_t at_us);

    // A consistent copy of the lifecycle fields (for building a report).
    Message snapshot(const MessagePtr& message) const;

    nlohmann::json counters_json() const;
    void reset();

private:
    nlohmann::json object_json_locked(const Message& message) const;

    const std::size_t max_messages_;
    mutable std::mutex mutex_;
    std::deque<MessagePtr> messages_;  // accept order
    std::unordered_map<std::string, MessagePtr> by_uuid_;
    std::unordered_set<std::string> seen_keys_;  // (src, dst, text, media) of every accept
    std::uint64_t next_sequence_ = 1;
    std::int64_t last_time_us_ = 0;
    std::uint64_t accepted_requests_ = 0;
    std::uint64_t accepted_messages_ = 0;
    std::uint64_t duplicates_ = 0;
    std::uint64_t evicted_ = 0;
};

// An amount as Plivo writes it ("0.00500").
std::string money(double value);
// The configured rate per unit of `type` ("sms" / "mms").
double unit_rate(const Config& config, const std::string& type);
// What the message costs: rate x units; nothing for one that expired in Plivo's queue
// (failed, error 420).
std::string total_amount(const Message& message);
// The text Plivo keeps: none when the send's log is "false" or "number_only".
std::string kept_text(const Message& message);

}  // namespace plivo_sim
