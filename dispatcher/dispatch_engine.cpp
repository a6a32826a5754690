#include "dispatch_engine.hpp"

#include <algorithm>
#include <cstdio>
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
#include "pure_cpp.hpp"

namespace plivo {

namespace {

using SteadyClock = std::chrono::steady_clock;
using SteadyTime = SteadyClock::time_point;
using std::chrono::milliseconds;

constexpr std::size_t kMaxErrorBytes = 1000;
constexpr std::chrono::seconds kClockTolerance{300};  // the list asks from unsettled - 5 min
constexpr int kListPageSize = 20;                     // Plivo's maximum
constexpr int kMaxListPages = 5;
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
    WaitList,   // waiting for an account token (or a free slot) to GET a list page
    Listing,    // GET on the wire
    WaitCheck,  // candidates found: waiting for the worker's owned uuids
};

struct Job {
    ClaimedMessage message;  // params carry the default callback url when there was none
    std::string pair;        // sender, recipient and type: one job per pair at a time
    Step step = Step::WaitSend;
    SteadyTime held_since{};        // WaitSend / WaitList: since when; WaitMedia: the claim
    SystemTime attempt_started{};   // Posting: just before start()
    SteadyTime posted_at{};         // Posting: the same, for the pace of answers
    std::vector<ListedMessage> objects;  // settling: every object of the pages read
    int pages_read = 0;
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
    http.max_in_flight += media_slots(config);
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
    std::set<std::uint64_t> held;                  // serials in WaitSend / WaitList, claim order
    // No held message's max_hold runs out before this (a lower bound; the epoch: not
    // known, look). With no free slot, pump() has nothing to do until then.
    SteadyTime hold_floor{};
    std::map<std::uint64_t, std::uint64_t> wire;   // request id → job serial
    MediaChecker media;
    std::map<std::uint64_t, MediaChecker::Probe> media_wire;  // request id → media probe
    std::set<std::uint64_t> media_waiting;  // serials in WaitMedia, claim order
    std::map<std::string, std::uint64_t> checks;   // message id → job serial (WaitCheck)
    std::vector<SettleCheck> checks_out;
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
          media(c.media) {
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
        if (job.step == Step::WaitCheck) checks.erase(job.message.id);
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

    SettleQuery settle_query(const Job& job) const {
        SettleQuery query;
        // Through a Powerpack the number is Plivo's choice: any of ours fits.
        if (!job.message.params.via_powerpack) query.sender = job.message.params.sender;
        query.recipient = job.message.params.recipient;
        query.type = job.message.params.type;
        query.window_start = *job.message.unsettled_since;
        query.clock_tolerance = kClockTolerance;
        return query;
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

    void start_list(std::uint64_t serial, Job& job, SteadyTime now) {
        ListQuery query;
        query.recipient = job.message.params.recipient;
        query.since = *job.message.unsettled_since - kClockTolerance;
        query.limit = kListPageSize;
        query.offset = job.pages_read * kListPageSize;
        HttpRequest request;
        try {
            request = build_list_request(config.account, query);
        } catch (const InputError& error) {
            list_failed(serial, job, std::string(error.what()) + ": " + error.detail(), now);
            return;
        }
        start(serial, job, std::move(request), Step::Listing);
    }

    // Starts every held message that has a slot and its tokens; returns those held too long.
    // It runs several times per loop, and up to max_in_flight messages are held (claimed
    // ahead): once nothing can start (no free slot, or no account token) and no hold can
    // have run out, it stops looking.
    void pump(SteadyTime now) {
        give_back_slow_media(now);
        start_media_probes();
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
            } else if (can_start) {
                if (limiter.try_acquire_account(now)) {
                    start_list(serial, job, now);
                    continue;
                }
                account_ready = false;
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

    // --- settling ------------------------------------------------------------------

    // The outcome stays unknown: try again after a backoff, never resend meanwhile.
    void list_failed(std::uint64_t serial, Job& job, const std::string& reason, SteadyTime) {
        RetryDecision decision =
            retry.next(job.message.attempts, reason, std::nullopt, config.random);
        RowUpdate update = update_for(job, decision.give_up ? "failed" : "retrying");
        if (decision.give_up) {
            update.last_error = safe(
                "outcome could not be confirmed with Plivo after " +
                std::to_string(job.message.attempts) + " attempts (" + reason +
                "); the message may have been delivered");
        } else {
            update.last_error =
                safe("settling an earlier attempt's outcome with Plivo failed: " + reason);
            update.next_attempt_at = std::chrono::system_clock::now() + decision.delay;
        }
        update.unsettled_since = job.message.unsettled_since;
        finish(serial, std::move(update));
    }

    void on_list_result(std::uint64_t serial, Job& job, const HttpResult& result, SteadyTime now) {
        if (result.curl_code != CURLE_OK || result.http_status < 200 || result.http_status >= 300) {
            std::string reason;
            if (result.curl_code != CURLE_OK) {
                reason = "list request failed: " + clean_remote_text(result.curl_error, 300) +
                         " (curl error " + std::to_string(static_cast<int>(result.curl_code)) + ")";
            } else {
                reason = "list request answered HTTP " + std::to_string(result.http_status) +
                         ": " + reply_error_text(parse_send_reply(result.body));
            }
            if (result.http_status == 429) {
                std::optional<std::chrono::seconds> retry_after;
                if (result.retry_after)
                    retry_after = parse_retry_after(*result.retry_after,
                                                    std::chrono::system_clock::now());
                limiter.on_rate_limited(now, retry_after);
            }
            list_failed(serial, job, reason, now);
            return;
        }
        std::optional<MessageList> page;
        if (!result.body_truncated) page = parse_message_list(result.body);
        if (!page) {
            list_failed(serial, job,
                        "list reply unreadable: " +
                            (result.body_truncated ? std::string("body too long")
                                                   : reply_error_text(parse_send_reply(result.body))),
                        now);
            return;
        }
        job.objects.insert(job.objects.end(), page->objects.begin(), page->objects.end());
        ++job.pages_read;
        if (has_next_page(*page) && job.pages_read < kMaxListPages) {
            hold(serial, job, Step::WaitList, now);  // next page
            return;
        }
        SettleResult first = settle_unknown(settle_query(job), job.objects, !has_next_page(*page));
        if (first.verdict == SettleVerdict::Incomplete) {
            list_failed(serial, job,
                        "more than " + std::to_string(kMaxListPages * kListPageSize) +
                            " messages listed for the recipient; not every page was read",
                        now);
        } else if (first.candidates.empty()) {
            not_found(serial, job, now);
        } else {
            job.step = Step::WaitCheck;
            checks[job.message.id] = serial;
            checks_out.push_back(SettleCheck{job.message.id, first.candidates,
                                             job.message.params.sender,
                                             job.message.params.recipient,
                                             message_type_name(job.message.params.type)});
        }
    }

    // Plivo has no such message: resend, in this same claim.
    void not_found(std::uint64_t serial, Job& job, SteadyTime now) {
        hold(serial, job, Step::WaitSend, now);
    }

    void settle(std::uint64_t serial, Job& job, const SettleAnswer& answer, SteadyTime now) {
        SettleQuery query = settle_query(job);
        query.known_uuids = answer.owned_uuids;
        forget_old_uuids(now);
        for (const ListedMessage& listed : job.objects) {  // only the listed ones matter
            if (assigned.count(listed.message_uuid)) query.known_uuids.insert(listed.message_uuid);
        }
        SettleResult result = settle_unknown(query, job.objects, true);
        if (result.verdict == SettleVerdict::NotFound) {
            not_found(serial, job, now);
            pump(now);
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
            RowUpdate update = update_for(job, "failed");
            update.status_info_json = dump(info);
            update.last_error = safe(
                "outcome ambiguous: " + std::to_string(ours) +
                " messages to this number had unknown outcomes and Plivo lists " +
                std::to_string(result.candidates.size()) +
                " that no message owns; not resent, it may have been delivered");
            finish(serial, std::move(update));
            return;
        }
        if (result.verdict != SettleVerdict::Found && result.verdict != SettleVerdict::Ambiguous) {
            list_failed(serial, job, "settling was incomplete", now);  // cannot happen
            return;
        }
        nlohmann::json info;
        std::string uuid;
        if (result.verdict == SettleVerdict::Found) {
            uuid = result.message->message_uuid;
            info["settled"] = "found";
            info["message_state"] = result.message->message_state;
        } else {
            uuid = oldest(job, result.candidates);
            info["settled"] = "ambiguous";
        }
        info["candidates"] = result.candidates;
        // Plivo's error 200: it accepted the message and then refused it because the
        // recipient opted out with Plivo. Recorded as a report would record it; the
        // database turns the code into an opt-out (plivo.opt_outs).
        const bool opted_out_at_plivo =
            result.verdict == SettleVerdict::Found && result.message->error_code == "200" &&
            (result.message->message_state == "failed" ||
             result.message->message_state == "undelivered");
        if (opted_out_at_plivo) info["error_code"] = "200";
        RowUpdate update =
            update_for(job, opted_out_at_plivo ? result.message->message_state.c_str() : "sent");
        update.plivo_message_uuid = uuid;
        // The number a Powerpack picked, as Plivo's record names it.
        if (result.verdict == SettleVerdict::Found && job.message.params.via_powerpack &&
            !result.message->from_number.empty()) {
            const std::string& number = result.message->from_number;
            update.sender = number.front() == '+' ? number : "+" + number;
        }
        if (result.verdict == SettleVerdict::Found) {
            update.units = decimal_or_none(result.message->units, false);
            update.total_rate = decimal_or_none(result.message->total_rate, true);
            update.total_amount = decimal_or_none(result.message->total_amount, true);
        }
        update.status_info_json = dump(info);
        if (opted_out_at_plivo) update.error_code = "200";
        if (result.verdict == SettleVerdict::Found) {
            update.clear_last_error = true;
        } else {
            update.last_error = safe(
                "outcome settled as ambiguous: " + std::to_string(result.candidates.size()) +
                " unclaimed messages to this number fit; taken as sent (" + uuid +
                ") and never resent");
        }
        update.clear_unsettled = true;
        remember_uuid(uuid, now);
        finish(serial, std::move(update));
    }

    // The candidate Plivo listed first in time; unreadable times come last.
    std::string oldest(const Job& job, const std::vector<std::string>& candidates) const {
        std::vector<std::pair<std::optional<SystemTime>, std::string>> timed;
        for (const std::string& uuid : candidates) {
            std::optional<SystemTime> time;
            for (const ListedMessage& message : job.objects) {
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
            if (decision.give_up) {
                update.status = "failed";
                update.last_error = safe("outcome unknown after " + std::to_string(attempts) +
                                         (attempts == 1 ? " attempt: " : " attempts: ") +
                                         unknown->reason + "; it may have been delivered");
            } else {
                update.last_error = safe(described);
                update.next_attempt_at =
                    wall + std::max<milliseconds>(decision.delay, config.settle_delay);
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
        auto found = wire.find(result.id);
        if (found == wire.end()) return;
        std::uint64_t serial = found->second;
        wire.erase(found);
        Job& job = jobs.at(serial);
        if (job.step == Step::Posting) {
            note_round_trip(now - job.posted_at);
            on_post_result(serial, job, result, now);
        } else {
            on_list_result(serial, job, result, now);
        }
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
                update.next_attempt_at = std::chrono::system_clock::now() + config.settle_delay;
                update.last_error =
                    "attempt interrupted (dispatcher stopping) after the request may have "
                    "reached Plivo; its outcome is settled before any resend";
                finish(serial, std::move(update));
            } else if (job.step == Step::Posting) {
                requeue_now(serial, job,
                            "attempt interrupted (dispatcher stopping) before the request was sent",
                            true);
            } else {
                requeue_now(serial, job, "settling interrupted (dispatcher stopping)");
            }
        }
        wire.clear();
        std::vector<std::uint64_t> rest;
        for (auto& entry : jobs) rest.push_back(entry.first);
        for (std::uint64_t serial : rest) {
            Job& job = jobs.at(serial);
            bool waiting_to_send = job.step == Step::WaitSend || job.step == Step::WaitMedia;
            requeue_now(serial, job,
                        waiting_to_send ? "not sent (dispatcher stopping)"
                                        : "settling interrupted (dispatcher stopping)",
                        waiting_to_send);
        }
        checks.clear();
        checks_out.clear();
    }

    // The earliest time a held message can start or must go back; nullopt: none held.
    std::optional<milliseconds> held_wakeup(SteadyTime now) {
        std::optional<milliseconds> media_due;
        if (!media_waiting.empty())
            media_due = ceil_ms(jobs.at(*media_waiting.begin()).held_since + config.max_hold - now);
        std::optional<milliseconds> held_due = tokens_wakeup(now);
        if (media_due && (!held_due || *media_due < *held_due)) return media_due;
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
        if (!job.message.unsettled_since) {
            s.hold(serial, job, Step::WaitSend, now);
            continue;
        }
        SystemTime settle_at = *job.message.unsettled_since +
                               std::chrono::duration_cast<SystemTime::duration>(s.config.settle_delay);
        if (wall < settle_at) {  // too early: Plivo's list may lag behind its queue
            RowUpdate update = update_for(job, "retrying");
            update.next_attempt_at = settle_at;
            update.unsettled_since = job.message.unsettled_since;
            s.finish(serial, std::move(update));
            continue;
        }
        s.hold(serial, job, Step::WaitList, now);
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
    if (found == s.checks.end()) return;  // unknown, or given back by abort_all()
    std::uint64_t serial = found->second;
    s.checks.erase(found);
    Job& job = s.jobs.at(serial);
    job.step = Step::WaitList;  // not WaitCheck any more (finish() must not look it up)
    s.settle(serial, job, answer, now);
}

void DispatchEngine::cancel_settle_check(const std::string& id,
                                         std::chrono::steady_clock::time_point now) {
    State& s = *state_;
    auto found = s.checks.find(id);
    if (found == s.checks.end()) return;
    std::uint64_t serial = found->second;
    s.checks.erase(found);
    Job& job = s.jobs.at(serial);
    job.step = Step::WaitList;
    s.list_failed(serial, job, "could not look up which candidate uuids are already ours", now);
}

void DispatchEngine::uuids_recorded(const std::vector<RowUpdate>& updates) {
    for (const RowUpdate& update : updates) {
        if (update.plivo_message_uuid) state_->assigned.erase(*update.plivo_message_uuid);
    }
}

std::size_t DispatchEngine::unrecorded_uuids() const { return state_->assigned.size(); }

std::vector<RowUpdate> DispatchEngine::take_updates() {
    std::vector<RowUpdate> updates = std::move(state_->updates);
    state_->updates.clear();
    return updates;
}

std::size_t DispatchEngine::in_flight() const {
    return state_->wire.size() + state_->media_wire.size();
}

DispatchEngine::MediaCounters DispatchEngine::media_requests_started() const {
    return MediaCounters{state_->media.heads_started(), state_->media.gets_started()};
}

std::size_t DispatchEngine::held() const { return state_->jobs.size() - state_->wire.size(); }

std::optional<std::chrono::milliseconds> DispatchEngine::next_wakeup(
    std::chrono::steady_clock::time_point now) {
    State& s = *state_;
    s.pump(now);
    if (!s.updates.empty() || !s.checks_out.empty() || !s.wire.empty() || !s.media_wire.empty())
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
