#include "dispatch_engine.hpp"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <ctime>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <nlohmann/json.hpp>

#include "input_error.hpp"
#include "plivo_response.hpp"
#include "retry_after.hpp"
#include "send_outcome.hpp"
#include "settle.hpp"
#include "settle_batch.hpp"
#include "pure_cpp.hpp"

namespace plivo {

namespace {

using SteadyClock = std::chrono::steady_clock;
using SteadyTime = SteadyClock::time_point;
using std::chrono::milliseconds;

constexpr std::size_t kMaxErrorBytes = 1000;
// Settling has slots of its own beyond max_in_flight (one list page and one uuid
// lookup at a time): it never takes a send's slot, and sends never hold it up.
constexpr std::size_t kSettleSlots = 2;
constexpr std::chrono::seconds kBacklogPoll{2};
constexpr std::size_t kBacklogRows = 1000;  // unsettled rows asked for at a time, oldest first  // an idle engine looks for unsettled rows
// A message decided by settling is not taken up again from the backlog while its
// update may still be on its way to the row.
constexpr std::chrono::seconds kSettledMemory{30};
// A 429 from the list without Retry-After: Plivo counts list requests per minute.
constexpr std::chrono::seconds kListPauseAfter429{20};
// Uuids this engine assigned (accepted or settled) are remembered until the worker says
// their update is written (uuids_recorded(): from then on the database's owned uuids
// answer for them), so that two messages never settle onto one uuid before the first
// one's update is written. A uuid the row does not record (the second and later of a
// several-part answer), or whose update could not be written, is forgotten after this
// long, kept well under the lease: a message whose update could not be written is
// settled again after its lease, and must then find its own uuid rather than skip it.
// (Remembering every uuid for the whole 30 s held ~60 MB at 8,000 messages/s.)
constexpr std::chrono::seconds kAssignedMemory{30};
constexpr std::chrono::seconds kAssignedSweep{1};  // how often the old ones are looked for
// A message whose pair (sender, recipient, type) already has one in the engine is due
// again this much later: by then the first has usually been answered.
constexpr std::chrono::seconds kSamePairWait{1};

// Where one claimed message stands.
enum class Step {
    WaitMedia,  // first attempt of an MMS: waiting for its media checks (no slot taken)
    WaitSend,   // waiting for sender and account tokens (or a free slot) to POST
    Posting,    // POST on the wire
};

struct Job {
    ClaimedMessage message;  // params carry the default callback url when there was none
    std::string pair;        // sender, recipient and type: one job per pair at a time
    Step step = Step::WaitSend;
    SteadyTime held_since{};        // WaitSend: since when; WaitMedia: the claim
    SystemTime attempt_started{};   // Posting: just before start()
    SteadyTime posted_at{};         // Posting: the same, for the pace of answers
};

RowUpdate update_for(const Job& job, const char* status) {
    RowUpdate update;
    update.id = job.message.id;
    update.status = status;
    return update;
}

// "2024-05-01T12:00:00.123456Z"
std::string iso_utc(SystemTime time) {
    long long us = std::chrono::duration_cast<std::chrono::microseconds>(time.time_since_epoch())
                       .count();
    long long seconds = us / 1000000;
    long long fraction = us % 1000000;
    if (fraction < 0) {
        fraction += 1000000;
        seconds -= 1;
    }
    std::time_t t = static_cast<std::time_t>(seconds);
    std::tm utc{};
    gmtime_r(&t, &utc);
    char text[48];
    std::size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
    std::snprintf(text + n, sizeof text - n, ".%06lldZ", fraction);
    return text;
}

std::string dump(const nlohmann::json& json) {
    return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

milliseconds ceil_ms(SteadyClock::duration duration) {
    if (duration <= SteadyClock::duration::zero()) return milliseconds(0);
    return std::chrono::ceil<milliseconds>(duration);
}

// Media requests at once: a quarter of the send slots unless configured.
std::size_t media_slots(const EngineConfig& config) {
    if (!config.media.enabled) return 0;
    if (config.media.max_concurrent > 0) return config.media.max_concurrent;
    return std::max<std::size_t>(1, config.http.max_in_flight / 4);
}

// The driver has the media slots on top of the send slots: a slow media server can
// then never hold up a send, and Plivo still sees at most max_in_flight requests.
HttpDriverConfig driver_config(const EngineConfig& config) {
    HttpDriverConfig http = config.http;
    http.max_in_flight += media_slots(config) + kSettleSlots;
    return http;
}

// Plivo's "1" or "0.00500" as the database's integer / numeric take it; anything else
// (absent, a sign, an exponent, too many digits) is left out rather than fail the write.
std::optional<std::string> decimal_or_none(const std::string& text, bool fraction) {
    std::size_t dot = text.find('.');
    if (!fraction && dot != std::string::npos) return std::nullopt;
    std::string whole = text.substr(0, dot);
    std::string part = dot == std::string::npos ? std::string() : text.substr(dot + 1);
    auto digits = [](const std::string& s) {
        return s.find_first_not_of("0123456789") == std::string::npos;
    };
    if (whole.empty() || whole.size() > 9 || !digits(whole)) return std::nullopt;
    if (dot != std::string::npos && (part.empty() || part.size() > 12 || !digits(part)))
        return std::nullopt;
    return text;
}

bool needs_media_check(const EngineConfig& config, const ClaimedMessage& message) {
    return config.media.enabled && message.params.type == MessageType::Mms &&
           !message.params.media_urls.empty() && message.attempts == 1 &&
           !message.unsettled_since;
}

}  // namespace

struct DispatchEngine::State {
    EngineConfig config;
    std::unique_ptr<HttpDriver> driver;
    RateLimiter limiter;
    RetryPolicy retry;

    std::map<std::uint64_t, Job> jobs;             // by serial: claim order
    std::set<std::uint64_t> held;                  // serials in WaitSend, claim order
    // No held message's max_hold runs out before this (a lower bound; the epoch: not
    // known, look). With no free slot, pump() has nothing to do until then.
    SteadyTime hold_floor{};
    std::map<std::uint64_t, std::uint64_t> wire;   // request id → job serial
    MediaChecker media;
    std::map<std::uint64_t, MediaChecker::Probe> media_wire;  // request id → media probe
    std::set<std::uint64_t> media_waiting;  // serials in WaitMedia, claim order
    // Settling unknown outcomes (settle_batch.hpp), from the worker's backlog of rows;
    // none of them is claimed.
    TokenBucket list_bucket;  // the list API's own limit, apart from the account's
    std::optional<SettleBatch> batch;
    bool list_on_wire = false;
    SteadyTime list_not_before{};  // after a failed page: not before this
    int list_failures = 0;         // in a row
    std::deque<UnsettledMessage> lookups;  // uuid known: GET /Message/{uuid}/
    SteadyTime lookup_not_before{};
    struct SettleRequest {
        bool list = false;
        UnsettledMessage message;  // a lookup's
    };
    std::map<std::uint64_t, SettleRequest> settle_wire;  // request id → what it settles
    std::set<std::string> lookup_missed;  // ids whose uuid Plivo did not know: listed instead
    struct PendingCheck {
        UnsettledMessage message;
        std::vector<ListedMessage> objects;
    };
    std::map<std::string, PendingCheck> checks;  // message id → waiting for owned uuids
    std::vector<SettleCheck> checks_out;
    std::unordered_map<std::string, SteadyTime> settled;  // decided ids, with when
    bool backlog_seen = false;  // the worker gives backlogs (add_unsettled)
    bool backlog_more = false;  // the last backlog had work: ask again once idle
    SteadyTime next_backlog{};
    std::uint64_t list_requests = 0, list_rate_limited = 0;
    std::uint64_t settle_failures = 0;
    std::string last_settle_error;
    std::vector<RowUpdate> updates;
    std::map<std::string, std::uint64_t> pairs;    // pair → serial of its one job
    // Uuids this engine gave to a message and the worker has not recorded, with when.
    std::unordered_map<std::string, SteadyTime> assigned;
    SteadyTime last_assigned_sweep{};
    // Recent POST round trips, seconds (a moving average; 0: none yet).
    double round_trip_seconds = 0;
    std::uint64_t next_serial = 1;
    std::uint64_t next_request = 1;

    explicit State(const EngineConfig& c)
        : config(c),
          driver(std::make_unique<HttpDriver>(driver_config(c))),
          limiter(c.limits, SteadyClock::now()),
          retry(c.retry),
          media(c.media),
          list_bucket(c.list_requests_per_minute / 60.0, 1.0, SteadyClock::now()) {
        if (!config.random) config.random = make_uniform_random();
    }

    // --- small helpers -------------------------------------------------------------

    // Storable and secret-free: the auth token is cut out before anything is kept.
    std::string safe(std::string text) const {
        const std::string& token = config.account.auth_token;
        if (!token.empty()) {
            for (std::size_t at = text.find(token); at != std::string::npos;
                 at = text.find(token, at)) {
                text.replace(at, token.size(), "<redacted>");
                at += 10;
            }
        }
        return clean_remote_text(text, kMaxErrorBytes);
    }

    bool slot_free() const {
        return wire.size() < config.http.max_in_flight && driver->has_capacity();
    }

    void finish(std::uint64_t serial, RowUpdate update) {
        Job& job = jobs.at(serial);
        if (job.step == Step::WaitMedia) {
            media.forget(serial);
            media_waiting.erase(serial);
        }
        if (auto pair = pairs.find(job.pair); pair != pairs.end() && pair->second == serial)
            pairs.erase(pair);
        updates.push_back(std::move(update));
        held.erase(serial);
        jobs.erase(serial);
    }

    void forget_old_uuids(SteadyTime now) {
        if (now - last_assigned_sweep < kAssignedSweep) return;
        last_assigned_sweep = now;
        for (auto it = assigned.begin(); it != assigned.end();) {
            it = now - it->second > kAssignedMemory ? assigned.erase(it) : std::next(it);
        }
    }

    void remember_uuid(const std::string& uuid, SteadyTime now) {
        forget_old_uuids(now);
        assigned.emplace(uuid, now);
    }

    // --- claiming ahead -------------------------------------------------------------

    void note_round_trip(SteadyClock::duration took) {
        double seconds = std::chrono::duration<double>(took).count();
        // A quick average: a Plivo that slows down stops the extra claims within a few
        // answers.
        round_trip_seconds = round_trip_seconds == 0 ? seconds
                                                     : 0.75 * round_trip_seconds + 0.25 * seconds;
    }

    std::size_t claim_window() const {
        std::size_t slots = config.http.max_in_flight;
        std::size_t ahead = config.claim_ahead;
        if (config.claim_ahead_max > ahead && round_trip_seconds > 0) {
            double window = std::chrono::duration<double>(config.claim_ahead_window).count();
            double answers = static_cast<double>(slots) * window / round_trip_seconds;
            if (answers >= static_cast<double>(config.claim_ahead_max)) {
                ahead = config.claim_ahead_max;
            } else if (answers > static_cast<double>(ahead)) {
                ahead = static_cast<std::size_t>(answers);
            }
        }
        return slots + ahead;
    }

    // --- starting requests ---------------------------------------------------------

    void start(std::uint64_t serial, Job& job, HttpRequest request, Step step) {
        std::uint64_t id = next_request++;
        if (step == Step::Posting) {
            job.attempt_started = std::chrono::system_clock::now();
            job.posted_at = SteadyClock::now();
        }
        job.step = step;
        held.erase(serial);
        wire[id] = serial;
        driver->start(id, std::move(request));
    }

    // The message waits for tokens from `since` on; pump() starts it.
    void hold(std::uint64_t serial, Job& job, Step step, SteadyTime since) {
        job.step = step;
        job.held_since = since;
        held.insert(serial);
        hold_floor = std::min(hold_floor, since + config.max_hold);
    }

    // --- media checks --------------------------------------------------------------

    // A first MMS attempt waits for its media verdicts (at once when all are cached).
    void check_media(std::uint64_t serial, Job& job, SteadyTime now) {
        job.step = Step::WaitMedia;
        job.held_since = now;
        media_waiting.insert(serial);
        if (auto outcome = media.add(serial, job.message.params.media_urls, now))
            on_media_outcome(*outcome);
    }

    // Passed: waits for tokens, its max_hold still counted from the claim (the lease).
    void on_media_outcome(const MediaChecker::Outcome& outcome) {
        auto found = jobs.find(outcome.message);
        if (found == jobs.end() || found->second.step != Step::WaitMedia) return;
        Job& job = found->second;
        media_waiting.erase(outcome.message);
        if (outcome.failure) {
            RowUpdate update = update_for(job, "failed");
            update.last_error = safe(*outcome.failure);
            update.not_attempted = true;  // no request reached Plivo
            finish(outcome.message, std::move(update));
            return;
        }
        hold(outcome.message, job, Step::WaitSend, job.held_since);
    }

    void start_media_probes() {
        const std::size_t slots = media_slots(config);
        while (media_wire.size() < slots && driver->has_capacity() && media.queued() > 0) {
            std::optional<MediaChecker::Probe> probe = media.next_probe();
            if (!probe) break;
            std::uint64_t id = next_request++;
            HttpRequest request =
                build_media_request(probe->url, probe->kind, config.media, config.account.version);
            media_wire.emplace(id, std::move(*probe));
            driver->start(id, std::move(request));
        }
    }

    void on_media_result(std::uint64_t id, const HttpResult& result, SteadyTime now) {
        auto found = media_wire.find(id);
        MediaChecker::Probe probe = std::move(found->second);
        media_wire.erase(found);
        for (const MediaChecker::Outcome& outcome : media.on_answer(probe, result, now))
            on_media_outcome(outcome);
    }

    // Waiting for media past max_hold since the claim: back to the queue, due once the
    // probe's timeout has passed (its verdict is cached by then). Claim order is the
    // order their holds run out.
    void give_back_slow_media(SteadyTime now) {
        while (!media_waiting.empty()) {
            std::uint64_t serial = *media_waiting.begin();
            Job& job = jobs.at(serial);
            if (now - job.held_since < config.max_hold) return;
            RowUpdate update = update_for(job, "retrying");
            update.next_attempt_at =
                std::chrono::system_clock::now() +
                std::chrono::duration_cast<SystemTime::duration>(config.media.timeout);
            update.last_error = "waiting for the media checks (media servers answer slowly)";
            update.not_attempted = true;
            finish(serial, std::move(update));
        }
    }

    // The token is already taken.
    void start_post(std::uint64_t serial, Job& job, SteadyTime now) {
        HttpRequest request;
        try {
            request = build_send_request(config.account, job.message.params);
        } catch (const InputError& error) {
            std::string text = std::string(error.what()) + ": " + error.detail();
            if (error.kind() == InputErrorKind::MissingSetting) {  // api_url / auth_id
                retry_later(serial, job, "request not sent: " + text, std::nullopt, now);
            } else {
                RowUpdate update = update_for(job, "failed");
                update.last_error = safe("invalid message, not sent: " + text);
                finish(serial, std::move(update));
            }
            return;
        }
        start(serial, job, std::move(request), Step::Posting);
    }

    // Starts every held message that has a slot and its tokens; returns those held too long.
    // It runs several times per loop, and up to max_in_flight messages are held (claimed
    // ahead): once nothing can start (no free slot, or no account token) and no hold can
    // have run out, it stops looking.
    void pump(SteadyTime now) {
        give_back_slow_media(now);
        start_media_probes();
        start_settle_requests(now);
        if (held.empty()) return;
        const bool may_have_expired = now >= hold_floor;
        bool account_ready = limiter.account_wait_time(now) == SteadyClock::duration::zero();
        if (!may_have_expired && (!account_ready || !slot_free())) return;
        const SteadyTime floor_before = hold_floor;
        hold_floor = SteadyTime::max();  // hold() lowers it for messages held meanwhile
        SteadyTime floor = SteadyTime::max();
        bool walked_all = true;
        std::vector<std::string> senders_out_of_tokens;  // in this walk
        std::uint64_t serial = 0;
        // upper_bound, not ++: starting or giving back a message erases it from `held`.
        for (auto at = held.begin(); at != held.end(); at = held.upper_bound(serial)) {
            serial = *at;
            const bool can_start = account_ready && slot_free();
            if (!can_start && !may_have_expired) {
                walked_all = false;
                break;
            }
            Job& job = jobs.at(serial);
            if (can_start && job.step == Step::WaitSend) {
                const std::string& sender = job.message.params.sender;
                if (std::find(senders_out_of_tokens.begin(), senders_out_of_tokens.end(),
                              sender) == senders_out_of_tokens.end()) {
                    if (limiter.try_acquire(sender, now)) {
                        start_post(serial, job, now);
                        continue;
                    }
                    account_ready =
                        limiter.account_wait_time(now) == SteadyClock::duration::zero();
                    if (account_ready) senders_out_of_tokens.push_back(sender);
                }
            }
            if (now - job.held_since >= config.max_hold) {
                give_back(serial, job, now);
                continue;
            }
            floor = std::min(floor, job.held_since + config.max_hold);
        }
        hold_floor = std::min(hold_floor, walked_all ? floor : floor_before);
    }

    // Held too long: back to the queue, due when the tokens will be there.
    void give_back(std::uint64_t serial, Job& job, SteadyTime now) {
        auto account_wait = limiter.account_wait_time(now);
        auto wait = job.step == Step::WaitSend
                        ? limiter.wait_time(job.message.params.sender, now)
                        : account_wait;
        std::string why = wait == SteadyClock::duration::zero() ? "waiting for a free request slot"
                          : account_wait >= wait               ? "waiting for account rate limit"
                                                               : "waiting for sender rate limit";
        RowUpdate update = update_for(job, "retrying");
        update.next_attempt_at = std::chrono::system_clock::now() +
                                 std::chrono::duration_cast<SystemTime::duration>(wait);
        update.last_error = why;
        update.not_attempted = true;
        finish(serial, std::move(update));
    }

    // A retryable failure where nothing reached Plivo (or it is still to be settled).
    void retry_later(std::uint64_t serial, Job& job, const std::string& error,
                     std::optional<std::chrono::seconds> retry_after, SteadyTime) {
        RetryDecision decision = retry.next(job.message.attempts, error, retry_after, config.random);
        RowUpdate update = update_for(job, decision.give_up ? "failed" : "retrying");
        if (decision.give_up) {
            update.last_error = safe(decision.reason);
        } else {
            update.last_error = safe(error);
            update.next_attempt_at = std::chrono::system_clock::now() + decision.delay;
        }
        finish(serial, std::move(update));
    }

    // --- settling (settle_batch.hpp) ------------------------------------------------

    SettleBatchConfig batch_config() const {
        SettleBatchConfig c;
        c.clock_tolerance = config.settle_clock_tolerance;
        c.request_timeout = config.http.request_timeout;
        return c;
    }

    SettleQuery settle_query(const UnsettledMessage& message) const {
        SettleQuery query;
        // Through a Powerpack the number is Plivo's choice: any of ours fits.
        if (!message.via_powerpack) query.sender = message.sender;
        query.recipient = message.recipient;
        query.type = message.type;
        query.window_start = message.unsettled_since;
        query.clock_tolerance = batch_config().recipient_lookback;
        return query;
    }

    // Nothing being settled, nothing waiting to be answered: ready for more backlog.
    bool settle_idle() const {
        return !batch && lookups.empty() && settle_wire.empty() && checks.empty() &&
               checks_out.empty();
    }

    // An update for a row that is not claimed: written only while the row is still
    // unsettled since the same attempt (the guard).
    static RowUpdate settled_update(const UnsettledMessage& message, const char* status) {
        RowUpdate update;
        update.id = message.id;
        update.status = status;
        update.settle_guard = message.guard;
        return update;
    }

    void decided(RowUpdate update, SteadyTime now) {
        settled[update.id] = now;
        updates.push_back(std::move(update));
    }

    void forget_old_settled(SteadyTime now) {
        for (auto it = settled.begin(); it != settled.end();)
            it = now - it->second > kSettledMemory ? settled.erase(it) : std::next(it);
    }

    void add_backlog(std::vector<UnsettledMessage> backlog, SteadyTime now,
                     std::optional<SystemTime> next_unsettled) {
        backlog_seen = true;
        next_backlog = now + kBacklogPoll;
        backlog_more = false;
        forget_old_settled(now);
        std::vector<UnsettledMessage> to_list;
        for (UnsettledMessage& message : backlog) {
            // Decided already, the update not yet written; or being decided.
            if (settled.count(message.id) || checks.count(message.id)) continue;
            backlog_more = true;
            if (message.known_uuid && !lookup_missed.count(message.id)) {
                lookups.push_back(std::move(message));
            } else {
                message.known_uuid.reset();
                to_list.push_back(std::move(message));
            }
        }
        if (!to_list.empty() && !batch) {
            batch.emplace(std::move(to_list), batch_config());
            if (batch->empty()) {
                batch.reset();
            } else if (next_unsettled && batch->could_grow_with(*next_unsettled)) {
                batch.reset();          // the whole burst, at the next look
                backlog_more = false;   // which is kBacklogPoll away, not at once
            }
        }
    }

    // Starts the next list page (the list bucket's and an account token) and uuid
    // lookups (an account token each), on the settling slots.
    void start_settle_requests(SteadyTime now) {
        while (settle_wire.size() < kSettleSlots && driver->has_capacity()) {
            if (batch && !list_on_wire && now >= list_not_before &&
                limiter.account_wait_time(now) == SteadyClock::duration::zero() &&
                list_bucket.wait_time(now) == SteadyClock::duration::zero()) {
                std::optional<SettleBatch::Request> next = batch->next_request();
                if (next && limiter.try_acquire_account(now)) {
                    list_bucket.try_take(now);
                    start_list_page(*next, now);
                    continue;
                }
            }
            if (!lookups.empty() && now >= lookup_not_before && limiter.try_acquire_account(now)) {
                UnsettledMessage message = std::move(lookups.front());
                lookups.pop_front();
                HttpRequest request;
                try {
                    request = build_get_message_request(config.account, *message.known_uuid);
                } catch (const InputError&) {
                    lookup_missed.insert(message.id);  // listed instead, next time
                    continue;
                }
                std::uint64_t id = next_request++;
                settle_wire.emplace(id, SettleRequest{false, std::move(message)});
                driver->start(id, std::move(request));
                continue;
            }
            break;
        }
    }

    void start_list_page(const SettleBatch::Request& next, SteadyTime now) {
        HttpRequest request;
        try {
            if (next.next_link) {
                try {
                    request = build_list_page_request(config.account, *next.next_link);
                } catch (const InputError&) {
                    // Not a link to send our credentials to: the same page by its offset.
                    request = build_list_request(config.account, next.query);
                }
            } else {
                request = build_list_request(config.account, next.query);
            }
        } catch (const InputError& error) {
            list_failed(std::string(error.what()) + ": " + error.detail(), std::nullopt, now);
            return;
        }
        std::uint64_t id = next_request++;
        settle_wire.emplace(id, SettleRequest{true, {}});
        list_on_wire = true;
        ++list_requests;
        driver->start(id, std::move(request));
    }

    // The page is asked for again later; every message stays unsettled (never resent).
    void list_failed(const std::string& reason, std::optional<std::chrono::seconds> retry_after,
                     SteadyTime now) {
        ++list_failures;
        std::chrono::seconds backoff{1 << std::min(list_failures, 6)};  // 2 s .. 64 s
        if (retry_after) backoff = std::max(*retry_after, std::chrono::seconds(1));
        list_not_before = now + backoff;
        settle_failed(reason);
    }

    // Every failed settling request: counted, and the last one kept (settle_progress).
    void settle_failed(const std::string& reason) {
        ++settle_failures;
        last_settle_error = safe(reason);
    }

    static std::string failure_text(const char* what, const HttpResult& result) {
        if (result.curl_code != CURLE_OK) {
            return std::string(what) + " failed: " + clean_remote_text(result.curl_error, 300) +
                   " (curl error " + std::to_string(static_cast<int>(result.curl_code)) + ")";
        }
        return std::string(what) + " answered HTTP " + std::to_string(result.http_status) + ": " +
               reply_error_text(parse_send_reply(result.body));
    }

    std::optional<std::chrono::seconds> retry_after_of(const HttpResult& result) const {
        if (!result.retry_after) return std::nullopt;
        return parse_retry_after(*result.retry_after, std::chrono::system_clock::now());
    }

    void on_list_page(const HttpResult& result, SteadyTime now) {
        list_on_wire = false;
        if (!batch) return;
        const bool ok = result.curl_code == CURLE_OK && result.http_status >= 200 &&
                        result.http_status < 300;
        if (!ok) {
            std::optional<std::chrono::seconds> retry_after;
            if (result.http_status == 429) {
                // The list's own limit: settling slows down, sending does not.
                ++list_rate_limited;
                list_bucket.drain(now);
                retry_after = retry_after_of(result).value_or(kListPauseAfter429);
            }
            list_failed(failure_text("list request", result), retry_after, now);
            return;
        }
        std::optional<MessageList> page;
        if (!result.body_truncated) page = parse_message_list(result.body);
        if (!page) {
            list_failed(result.body_truncated ? "list reply unreadable: body too long"
                                              : "list reply unreadable: " +
                                                    reply_error_text(parse_send_reply(result.body)),
                        std::nullopt, now);
            return;
        }
        list_failures = 0;
        batch->on_page(*page);
        for (SettleBatch::Ready& ready : batch->take_ready()) judge(std::move(ready), now);
        if (!batch->next_request()) batch.reset();
    }

    void on_lookup(UnsettledMessage message, const HttpResult& result, SteadyTime now) {
        std::optional<ListedMessage> record;
        if (result.curl_code == CURLE_OK && result.http_status == 200 && !result.body_truncated)
            record = parse_listed_message(result.body);
        if (record && record->message_uuid == *message.known_uuid) {
            record_settled(message, SettleVerdict::Found, &*record, record->message_uuid,
                           {record->message_uuid}, now);
            return;
        }
        if (result.curl_code == CURLE_OK && result.http_status == 404) {
            // Plivo does not know the uuid its answer named: look for the message in the
            // list instead (never resent on this alone).
            lookup_missed.insert(message.id);
            settle_failed(failure_text("message lookup", result));
            return;
        }
        if (result.http_status == 429)
            lookup_not_before = now + retry_after_of(result).value_or(std::chrono::seconds(5));
        else
            lookup_not_before = now + std::chrono::seconds(2);
        settle_failed(failure_text("message lookup", result));
        lookups.push_back(std::move(message));
    }

    // A message whose list is complete: no candidate means Plivo has no such message;
    // candidates go to the worker, which says which other rows own.
    void judge(SettleBatch::Ready ready, SteadyTime now) {
        const UnsettledMessage& message = ready.message;
        if (ready.overflow) {
            RowUpdate update = settled_update(message, "failed");
            update.last_error = safe(
                "outcome could not be settled: Plivo lists more messages to this number than "
                "can be read; not resent, it may have been delivered");
            decided(std::move(update), now);
            return;
        }
        SettleResult first = settle_unknown(settle_query(message), ready.objects, true);
        if (first.candidates.empty()) {
            not_found(message, now);
            return;
        }
        checks_out.push_back(SettleCheck{message.id, first.candidates, message.sender,
                                         message.recipient, message_type_name(message.type)});
        std::string id = message.id;  // the key, before the message moves
        checks.emplace(std::move(id), PendingCheck{std::move(ready.message), std::move(ready.objects)});
    }

    // Plivo has no such message: it is due again at once (the claim counts the attempt).
    void not_found(const UnsettledMessage& message, SteadyTime now) {
        RowUpdate update = settled_update(message, "retrying");
        update.clear_unsettled = true;
        update.next_attempt_at = std::chrono::system_clock::now();
        update.last_error =
            "the earlier attempt's outcome is settled: Plivo has no such message, so it is "
            "sent again";
        nlohmann::json info;
        info["settled"] = "not found";
        update.status_info_json = dump(info);
        decided(std::move(update), now);
    }

    void settle(const PendingCheck& pending, const SettleAnswer& answer, SteadyTime now) {
        const UnsettledMessage& message = pending.message;
        SettleQuery query = settle_query(message);
        query.known_uuids = answer.owned_uuids;
        forget_old_uuids(now);
        for (const ListedMessage& listed : pending.objects) {  // only the listed ones matter
            if (assigned.count(listed.message_uuid)) query.known_uuids.insert(listed.message_uuid);
        }
        SettleResult result = settle_unknown(query, pending.objects, true);
        if (result.verdict == SettleVerdict::NotFound) {
            not_found(message, now);
            return;
        }
        const std::size_t ours = static_cast<std::size_t>(std::max(0, answer.unsettled_rivals)) + 1;
        if (ours > 1 && result.candidates.size() < ours) {
            // Fewer listed than we have unsettled: some of ours were not accepted, and
            // nothing says which. Taking a candidate could make its real owner resend it.
            nlohmann::json info;
            info["settled"] = "ambiguous";
            info["candidates"] = result.candidates;
            info["unsettled_of_this_pair"] = ours;
            RowUpdate update = settled_update(message, "failed");
            update.status_info_json = dump(info);
            update.last_error = safe(
                "outcome ambiguous: " + std::to_string(ours) +
                " messages to this number had unknown outcomes and Plivo lists " +
                std::to_string(result.candidates.size()) +
                " that no message owns; not resent, it may have been delivered");
            decided(std::move(update), now);
            return;
        }
        if (result.verdict == SettleVerdict::Found) {
            record_settled(message, SettleVerdict::Found, &*result.message,
                           result.message->message_uuid, result.candidates, now);
        } else {
            record_settled(message, SettleVerdict::Ambiguous, nullptr,
                           oldest(pending.objects, result.candidates), result.candidates, now);
        }
    }

    // Found (record: Plivo's) or Ambiguous (taken as sent as `uuid`): never resent.
    void record_settled(const UnsettledMessage& message, SettleVerdict verdict,
                        const ListedMessage* record, const std::string& uuid,
                        const std::vector<std::string>& candidates, SteadyTime now) {
        const bool found = verdict == SettleVerdict::Found;
        nlohmann::json info;
        info["settled"] = found ? "found" : "ambiguous";
        if (found) info["message_state"] = record->message_state;
        info["candidates"] = candidates;
        // Plivo's error 200: it accepted the message and then refused it because the
        // recipient opted out with Plivo. Recorded as a report would record it; the
        // database turns the code into an opt-out (plivo.opt_outs).
        const bool opted_out_at_plivo =
            found && record->error_code == "200" &&
            (record->message_state == "failed" || record->message_state == "undelivered");
        if (opted_out_at_plivo) info["error_code"] = "200";
        RowUpdate update =
            settled_update(message, opted_out_at_plivo ? record->message_state.c_str() : "sent");
        update.plivo_message_uuid = uuid;
        if (found) {
            // The number a Powerpack picked, as Plivo's record names it.
            if (message.via_powerpack && !record->from_number.empty()) {
                const std::string& number = record->from_number;
                update.sender = number.front() == '+' ? number : "+" + number;
            }
            update.units = decimal_or_none(record->units, false);
            update.total_rate = decimal_or_none(record->total_rate, true);
            update.total_amount = decimal_or_none(record->total_amount, true);
            update.clear_last_error = true;
        } else {
            update.last_error = safe(
                "outcome settled as ambiguous: " + std::to_string(candidates.size()) +
                " unclaimed messages to this number fit; taken as sent (" + uuid +
                ") and never resent");
        }
        update.status_info_json = dump(info);
        if (opted_out_at_plivo) update.error_code = "200";
        update.clear_unsettled = true;
        remember_uuid(uuid, now);
        decided(std::move(update), now);
    }

    // The candidate Plivo listed first in time; unreadable times come last.
    static std::string oldest(const std::vector<ListedMessage>& objects,
                              const std::vector<std::string>& candidates) {
        std::vector<std::pair<std::optional<SystemTime>, std::string>> timed;
        for (const std::string& uuid : candidates) {
            std::optional<SystemTime> time;
            for (const ListedMessage& message : objects) {
                if (message.message_uuid == uuid) {
                    time = parse_plivo_time(message.message_time);
                    break;
                }
            }
            timed.emplace_back(time, uuid);
        }
        std::stable_sort(timed.begin(), timed.end(), [](const auto& a, const auto& b) {
            if (a.first && b.first) return *a.first < *b.first;
            return a.first.has_value() && !b.first.has_value();
        });
        return timed.front().second;
    }

    // When settling needs the engine again (a bucket refills, a backoff ends, the idle
    // engine's next look at the backlog); nullopt: not before an answer. A list page and
    // a lookup each need an account token too: zero while none is there would spin.
    std::optional<milliseconds> settle_wakeup(SteadyTime now) {
        std::optional<milliseconds> best;
        auto consider = [&](SteadyClock::duration d) {
            milliseconds ms = ceil_ms(d);
            if (!best || ms < *best) best = ms;
        };
        const bool list_waits = batch && !list_on_wire;
        if (list_waits || !lookups.empty()) {
            const auto account_wait = limiter.account_wait_time(now);
            if (list_waits) {
                consider(std::max({list_not_before - now, list_bucket.wait_time(now), account_wait,
                                   SteadyClock::duration::zero()}));
            }
            if (!lookups.empty()) consider(std::max(lookup_not_before - now, account_wait));
        }
        if (backlog_seen && settle_idle())
            consider(backlog_more ? SteadyClock::duration::zero() : next_backlog - now);
        return best;
    }

    // --- sending -------------------------------------------------------------------

    void on_post_result(std::uint64_t serial, Job& job, const HttpResult& result, SteadyTime now) {
        SystemTime wall = std::chrono::system_clock::now();
        SendOutcome outcome = classify_send(result, wall);
        std::string described = describe_outcome(outcome);
        const int attempts = job.message.attempts;
        RowUpdate update = update_for(job, "retrying");
        if (result.http_status != 0) update.last_http_status = result.http_status;

        if (auto* accepted = std::get_if<Accepted>(&outcome)) {
            update.status = "sent";
            update.plivo_message_uuid = accepted->message_uuids.front();
            nlohmann::json info;
            info["api_id"] = safe(accepted->api_id);
            info["message"] = safe(accepted->message);
            info["message_uuid"] = accepted->message_uuids;
            update.status_info_json = dump(info);
            update.clear_last_error = true;
            update.clear_unsettled = true;
            for (const std::string& uuid : accepted->message_uuids) remember_uuid(uuid, now);
        } else if (auto* rejected = std::get_if<Rejected>(&outcome)) {
            update.status = "failed";
            update.error_code = "http_" + std::to_string(rejected->http_status);
            update.last_error = safe(described);
            update.clear_unsettled = true;
        } else if (auto* unknown = std::get_if<OutcomeUnknown>(&outcome)) {
            RetryDecision decision =
                retry.next(attempts, described, unknown->retry_after, config.random);
            update.unsettled_since = job.attempt_started;
            if (unknown->message_uuid) {  // settled by GET /Message/{uuid}/
                update.plivo_message_uuid = unknown->message_uuid;
                remember_uuid(*unknown->message_uuid, now);
            }
            if (decision.give_up) {
                update.status = "failed";
                update.last_error = safe("outcome unknown after " + std::to_string(attempts) +
                                         (attempts == 1 ? " attempt: " : " attempts: ") +
                                         unknown->reason + "; it may have been delivered");
            } else {
                // Not claimed again until settled (the worker's backlog, oldest first).
                update.last_error = safe(described + "; settled with Plivo before any resend");
                update.await_settlement = true;
            }
        } else {
            std::optional<std::chrono::seconds> retry_after;
            if (auto* limited = std::get_if<RateLimited>(&outcome)) {
                retry_after = limited->retry_after;
                limiter.on_rate_limited(now, retry_after);
            }
            RetryDecision decision = retry.next(attempts, described, retry_after, config.random);
            update.clear_unsettled = true;  // this attempt was certainly not accepted
            if (decision.give_up) {
                update.status = "failed";
                update.last_error = safe(decision.reason);
            } else {
                update.last_error = safe(described);
                update.next_attempt_at = wall + decision.delay;
            }
        }
        finish(serial, std::move(update));
    }

    void on_result(const HttpResult& result, SteadyTime now) {
        if (media_wire.count(result.id)) {
            on_media_result(result.id, result, now);
            return;
        }
        if (auto settling = settle_wire.find(result.id); settling != settle_wire.end()) {
            SettleRequest request = std::move(settling->second);
            settle_wire.erase(settling);
            if (request.list)
                on_list_page(result, now);
            else
                on_lookup(std::move(request.message), result, now);
            return;
        }
        auto found = wire.find(result.id);
        if (found == wire.end()) return;
        std::uint64_t serial = found->second;
        wire.erase(found);
        Job& job = jobs.at(serial);
        note_round_trip(now - job.posted_at);
        on_post_result(serial, job, result, now);
    }

    // --- shutdown ------------------------------------------------------------------

    // Back to the queue at once; an earlier unsettled_since stays (settled before any send).
    void requeue_now(std::uint64_t serial, Job& job, const std::string& why,
                     bool not_attempted = false) {
        RowUpdate update = update_for(job, "retrying");
        update.next_attempt_at = std::chrono::system_clock::now();
        update.last_error = why;
        update.not_attempted = not_attempted;
        finish(serial, std::move(update));
    }

    void abort_everything() {
        std::vector<HttpResult> results = driver->abort_all();
        SteadyTime now = SteadyClock::now();
        for (const HttpResult& result : results) {
            if (auto probe = media_wire.find(result.id); probe != media_wire.end()) {
                media.abandon(probe->second);  // not a verdict; nobody waits for it below
                media_wire.erase(probe);
                continue;
            }
            // Rows being settled are not claimed: they stay unsettled, as they were.
            if (settle_wire.erase(result.id)) continue;
            auto found = wire.find(result.id);
            if (found == wire.end()) continue;
            std::uint64_t serial = found->second;
            wire.erase(found);
            Job& job = jobs.at(serial);
            if (job.step == Step::Posting && result.curl_code == CURLE_OK) {
                on_post_result(serial, job, result, now);  // a complete answer came first
            } else if (job.step == Step::Posting && result.body_may_have_been_sent) {
                RowUpdate update = update_for(job, "retrying");
                update.unsettled_since = job.attempt_started;
                update.await_settlement = true;
                update.last_error =
                    "attempt interrupted (dispatcher stopping) after the request may have "
                    "reached Plivo; its outcome is settled before any resend";
                finish(serial, std::move(update));
            } else {
                requeue_now(serial, job,
                            "attempt interrupted (dispatcher stopping) before the request was sent",
                            true);
            }
        }
        wire.clear();
        std::vector<std::uint64_t> rest;
        for (auto& entry : jobs) rest.push_back(entry.first);
        for (std::uint64_t serial : rest)
            requeue_now(serial, jobs.at(serial), "not sent (dispatcher stopping)", true);
        settle_wire.clear();
        batch.reset();
        list_on_wire = false;
        lookups.clear();
        checks.clear();
        checks_out.clear();
    }

    // The earliest time a held message can start or must go back; nullopt: none held.
    std::optional<milliseconds> held_wakeup(SteadyTime now) {
        std::optional<milliseconds> media_due;
        if (!media_waiting.empty())
            media_due = ceil_ms(jobs.at(*media_waiting.begin()).held_since + config.max_hold - now);
        std::optional<milliseconds> held_due = tokens_wakeup(now);
        if (media_due && (!held_due || *media_due < *held_due)) held_due = media_due;
        std::optional<milliseconds> settle_due = settle_wakeup(now);
        if (settle_due && (!held_due || *settle_due < *held_due)) held_due = settle_due;
        return held_due;
    }

    std::optional<milliseconds> tokens_wakeup(SteadyTime now) {
        if (held.empty()) return std::nullopt;
        bool free = slot_free();
        // Without a free slot only a hold that runs out can need the engine; without an
        // account token nothing starts before it comes (a sender may need longer: waking
        // early is harmless).
        if (!free) return ceil_ms(hold_floor - now);
        auto account_wait = limiter.account_wait_time(now);
        if (account_wait > SteadyClock::duration::zero())
            return ceil_ms(std::min(hold_floor - now, account_wait));
        std::optional<milliseconds> best;
        for (std::uint64_t serial : held) {
            const Job& job = jobs.at(serial);
            auto due = job.held_since + config.max_hold - now;
            if (free) {
                auto wait = job.step == Step::WaitSend
                                ? limiter.wait_time(job.message.params.sender, now)
                                : account_wait;
                due = std::min(due, wait);
            }
            milliseconds ms = ceil_ms(due);
            if (!best || ms < *best) best = ms;
        }
        return best;
    }
};

DispatchEngine::DispatchEngine(const EngineConfig& config) : state_(new State(config)) {}

DispatchEngine::~DispatchEngine() { delete state_; }

void DispatchEngine::configure(const EngineConfig& config) {
    State& s = *state_;
    // Validate everything before changing anything.
    if (config.http.max_in_flight == 0)
        throw std::invalid_argument("max_in_flight must be at least 1");
    RetryPolicy retry(config.retry);
    RateLimiter check(config.limits, SteadyClock::now());
    (void)check;
    if (config.list_requests_per_minute <= 0)
        throw std::invalid_argument("list_requests_per_minute must be positive");
    s.list_bucket.set_rate(config.list_requests_per_minute / 60.0, 1.0, SteadyClock::now());
    s.driver->reconfigure(driver_config(config));  // in-flight transfers go on under theirs
    s.limiter.configure(config.limits, SteadyClock::now());
    s.retry = retry;
    s.media.configure(config.media);
    UniformRandom random = s.config.random;
    s.config = config;
    if (!s.config.random) s.config.random = random;
    s.hold_floor = SteadyTime{};  // max_hold may have changed: look again
}

std::size_t DispatchEngine::claim_capacity(std::chrono::steady_clock::time_point now) {
    State& s = *state_;
    s.pump(now);
    std::size_t limit = s.claim_window();
    // Messages waiting for media checks count only beyond a window's worth: a slow media
    // server must not keep text messages from being claimed.
    std::size_t counted = s.jobs.size() - std::min(s.media_waiting.size(), limit);
    std::size_t slots = limit > counted ? limit - counted : 0;
    // Claim what the account can send within the next quarter second, not only what it
    // can send this instant: with a small burst, claiming one token's worth at a time
    // would cost a transaction per message. The engine holds the rest until their turn.
    double tokens = s.limiter.account_tokens(now);
    if (tokens <= 0 && s.limiter.account_wait_time(now) > std::chrono::milliseconds(250)) return 0;
    double allowance = std::max(0.0, tokens) + s.limiter.account_rate_now() * 0.25;
    std::size_t whole = static_cast<std::size_t>(allowance);
    return std::min(slots, std::max<std::size_t>(whole, tokens >= 1 ? 1 : 0));
}

std::size_t DispatchEngine::claim_window() const { return state_->claim_window(); }

void DispatchEngine::add_claimed(std::vector<ClaimedMessage> messages,
                                 std::chrono::steady_clock::time_point now) {
    State& s = *state_;
    SystemTime wall = std::chrono::system_clock::now();
    std::unordered_set<std::string> ids;  // the same row twice would be a worker bug: keep the first
    for (const auto& entry : s.jobs) ids.insert(entry.second.message.id);
    for (ClaimedMessage& message : messages) {
        if (!ids.insert(message.id).second) continue;
        std::string pair = message.params.sender + '\n' + message.params.recipient + '\n' +
                           message_type_name(message.params.type);
        if (s.pairs.count(pair)) {  // claimed together with the one in the engine
            RowUpdate update;
            update.id = message.id;
            update.status = "retrying";
            update.next_attempt_at = wall + kSamePairWait;
            update.last_error = "waiting for the message before it to the same number";
            update.not_attempted = true;
            s.updates.push_back(std::move(update));
            continue;
        }
        std::uint64_t serial = s.next_serial++;
        s.pairs[pair] = serial;
        Job& job = s.jobs[serial];
        job.pair = std::move(pair);
        job.message = std::move(message);
        if (!job.message.params.callback_url && s.config.default_callback_url)
            job.message.params.callback_url = s.config.default_callback_url;
        if (needs_media_check(s.config, job.message)) {
            s.check_media(serial, job, now);
            continue;
        }
        if (job.message.unsettled_since) {
            // Settled from the backlog, never through a claim (an older worker's claim may
            // still hand one over): back to the queue, waiting to be settled.
            RowUpdate update = update_for(job, "retrying");
            update.unsettled_since = job.message.unsettled_since;
            update.await_settlement = true;
            update.not_attempted = true;
            s.finish(serial, std::move(update));
            continue;
        }
        s.hold(serial, job, Step::WaitSend, now);
    }
    s.pump(now);
}

void DispatchEngine::perform(std::chrono::milliseconds max_wait) {
    State& s = *state_;
    s.pump(SteadyClock::now());
    milliseconds wait = max_wait;
    if (auto held = s.held_wakeup(SteadyClock::now())) wait = std::min(wait, *held);
    std::vector<HttpResult> results;
    bool broken = false;
    try {
        results = s.driver->perform(wait);
    } catch (const HttpDriverError&) {
        // The multi handle cannot be trusted: stop its transfers and judge each by its
        // evidence (sent or not, like any failed attempt), then go on with a fresh driver.
        results = s.driver->abort_all();
        broken = true;
    }
    SteadyTime now = SteadyClock::now();
    for (const HttpResult& result : results) {
        if (auto probe = s.media_wire.find(result.id); broken && probe != s.media_wire.end()) {
            s.media.abandon(probe->second);  // cut short, not answered: asked again
            s.media_wire.erase(probe);
            continue;
        }
        s.on_result(result, now);
    }
    if (broken) s.driver = std::make_unique<HttpDriver>(driver_config(s.config));  // rare; may throw
    s.pump(SteadyClock::now());
}

std::vector<SettleCheck> DispatchEngine::take_settle_checks() {
    std::vector<SettleCheck> checks = std::move(state_->checks_out);
    state_->checks_out.clear();
    return checks;
}

void DispatchEngine::resolve_settle_check(const std::string& id, const SettleAnswer& answer,
                                          std::chrono::steady_clock::time_point now) {
    State& s = *state_;
    auto found = s.checks.find(id);
    if (found == s.checks.end()) return;  // unknown, or dropped by abort_all()
    State::PendingCheck pending = std::move(found->second);
    s.checks.erase(found);
    s.settle(pending, answer, now);
    s.pump(now);
}

void DispatchEngine::cancel_settle_check(const std::string& id,
                                         std::chrono::steady_clock::time_point) {
    // The row stays unsettled, untouched: the next backlog brings it again.
    state_->checks.erase(id);
}

std::size_t DispatchEngine::settle_backlog_wanted(std::chrono::steady_clock::time_point now) const {
    const State& s = *state_;
    if (!s.settle_idle()) return 0;
    if (s.backlog_seen && !s.backlog_more && now < s.next_backlog) return 0;
    return kBacklogRows;
}

std::chrono::milliseconds DispatchEngine::settle_cutoff() const {
    const EngineConfig& c = state_->config;
    // Plivo's list may lag behind its queue (settle_delay), and the whole of the
    // attempt's window must be past before it is listed.
    return std::max<milliseconds>(c.settle_delay, c.http.request_timeout + c.settle_clock_tolerance +
                                                      std::chrono::seconds(1));
}

void DispatchEngine::add_unsettled(std::vector<UnsettledMessage> backlog,
                                   std::chrono::steady_clock::time_point now,
                                   std::optional<SystemTime> next_unsettled) {
    state_->add_backlog(std::move(backlog), now, next_unsettled);
    state_->pump(now);
}

DispatchEngine::SettleProgress DispatchEngine::settle_progress() const {
    const State& s = *state_;
    SettleProgress progress;
    progress.batch = s.batch ? s.batch->size() : 0;
    progress.per_recipient = s.batch && s.batch->per_recipient();
    progress.pages_read = s.batch ? s.batch->pages_read() : 0;
    progress.lookups = s.lookups.size();
    progress.list_requests = s.list_requests;
    progress.list_rate_limited = s.list_rate_limited;
    progress.failures = s.settle_failures;
    progress.last_error = s.last_settle_error;
    return progress;
}

void DispatchEngine::uuids_recorded(const std::vector<RowUpdate>& updates) {
    for (const RowUpdate& update : updates) {
        if (update.plivo_message_uuid) state_->assigned.erase(*update.plivo_message_uuid);
        if (update.settle_guard) state_->settled.erase(update.id);
    }
}

std::size_t DispatchEngine::unrecorded_uuids() const { return state_->assigned.size(); }

std::vector<RowUpdate> DispatchEngine::take_updates() {
    std::vector<RowUpdate> updates = std::move(state_->updates);
    state_->updates.clear();
    return updates;
}

std::size_t DispatchEngine::in_flight() const {
    return state_->wire.size() + state_->media_wire.size() + state_->settle_wire.size();
}

DispatchEngine::MediaCounters DispatchEngine::media_requests_started() const {
    return MediaCounters{state_->media.heads_started(), state_->media.gets_started()};
}

std::size_t DispatchEngine::held() const { return state_->jobs.size() - state_->wire.size(); }

std::optional<std::chrono::milliseconds> DispatchEngine::next_wakeup(
    std::chrono::steady_clock::time_point now) {
    State& s = *state_;
    s.pump(now);
    if (!s.updates.empty() || !s.checks_out.empty() || !s.wire.empty() || !s.media_wire.empty() ||
        !s.settle_wire.empty())
        return milliseconds(0);
    return s.held_wakeup(now);
}

void DispatchEngine::abort_all() { state_->abort_everything(); }

void DispatchEngine::release_held(const std::string& why) {
    State& s = *state_;
    std::vector<std::uint64_t> waiting(s.held.begin(), s.held.end());
    waiting.insert(waiting.end(), s.media_waiting.begin(), s.media_waiting.end());
    for (std::uint64_t serial : waiting) {
        RowUpdate update = update_for(s.jobs.at(serial), "retrying");
        update.next_attempt_at = std::chrono::system_clock::now();
        update.last_error = s.safe(why);
        update.not_attempted = true;
        s.finish(serial, std::move(update));
    }
}

namespace {

void append_json_string(std::string& out, const std::string& text) {
    out += dump(nlohmann::json(text));  // escaped, invalid UTF-8 replaced
}

// A status info is embedded as it is when it is a JSON object (the engine writes them
// with dump()); anything else is kept as {"text": ...}.
void append_status_info(std::string& out, const std::string& info) {
    std::size_t first = info.find_first_not_of(" \t\r\n");
    if (first != std::string::npos && info[first] == '{' && nlohmann::json::accept(info)) {
        out += info;
    } else {
        out += "{\"text\":";
        append_json_string(out, info);
        out += '}';
    }
}

}  // namespace

// Written directly rather than through a nlohmann::json tree: the worker calls it for
// every batch of outcomes, and the tree cost an allocation per field.
std::string row_updates_json(const std::vector<RowUpdate>& updates) {
    std::string out = "[";
    bool first_field = true;
    auto key = [&out, &first_field](const char* name) {
        if (!first_field) out += ',';
        first_field = false;
        out += '"';
        out += name;
        out += "\":";
    };
    auto text = [&](const char* name, const std::optional<std::string>& value) {
        key(name);
        if (value) append_json_string(out, *value); else out += "null";
    };
    auto boolean = [&](const char* name, bool value) {
        key(name);
        out += value ? "true" : "false";
    };
    auto time = [&](const char* name, const std::optional<SystemTime>& value) {
        key(name);
        if (value) append_json_string(out, iso_utc(*value)); else out += "null";
    };
    for (const RowUpdate& update : updates) {
        if (out.size() > 1) out += ',';
        out += '{';
        first_field = true;
        boolean("clear_last_error", update.clear_last_error);
        boolean("clear_unsettled", update.clear_unsettled);
        text("error_code", update.error_code);
        key("id");
        append_json_string(out, update.id);
        text("last_error", update.last_error);
        key("last_http_status");
        out += update.last_http_status ? std::to_string(*update.last_http_status) : "null";
        time("next_attempt_at", update.next_attempt_at);
        boolean("not_attempted", update.not_attempted);
        text("plivo_message_uuid", update.plivo_message_uuid);
        if (update.sender) text("sender", update.sender);
        if (update.await_settlement) boolean("await_settlement", true);
        if (update.settle_guard) text("settle_guard", update.settle_guard);
        if (update.units) text("units", update.units);
        if (update.total_rate) text("total_rate", update.total_rate);
        if (update.total_amount) text("total_amount", update.total_amount);
        key("plivo_status_info");
        if (update.status_info_json) append_status_info(out, *update.status_info_json);
        else out += "null";
        key("status");
        append_json_string(out, update.status);
        time("unsettled_since", update.unsettled_since);
        out += '}';
    }
    out += ']';
    return out;
}

}  // namespace plivo
