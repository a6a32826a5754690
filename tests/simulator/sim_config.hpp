// The simulator's runtime configuration: fault rates, latency, rate limits, the
// delivery-report lifecycle, inbound messages and opt-outs. The same keys are set by
// command-line flags (--error-503-rate 0.1) and by POST /_sim/config
// ({"error_503_rate": 0.1}).
#pragma once

#include <array>
#include <map>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace plivo_sim {

// The kinds of injected fault. Whether the message is stored (i.e. Plivo "created" it
// and will bill and deliver it) is part of each kind's contract: see kFaultInfo.
enum class Fault : int {
    None = 0,
    Error500,            // 500, message NOT stored
    Error500AfterStore,  // message stored, then 500
    Error503,            // 503, NOT stored
    Error429RetryAfter,  // 429 with Retry-After, NOT stored
    Error429,            // 429 without Retry-After, NOT stored
    AcceptThenTimeout,   // stored, then no answer; connection closed after timeout_ms
    AcceptThenReset,     // stored, then the connection is reset (TCP RST), no answer
    RejectTimeout,       // NOT stored; no answer; connection closed after timeout_ms
    ResetBeforeBody,     // NOT stored; connection reset before the body is read
    Garbage200,          // stored, then 200 with a body that is not JSON
    Garbage202,          // stored, then 202 with a body that is not JSON
};
constexpr int kFaultCount = 12;  // including None

struct FaultInfo {
    const char* name;  // "error_503"; the config key is name + "_rate"
    bool stores;       // the message is created before the fault acts
    const char* help;
};
extern const std::array<FaultInfo, kFaultCount> kFaultInfo;

const char* fault_name(Fault fault);
// Fault by name ("error_503"); Fault::None when unknown (and for "none").
Fault fault_from_name(const std::string& name);

struct Config {
    std::array<double, kFaultCount> fault_rates{};  // by Fault; [None] unused
    std::int64_t retry_after_s = 2;                 // Retry-After of error_429_retry_after
    std::int64_t timeout_ms = 15000;                // how long the *_timeout faults hold on
    std::int64_t latency_ms = 0;                    // added to every API request
    std::int64_t jitter_ms = 0;                     // plus uniform random 0..jitter_ms
    bool faults_on_list = false;  // also inject 500/503/429/timeouts/resets on GET list/get

    bool rate_limit = true;                    // Plivo's account API limit
    std::int64_t rate_limit_count = 300;       // requests ...
    std::int64_t rate_limit_window_ms = 5000;  // ... per sliding window
    std::int64_t list_rate_limit_count = 20;   // list API (Plivo: 20 per minute); 0 = none
    std::int64_t list_rate_limit_window_ms = 60000;
    bool list_total_count = false;  // meta.total_count on list pages (Plivo's is unreliable)

    std::int64_t report_delay_ms = 200;  // queued at 1x, sent at 2x, final at 3x after accept
    double delivered_rate = 1.0;         // outcome rates; the rest stays "sent" forever
    double undelivered_rate = 0.0;
    double failed_rate = 0.0;
    // Not 200 (opted out): that comes only from the opt-out list, as at Plivo.
    std::vector<std::int64_t> undelivered_error_codes{30, 50, 80, 100};
    std::vector<std::int64_t> failed_error_codes{40, 300, 450, 900};
    double report_duplicate_rate = 0.0;     // per report: deliver it a second time
    double report_out_of_order_rate = 0.0;  // per message: "sent" report after the final one
    std::int64_t report_timeout_ms = 8000;  // no answer within this = failed attempt
    std::vector<std::int64_t> report_retry_delays_ms{60000, 120000, 240000};

    std::int64_t clock_offset_ms = 0;  // shifts every time the simulator reports

    std::string inbound_url;              // POST /_sim/inbound without "url" goes here
    std::string inbound_method = "POST";  // ... and so ("POST" form body, "GET" query)
    bool opt_out_enabled = true;          // STOP blocks the pair, sends to it fail with 200

    // Send options (issue 17)
    // powerpack uuid -> its numbers (digits); a send with powerpack_uuid picks one,
    // sticky per destination. Empty: every powerpack_uuid is unknown (400).
    std::map<std::string, std::vector<std::string>> powerpacks;
    double sms_rate = 0.005;  // USD per SMS segment (TotalRate)
    double mms_rate = 0.02;   // USD per MMS
    // How long each message waits in Plivo's queue before it goes out: its sent and
    // final steps come this much later. A message whose message_expiry (default
    // 10800 s) is shorter expires there: failed, error 420, not charged, at its expiry.
    std::int64_t queue_delay_ms = 0;
    // Destinations that cannot take MMS (digits; "1415555*" = a prefix): an MMS to
    // them ends undelivered with error 50; an SMS is delivered as usual.
    std::vector<std::string> no_mms_destinations;
};

// The current configuration, swapped as a whole: readers copy a shared_ptr (no lock
// held while they use it), writers replace it.
class ConfigHolder {
public:
    explicit ConfigHolder(Config config)
        : config_(std::make_shared<const Config>(std::move(config))) {}
    std::shared_ptr<const Config> get() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return config_;
    }
    void set(Config config) {
        auto fresh = std::make_shared<const Config>(std::move(config));
        std::lock_guard<std::mutex> lock(mutex_);
        config_ = std::move(fresh);
    }

private:
    mutable std::mutex mutex_;
    std::shared_ptr<const Config> config_;
};

// Applies the keys of `changes` to a copy of `config` and validates the result.
// Throws std::invalid_argument naming the key on an unknown key, a wrong type or a
// value out of range; `config` is unchanged then.
Config apply_config_json(const Config& config, const nlohmann::json& changes);

// Converts a flag value ("0.1", "true", "30,50,80") to the JSON apply_config_json wants.
nlohmann::json flag_value_to_json(const std::string& key, const std::string& value);

nlohmann::json config_to_json(const Config& config);

// True when `key` is a configuration key (flags use it with '-' for '_').
bool is_config_key(const std::string& key);

// "  --key-name VALUE   help (default ...)" lines for --help.
std::string config_help();

}  // namespace plivo_sim
