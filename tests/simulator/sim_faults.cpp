#include "sim_faults.hpp"

#include <mutex>
#include <sstream>
#include <stdexcept>

namespace plivo_sim {

using nlohmann::json;

namespace {

std::pair<Fault, std::int64_t> fail_next_entry(const std::string& kind, std::int64_t count) {
    const Fault fault = fault_from_name(kind);
    if (fault == Fault::None) {
        throw std::invalid_argument("fail_next: unknown fault kind '" + kind + "'");
    }
    if (count < 1 || count > 1000000000) {
        throw std::invalid_argument("fail_next: count must be between 1 and 1e9");
    }
    return {fault, count};
}

}  // namespace

FailNext parse_fail_next(const json& value) {
    FailNext entries;
    if (value.is_string()) {
        std::stringstream in(value.get<std::string>());
        std::string item;
        while (std::getline(in, item, ',')) {
            if (item.empty()) continue;
            const std::size_t colon = item.find(':');
            std::int64_t count = 1;
            if (colon != std::string::npos) {
                try {
                    std::size_t used = 0;
                    count = std::stoll(item.substr(colon + 1), &used);
                    if (used != item.size() - colon - 1) throw std::invalid_argument(item);
                } catch (const std::exception&) {
                    throw std::invalid_argument("fail_next: bad count in '" + item + "'");
                }
            }
            entries.push_back(fail_next_entry(item.substr(0, colon), count));
        }
        return entries;
    }
    const json list = value.is_object() ? json::array({value}) : value;
    if (!list.is_array()) {
        throw std::invalid_argument("fail_next: expected [{\"kind\":...,\"count\":...}]");
    }
    for (const auto& item : list) {
        if (!item.is_object() || !item.contains("kind") || !item["kind"].is_string()) {
            throw std::invalid_argument("fail_next: each entry needs a \"kind\" string");
        }
        std::int64_t count = 1;
        if (item.contains("count")) {
            if (!item["count"].is_number_integer()) {
                throw std::invalid_argument("fail_next: \"count\" must be an integer");
            }
            count = item["count"].get<std::int64_t>();
        }
        entries.push_back(fail_next_entry(item["kind"].get<std::string>(), count));
    }
    return entries;
}

FaultPicker::FaultPicker(std::uint64_t seed) {
    if (seed == 0) {
        std::random_device rd;
        std::seed_seq seq{rd(), rd(), rd(), rd()};
        rng_.seed(seq);
    } else {
        rng_.seed(seed);
    }
}

Fault FaultPicker::pick(const Config& config, bool is_send) {
    Fault fault = Fault::None;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!fail_next_.empty()) {
            fault = fail_next_.front().first;
            if (--fail_next_.front().second == 0) fail_next_.pop_front();
        } else {
            // one draw; the kinds share the unit interval in enum order
            const double draw = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
            double edge = 0.0;
            for (int i = 1; i < kFaultCount; ++i) {
                const double rate = config.fault_rates[i];
                if (rate <= 0.0) continue;
                edge += rate;
                if (draw < edge) {
                    fault = static_cast<Fault>(i);
                    break;
                }
            }
        }
    }
    return is_send ? fault : fault_for_read(fault);
}

void FaultPicker::set_fail_next(FailNext entries) {
    std::lock_guard<std::mutex> lock(mutex_);
    fail_next_.assign(entries.begin(), entries.end());
}

json FaultPicker::fail_next_json() const {
    std::lock_guard<std::mutex> lock(mutex_);
    json out = json::array();
    for (const auto& [fault, count] : fail_next_) {
        out.push_back({{"kind", fault_name(fault)}, {"count", count}});
    }
    return out;
}

double FaultPicker::uniform01() {
    std::lock_guard<std::mutex> lock(mutex_);
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
}

std::int64_t FaultPicker::uniform_int(std::int64_t low, std::int64_t high) {
    std::lock_guard<std::mutex> lock(mutex_);
    return std::uniform_int_distribution<std::int64_t>(low, high)(rng_);
}

Fault fault_for_read(Fault fault) {
    switch (fault) {
        case Fault::Error500AfterStore:
            return Fault::Error500;
        case Fault::AcceptThenTimeout:
            return Fault::RejectTimeout;
        case Fault::AcceptThenReset:
            return Fault::ResetBeforeBody;
        default:
            return fault;
    }
}

bool SlidingWindowLimiter::has_room_locked(Clock::time_point now, std::int64_t count,
                                           std::int64_t window_ms) {
    const auto oldest_kept = now - std::chrono::milliseconds(window_ms);
    while (!admitted_.empty() && admitted_.front() <= oldest_kept) admitted_.pop_front();
    return static_cast<std::int64_t>(admitted_.size()) < count;
}

bool SlidingWindowLimiter::admit(std::int64_t count, std::int64_t window_ms) {
    const auto now = Clock::now();
    std::lock_guard<std::mutex> lock(mutex_);
    if (!has_room_locked(now, count, window_ms)) return false;
    admitted_.push_back(now);
    return true;
}

SlidingWindowLimiter::Both SlidingWindowLimiter::admit_both(
    SlidingWindowLimiter& first, std::int64_t first_count, std::int64_t first_window_ms,
    SlidingWindowLimiter& second, std::int64_t second_count, std::int64_t second_window_ms) {
    const auto now = Clock::now();
    std::scoped_lock lock(first.mutex_, second.mutex_);
    if (!first.has_room_locked(now, first_count, first_window_ms)) return Both::RefusedFirst;
    if (!second.has_room_locked(now, second_count, second_window_ms)) return Both::RefusedSecond;
    first.admitted_.push_back(now);
    second.admitted_.push_back(now);
    return Both::Admitted;
}

void SlidingWindowLimiter::clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    admitted_.clear();
}

}  // namespace plivo_sim
