#include "settle_batch.hpp"

#include <algorithm>
#include <set>

#include "pure_cpp.hpp"
#include "settle.hpp"

namespace plivo {

namespace {

// The filter every message of `indexes` shares, else none.
std::optional<std::string> common_sender(const std::vector<UnsettledMessage>& messages,
                                         const std::vector<std::size_t>& indexes) {
    std::optional<std::string> sender;
    for (std::size_t i : indexes) {
        const UnsettledMessage& m = messages[i];
        if (m.via_powerpack) return std::nullopt;  // Plivo picks the number
        if (sender && *sender != m.sender) return std::nullopt;
        sender = m.sender;
    }
    return sender;
}

std::optional<std::string> common_type(const std::vector<UnsettledMessage>& messages,
                                       const std::vector<std::size_t>& indexes) {
    std::optional<MessageType> type;
    for (std::size_t i : indexes) {
        if (type && *type != messages[i].type) return std::nullopt;
        type = messages[i].type;
    }
    if (!type) return std::nullopt;
    return std::string(message_type_name(*type));
}

}  // namespace

SettleBatch::SettleBatch(std::vector<UnsettledMessage> backlog, const SettleBatchConfig& config)
    : config_(config) {
    backlog.erase(std::remove_if(backlog.begin(), backlog.end(),
                                 [](const UnsettledMessage& m) { return m.known_uuid.has_value(); }),
                  backlog.end());
    std::stable_sort(backlog.begin(), backlog.end(), [](const auto& a, const auto& b) {
        return a.unsettled_since < b.unsettled_since;
    });
    for (UnsettledMessage& message : backlog) {
        if (messages_.size() >= config_.max_messages) break;
        if (!messages_.empty() &&
            message.unsettled_since > messages_.front().unsettled_since + config_.max_span)
            break;
        const std::string digits = digits_of(message.recipient);
        auto [entry, fresh] = by_digits_.try_emplace(digits);
        if (fresh) recipient_order_.push_back(digits);
        entry->second.push_back(messages_.size());
        messages_.push_back(std::move(message));
    }
    // A full batch counts as cut short too: the backlog it came from may have been.
    cut_short_ = messages_.size() < backlog.size() || messages_.size() >= config_.max_messages;
    done_ = messages_.empty();
    // One recipient: its own list is the window, and cheaper.
    per_recipient_ = recipient_order_.size() == 1;
}

bool SettleBatch::could_grow_with(std::chrono::system_clock::time_point since) const {
    if (messages_.empty() || cut_short_) return false;
    if (since > messages_.front().unsettled_since + config_.max_span) return false;
    // Its record lies from since - tolerance on.
    return since - config_.clock_tolerance <= window_end();
}

std::chrono::system_clock::time_point SettleBatch::window_end() const {
    return messages_.back().unsettled_since + config_.request_timeout + config_.clock_tolerance;
}

ListQuery SettleBatch::window_query() const {
    std::vector<std::size_t> all(messages_.size());
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
    ListQuery query;
    query.since = messages_.front().unsettled_since - config_.clock_tolerance;
    query.until = window_end();
    query.sender = common_sender(messages_, all);
    query.message_type = common_type(messages_, all);
    query.outbound_only = true;
    return query;
}

ListQuery SettleBatch::recipient_query(const std::string& digits) const {
    const std::vector<std::size_t>& indexes = by_digits_.at(digits);
    ListQuery query;
    query.recipient = messages_[indexes.front()].recipient;
    query.since = messages_[indexes.front()].unsettled_since - config_.recipient_lookback;
    query.sender = common_sender(messages_, indexes);
    query.message_type = common_type(messages_, indexes);
    query.outbound_only = true;
    return query;
}

std::optional<SettleBatch::Request> SettleBatch::next_request() const {
    if (done_) return std::nullopt;
    Request request;
    request.query = per_recipient_ ? recipient_query(recipient_order_[current_]) : window_query();
    request.query.limit = 20;
    request.query.offset = pages_of_list_ * request.query.limit;
    request.next_link = next_link_;
    return request;
}

// An object is kept for the recipient it names; one that names none (Plivo left the
// field empty) could be anybody's, so every recipient of the list gets it.
void SettleBatch::keep(const ListedMessage& object, const std::string* only_recipient) {
    const std::string digits = digits_of(object.to_number);
    if (only_recipient) {
        if (digits.empty() || digits == *only_recipient) objects_[*only_recipient].push_back(object);
        return;
    }
    if (digits.empty()) {
        for (const std::string& recipient : recipient_order_) objects_[recipient].push_back(object);
    } else if (by_digits_.count(digits)) {
        objects_[digits].push_back(object);
    }
}

void SettleBatch::complete(const std::string& digits, bool overflow) {
    for (std::size_t i : by_digits_.at(digits))
        ready_.push_back(Ready{messages_[i], objects_[digits], overflow});
    objects_.erase(digits);
}

void SettleBatch::complete_all() {
    for (const std::string& digits : recipient_order_) complete(digits, false);
    done_ = true;
}

void SettleBatch::on_page(const MessageList& page) {
    if (done_) return;
    ++pages_read_;
    ++pages_of_list_;
    const std::string* only = per_recipient_ ? &recipient_order_[current_] : nullptr;
    for (const ListedMessage& object : page.objects) keep(object, only);
    const bool more = page.next.has_value();
    next_link_ = page.next;
    if (!per_recipient_) {
        if (!more) {
            complete_all();
        } else if (static_cast<std::size_t>(pages_of_list_) >= recipient_order_.size()) {
            // The window has cost as many pages as listing each recipient would: list
            // each recipient from here on (what the window gave is incomplete for all).
            per_recipient_ = true;
            objects_.clear();
            current_ = 0;
            pages_of_list_ = 0;
            next_link_.reset();
        }
        return;
    }
    const bool overflow = more && pages_of_list_ >= config_.max_pages_per_list;
    if (more && !overflow) return;
    complete(recipient_order_[current_], overflow);
    ++current_;
    pages_of_list_ = 0;
    next_link_.reset();
    if (current_ >= recipient_order_.size()) done_ = true;
}

std::vector<SettleBatch::Ready> SettleBatch::take_ready() {
    std::vector<Ready> ready = std::move(ready_);
    ready_.clear();
    return ready;
}

}  // namespace plivo
