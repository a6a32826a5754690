// plivo_relay: what a Supabase Edge Function does with Plivo's delivery reports and
// inbound messages, as a small HTTP server for the end-to-end tests. Each request
// (POST form or GET query) becomes one call
//   SELECT plivo.handle_inbound_message(url, params, headers, method)   on --inbound-path
//   SELECT plivo.handle_status_callback(url, params, headers, method)   on any other path
// over libpq, one connection per server thread: url = --public-url plus the request's
// query exactly as received (the URL Plivo was told to call, which the signature
// covers), params = the decoded form (POST) or query (GET) fields, headers = every
// request header. The answer is
// 200 with the function's JSON, 403 when it rejects the signature (SQLSTATE 28000), 400
// for an inbound message it refuses as malformed (22023), 500 on any other error
// (Plivo, and the simulator, then retry). GET /_relay/stats counts the outcomes.
// Listens on 127.0.0.1 only.
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "relay_db.hpp"
#include "relay_form.hpp"
#include "../command_line.hpp"
#include "../httplib_debian.hpp"

namespace {

using nlohmann::json;
using plivo_relay::CallResult;
using plivo_relay::DbConnection;
using plivo_relay::Handler;

constexpr const char* kHost = "127.0.0.1";

struct Options {
    int port = 8091;
    std::string port_file;
    std::string public_url;          // empty: http://127.0.0.1:<port><request path>
    std::string public_inbound_url;  // the same for --inbound-path
    std::string inbound_path = "/plivo/inbound";
    std::string dsn;  // empty: libpq's defaults (PGHOST, PGPORT, PGUSER, ...)
    int threads = 8;
    int unknown_status = 200;
    bool quiet = false;
    bool verbose = false;
};

void print_help() {
    std::cout << R"(Usage: plivo_relay [OPTIONS]

Stands where a Supabase Edge Function would: takes Plivo's inbound messages on
--inbound-path and its delivery reports on every other path but /_relay/... (POST form
or GET query) on 127.0.0.1, and hands each one to
  SELECT plivo.handle_inbound_message(url, params, headers, method)   (--inbound-path)
  SELECT plivo.handle_status_callback(url, params, headers, method)   (any other path)
  url     = the public URL + the request's query string exactly as received
  params  = the decoded form (POST) or query (GET) fields; a repeated key is an array
  headers = every request header (names in lower case, as an Edge Function sees them)
Answers 200 with the function's JSON, 403 when the signature is refused (SQLSTATE
28000), 400 when an inbound message is refused as malformed (SQLSTATE 22023), 500 on
any other error (Plivo then retries).

Options:
  --port N             port (default 8091; 0 = pick a free one)
  --port-file PATH     write the bound port to PATH once listening is possible
  --inbound-path PATH  the path inbound messages arrive on (default /plivo/inbound;
                       exact match, query aside)
  --public-url URL     the URL Plivo was told to call for delivery reports, without
                       its query (default http://127.0.0.1:<port> + the request's path)
  --public-inbound-url URL
                       the same for inbound messages (the Application's message_url;
                       default http://127.0.0.1:<port> + the request's path)
  --dsn CONNINFO       libpq connection string or URI (default: the PG* variables)
  --threads N          server threads = database connections (default 8)
  --unknown-status N   HTTP status answered when the result is "unknown_message"
                       (default 200; 503 makes Plivo retry a report that raced ahead
                       of the worker recording the message's uuid)
  --quiet              print nothing but the start-up line and errors
  --verbose            one line per request (report or inbound message)
  -h, --help           this help

GET /_relay/stats: {"requests","inbound_requests","ok","forbidden","deferred","errors",
  "bad_requests","results":{"applied":N,"duplicate":N,...,"inbound_stored":N,
  "inbound_duplicate":N},"db_connects"}; GET /_relay/health.
)";
}

[[noreturn]] void usage_error(const std::string& message) {
    test_cli::usage_error("plivo_relay", message);
}

Options parse_arguments(int argc, char** argv) {
    Options o;
    test_cli::Flags flags("plivo_relay", argc, argv);
    while (flags.next()) {
        const std::string& flag = flags.flag();
        auto next = [&] { return flags.value(); };
        if (flag == "-h" || flag == "--help") {
            print_help();
            std::exit(0);
        } else if (flag == "--port") {
            o.port = static_cast<int>(flags.integer(0, 65535));
        } else if (flag == "--port-file") {
            o.port_file = next();
        } else if (flag == "--public-url" || flag == "--public-inbound-url") {
            std::string& url = flag == "--public-url" ? o.public_url : o.public_inbound_url;
            url = next();
            if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
                usage_error(flag + " must be an absolute http(s) URL");
            }
            if (url.find_first_of("?#") != std::string::npos) {
                usage_error(flag + " takes no query or fragment (the request's query is appended)");
            }
        } else if (flag == "--inbound-path") {
            o.inbound_path = next();
            if (o.inbound_path.empty() || o.inbound_path[0] != '/' ||
                o.inbound_path.find_first_of("?# ") != std::string::npos ||
                o.inbound_path.rfind("/_relay/", 0) == 0) {
                usage_error(
                    "--inbound-path must be a path starting with '/', without query, spaces "
                    "or the /_relay/ prefix");
            }
        } else if (flag == "--dsn") {
            o.dsn = next();
        } else if (flag == "--threads") {
            o.threads = static_cast<int>(flags.integer(1, 1000));
        } else if (flag == "--unknown-status") {
            o.unknown_status = static_cast<int>(flags.integer(200, 599));
        } else if (flag == "--quiet") {
            o.quiet = true;
        } else if (flag == "--verbose") {
            o.verbose = true;
        } else {
            usage_error("unknown option " + flag);
        }
    }
    if (o.quiet && o.verbose) usage_error("--quiet and --verbose exclude each other");
    return o;
}

void log_line(const std::string& line) {
    static std::mutex mutex;
    const auto now = std::chrono::system_clock::now();
    const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
    const auto millis =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() %
        1000;
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
    char full[40];
    std::snprintf(full, sizeof full, "%s.%03d", stamp, static_cast<int>(millis));
    std::lock_guard<std::mutex> lock(mutex);
    std::cerr << full << " plivo_relay: " << line << std::endl;
}

// Writes the port through a temporary file, so a reader never sees half of it.
bool write_port_file(const std::string& path, int port) {
    const std::string temporary = path + ".tmp";
    {
        std::ofstream out(temporary, std::ios::trunc);
        if (!out) return false;
        out << port << "\n";
        if (!out.flush()) return false;
    }
    return std::rename(temporary.c_str(), path.c_str()) == 0;
}

std::string lower(std::string text) {
    for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
}

struct Stats {
    // requests: every report and inbound message; inbound_requests: the inbound ones
    std::atomic<unsigned long long> requests{0}, inbound_requests{0}, ok{0}, forbidden{0},
        deferred{0}, errors{0}, bad_requests{0};
    std::mutex mutex;
    std::map<std::string, unsigned long long> results;

    void count_result(const std::string& result) {
        std::lock_guard<std::mutex> lock(mutex);
        ++results[result];
    }
    json to_json() {
        json by_result = json::object();
        {
            std::lock_guard<std::mutex> lock(mutex);
            for (const auto& [result, count] : results) by_result[result] = count;
        }
        return {{"requests", requests.load()},
                {"inbound_requests", inbound_requests.load()},
                {"ok", ok.load()},
                {"forbidden", forbidden.load()},
                {"deferred", deferred.load()},
                {"errors", errors.load()},
                {"bad_requests", bad_requests.load()},
                {"results", by_result},
                {"db_connects", DbConnection::connects()}};
    }
};

class Relay {
public:
    explicit Relay(Options options) : options_(std::move(options)) { setup(); }

    int bind() {
        if (options_.port == 0) {
            port_ = server_.bind_to_any_port(kHost);
            if (port_ <= 0) throw std::runtime_error("cannot bind 127.0.0.1 to a free port");
        } else {
            if (!server_.bind_to_port(kHost, options_.port)) {
                throw std::runtime_error("cannot bind 127.0.0.1:" + std::to_string(options_.port) +
                                         " (in use?)");
            }
            port_ = options_.port;
        }
        return port_;
    }
    bool run() { return server_.listen_after_bind(); }
    void stop() { server_.stop(); }

private:
    void setup() {
        const int threads = options_.threads;
        server_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
        server_.set_socket_options([](socket_t sock) {
            int yes = 1;  // SO_REUSEADDR, not SO_REUSEPORT: a taken port must fail to bind
            setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
        });
        server_.set_tcp_nodelay(true);  // else Nagle + delayed ACK cost ~40 ms per answer
        // An idle kept-alive connection holds its thread until this runs out, also at stop.
        server_.set_keep_alive_timeout(2);
        server_.set_keep_alive_max_count(1000000);
        server_.set_payload_max_length(1 << 20);

        server_.Get(".*", [this](const httplib::Request& req, httplib::Response& res) {
            if (req.path.rfind("/_relay/", 0) == 0) {
                control(req, res);
            } else {
                report(req, res);
            }
        });
        server_.Post(".*", [this](const httplib::Request& req, httplib::Response& res) {
            if (req.path.rfind("/_relay/", 0) == 0) {
                reply(res, 405, {{"error", "control endpoints take GET"}});
            } else {
                report(req, res);
            }
        });
    }

    static void reply(httplib::Response& res, int status, const json& body) {
        res.status = status;
        res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace),
                        "application/json");
    }

    void control(const httplib::Request& req, httplib::Response& res) {
        if (req.path == "/_relay/stats") {
            reply(res, 200, stats_.to_json());
        } else if (req.path == "/_relay/health") {
            reply(res, 200, {{"ok", true}});
        } else {
            reply(res, 404,
                  {{"error", "unknown control endpoint " + req.path},
                   {"control", {"/_relay/stats", "/_relay/health"}}});
        }
    }

    // The URL Plivo was told to call, without its query: --public-url (or
    // --public-inbound-url), or this server's own address with the path as received.
    std::string base_url(const httplib::Request& req, bool inbound) const {
        const std::string& configured = inbound ? options_.public_inbound_url : options_.public_url;
        if (!configured.empty()) return configured;
        return "http://127.0.0.1:" + std::to_string(port_) +
               req.target.substr(0, req.target.find('?'));
    }

    void report(const httplib::Request& req, httplib::Response& res) {
        stats_.requests.fetch_add(1);
        const bool inbound = req.path == options_.inbound_path;
        if (inbound) stats_.inbound_requests.fetch_add(1);
        const Handler handler = inbound ? Handler::InboundMessage : Handler::StatusCallback;
        const bool is_get = req.method == "GET";
        const std::size_t mark = req.target.find('?');
        const std::string raw_query = mark == std::string::npos ? "" : req.target.substr(mark + 1);

        // url: the base and the query exactly as received, for both methods (a GET's
        // query is the report itself; the functions count a field that is in both the url
        // and params once). params: the form (POST) or the query (GET).
        std::string url = base_url(req, inbound);
        if (mark != std::string::npos) url += "?" + raw_query;
        std::string form;
        if (is_get) {
            form = raw_query;
        } else {
            const std::string type = lower(req.get_header_value("Content-Type"));
            if (!req.body.empty() && type.rfind("application/x-www-form-urlencoded", 0) != 0) {
                stats_.bad_requests.fetch_add(1);
                reply(res, 415,
                      {{"error", std::string(inbound ? "an inbound message" : "a report") +
                                     " is an application/x-www-form-urlencoded body"}});
                return;
            }
            form = req.body;
        }
        const json params = plivo_relay::fields_json(plivo_relay::parse_form(form));

        json headers = json::object();
        for (const auto& [name, value] : req.headers) {
            // httplib adds these itself; they are no request headers
            if (name == "REMOTE_ADDR" || name == "REMOTE_PORT" || name == "LOCAL_ADDR" ||
                name == "LOCAL_PORT") {
                continue;
            }
            const std::string key = lower(name);
            auto it = headers.find(key);
            if (it == headers.end()) {
                headers[key] = value;
            } else {
                *it = it->get<std::string>() + ", " + value;  // as Fetch's Headers joins them
            }
        }

        thread_local DbConnection db(options_.dsn, options_.quiet
                                                       ? DbConnection::NoticeSink()
                                                       : DbConnection::NoticeSink(log_line));
        const auto dump = [](const json& value) {
            return value.dump(-1, ' ', false, json::error_handler_t::replace);
        };
        const CallResult result =
            db.call(handler, url, dump(params), dump(headers), is_get ? "GET" : "POST");
        const std::string what =
            (is_get ? "GET " : "POST ") + url + " " +
            params.value("MessageUUID", json("?")).dump() + " " +
            (inbound ? std::string("inbound") : params.value("Status", json("?")).dump());
        switch (result.kind) {
            case CallResult::Kind::Ok: {
                json body = json::parse(result.body, nullptr, false);
                std::string outcome = "?";
                if (body.is_object() && body.contains("result") && body["result"].is_string()) {
                    outcome = body["result"].get<std::string>();
                }
                // one results map for both: inbound ones are told apart by their prefix
                stats_.count_result(inbound ? "inbound_" + outcome : outcome);
                int status = 200;
                if (!inbound && outcome == "unknown_message" && options_.unknown_status != 200) {
                    status = options_.unknown_status;
                    stats_.deferred.fetch_add(1);
                } else {
                    stats_.ok.fetch_add(1);
                }
                res.status = status;
                res.set_content(result.body, "application/json");
                if (options_.verbose)
                    log_line(what + " -> " + std::to_string(status) + " " + result.body);
                return;
            }
            case CallResult::Kind::Forbidden:
                stats_.forbidden.fetch_add(1);
                reply(res, 403, {{"error", result.message}, {"sqlstate", result.sqlstate}});
                if (!options_.quiet) log_line(what + " -> 403: " + result.message);
                return;
            case CallResult::Kind::Error:
                if (inbound && result.sqlstate == "22023") {
                    // a malformed inbound message (no From, To or MessageUUID)
                    stats_.bad_requests.fetch_add(1);
                    reply(res, 400, {{"error", result.message}, {"sqlstate", result.sqlstate}});
                    if (!options_.quiet) log_line(what + " -> 400: " + result.message);
                    return;
                }
                stats_.errors.fetch_add(1);
                reply(res, 500, {{"error", result.message}, {"sqlstate", result.sqlstate}});
                log_error(what + " -> 500: " +
                          (result.sqlstate.empty() ? "" : "[" + result.sqlstate + "] ") +
                          result.message);
                return;
        }
    }

    // Errors are always logged, but thinned out (the 1st, 2nd, 4th, 8th, ...) so that a
    // database that is down does not flood the log.
    void log_error(const std::string& line) {
        const unsigned long long n = error_lines_.fetch_add(1);
        if (options_.verbose || (n & (n + 1)) == 0) {
            log_line(line + " (errors so far: " + std::to_string(n + 1) + ")");
        }
    }

    Options options_;
    httplib::Server server_;
    Stats stats_;
    int port_ = 0;
    std::atomic<unsigned long long> error_lines_{0};
};

}  // namespace

int main(int argc, char** argv) {
    const Options options = parse_arguments(argc, argv);

    // Before any thread starts: SIGINT/SIGTERM go to one thread (sigwait), and a peer
    // that hangs up must not kill the process with SIGPIPE.
    signal(SIGPIPE, SIG_IGN);
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGUSR1);  // internal: ends the signal thread
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    auto relay = std::make_unique<Relay>(options);
    int port = 0;
    try {
        port = relay->bind();
    } catch (const std::exception& e) {
        std::cerr << "plivo_relay: " << e.what() << "\n";
        return 1;
    }
    if (!options.port_file.empty() && !write_port_file(options.port_file, port)) {
        std::cerr << "plivo_relay: cannot write --port-file " << options.port_file << ": "
                  << std::strerror(errno) << "\n";
        return 1;
    }
    std::cout << "plivo_relay listening on http://127.0.0.1:" << port << " for "
              << (options.public_url.empty() ? "http://127.0.0.1:" + std::to_string(port) + "/..."
                                             : options.public_url)
              << "; inbound messages on " << options.inbound_path << "; stats at /_relay/stats"
              << std::endl;

    const bool quiet = options.quiet;
    std::thread signal_thread([&relay, &signals, quiet] {
        int stops = 0;
        for (;;) {
            int sig = 0;
            if (sigwait(&signals, &sig) != 0 || sig == SIGUSR1) return;
            if (++stops > 1) _exit(130);  // a second signal: do not wait any longer
            if (!quiet) log_line(std::string("stopping on ") + strsignal(sig));
            relay->stop();
        }
    });

    const bool ok = relay->run();  // returns once every connection thread has ended
    pthread_kill(signal_thread.native_handle(), SIGUSR1);
    signal_thread.join();
    relay.reset();
    if (!ok) {
        std::cerr << "plivo_relay: the server stopped unexpectedly\n";
        return 1;
    }
    if (!quiet) log_line("stopped");
    return 0;
}
