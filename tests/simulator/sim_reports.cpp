#include "sim_reports.hpp"

#include <algorithm>

#include "../httplib_debian.hpp"
#include "sim_util.hpp"
#include "signature.hpp"
#include "url.hpp"

namespace plivo_sim {

// One worker's HTTP clients, one per callback origin, kept alive between reports.
struct ClientCache {
    struct Entry {
        std::unique_ptr<httplib::Client> client;
        bool used = false;  // has carried a request: its connection may have gone stale
    };
    std::map<std::string, Entry> by_origin;

    // The client a request is running on, so that stop() can abort it at once
    // instead of waiting for report_timeout_ms.
    std::mutex mutex;
    httplib::Client* in_flight = nullptr;
    bool stopped = false;

    void begin(httplib::Client* client) {
        std::lock_guard<std::mutex> lock(mutex);
        in_flight = client;
        if (stopped) client->stop();
    }
    void end() {
        std::lock_guard<std::mutex> lock(mutex);
        in_flight = nullptr;
    }
    void abort() {
        std::lock_guard<std::mutex> lock(mutex);
        stopped = true;
        if (in_flight != nullptr) in_flight->stop();
    }
};

namespace {

bool is_terminal_failure(const std::string& state) {
    return state == "undelivered" || state == "failed";
}

// An entry of no_mms_destinations: the number, or a prefix ending in '*'.
bool number_matches(const std::string& pattern, const std::string& number) {
    if (!pattern.empty() && pattern.back() == '*') {
        return number.compare(0, pattern.size() - 1, pattern, 0, pattern.size() - 1) == 0;
    }
    return pattern == number;
}

std::string time_or_empty(std::int64_t us) {
    return us == 0 ? std::string() : format_time(us, TimeStyle::Micros);
}

}  // namespace

ReportEngine::ReportEngine(MessageStore& store, Stats& stats, const ConfigHolder& config,
                           ReportOptions options)
    : store_(store), stats_(stats), config_(config), options_(std::move(options)) {
    if (options_.seed == 0) {
        std::random_device rd;
        std::seed_seq seq{rd(), rd(), rd(), rd()};
        rng_.seed(seq);
    } else {
        rng_.seed(options_.seed + 1);  // not the fault picker's stream
    }
}

ReportEngine::~ReportEngine() { stop(); }

void ReportEngine::start() {
    timer_thread_ = std::thread(&ReportEngine::timer_loop, this);
    for (int i = 0; i < std::max(1, options_.workers); ++i) {
        workers_.emplace_back(&ReportEngine::worker_loop, this);
    }
}

void ReportEngine::stop() {
    if (stopping_.exchange(true)) return;
    {
        std::lock_guard<std::mutex> lock(timer_mutex_);
        timers_.clear();
    }
    timer_cv_.notify_all();
    {
        std::lock_guard<std::mutex> lock(work_mutex_);
        work_.clear();
        for (ClientCache* cache : caches_) cache->abort();  // requests in flight end now
    }
    work_cv_.notify_all();
    if (timer_thread_.joinable()) timer_thread_.join();
    for (auto& worker : workers_) worker.join();
    workers_.clear();
}

double ReportEngine::draw() {
    std::lock_guard<std::mutex> lock(rng_mutex_);
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
}

void ReportEngine::on_accepted(const MessagePtr& message, bool opted_out) {
    const auto config = config_.get();
    auto plan = std::make_shared<Plan>();
    const double outcome = draw();
    auto pick_code = [&](const std::vector<std::int64_t>& codes) {
        std::lock_guard<std::mutex> lock(rng_mutex_);
        return std::to_string(
            codes[std::uniform_int_distribution<std::size_t>(0, codes.size() - 1)(rng_)]);
    };
    const std::chrono::milliseconds step(config->report_delay_ms);
    const std::chrono::milliseconds queue(config->queue_delay_ms);
    const std::chrono::milliseconds expiry(message->message_expiry_s * 1000);
    const bool mms = message->type == "mms";
    const bool no_mms =
        mms && std::any_of(config->no_mms_destinations.begin(), config->no_mms_destinations.end(),
                           [&](const std::string& p) { return number_matches(p, message->to_number); });
    if (opted_out) {
        plan->states = {"queued", "failed"};  // as Plivo: accepted, then refused
        plan->error_code = "200";
    } else if (config->queue_delay_ms > message->message_expiry_s * 1000) {
        // held in Plivo's queue past its message_expiry: dropped there when it expires
        plan->states = {"queued", "failed"};
        plan->error_code = "420";
        plan->due = {step, std::max(expiry, step * 2)};
    } else if (mms && message->sim_media_bytes > kMaxMmsBytes) {
        plan->states = {"queued", "failed"};  // Plivo fetched the media: over 5 MB
        plan->error_code = "120";
    } else if (no_mms) {
        plan->states = {"queued", "sent", "undelivered"};  // the handset cannot take MMS
        plan->error_code = "50";
    } else if (outcome < config->delivered_rate) {
        plan->states = {"queued", "sent", "delivered"};
    } else if (outcome < config->delivered_rate + config->undelivered_rate) {
        plan->states = {"queued", "sent", "undelivered"};
        plan->error_code = pick_code(config->undelivered_error_codes);
    } else if (outcome < config->delivered_rate + config->undelivered_rate + config->failed_rate) {
        plan->states = {"queued", "failed"};
        plan->error_code = pick_code(config->failed_error_codes);
    } else {
        plan->states = {"queued", "sent"};  // no receipt from the carrier: stays sent
    }
    if (plan->due.empty()) {
        // queued at 1x; the later steps wait queue_delay_ms more in Plivo's queue
        plan->due.push_back(step);
        for (std::size_t i = 1; i < plan->states.size(); ++i)
            plan->due.push_back(step * static_cast<int>(i + 1) + queue);
    }
    if (!message->callback_url.empty() && config->report_out_of_order_rate > 0 &&
        draw() < config->report_out_of_order_rate) {
        plan->deferred_step = static_cast<int>(plan->states.size()) - 2;
    }

    plan->duplicated.resize(plan->states.size(), false);
    if (!message->callback_url.empty() && config->report_duplicate_rate > 0) {
        for (std::size_t i = 0; i < plan->states.size(); ++i)
            plan->duplicated[i] = draw() < config->report_duplicate_rate;
    }
    plan->step_delay = step;

    const std::uint64_t generation = generation_.load();
    const auto now = Clock::now();
    std::shared_ptr<const Plan> fixed = std::move(plan);
    std::lock_guard<std::mutex> lock(timer_mutex_);
    for (int i = 0; i < static_cast<int>(fixed->states.size()); ++i) {
        schedule_locked(now + fixed->due[i], [this, message, fixed, i, generation] {
            run_step(message, fixed, i, generation);
        });
    }
}

void ReportEngine::run_step(const MessagePtr& message, const std::shared_ptr<const Plan>& plan,
                            int step, std::uint64_t generation) {
    if (generation != generation_.load()) return;
    const std::string& state = plan->states[step];
    const std::string error_code =
        is_terminal_failure(state) ? plan->error_code : (state == "delivered" ? "000" : "");
    store_.set_state(message, state, error_code, now_us());
    if (message->callback_url.empty()) return;

    Delivery delivery;
    delivery.url = message->callback_url;
    delivery.method = message->callback_method;
    delivery.uuid = message->uuid;
    delivery.status = state;
    delivery.fields = report_fields(store_.snapshot(message), *plan, step);
    delivery.generation = generation;

    const bool duplicate = plan->duplicated[step];
    if (duplicate) stats_.reports_duplicated.fetch_add(1);
    if (step == plan->deferred_step) {
        // held back until after the next (final) step's report has gone out
        stats_.reports_out_of_order.fetch_add(1);
        const auto step_ms = plan->step_delay;
        const auto hold = (plan->due[step + 1] - plan->due[step]) +
                          std::max<Clock::duration>(step_ms / 2, std::chrono::milliseconds(5));
        const int copies = duplicate ? 2 : 1;
        schedule(Clock::now() + hold, [this, delivery, copies] {
            if (delivery.generation != generation_.load()) return;
            for (int i = 0; i < copies; ++i) enqueue_delivery(delivery);
        });
        return;
    }
    if (duplicate) enqueue_delivery(delivery);
    enqueue_delivery(std::move(delivery));
}

ReportEngine::Fields ReportEngine::report_fields(const Message& m, const Plan& plan,
                                                 int step) const {
    const std::string& state = plan.states[step];
    const bool final_state = step + 1 == static_cast<int>(plan.states.size()) && state != "sent";
    Fields fields;
    fields.reserve(20);
    fields.emplace_back("From", m.from_number);
    fields.emplace_back("To", m.to_number);
    fields.emplace_back("MessageUUID", m.uuid);
    fields.emplace_back("Status", state);
    if (is_terminal_failure(state)) fields.emplace_back("ErrorCode", plan.error_code);
    fields.emplace_back("Units", std::to_string(m.units));
    fields.emplace_back("TotalRate", money(m.rate));
    fields.emplace_back("TotalAmount", total_amount(m));
    fields.emplace_back("MCC", "310");
    fields.emplace_back("MNC", "260");
    fields.emplace_back("Sequence", std::to_string(step + 1));
    fields.emplace_back("MessageTime", format_time(m.message_time_us, TimeStyle::Seconds));
    fields.emplace_back("QueuedTime", time_or_empty(m.queued_time_us));
    fields.emplace_back("SentTime", time_or_empty(m.sent_time_us));
    fields.emplace_back("DeliveryReportTime", final_state ? time_or_empty(m.final_time_us) : "");
    fields.emplace_back("ParentMessageUUID", m.uuid);
    fields.emplace_back("PartInfo", "1 of 1");
    fields.emplace_back("PowerpackUUID", m.powerpack_uuid);
    fields.emplace_back("Type", m.type);
    fields.emplace_back("requester_ip", m.requester_ip);
    return fields;
}

void ReportEngine::send_inbound(const std::string& url, const std::string& method,
                                const std::string& uuid, const Fields& fields, int copies,
                                std::chrono::milliseconds spacing) {
    Delivery delivery;
    delivery.inbound = true;
    delivery.url = url;
    delivery.method = method;
    delivery.uuid = uuid;
    delivery.fields = fields;
    delivery.generation = generation_.load();
    const auto now = Clock::now();
    for (int i = 0; i < copies; ++i) {
        if (spacing.count() == 0 || i == 0) {
            enqueue_delivery(delivery);
        } else {
            schedule(now + spacing * i, [this, delivery] {
                if (delivery.generation == generation_.load()) enqueue_delivery(delivery);
            });
        }
    }
}

void ReportEngine::schedule(Clock::time_point due, std::function<void()> action) {
    std::lock_guard<std::mutex> lock(timer_mutex_);
    schedule_locked(due, std::move(action));
}

void ReportEngine::schedule_locked(Clock::time_point due, std::function<void()> action) {
    if (stopping_.load()) return;
    const bool earliest = timers_.empty() || due < timers_.begin()->first.first;
    timers_.emplace(std::make_pair(due, next_order_++), std::move(action));
    if (earliest) timer_cv_.notify_one();
}

void ReportEngine::enqueue_delivery(Delivery delivery) {
    {
        std::lock_guard<std::mutex> lock(work_mutex_);
        if (stopping_.load()) return;
        work_.push_back(std::move(delivery));
    }
    work_cv_.notify_one();
}

void ReportEngine::clear() {
    generation_.fetch_add(1);
    {
        std::lock_guard<std::mutex> lock(timer_mutex_);
        timers_.clear();
    }
    std::lock_guard<std::mutex> lock(work_mutex_);
    work_.clear();
}

std::size_t ReportEngine::pending() const {
    std::size_t count;
    {
        std::lock_guard<std::mutex> lock(timer_mutex_);
        count = timers_.size();
    }
    std::lock_guard<std::mutex> lock(work_mutex_);
    return count + work_.size() + in_flight_;
}

void ReportEngine::timer_loop() {
    std::unique_lock<std::mutex> lock(timer_mutex_);
    std::vector<std::function<void()>> ready;
    while (!stopping_.load()) {
        if (timers_.empty()) {
            timer_cv_.wait(lock, [this] { return stopping_.load() || !timers_.empty(); });
            continue;
        }
        const auto now = Clock::now();
        const auto due = timers_.begin()->first.first;
        if (due > now) {
            timer_cv_.wait_until(lock, due);
            continue;
        }
        while (!timers_.empty() && timers_.begin()->first.first <= now) {
            ready.push_back(std::move(timers_.begin()->second));
            timers_.erase(timers_.begin());
        }
        lock.unlock();  // the actions take the store's and the workers' locks
        for (auto& action : ready) action();
        ready.clear();
        lock.lock();
    }
}

void ReportEngine::worker_loop() {
    ClientCache clients;
    {
        std::lock_guard<std::mutex> lock(work_mutex_);
        caches_.push_back(&clients);
    }
    for (;;) {
        Delivery delivery;
        {
            std::unique_lock<std::mutex> lock(work_mutex_);
            work_cv_.wait(lock, [this] { return stopping_.load() || !work_.empty(); });
            if (stopping_.load()) break;
            delivery = std::move(work_.front());
            work_.pop_front();
            ++in_flight_;
        }
        const bool ok = deliver(delivery, clients);
        {
            std::lock_guard<std::mutex> lock(work_mutex_);
            --in_flight_;
        }
        if (stopping_.load()) break;
        if (ok) {
            (delivery.inbound ? stats_.inbound_delivered : stats_.reports_sent).fetch_add(1);
            continue;
        }
        (delivery.inbound ? stats_.inbound_attempts_failed : stats_.report_attempts_failed)
            .fetch_add(1);
        const auto config = config_.get();
        const auto& delays = config->report_retry_delays_ms;
        if (delivery.generation != generation_.load() ||
            delivery.attempt >= static_cast<int>(delays.size())) {
            (delivery.inbound ? stats_.inbound_gave_up : stats_.reports_gave_up).fetch_add(1);
            continue;
        }
        (delivery.inbound ? stats_.inbound_retried : stats_.reports_retried).fetch_add(1);
        const auto delay = std::chrono::milliseconds(delays[delivery.attempt]);
        ++delivery.attempt;
        schedule(Clock::now() + delay, [this, delivery] {
            if (delivery.generation == generation_.load()) enqueue_delivery(delivery);
        });
    }
    std::lock_guard<std::mutex> lock(work_mutex_);
    caches_.erase(std::find(caches_.begin(), caches_.end(), &clients));
}

bool ReportEngine::deliver(Delivery& delivery, ClientCache& clients) {
    const std::string& url = delivery.url;
    const auto parts = plivo::split_url(url);
    if (!parts) return false;  // checked at accept; cannot happen
    const bool is_get = delivery.method == "GET";
    const auto method = is_get ? plivo::HttpMethod::Get : plivo::HttpMethod::Post;
    const plivo::Params params(delivery.fields.begin(), delivery.fields.end());

    // a fresh nonce per attempt, one for each version, as Plivo sends them
    const std::string nonce_v2 = random_digits(20);
    const std::string nonce_v3 = random_digits(20);
    httplib::Headers headers;
    try {
        headers = {
            {"X-Plivo-Signature-V2",
             plivo::compute_v2_signature(url, nonce_v2, options_.auth_token)},
            {"X-Plivo-Signature-Ma-V2",
             plivo::compute_v2_signature(url, nonce_v2, options_.main_auth_token)},
            {"X-Plivo-Signature-V2-Nonce", nonce_v2},
            {"X-Plivo-Signature-V3",
             plivo::compute_v3_signature(url, nonce_v3, method, params, options_.auth_token)},
            {"X-Plivo-Signature-Ma-V3",
             plivo::compute_v3_signature(url, nonce_v3, method, params, options_.main_auth_token)},
            {"X-Plivo-Signature-V3-Nonce", nonce_v3},
            {"User-Agent", "PlivoSimulator (pg_plivo tests)"},
        };
    } catch (const std::exception& e) {
        log_line(std::string("cannot sign the ") +
                 (delivery.inbound ? "inbound message" : "report") + " for " + url + ": " +
                 e.what());
        return false;
    }

    const std::string origin =
        parts->scheme + "://" + parts->host + (parts->port.empty() ? "" : ":" + parts->port);
    std::string target = parts->path.empty() ? "/" : parts->path;
    if (parts->query) target += "?" + *parts->query;
    const std::string form = form_encode(delivery.fields);
    if (is_get) target += (parts->query ? "&" : "?") + form;

    const auto config = config_.get();
    const std::int64_t timeout_ms = config->report_timeout_ms;
    httplib::Result result{nullptr, httplib::Error::Unknown};
    for (int attempt = 0; attempt < 2; ++attempt) {
        auto& entry = clients.by_origin[origin];
        const bool reused = entry.used;
        if (!entry.client) {
            entry.client = std::make_unique<httplib::Client>(origin);
            entry.client->set_url_encode(false);  // the path goes out exactly as given
            entry.client->set_keep_alive(true);
            entry.client->set_tcp_nodelay(true);  // else Nagle + delayed ACK: ~40 ms each
            entry.used = false;
        }
        entry.client->set_connection_timeout(std::chrono::milliseconds(timeout_ms));
        entry.client->set_read_timeout(std::chrono::milliseconds(timeout_ms));
        entry.client->set_write_timeout(std::chrono::milliseconds(timeout_ms));
        clients.begin(entry.client.get());
        const auto started = Clock::now();
        result =
            is_get ? entry.client->Get(target, headers)
                   : entry.client->Post(target, headers, form, "application/x-www-form-urlencoded");
        clients.end();
        entry.used = true;
        if (stopping_.load()) return false;
        if (result) break;
        entry.client.reset();
        // a kept-alive connection the receiver closed meanwhile fails at once: one
        // fresh try (a slow failure is the receiver's, and is retried like Plivo does)
        const auto error = result.error();
        const bool quick = Clock::now() - started <
                           std::chrono::milliseconds(std::min<std::int64_t>(timeout_ms / 2, 1000));
        if (!reused || !quick ||
            (error != httplib::Error::Read && error != httplib::Error::Write)) {
            break;
        }
    }
    const bool ok = result && result->status >= 200 && result->status < 300;
    const std::uint64_t failures = ok ? 0 : failures_logged_.fetch_add(1);
    // verbose: every attempt; otherwise the 1st, 2nd, 4th, 8th... failure (never floods)
    if (options_.verbose || (!ok && options_.log_failures && (failures & (failures + 1)) == 0)) {
        const std::string outcome =
            result ? "HTTP " + std::to_string(result->status) : httplib::to_string(result.error());
        const std::string what = delivery.inbound
                                     ? "inbound " + delivery.uuid
                                     : "report " + delivery.uuid + " " + delivery.status;
        log_line(what + " -> " + delivery.method + " " + url + ": " + outcome + " (attempt " +
                 std::to_string(delivery.attempt + 1) + ")" +
                 (ok || options_.verbose
                      ? ""
                      : "; failed deliveries so far: " + std::to_string(failures + 1)));
    }
    return ok;
}

}  // namespace plivo_sim
