#include "sim_store.hpp"

#include <algorithm>
#include <cstdio>

#include "sim_util.hpp"

namespace plivo_sim {

using nlohmann::json;

namespace {

// What makes two sends "the same message" for the duplicates counter.
std::string duplicate_key(const SendRequest& request, const std::string& destination) {
    std::string key = request.from_number + '\x1f' + request.powerpack_uuid + '\x1f' + destination +
                      '\x1f' + request.text;
    for (const auto& url : request.media_urls) key += '\x1f' + url;
    key += '\x1e';
    for (const auto& id : request.media_ids) key += '\x1f' + id;
    return key;
}

bool matches(const Message& m, const ListQuery& q) {
    if (q.to_number && m.to_number != *q.to_number) return false;
    if (q.from_number && m.from_number != *q.from_number) return false;
    if (q.message_state && m.state != *q.message_state) return false;
    if (q.message_type && m.type != *q.message_type) return false;
    if (q.message_direction && *q.message_direction != "outbound") return false;
    const std::int64_t t = m.message_time_us;
    if (q.time_eq) {
        if (q.time_eq_whole_second ? (t < *q.time_eq || t >= *q.time_eq + 1000000)
                                   : t != *q.time_eq) {
            return false;
        }
    }
    if (q.time_gt && !(t > *q.time_gt)) return false;
    if (q.time_gte && !(t >= *q.time_gte)) return false;
    if (q.time_lt && !(t < *q.time_lt)) return false;
    if (q.time_lte && !(t <= *q.time_lte)) return false;
    return true;
}

}  // namespace

std::string money(double value) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.5f", value);
    return buf;
}

double unit_rate(const Config& config, const std::string& type) {
    return type == "mms" ? config.mms_rate : config.sms_rate;
}

std::string total_amount(const Message& m) {
    if (m.state == "failed" && m.error_code == "420") return money(0);
    return money(m.rate * m.units);
}

std::string kept_text(const Message& m) {
    return m.log == "false" || m.log == "number_only" ? std::string() : m.text;
}

void Stats::reset() {
    for (auto* counter :
         {&requests, &send_requests, &rate_limited, &list_requests, &list_rate_limited,
          &get_message_requests, &reports_sent, &report_attempts_failed,
          &reports_retried, &reports_gave_up, &reports_duplicated, &reports_out_of_order,
          &inbound_messages, &inbound_requested, &inbound_delivered, &inbound_attempts_failed,
          &inbound_retried, &inbound_gave_up, &opted_out_sends}) {
        counter->store(0);
    }
    for (auto& counter : status_codes) counter.store(0);
    max_concurrent_requests.store(concurrent_requests.load());  // the ones still running
    for (auto& counter : faults) counter.store(0);
}

json Stats::to_json() const {
    json statuses = json::object();
    for (int status = 0; status < 600; ++status) {
        if (const auto n = status_codes[status].load()) statuses[std::to_string(status)] = n;
    }
    json fault_counts = json::object();
    std::uint64_t total_faults = 0;
    for (int i = 1; i < kFaultCount; ++i) {
        fault_counts[kFaultInfo[i].name] = faults[i].load();
        total_faults += faults[i].load();
    }
    return {
        {"requests_total", requests.load()},
        {"send_requests", send_requests.load()},
        {"status_codes", statuses},
        {"rate_limited", rate_limited.load()},
        {"list_requests", list_requests.load()},
        {"list_rate_limited", list_rate_limited.load()},
        {"get_message_requests", get_message_requests.load()},
        {"concurrent_requests", concurrent_requests.load()},
        {"max_concurrent_requests", max_concurrent_requests.load()},
        {"faults", fault_counts},
        {"faults_total", total_faults},
        {"reports",
         {{"sent", reports_sent.load()},
          {"attempts_failed", report_attempts_failed.load()},
          {"retried", reports_retried.load()},
          {"gave_up", reports_gave_up.load()},
          {"duplicated", reports_duplicated.load()},
          {"out_of_order", reports_out_of_order.load()}}},
        {"inbound",
         {{"messages", inbound_messages.load()},
          {"requested", inbound_requested.load()},
          {"delivered", inbound_delivered.load()},
          {"attempts_failed", inbound_attempts_failed.load()},
          {"retried", inbound_retried.load()},
          {"gave_up", inbound_gave_up.load()}}},
        {"opted_out_sends", opted_out_sends.load()},
    };
}

std::vector<MessagePtr> MessageStore::accept(const SendRequest& request, const std::string& auth_id,
                                             const std::string& api_id,
                                             const std::string& requester_ip, Fault fault,
                                             const Config& config) {
    const auto body = std::make_shared<const std::string>(request.raw_body);  // compact
    const int units = billed_units(request.type, request.text);
    const double rate = unit_rate(config, request.type);
    std::vector<std::string> request_keys;
    for (const auto& [key, value] : request.body.items()) request_keys.push_back(key);
    std::sort(request_keys.begin(), request_keys.end());
    std::vector<MessagePtr> created;
    created.reserve(request.destinations.size());
    for (std::size_t i = 0; i < request.destinations.size(); ++i) {
        const std::string& destination = request.destinations[i];
        auto message = std::make_shared<Message>();
        message->uuid = new_uuid();
        message->api_id = api_id;
        message->auth_id = auth_id;
        message->from_number =
            i < request.senders.size() ? request.senders[i] : request.from_number;
        message->to_number = destination;
        message->type = request.type;
        message->text = request.text;
        message->powerpack_uuid = request.powerpack_uuid;
        message->log = request.log;
        message->message_expiry_s = request.message_expiry_s;
        message->sim_media_bytes = request.sim_media_bytes;
        message->request_keys = request_keys;
        message->rate = rate;
        message->callback_url = request.callback_url;
        message->callback_method = request.callback_method;
        message->requester_ip = requester_ip;
        message->fault = fault == Fault::None ? "" : fault_name(fault);
        message->units = units;
        message->body = body;
        created.push_back(std::move(message));
    }
    std::vector<std::string> keys;
    keys.reserve(created.size());
    for (const auto& destination : request.destinations)
        keys.push_back(duplicate_key(request, destination));

    std::lock_guard<std::mutex> lock(mutex_);
    // taken under the lock, so that accept order and message_time order agree
    const std::int64_t now = std::max(now_us(), last_time_us_);
    last_time_us_ = now;
    ++accepted_requests_;
    for (std::size_t i = 0; i < created.size(); ++i) {
        auto& message = created[i];
        message->message_time_us = now;
        message->sequence_number = next_sequence_++;
        ++accepted_messages_;
        if (!seen_keys_.insert(std::move(keys[i])).second) ++duplicates_;
        by_uuid_.emplace(message->uuid, message);
        messages_.push_back(message);
    }
    while (max_messages_ > 0 && messages_.size() > max_messages_) {
        by_uuid_.erase(messages_.front()->uuid);
        messages_.pop_front();
        ++evicted_;
    }
    return created;
}

json MessageStore::object_json_locked(const Message& m) const {
    return {
        {"error_code", m.error_code.empty() ? json(nullptr) : json(m.error_code)},
        {"from_number", m.from_number},
        {"log", m.log},
        {"message_direction", "outbound"},
        {"message_expiry", m.message_expiry_s},
        {"message_state", m.state},
        {"message_text", kept_text(m)},
        {"message_time", format_time(m.message_time_us, TimeStyle::PlivoObject)},
        {"message_type", m.type},
        {"message_uuid", m.uuid},
        {"powerpack_id", m.powerpack_uuid.empty() ? json(nullptr) : json(m.powerpack_uuid)},
        {"resource_uri", "/v1/Account/" + m.auth_id + "/Message/" + m.uuid + "/"},
        {"to_number", m.to_number},
        {"total_amount", total_amount(m)},
        {"total_rate", money(m.rate)},
        {"units", m.units},
    };
}

std::optional<json> MessageStore::object_json(const std::string& uuid) const {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = by_uuid_.find(uuid);
    if (it == by_uuid_.end()) return std::nullopt;
    return object_json_locked(*it->second);
}

ListResult MessageStore::list(const ListQuery& query, std::int64_t now, bool count_all) const {
    ListQuery q = query;
    // Plivo: without a message_time filter, the last 24 hours
    if (!q.time_eq && !q.time_gt && !q.time_gte && !q.time_lt && !q.time_lte) {
        q.time_gte = now - 24LL * 3600 * 1000000;
    }
    // messages are in time order, so the scan (newest first) stops at the lower bound
    std::optional<std::int64_t> floor = q.time_gte;
    if (q.time_gt && (!floor || *q.time_gt >= *floor)) floor = *q.time_gt;
    if (q.time_eq && (!floor || *q.time_eq >= *floor)) floor = *q.time_eq;

    const auto page_end = static_cast<std::size_t>(q.offset) + static_cast<std::size_t>(q.limit);
    ListResult result;
    std::size_t matched = 0;
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = messages_.rbegin(); it != messages_.rend(); ++it) {
        const Message& m = **it;
        if (floor && m.message_time_us < *floor) break;
        if (!matches(m, q)) continue;
        if (matched >= page_end) {
            result.more = true;
            if (!count_all) break;
        } else if (matched >= static_cast<std::size_t>(q.offset)) {
            result.objects.push_back(object_json_locked(m));
        }
        ++matched;
    }
    if (count_all) result.total_count = matched;
    return result;
}

json MessageStore::dump(std::size_t limit, std::size_t offset,
                        const std::optional<std::string>& to_number) const {
    json out_messages = json::array();
    std::size_t total = 0;
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& ptr : messages_) {
        const Message& m = *ptr;
        if (to_number && m.to_number != *to_number) continue;
        if (total >= offset && out_messages.size() < limit) {
            json item = object_json_locked(m);
            item["sequence_number"] = m.sequence_number;
            item["api_id"] = m.api_id;
            item["auth_id"] = m.auth_id;
            item["text"] = m.text;
            item["powerpack_uuid"] = m.powerpack_uuid;
            item["callback_url"] = m.callback_url;
            item["callback_method"] = m.callback_url.empty() ? "" : m.callback_method;
            item["requester_ip"] = m.requester_ip;
            item["fault"] = m.fault;
            item["message_time_us"] = m.message_time_us;
            item["sent_time"] =
                m.sent_time_us ? format_time(m.sent_time_us, TimeStyle::Micros) : "";
            item["final_time"] =
                m.final_time_us ? format_time(m.final_time_us, TimeStyle::Micros) : "";
            item["request"] = json::parse(*m.body, nullptr, false);
            item["request_keys"] = m.request_keys;
            out_messages.push_back(std::move(item));
        }
        ++total;
    }
    return {{"total_count", total},
            {"limit", limit},
            {"offset", offset},
            {"messages", std::move(out_messages)}};
}

void MessageStore::set_state(const MessagePtr& message, const std::string& state,
                             const std::string& error_code, std::int64_t at_us) {
    std::lock_guard<std::mutex> lock(mutex_);
    message->state = state;
    message->error_code = error_code;
    if (state == "queued") {
        message->queued_time_us = at_us;
    } else if (state == "sent") {
        message->sent_time_us = at_us;
    } else if (state != "queued") {
        message->final_time_us = at_us;
    }
}

Message MessageStore::snapshot(const MessagePtr& message) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return *message;
}

json MessageStore::counters_json() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return {
        {"accepted_requests", accepted_requests_}, {"accepted_messages", accepted_messages_},
        {"distinct_accepted", seen_keys_.size()},  {"duplicates", duplicates_},
        {"messages_stored", messages_.size()},     {"messages_evicted", evicted_},
    };
}

void MessageStore::reset() {
    std::lock_guard<std::mutex> lock(mutex_);
    messages_.clear();
    by_uuid_.clear();
    seen_keys_.clear();
    next_sequence_ = 1;
    accepted_requests_ = accepted_messages_ = duplicates_ = evicted_ = 0;
}

}  // namespace plivo_sim
