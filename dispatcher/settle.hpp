// Settling an unknown outcome (design.md promise 3): after a timeout, reset or 5xx
// following the request, ask Plivo's list API whether it queued the message, and
// pick our message out of the answer. Pure: the worker fetches the pages.
//
// What the worker does with each verdict:
//   Found       the message was sent: store the uuid (and state); never resend.
//   NotFound    Plivo has no such message: resending is safe (it counts as an attempt).
//   Ambiguous   several unclaimed messages fit: treat as already sent, never resend;
//               record the candidates so that a DBA can decide.
//   Incomplete  not every page was read: settle again later, never resend meanwhile.
//               After a few rounds, treat as Ambiguous.
// Settle no sooner than a minute after the uncertain attempt: Plivo's list may lag
// behind its queue, and a false NotFound is a duplicate.
#pragma once

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "outgoing_message.hpp"
#include "plivo_response.hpp"

namespace plivo {

struct SettleQuery {
    std::string sender;     // E.164, as stored; empty: any (a Powerpack picks the number)
    std::string recipient;  // E.164
    MessageType type = MessageType::Sms;
    // When the first uncertain attempt started; the list request asks from
    // window_start - clock_tolerance, and older objects are not candidates.
    std::chrono::system_clock::time_point window_start;
    std::chrono::seconds clock_tolerance{300};
    std::set<std::string> known_uuids;  // uuids other rows of ours already own
};

enum class SettleVerdict { Found, NotFound, Ambiguous, Incomplete };
const char* settle_verdict_name(SettleVerdict verdict);  // "found", "not found", ...

struct SettleResult {
    SettleVerdict verdict = SettleVerdict::NotFound;
    std::optional<ListedMessage> message;  // Found: the match
    std::vector<std::string> candidates;   // uuids of every match (Ambiguous: several)
};

// The digits of a number as Plivo or we write it ("+1 415…" and "1415…" compare equal).
std::string digits_of(const std::string& text);

// True when list responses continue past this page (meta.next is set).
bool has_next_page(const MessageList& page);

// The match among all objects of all pages read so far (duplicates across pages are
// fine). An object is a candidate when it is not inbound, its uuid is not known, and
// its numbers, type and time fit; a field Plivo left empty or a time that cannot be
// read never rules an object out (more candidates means Ambiguous: never a resend).
SettleResult settle_unknown(const SettleQuery& query, const std::vector<ListedMessage>& objects,
                            bool all_pages_read);

// Plivo's message_time ("2024-05-01 12:00:00", optional ".ffffff" and "+05:30"/"Z"),
// UTC when no offset is written. nullopt when unreadable.
std::optional<std::chrono::system_clock::time_point> parse_plivo_time(const std::string& text);

}  // namespace plivo
