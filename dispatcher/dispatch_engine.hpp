// The sending engine the background worker drives: claimed messages in, row updates
// out. It owns the libcurl driver, the rate limiter, the retry policy and the settling
// of unknown outcomes, and never touches Postgres — the worker claims rows, hands them
// over, and writes back what the engine decided, in its own short transactions.
//
// Worker loop:
//   engine.configure(config)                          (start, and on SIGHUP)
//   loop:
//     n = engine.claim_capacity(now)                  (0: nothing to claim now)
//     rows = claim up to n due rows (FOR UPDATE SKIP LOCKED, lease, attempts + 1)
//     engine.add_claimed(rows, now)                   (starts what the rate limits allow)
//     engine.perform(max_wait)                        (when engine.in_flight() > 0)
//     n = engine.settle_backlog_wanted(now)           (0: busy settling, or looked lately)
//     rows = up to n unsettled rows whose attempt is older than engine.settle_cutoff(),
//         oldest first (not claimed: they stay 'retrying'); engine.add_unsettled(rows, now)
//     for each engine.take_settle_checks(): look up which candidate uuids we already own
//         and how many other messages of the pair are unsettled too,
//         engine.resolve_settle_check(id, answer, now)
//     write engine.take_updates() back: those of claimed rows in one UPDATE
//         (row_updates_json), settled ones (settle_guard set) only where the row is
//         still unsettled since the same attempt
//     sleep until the latch or engine.next_wakeup(now)
//
// One message per sender, recipient and type at a time: a claimed message whose pair
// already has one in the engine goes straight back to the queue (the worker's claim
// also skips pairs with a message in flight or unsettled). Settling then never has to
// tell two of our own messages apart in Plivo's list, which has no text to tell them by.
//
// Unknown outcomes are settled in batches (settle_batch.hpp) on slots of their own, with
// the list API's own token bucket (list_requests_per_minute): a 429 from it slows
// settling, never sending. A message whose answer named a uuid is looked up by it.
//
// Every claimed message ends in exactly one RowUpdate (sent, retrying or failed) unless
// the engine is destroyed first; abort_all() turns in-flight work into updates that
// keep the outcome honest (retrying, unsettled when the request may have left).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "http_driver.hpp"
#include "media_check.hpp"
#include "plivo_request.hpp"
#include "rate_limiter.hpp"
#include "retry_policy.hpp"
#include "settle_batch.hpp"

namespace plivo {

using SystemTime = std::chrono::system_clock::time_point;

struct EngineConfig {
    PlivoAccount account;
    HttpDriverConfig http;
    RetryConfig retry;
    RateLimits limits;
    // An unknown outcome is settled no sooner than this after the uncertain attempt.
    std::chrono::milliseconds settle_delay{60000};
    // Plivo's list API allows 20 requests a minute (plivo-api.md §9), whatever else the
    // account sends; settling keeps to this, apart from the account's budget.
    double list_requests_per_minute = 20;
    // Plivo's clock and ours may differ by this much (the list window's margin).
    std::chrono::milliseconds settle_clock_tolerance{10000};
    std::optional<std::string> default_callback_url;  // plivo.callback_url
    // A claimed message waiting this long for its sender's (or the account's) tokens goes
    // back to the queue as 'retrying' instead, well inside the worker's lease (60 s).
    std::chrono::milliseconds max_hold{20000};
    // Messages claimed beyond http.max_in_flight, held until a slot frees: when answers
    // come back together, the next ones go out at once instead of after the transaction
    // that claims them. Each still waits less than max_hold, as a slot frees within
    // http.request_timeout.
    std::size_t claim_ahead = 0;
    // While answers come back fast, more are held: as many as the wire answers in
    // claim_ahead_window at the recent pace of answers, up to claim_ahead_max in all.
    // With few slots and a fast Plivo, one transaction per claimed message is otherwise
    // what limits throughput; with a slow one this adds nothing, so no message waits long.
    std::size_t claim_ahead_max = 0;
    std::chrono::milliseconds claim_ahead_window{0};
    // Media pre-flight before an MMS's first attempt (media_check.hpp). Its requests run
    // in the same driver on slots of their own (max_concurrent, beyond max_in_flight), so
    // they never take a send slot. A message waiting for them is held and still goes back
    // as 'retrying' (not attempted) when max_hold runs out since its claim.
    MediaCheckConfig media;
    // Jitter for the retry backoff; empty: make_uniform_random(). configure() with an
    // empty one keeps the current generator. Tests inject a fixed one.
    UniformRandom random;
};

// One row the worker claimed (status is now 'sending', attempts already counts this one).
struct ClaimedMessage {
    std::string id;  // message_logs.id, as text
    SendParams params;
    int attempts = 1;
    // Set when an earlier attempt may have reached Plivo without a known answer: the
    // engine settles it through the list API before any resend.
    std::optional<SystemTime> unsettled_since;
};

// What to write back into the row. Fields left nullopt are left unchanged, except
// lease_expires_at which is always cleared.
struct RowUpdate {
    std::string id;
    std::string status;  // sent, retrying or failed
    std::optional<std::string> plivo_message_uuid;
    std::optional<std::string> sender;  // the number a Powerpack picked, once Plivo names it
    // What Plivo charged, from the settled record (delivery reports bring it otherwise):
    // decimal digits only, as message_logs' integer and numeric columns take them.
    std::optional<std::string> units, total_rate, total_amount;
    std::optional<std::string> status_info_json;  // becomes plivo_status_info (a JSON object)
    std::optional<std::string> error_code;
    std::optional<std::string> last_error;  // NULL it with clear_last_error
    bool clear_last_error = false;
    std::optional<long> last_http_status;
    std::optional<SystemTime> next_attempt_at;  // retrying: when
    std::optional<SystemTime> unsettled_since;  // set: the attempt may have reached Plivo
    bool clear_unsettled = false;               // the outcome is now known
    bool not_attempted = false;  // given back unsent: the claim's attempt does not count
    // The outcome is unknown: not claimed again (next_attempt_at 'infinity') until
    // settling decides, from the backlog.
    bool await_settlement = false;
    // Set on the updates of settling (the row is not claimed): the row's unsettled_since
    // as read with the backlog; written only where it is still that.
    std::optional<std::string> settle_guard;
};

// Candidate uuids from Plivo's list for one message: the worker answers which of them
// other rows already own.
struct SettleCheck {
    std::string id;
    std::vector<std::string> candidate_uuids;
    std::string sender, recipient, message_type;  // the pair, as stored ("sms" / "mms")
};

struct SettleAnswer {
    std::set<std::string> owned_uuids;  // candidates other rows already own
    // Other messages of the same pair whose outcome is unknown too (after a crash with
    // several in flight): any candidate may be theirs.
    int unsettled_rivals = 0;
};

class DispatchEngine {
public:
    explicit DispatchEngine(const EngineConfig& config);
    ~DispatchEngine();
    DispatchEngine(const DispatchEngine&) = delete;
    DispatchEngine& operator=(const DispatchEngine&) = delete;

    // New settings (SIGHUP). In-flight requests finish under the old ones; a new
    // max_in_flight applies as they do.
    void configure(const EngineConfig& config);

    // How many rows to claim now: free in-flight slots (plus claim_ahead) minus messages
    // held back, and never more than the account's tokens allow.
    std::size_t claim_capacity(std::chrono::steady_clock::time_point now);

    // Messages the engine takes at most now: max_in_flight plus the claim-ahead that the
    // recent pace of answers allows (see EngineConfig::claim_ahead_max).
    std::size_t claim_window() const;

    void add_claimed(std::vector<ClaimedMessage> messages,
                     std::chrono::steady_clock::time_point now);

    // Moves HTTP along for at most max_wait; finished attempts become updates,
    // settle checks, or follow-up requests (next list page, the resend after NotFound).
    void perform(std::chrono::milliseconds max_wait);

    // Settling: how many unsettled rows the engine wants now (0: busy with a batch, or it
    // looked lately and found none), and how old an attempt must be to be settled.
    std::size_t settle_backlog_wanted(std::chrono::steady_clock::time_point now) const;
    std::chrono::milliseconds settle_cutoff() const;
    // Unsettled rows, oldest first, none claimed. Rows the engine is settling or has
    // decided (update not yet recorded) are skipped. `next_unsettled`: the oldest
    // attempt of the rows still too recent for the backlog, if any. When it would join
    // the batch's window (answers lost in a burst that straddles the cutoff), the batch
    // waits for it, a backlog poll at a time, rather than list the window twice.
    void add_unsettled(std::vector<UnsettledMessage> backlog,
                       std::chrono::steady_clock::time_point now,
                       std::optional<SystemTime> next_unsettled = std::nullopt);

    struct SettleProgress {
        std::size_t batch = 0;       // messages of the batch being listed
        bool per_recipient = false;  // listed per recipient (else one time window)
        int pages_read = 0;          // of this batch
        std::size_t lookups = 0;     // waiting for GET /Message/{uuid}/
        std::uint64_t list_requests = 0, list_rate_limited = 0;  // since the engine was made
        std::uint64_t failures = 0;  // settling requests that failed (all kinds)
        std::string last_error;      // the last failed settling request, if any
    };
    SettleProgress settle_progress() const;

    std::vector<SettleCheck> take_settle_checks();
    void resolve_settle_check(const std::string& id, const SettleAnswer& answer,
                              std::chrono::steady_clock::time_point now);

    // The worker could not answer a settle check (its transaction failed): the message
    // stays unsettled, untouched, and comes back with a later backlog.
    // Never answer with an empty owned set instead: a candidate another row owns could
    // then be taken for this message, which would be marked sent without having been.
    void cancel_settle_check(const std::string& id, std::chrono::steady_clock::time_point now);

    std::vector<RowUpdate> take_updates();
    // The worker committed these updates: the uuids they record are the database's to
    // answer for (SettleAnswer::owned_uuids) and need not be remembered here any more.
    void uuids_recorded(const std::vector<RowUpdate>& updates);
    std::size_t unrecorded_uuids() const;  // uuids given to a message, not yet recorded

    std::size_t in_flight() const;  // requests on the wire, media checks included
    std::size_t held() const;       // claimed, waiting for tokens, media checks or a settle check

    // Media requests started since the engine was made (for tests and benchmarks).
    struct MediaCounters {
        std::uint64_t heads = 0;
        std::uint64_t ranged_gets = 0;
    };
    MediaCounters media_requests_started() const;
    // How long the worker may sleep before the engine needs it (nullopt: until woken).
    // Also starts held messages whose tokens have come and returns those held too long,
    // so a worker that calls perform() only while in_flight() > 0 loses nothing: zero
    // when updates or settle checks wait to be taken or a request was just started.
    std::optional<std::chrono::milliseconds> next_wakeup(std::chrono::steady_clock::time_point now);

    // Shutdown: stop every transfer; each claimed message gets its honest update.
    void abort_all();

    // Pause: every held message (claimed, not yet on the wire) goes back to the queue
    // unsent, 'retrying', due at once, with `why` as its last_error. Requests on the
    // wire are left to finish.
    void release_held(const std::string& why);

    struct State;

private:
    State* state_;
};

// The updates as a JSON array for jsonb_to_recordset: id, status, plivo_message_uuid,
// plivo_status_info (object), error_code, last_error, clear_last_error, last_http_status,
// next_attempt_at and unsettled_since (ISO 8601 UTC), clear_unsettled.
std::string row_updates_json(const std::vector<RowUpdate>& updates);

}  // namespace plivo
