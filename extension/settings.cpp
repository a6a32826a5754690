// Every pg_plivo setting is defined here, then the prefix is reserved.
#include "settings.hpp"

#include "guard.hpp"

#include <cstdio>
#include <exception>

#include "input_error.hpp"
#include "outgoing_message.hpp"
#include "sender_rates.hpp"

extern "C" {
#include "catalog/pg_authid.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "tcop/tcopprot.h"
#include "utils/syscache.h"
}

namespace pg_plivo {

Settings settings = {};

namespace {

// The token must never be readable by anyone: SHOW, current_setting() and pg_settings
// all go through this hook, so they only ever say whether it is set.
const char* show_auth_token() {
    return settings.auth_token && settings.auth_token[0] ? "(set)" : "";
}

// Per-database, per-role and function-level values of the token are stored in catalogs
// every role can read (pg_db_role_setting, pg_proc.proconfig); a session SET shows up in
// pg_stat_activity. Only postgresql.conf / ALTER SYSTEM (read by superusers only) may set it.
bool check_auth_token(char** newval, void** extra, GucSource source) {
    if (*newval == nullptr || (*newval)[0] == '\0') return true;
    switch (source) {
        case PGC_S_DEFAULT:
        case PGC_S_DYNAMIC_DEFAULT:
        case PGC_S_ENV_VAR:
        case PGC_S_FILE:
        case PGC_S_ARGV:
        case PGC_S_GLOBAL:
            return true;
        default:
            GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
            GUC_check_errmsg(
                "plivo.auth_token can only be set in postgresql.conf or with ALTER SYSTEM");
            GUC_check_errhint(
                "Values set per database, per role, per function or per session can be read "
                "by other roles; use ALTER SYSTEM SET plivo.auth_token or the Supabase Vault "
                "secret plivo_auth_token.");
            return false;
    }
}

// Rejects a malformed plivo.sender_rate_limits when it is set, not when the worker
// reads it. C++ exceptions must not leave a GUC hook: the message is copied out.
bool check_sender_rate_limits(char** newval, void** extra, GucSource source) {
    if (*newval == nullptr || (*newval)[0] == '\0') return true;
    char message[512] = {0};
    try {
        plivo::parse_sender_rates(*newval);
        return true;
    } catch (const plivo::InputError& error) {
        snprintf(message, sizeof message, "%s: %s", error.what(), error.detail().c_str());
    } catch (const std::exception& error) {
        snprintf(message, sizeof message, "%s", error.what());
    }
    GUC_check_errmsg("%s", message);
    GUC_check_errhint(
        "Write comma-separated number=rate pairs, for example "
        "'+14155550100=25, +14155550111=0.2'.");
    return false;
}

bool check_http_url_setting(char** newval, void** extra, GucSource source) {
    const char* value = *newval;
    if (value == nullptr || value[0] == '\0') return true;
    if (strncmp(value, "http://", 7) == 0 || strncmp(value, "https://", 8) == 0) return true;
    GUC_check_errmsg("\"%s\" is not an http or https URL", value);
    return false;
}

bool check_powerpack_setting(char** newval, void** extra, GucSource source) {
    if (*newval == nullptr || (*newval)[0] == '\0') return true;
    char message[512] = {0};
    try {
        plivo::parse_powerpack_uuid(*newval, "plivo.powerpack_uuid");
        return true;
    } catch (const plivo::InputError& error) {
        snprintf(message, sizeof message, "%s: %s", error.what(), error.detail().c_str());
    } catch (const std::exception& error) {
        snprintf(message, sizeof message, "%s", error.what());
    }
    GUC_check_errmsg("%s", message);
    GUC_check_errhint("Copy the Powerpack's uuid from the Plivo console, or set '' for none.");
    return false;
}

// Plivo takes a message_expiry of 5 s or more; 0 means none.
bool check_default_valid_for(int* newval, void** extra, GucSource source) {
    if (*newval == 0 || *newval >= 5) return true;
    GUC_check_errmsg("plivo.default_valid_for must be 0 or at least 5 seconds");
    GUC_check_errhint("Plivo drops a message only after 5 s or more; 0 keeps messages until sent.");
    return false;
}

bool check_plivo_log_setting(char** newval, void** extra, GucSource source) {
    const char* value = *newval;
    if (value == nullptr || value[0] == '\0') return true;
    for (const char* allowed : {"true", "false", "number_only", "content_only"}) {
        if (strcmp(value, allowed) == 0) return true;
    }
    GUC_check_errmsg("\"%s\" is not a value of Plivo's log option", value);
    GUC_check_errhint("Use true, false, number_only or content_only, or '' for Plivo's default.");
    return false;
}

emit_log_hook_type previous_emit_log_hook = nullptr;

// PostgreSQL logs a reloaded setting's new value ("parameter ... changed to ...") and,
// with log_statement or a failing statement, the statement text. Neither may carry the
// auth token into the server log: such lines lose the value. Runs inside
// EmitErrorReport, in ErrorContext, so it may palloc; it must not raise an error.
void scrub_secrets_from_log(ErrorData* edata) {
    static const char changed[] = "parameter \"plivo.auth_token\" changed to ";
    if (edata->message && strncmp(edata->message, changed, sizeof changed - 1) == 0) {
        edata->message = pstrdup("parameter \"plivo.auth_token\" changed");
    } else if (edata->message && strstr(edata->message, "plivo.auth_token") &&
               strncmp(edata->message, "statement: ", 11) == 0) {
        edata->message = pstrdup("statement: (not logged: it sets plivo.auth_token)");
    }
    if (debug_query_string && strstr(debug_query_string, "plivo.auth_token")) {
        edata->hide_stmt = true;
    }
    if (previous_emit_log_hook) previous_emit_log_hook(edata);
}

}  // namespace

void define_settings() {
    if (process_shared_preload_libraries_in_progress) {
        previous_emit_log_hook = emit_log_hook;
        emit_log_hook = scrub_secrets_from_log;
    }
    DefineCustomStringVariable(
        "plivo.auth_id", "Plivo auth id (MA… or SA…) that messages are sent with.",
        "Empty: the Supabase Vault secret plivo_auth_id is used when it exists.", &settings.auth_id,
        "", PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomStringVariable(
        "plivo.auth_token", "Plivo auth token; superuser-only and never shown.",
        "Set it in postgresql.conf or with ALTER SYSTEM. Empty: the Supabase Vault secret "
        "plivo_auth_token is used when it exists.",
        &settings.auth_token, "", PGC_SIGHUP,
        GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE, check_auth_token, nullptr,
        show_auth_token);
    DefineCustomStringVariable(
        "plivo.sender_number", "Default sender number (E.164) when a message names none.", nullptr,
        &settings.sender_number, "", PGC_USERSET, 0, nullptr, nullptr, nullptr);
    DefineCustomStringVariable(
        "plivo.powerpack_uuid", "Default Plivo Powerpack when a message names no sender.",
        "When set, messages without sender_number (or sender) go through this Powerpack, "
        "and Plivo picks the number; plivo.sender_number is then not used.",
        &settings.powerpack_uuid, "", PGC_USERSET, 0, check_powerpack_setting, nullptr, nullptr);
    DefineCustomStringVariable("plivo.api_url", "Base URL of Plivo's REST API.",
                               "Point it at the Plivo simulator for tests.", &settings.api_url,
                               "https://api.plivo.com", PGC_SIGHUP, 0, check_http_url_setting,
                               nullptr, nullptr);
    DefineCustomStringVariable(
        "plivo.callback_url", "Delivery-report URL sent with messages that name none.", nullptr,
        &settings.callback_url, "", PGC_SIGHUP, 0, check_http_url_setting, nullptr, nullptr);
    // A PGC_POSTMASTER setting can only be defined while the library is preloaded; a
    // backend loading it later (no worker then) would be stopped by a FATAL error.
    if (process_shared_preload_libraries_in_progress) {
        DefineCustomStringVariable("plivo.database", "Database the dispatcher worker runs in.",
                                   nullptr, &settings.database, "postgres", PGC_POSTMASTER, 0,
                                   nullptr, nullptr, nullptr);
    }
    DefineCustomIntVariable("plivo.max_in_flight", "Requests to Plivo in flight at once.", nullptr,
                            &settings.max_in_flight, 16, 1, 1024, PGC_SIGHUP, 0, nullptr, nullptr,
                            nullptr);
    DefineCustomIntVariable("plivo.max_attempts", "Attempts before a message is marked failed.",
                            nullptr, &settings.max_attempts, 5, 1, 100, PGC_SIGHUP, 0, nullptr,
                            nullptr, nullptr);
    DefineCustomIntVariable("plivo.request_timeout", "Timeout of one request to Plivo.", nullptr,
                            &settings.request_timeout_ms, 10000, 100, 300000, PGC_SIGHUP,
                            GUC_UNIT_MS, nullptr, nullptr, nullptr);
    DefineCustomRealVariable(
        "plivo.account_rate_limit", "Requests per second to Plivo for the whole account.",
        "Plivo allows 300 requests per 5 seconds.", &settings.account_rate_limit, 60.0, 0.01,
        100000.0, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomRealVariable("plivo.sender_rate_limit",
                             "Requests per second for each sender number by default.", nullptr,
                             &settings.sender_rate_limit, 10.0, 0.01, 100000.0, PGC_SIGHUP, 0,
                             nullptr, nullptr, nullptr);
    DefineCustomStringVariable("plivo.sender_rate_limits",
                               "Per-number rate overrides: '+14155550100=25, +1...=0.2'.", nullptr,
                               &settings.sender_rate_limits, "", PGC_SIGHUP, 0,
                               check_sender_rate_limits, nullptr, nullptr);
    DefineCustomIntVariable(
        "plivo.lease_time", "How long a claimed message stays reserved for one attempt.",
        "After it, a crashed attempt is taken up again (its outcome settled first).",
        &settings.lease_seconds, 60, 5, 3600, PGC_SIGHUP, GUC_UNIT_S, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("plivo.retry_base_delay",
                            "First retry delay; doubled per attempt, with jitter.", nullptr,
                            &settings.retry_base_ms, 1000, 1, 3600000, PGC_SIGHUP, GUC_UNIT_MS,
                            nullptr, nullptr, nullptr);
    DefineCustomIntVariable("plivo.retry_max_delay", "Cap on the retry delay.", nullptr,
                            &settings.retry_cap_ms, 300000, 1, 86400000, PGC_SIGHUP, GUC_UNIT_MS,
                            nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "plivo.settle_delay",
        "Wait before asking Plivo whether an attempt with an unknown outcome was queued.",
        "Plivo's message list may lag behind its queue; settling too early risks a duplicate.",
        &settings.settle_delay_ms, 60000, 0, 3600000, PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr,
        nullptr);
    DefineCustomIntVariable(
        "plivo.list_requests_per_minute",
        "Requests a minute the dispatcher makes to Plivo's list API to settle unknown outcomes.",
        "Plivo allows 20 a minute, apart from the account's request rate; settling keeps to "
        "this, and a 429 from the list slows settling only, never sending.",
        &settings.list_requests_per_minute, 20, 1, 600, PGC_SIGHUP, 0, nullptr, nullptr,
        nullptr);
    DefineCustomIntVariable(
        "plivo.settle_clock_tolerance",
        "How far Plivo's clock may be from this server's when unknown outcomes are settled.",
        "The list window reaches this much before an uncertain attempt and after its timeout. "
        "Too small with a clock that is off risks a duplicate; larger costs more list pages.",
        &settings.settle_clock_tolerance_ms, 10000, 1000, 600000, PGC_SIGHUP, GUC_UNIT_MS, nullptr,
        nullptr, nullptr);
    DefineCustomIntVariable(
        "plivo.authenticated_hourly_quota",
        "Messages the role authenticated may enqueue per JWT subject per hour (0: no limit).",
        "Only superusers can change it, so that a signed-in user cannot raise its own.",
        &settings.authenticated_hourly_quota, 0, 0, 1000000, PGC_SUSET, 0, nullptr, nullptr,
        nullptr);
    static const struct config_enum_entry notify_options[] = {
        {"auto", kNotifyAuto, false},
        {"always", kNotifyAlways, false},
        {"never", kNotifyNever, false},
        {nullptr, 0, false},
    };
    DefineCustomEnumVariable(
        "plivo.notify_on_enqueue",
        "When enqueuing sends NOTIFY plivo_message_queued (once per transaction, at commit).",
        "auto: only when no pg_plivo worker serves this database (the worker is woken without "
        "it); always; never. Notifying transactions commit one at a time cluster-wide.",
        &settings.notify_on_enqueue, kNotifyAuto, notify_options, PGC_USERSET, 0, nullptr,
        nullptr, nullptr);
    DefineCustomBoolVariable(
        "plivo.paused", "Stops the worker from starting new attempts.",
        "Queued messages wait and enqueuing goes on; attempts already started finish and "
        "their outcomes and delivery reports are recorded. Set it with ALTER SYSTEM and "
        "pg_reload_conf().",
        &settings.paused, false, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "plivo.retention", "Age after which the worker purges messages in a final status.",
        "0 keeps them forever. Purged with plivo.purge_message_logs(), one batch per transaction.",
        &settings.retention_minutes, 0, 0, INT_MAX / 2, PGC_SIGHUP, GUC_UNIT_MIN, nullptr, nullptr,
        nullptr);
    // Consent: superuser-only (PGC_SUSET), as a caller that could change them could
    // also make a STOP not count.
    static const struct config_enum_entry scope_options[] = {
        {"all_senders", kOptOutAllSenders, false},
        {"sender", kOptOutSender, false},
        {nullptr, 0, false},
    };
    DefineCustomEnumVariable(
        "plivo.opt_out_scope", "Which of our numbers an opt-out stops.",
        "all_senders (default): every number texts the recipient no more, as the FCC's "
        "\"revoke all\" rule asks; sender: only the number the opt-out was sent to.",
        &settings.opt_out_scope, kOptOutAllSenders, scope_options, PGC_SUSET, 0, nullptr,
        nullptr, nullptr);
    DefineCustomStringVariable(
        "plivo.opt_out_keywords", "Inbound messages that opt the sender out (comma-separated).",
        "Compared with the whole message, case-folded and trimmed of spaces and punctuation. "
        "Default: the FCC's words and Plivo's. Plivo's MessageIntent optout counts as well.",
        &settings.opt_out_keywords,
        "stop, stopall, stop all, end, quit, cancel, unsub, unsubscribe, revoke, opt out, "
        "optout, opt-out",
        PGC_SUSET, 0, nullptr, nullptr, nullptr);
    DefineCustomStringVariable(
        "plivo.opt_in_keywords", "Inbound messages that opt the sender in again.",
        "Comma-separated, compared as plivo.opt_out_keywords. Plivo's MessageIntent optin "
        "counts as well.",
        &settings.opt_in_keywords, "start, unstop", PGC_SUSET, 0, nullptr, nullptr, nullptr);
    DefineCustomStringVariable(
        "plivo.help_keywords", "Inbound messages answered with plivo.help_reply.",
        "Comma-separated, compared as plivo.opt_out_keywords. Plivo's MessageIntent help "
        "counts as well.",
        &settings.help_keywords, "help, info", PGC_SUSET, 0, nullptr, nullptr, nullptr);
    DefineCustomStringVariable(
        "plivo.opt_out_reply", "SMS sent once to confirm an opt-out; empty sends none.",
        "Sent through the queue from the number the opt-out was sent to, at most once per "
        "opt-out.",
        &settings.opt_out_reply, "", PGC_SUSET, 0, nullptr, nullptr, nullptr);
    DefineCustomStringVariable(
        "plivo.help_reply", "SMS answering HELP; empty sends none.",
        "Sent through the queue, once per HELP message, also to recipients who opted out.",
        &settings.help_reply, "", PGC_SUSET, 0, nullptr, nullptr, nullptr);
    DefineCustomBoolVariable(
        "plivo.allow_transactional_override",
        "Lets a message with consent_override = 'transactional' reach a recipient who opted out.",
        "For messages the law does not count as marketing (a one-time password, a fraud "
        "alert). Each use is recorded in plivo.consent_events.",
        &settings.allow_transactional, false, PGC_SUSET, 0, nullptr, nullptr, nullptr);
    // Sending options: defaults for what a message does not say itself. Each is written
    // into the row at enqueue, so the row shows what was asked of Plivo.
    DefineCustomIntVariable(
        "plivo.default_valid_for", "How long a message that gives no valid_for is worth sending.",
        "0 (default): until it is sent. Otherwise at least 5 s: a message still queued or "
        "retrying after it is failed, not sent, and Plivo is asked to drop it after what "
        "remains (message_expiry, at most 10799 s).",
        &settings.default_valid_for_seconds, 0, 0, INT_MAX / 2, PGC_USERSET, GUC_UNIT_S,
        check_default_valid_for, nullptr, nullptr);
    DefineCustomStringVariable(
        "plivo.plivo_log", "What Plivo may keep of messages that give no plivo_log.",
        "true, false, number_only or content_only (Plivo's log parameter); empty (default): "
        "Plivo's own default, which keeps the text 7 days and the numbers 90.",
        &settings.plivo_log, "", PGC_USERSET, 0, check_plivo_log_setting, nullptr, nullptr);
    DefineCustomBoolVariable(
        "plivo.sms_fallback", "Sends an MMS that Plivo could not deliver as an SMS instead.",
        "For MMS that give no sms_fallback: when Plivo reports one failed with an error code "
        "of plivo.sms_fallback_error_codes, one SMS with the text and the media links is "
        "enqueued, linked to it.",
        &settings.sms_fallback, false, PGC_USERSET, 0, nullptr, nullptr, nullptr);
    DefineCustomStringVariable(
        "plivo.sms_fallback_error_codes", "Plivo error codes an SMS fallback answers.",
        "Comma-separated. Default 50 (destination not capable: no MMS on that line or "
        "carrier) and 120 (media over 5 MB).",
        &settings.sms_fallback_error_codes, "50, 120", PGC_SUSET, 0, nullptr, nullptr, nullptr);
    DefineCustomBoolVariable(
        "plivo.media_preflight", "Checks media URLs before an MMS is first sent.",
        "HEAD (or a ranged GET) per URL, cached: an MMS whose media Plivo would refuse (too "
        "large, wrong type, no answer) fails at once instead of after Plivo's attempt.",
        &settings.media_preflight, true, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomBoolVariable(
        "plivo.media_allow_private_addresses",
        "Lets media URLs on private, loopback and link-local addresses pass the check.",
        "Off (default): Plivo fetches the media from the internet and could not reach them. "
        "For tests against a local server.",
        &settings.media_allow_private, false, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    // Set transaction-locally by pg_plivo's own code so that plivo.message_events can
    // say what caused a status change; an UPDATE without it is recorded as 'manual'.
    DefineCustomStringVariable("plivo.event_cause", "Cause recorded with status changes.",
                               "Set by pg_plivo itself; not a setting to configure.",
                               &settings.event_cause, "", PGC_USERSET,
                               GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE, nullptr, nullptr, nullptr);
    MarkGUCPrefixReserved("plivo");
}

namespace {

// Reads one Vault secret with the extension owner's rights (Vault is not readable by
// the roles that call us), in the caller's transaction. nullopt when there is no Vault.
std::optional<std::string> vault_secret(const char* name) {
    char* value = pg_call([&]() -> char* {
        char* volatile found = nullptr;
        Oid vault_schema = get_namespace_oid("vault", true);
        if (!OidIsValid(vault_schema) ||
            !OidIsValid(get_relname_relid("decrypted_secrets", vault_schema))) {
            return nullptr;
        }
        Oid extension_oid = get_extension_oid("pg_plivo", true);
        Oid owner = BOOTSTRAP_SUPERUSERID;
        if (OidIsValid(extension_oid)) {
            HeapTuple tuple = SearchSysCache1(EXTENSIONOID, ObjectIdGetDatum(extension_oid));
            if (HeapTupleIsValid(tuple)) {
                owner = ((Form_pg_extension)GETSTRUCT(tuple))->extowner;
                ReleaseSysCache(tuple);
            }
        }
        Oid saved_user;
        int saved_security_context;
        GetUserIdAndSecContext(&saved_user, &saved_security_context);
        SetUserIdAndSecContext(owner, saved_security_context | SECURITY_LOCAL_USERID_CHANGE |
                                          SECURITY_RESTRICTED_OPERATION);
        PG_TRY();
        {
            SPI_connect();
            Oid types[1] = {TEXTOID};
            Datum values[1] = {CStringGetTextDatum(name)};
            int rc = SPI_execute_with_args(
                "SELECT decrypted_secret FROM vault.decrypted_secrets WHERE name = $1 "
                "ORDER BY updated_at DESC NULLS LAST LIMIT 1",
                1, types, values, nullptr, true, 1);
            if (rc == SPI_OK_SELECT && SPI_processed == 1) {
                char* secret = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
                if (secret) {
                    found = MemoryContextStrdup(TopTransactionContext, secret);
                    explicit_bzero(secret, strlen(secret));
                }
            }
            SPI_finish();
        }
        PG_FINALLY();
        { SetUserIdAndSecContext(saved_user, saved_security_context); }
        PG_END_TRY();
        return found;
    });
    if (value == nullptr) return std::nullopt;
    std::string result(value);
    // The copy in TopTransactionContext is wiped before it is freed.
    explicit_bzero(value, result.size());
    pfree(value);
    if (result.empty()) return std::nullopt;
    return result;
}

std::optional<std::string> setting_or_vault(const char* setting, const char* secret_name) {
    if (setting && setting[0]) return std::string(setting);
    return vault_secret(secret_name);
}

}  // namespace

std::optional<std::string> configured_auth_id() {
    return setting_or_vault(settings.auth_id, "plivo_auth_id");
}

std::optional<std::string> configured_auth_token() {
    return setting_or_vault(settings.auth_token, "plivo_auth_token");
}

}  // namespace pg_plivo
