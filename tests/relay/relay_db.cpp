#include "relay_db.hpp"

#include <atomic>
#include <utility>

namespace plivo_relay {

namespace {

struct Call {
    const char* name;       // for messages
    const char* statement;  // prepared statement
    const char* sql;
};
// by Handler
constexpr Call kCalls[] = {
    {"plivo.handle_status_callback", "plivo_relay_status_callback",
     "SELECT plivo.handle_status_callback($1, $2::jsonb, $3::jsonb, $4)::text"},
    {"plivo.handle_inbound_message", "plivo_relay_inbound_message",
     "SELECT plivo.handle_inbound_message($1, $2::jsonb, $3::jsonb, $4)::text"},
};

const Call& call_of(Handler handler) { return kCalls[static_cast<int>(handler)]; }

std::atomic<unsigned long long> g_connects{0};

// libpq's messages end with a newline; one line reads better in logs and answers.
std::string trimmed(const char* text) {
    std::string out = text == nullptr ? "" : text;
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
}

void forward_notice(void* arg, const char* message) {
    const auto* sink = static_cast<const DbConnection::NoticeSink*>(arg);
    if (*sink) (*sink)("database: " + trimmed(message));
}

// The error of a failed statement, with its SQLSTATE (28000 marks a refused signature).
void read_error(const PGresult* answer, CallResult& result) {
    const char* sqlstate = PQresultErrorField(answer, PG_DIAG_SQLSTATE);
    const char* primary = PQresultErrorField(answer, PG_DIAG_MESSAGE_PRIMARY);
    result.sqlstate = sqlstate == nullptr ? "" : sqlstate;
    result.message = primary != nullptr ? trimmed(primary) : trimmed(PQresultErrorMessage(answer));
    result.kind =
        result.sqlstate == "28000" ? CallResult::Kind::Forbidden : CallResult::Kind::Error;
}

}  // namespace

const char* handler_name(Handler handler) { return call_of(handler).name; }

DbConnection::DbConnection(std::string conninfo, NoticeSink notices)
    : conninfo_(std::move(conninfo)), notices_(std::move(notices)) {}

DbConnection::~DbConnection() { disconnect(); }

unsigned long long DbConnection::connects() { return g_connects.load(); }

void DbConnection::disconnect() {
    if (conn_ != nullptr) PQfinish(conn_);
    conn_ = nullptr;
    for (bool& prepared : prepared_) prepared = false;
}

bool DbConnection::ensure_connected(std::string& error) {
    if (conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK) return true;
    disconnect();
    // Later entries override earlier ones, and the expanded dbname (the connection
    // string) overrides what comes before it: the defaults go first.
    const char* keywords[] = {"connect_timeout", "fallback_application_name", "dbname", nullptr};
    const char* values[] = {"10", "plivo_relay", conninfo_.empty() ? nullptr : conninfo_.c_str(),
                            nullptr};
    if (conninfo_.empty()) keywords[2] = nullptr;
    conn_ = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
    if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) {
        error = conn_ == nullptr ? "out of memory" : trimmed(PQerrorMessage(conn_));
        disconnect();
        return false;
    }
    g_connects.fetch_add(1);
    PQsetNoticeProcessor(conn_, forward_notice, &notices_);
    return true;
}

CallResult DbConnection::call(Handler handler, const std::string& url,
                              const std::string& params_json, const std::string& headers_json,
                              const std::string& method) {
    const bool was_connected = conn_ != nullptr;
    CallResult result = call_once(handler, url, params_json, headers_json, method);
    // a connection that broke since its last use (server restart, idle timeout): once
    // more on a fresh one
    if (result.kind == CallResult::Kind::Error && was_connected && conn_ == nullptr) {
        result = call_once(handler, url, params_json, headers_json, method);
    }
    return result;
}

CallResult DbConnection::call_once(Handler handler, const std::string& url,
                                   const std::string& params_json, const std::string& headers_json,
                                   const std::string& method) {
    CallResult result;
    std::string error;
    if (!ensure_connected(error)) {
        result.message = "cannot connect to the database: " + error;
        return result;
    }
    const Call& call = call_of(handler);
    bool& prepared = prepared_[static_cast<int>(handler)];
    if (!prepared) {
        // e.g. the extension (or this function) is not there yet: prepared again next time
        PGresult* answer = PQprepare(conn_, call.statement, call.sql, 4, nullptr);
        prepared = PQresultStatus(answer) == PGRES_COMMAND_OK;
        if (!prepared) read_error(answer, result);
        PQclear(answer);
    }
    if (prepared) {
        const char* values[] = {url.c_str(), params_json.c_str(), headers_json.c_str(),
                                method.c_str()};
        PGresult* answer = PQexecPrepared(conn_, call.statement, 4, values, nullptr, nullptr, 0);
        if (PQresultStatus(answer) != PGRES_TUPLES_OK) {
            read_error(answer, result);
        } else if (PQntuples(answer) == 1 && PQnfields(answer) == 1) {
            result.kind = CallResult::Kind::Ok;
            result.body = PQgetisnull(answer, 0, 0) ? "null" : PQgetvalue(answer, 0, 0);
        } else {
            result.message = std::string(call.name) + "() returned " +
                             std::to_string(PQntuples(answer)) + " rows";
        }
        PQclear(answer);
    }
    if (PQstatus(conn_) != CONNECTION_OK) {
        if (result.message.empty()) result.message = trimmed(PQerrorMessage(conn_));
        disconnect();
    }
    return result;
}

}  // namespace plivo_relay
