// Settling unknown outcomes in batches, within the list API's own limit (plivo-api.md
// §9: 20 requests a minute, 20 records a page, follow meta.next). Pure: it says which
// list page to ask for next and which messages can be decided; the engine sends the
// requests and decides (settle.hpp).
//
// A batch is the oldest unsettled messages whose attempts started within max_span of
// the oldest. It is first listed as one time window (message_time__gte/__lte around
// every attempt of the batch, outbound only): one list serves every message of it,
// however many. When that window turns out to hold more pages than the batch has
// recipients, listing per recipient (to_number) is cheaper from there on, and the batch
// switches to it. Stopping the window at that point never costs more than twice the
// cheaper of the two (the rent-or-buy rule), without knowing how many pages the window
// holds: Plivo's total_count is not to be trusted.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "outgoing_message.hpp"
#include "plivo_request.hpp"
#include "plivo_response.hpp"

namespace plivo {

// An unsettled message, as the worker reads it from the backlog.
struct UnsettledMessage {
    std::string id;
    std::string guard;  // unsettled_since as the database wrote it: the update's condition
    std::string sender;  // the pair's sender: the number, or the Powerpack's uuid
    bool via_powerpack = false;
    std::string recipient;  // E.164
    MessageType type = MessageType::Sms;
    std::chrono::system_clock::time_point unsettled_since;  // the uncertain attempt's start
    std::optional<std::string> known_uuid;  // an answer named one: GET it instead of listing
};

struct SettleBatchConfig {
    // Clocks (ours and Plivo's) may differ by this much: the window reaches this much
    // before the first attempt and after the last one's timeout.
    std::chrono::milliseconds clock_tolerance{10000};
    std::chrono::milliseconds request_timeout{10000};  // an attempt is answered within it
    // Per recipient the list is cheap (to_number): it reaches this far back, as before.
    std::chrono::seconds recipient_lookback{300};
    std::chrono::seconds max_span{60};  // attempts of one batch start within this
    std::size_t max_messages = 1000;
    int max_pages_per_list = 200;  // more: given up, never resent (see Ready::overflow)
};

class SettleBatch {
public:
    // From `backlog` (any order; messages with a known uuid are left out), the oldest
    // messages within max_span of the oldest. Empty when there are none.
    SettleBatch(std::vector<UnsettledMessage> backlog, const SettleBatchConfig& config);

    bool empty() const { return messages_.empty(); }
    // Whether an unsettled message whose attempt started at `since`, not in the backlog
    // yet (too recent to settle), would belong to this batch: its record could fall in
    // the batch's window, and the batch was not already cut short by max_span or
    // max_messages. Listing now would mean listing that part of the window again for it.
    bool could_grow_with(std::chrono::system_clock::time_point since) const;
    std::size_t size() const { return messages_.size(); }
    bool per_recipient() const { return per_recipient_; }
    int pages_read() const { return pages_read_; }

    // The page to ask for next; nullopt once every list is complete. query is the
    // list itself with the offset of the page (the fallback when next_link is not
    // usable); next_link is Plivo's meta.next of the page before.
    struct Request {
        ListQuery query;
        std::optional<std::string> next_link;
    };
    std::optional<Request> next_request() const;

    // The reply to next_request() (the engine keeps it for the request on the wire).
    void on_page(const MessageList& page);

    // Messages whose lists are complete, with every listed object of their recipient
    // (duplicates possible); each message is handed out once.
    struct Ready {
        UnsettledMessage message;
        std::vector<ListedMessage> objects;
        bool overflow = false;  // its list had more than max_pages_per_list pages
    };
    std::vector<Ready> take_ready();

private:
    ListQuery window_query() const;
    // The newest attempt + its timeout + the clock tolerance: the window's end.
    std::chrono::system_clock::time_point window_end() const;
    ListQuery recipient_query(const std::string& recipient) const;
    void keep(const ListedMessage& object, const std::string* only_recipient);
    void complete(const std::string& recipient, bool overflow);
    void complete_all();

    SettleBatchConfig config_;
    std::vector<UnsettledMessage> messages_;                    // oldest first
    std::map<std::string, std::vector<std::size_t>> by_digits_;  // recipient digits → messages
    std::vector<std::string> recipient_order_;                  // digits, by oldest message
    std::map<std::string, std::vector<ListedMessage>> objects_;  // by recipient digits
    std::vector<Ready> ready_;
    bool cut_short_ = false;  // messages of the backlog were left for a later batch
    bool per_recipient_ = false;
    std::size_t current_ = 0;  // per recipient: index into recipient_order_
    bool done_ = false;
    int pages_read_ = 0;      // all lists
    int pages_of_list_ = 0;   // the current list
    std::optional<std::string> next_link_;
};

}  // namespace plivo
