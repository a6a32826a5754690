// The message lifecycle and its delivery reports: each accepted message moves
// queued -> sent -> delivered | undelivered (or queued -> failed, or stays sent) on a
// timer; when it was sent with a `url`, every step is reported to that URL, signed
// like Plivo (V2 and V3 headers), from a small pool of worker threads, with Plivo's
// retries. Options duplicate reports or deliver them out of order. Inbound messages
// (POST /_sim/inbound) go out through the same workers, signing and retries.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "sim_config.hpp"
#include "sim_store.hpp"

namespace plivo_sim {

struct ClientCache;  // per-worker HTTP clients (sim_reports.cpp)

struct ReportOptions {
    std::string auth_token;       // signs X-Plivo-Signature-V2 / -V3
    std::string main_auth_token;  // signs the -Ma- headers
    int workers = 8;
    std::uint64_t seed = 0;    // 0 = random
    bool verbose = false;      // log every report attempt
    bool log_failures = true;  // log failed attempts, thinning out (1st, 2nd, 4th, ...)
};

class ReportEngine {
public:
    using Fields = std::vector<std::pair<std::string, std::string>>;

    ReportEngine(MessageStore& store, Stats& stats, const ConfigHolder& config,
                 ReportOptions options);
    ~ReportEngine();

    void start();
    void stop();  // pending steps and reports are dropped

    // Plans the lifecycle (and reports) of a message that was just accepted. An
    // opted-out one (its pair blocked by a STOP) goes queued -> failed, error 200.
    void on_accepted(const MessagePtr& message, bool opted_out = false);

    // Delivers an inbound message's fields to `url` `copies` times, each a request of
    // its own with fresh nonces (Plivo resending one MessageUUID), `spacing` apart;
    // each copy is retried like a report.
    void send_inbound(const std::string& url, const std::string& method, const std::string& uuid,
                      const Fields& fields, int copies, std::chrono::milliseconds spacing);

    // Drops every planned step and queued report (POST /_sim/reset).
    void clear();

    // Steps and reports waiting on the timer or for a worker.
    std::size_t pending() const;

private:
    using Clock = std::chrono::steady_clock;

    // One signed request to send (and retry): a delivery report or an inbound message.
    struct Delivery {
        bool inbound = false;  // counted under inbound, not reports
        std::string url;
        std::string method;  // "POST" (form body) or "GET" (fields in the query)
        std::string uuid;    // MessageUUID, for the log
        std::string status;  // a report's Status ("" for inbound)
        Fields fields;
        int attempt = 0;  // retries done so far
        std::uint64_t generation = 0;
    };

    // A message's planned states and the report that is to arrive late.
    // Everything about a message's reports is drawn when it is accepted, under the
    // settings of that moment: a later /_sim/config does not change them.
    struct Plan {
        std::vector<std::string> states;
        std::string error_code;
        int deferred_step = -1;  // out of order: this step's report comes after the last
        std::vector<bool> duplicated;  // per step: its report is delivered twice
        std::chrono::milliseconds step_delay{0};
        std::vector<std::chrono::milliseconds> due;  // per step: after accept
    };

    void schedule(Clock::time_point due, std::function<void()> action);
    void schedule_locked(Clock::time_point due, std::function<void()> action);
    void run_step(const MessagePtr& message, const std::shared_ptr<const Plan>& plan, int step,
                  std::uint64_t generation);
    Fields report_fields(const Message& message, const Plan& plan, int step) const;
    void enqueue_delivery(Delivery delivery);
    void timer_loop();
    void worker_loop();
    // Sends one attempt; true when the receiver answered 2xx in time.
    bool deliver(Delivery& delivery, ClientCache& clients);
    double draw();

    MessageStore& store_;
    Stats& stats_;
    const ConfigHolder& config_;
    const ReportOptions options_;

    mutable std::mutex timer_mutex_;
    std::condition_variable timer_cv_;
    // due time and FIFO order among equal due times -> action
    std::map<std::pair<Clock::time_point, std::uint64_t>, std::function<void()>> timers_;
    std::uint64_t next_order_ = 0;

    mutable std::mutex work_mutex_;
    std::condition_variable work_cv_;
    std::deque<Delivery> work_;
    std::size_t in_flight_ = 0;
    std::vector<ClientCache*> caches_;  // one per worker, for stop()

    std::mutex rng_mutex_;
    std::mt19937_64 rng_;

    std::atomic<std::uint64_t> generation_{0};
    std::atomic<std::uint64_t> failures_logged_{0};
    std::atomic<bool> stopping_{false};
    std::thread timer_thread_;
    std::vector<std::thread> workers_;
};

}  // namespace plivo_sim
