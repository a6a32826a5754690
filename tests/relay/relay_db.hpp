// One libpq connection to the database that holds pg_plivo, and the two calls the
// relay makes on it: plivo.handle_status_callback(url, params, headers, method) for
// delivery reports and plivo.handle_inbound_message(...) (same arguments) for inbound
// messages.
#pragma once

#include <functional>
#include <string>

#include <libpq-fe.h>

namespace plivo_relay {

// Which function a request is handed to.
enum class Handler {
    StatusCallback,  // plivo.handle_status_callback
    InboundMessage,  // plivo.handle_inbound_message
};
const char* handler_name(Handler handler);  // "plivo.handle_status_callback"

struct CallResult {
    enum class Kind {
        Ok,         // the function answered; `body` is its jsonb as text
        Forbidden,  // SQLSTATE 28000: bad or missing signature
        Error,      // any other error, or no connection
    };
    Kind kind = Kind::Error;
    std::string body;
    std::string sqlstate;  // empty when the database was not reached
    std::string message;   // the error's primary message
};

// Not thread-safe: one per server thread. Connects lazily, prepares each call on its
// first use on a connection (so that a database without handle_inbound_message still
// takes delivery reports), and after a broken connection connects again (at once for
// a call that found it broken, which is safe to repeat: both functions are idempotent).
class DbConnection {
public:
    using NoticeSink = std::function<void(const std::string&)>;

    // `conninfo`: a connection string or URI; empty = libpq's defaults (PG* variables).
    // Server notices (RAISE NOTICE / WARNING) go to `notices` (dropped when empty).
    DbConnection(std::string conninfo, NoticeSink notices);
    ~DbConnection();
    DbConnection(const DbConnection&) = delete;
    DbConnection& operator=(const DbConnection&) = delete;

    CallResult call(Handler handler, const std::string& url, const std::string& params_json,
                    const std::string& headers_json, const std::string& method);

    // Connections opened so far by every DbConnection (for /_relay/stats).
    static unsigned long long connects();

private:
    bool ensure_connected(std::string& error);
    void disconnect();
    CallResult call_once(Handler handler, const std::string& url, const std::string& params_json,
                         const std::string& headers_json, const std::string& method);

    std::string conninfo_;
    NoticeSink notices_;
    PGconn* conn_ = nullptr;
    bool prepared_[2] = {false, false};  // by Handler, on conn_
};

}  // namespace plivo_relay
