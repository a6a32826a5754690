// pg_plivo's settings (GUCs), all defined in one place, and the credential lookup
// that falls back to Supabase Vault.
#pragma once

#include <optional>
#include <string>

namespace pg_plivo {

struct Settings {
    char* auth_id;
    char* auth_token;  // superuser-only; never shown (see settings.cpp)
    char* sender_number;
    char* powerpack_uuid;  // default Powerpack; takes the place of sender_number when set
    char* api_url;
    char* callback_url;
    char* database;
    int max_in_flight;
    int max_attempts;
    int request_timeout_ms;
    double account_rate_limit;  // requests per second for the whole account
    double sender_rate_limit;   // requests per second for each sender number by default
    char* sender_rate_limits;   // per-number overrides: "+14155550100=25, +14155550111=0.2"
    int lease_seconds;
    int retry_base_ms;
    int retry_cap_ms;
    int settle_delay_ms;  // wait before settling an unknown outcome through the list API
    int list_requests_per_minute;   // Plivo's list API limit (20 a minute)
    int settle_clock_tolerance_ms;  // the list window's margin for clock differences
    char* event_cause;    // transaction-local; see plivo.message_events
    int authenticated_hourly_quota;  // messages per JWT subject per hour; 0: no limit
    int retention_minutes;           // the worker purges final messages older than this; 0: never
    int notify_on_enqueue;           // NotifyOnEnqueue
    bool paused;                     // the worker claims nothing new while set
    int opt_out_scope;               // OptOutScope
    char* opt_out_keywords;          // comma-separated; see consent_keywords.hpp
    char* opt_in_keywords;
    char* help_keywords;
    char* opt_out_reply;             // '' sends no confirmation
    char* help_reply;                // '' sends no answer to HELP
    bool allow_transactional;        // consent_override 'transactional' may be used
    int default_valid_for_seconds;   // valid_for of a message that gives none; 0: none
    char* plivo_log;                 // Plivo's log option for messages that give none; '': Plivo's default
    bool sms_fallback;               // MMS fall back to SMS unless a message says otherwise
    char* sms_fallback_error_codes;  // Plivo error codes that trigger the fallback (read by SQL)
    bool media_preflight;            // check media URLs before an MMS's first attempt
    bool media_allow_private;        // media URLs on private or loopback addresses pass the check
};

// plivo.opt_out_scope: an opt-out stops every one of our numbers from texting the
// recipient (the FCC's "revoke all"), or only the number it was sent to.
enum OptOutScope { kOptOutAllSenders, kOptOutSender };

// plivo.notify_on_enqueue: when an enqueuing transaction sends NOTIFY plivo_message_queued.
// PostgreSQL serialises the commits of every notifying transaction in the cluster, so it
// is sent only when someone may need it: by default when no worker serves this database.
enum NotifyOnEnqueue { kNotifyAuto, kNotifyAlways, kNotifyNever };

extern Settings settings;

void define_settings();

// The auth id/token: the setting when it is set, else the Vault secret named
// plivo_auth_id / plivo_auth_token when vault.decrypted_secrets exists. Needs a
// transaction. Read with the extension owner's rights; the value is never returned to SQL.
std::optional<std::string> configured_auth_id();
std::optional<std::string> configured_auth_token();

// The NOTIFY channel an enqueuing transaction signals once, at commit (see above).
constexpr const char* kQueueChannel = "plivo_message_queued";

}  // namespace pg_plivo
