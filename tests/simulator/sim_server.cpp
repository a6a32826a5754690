#include "sim_server.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <stdexcept>

#include "sim_connection.hpp"
#include "sim_inbound.hpp"
#include "sim_reports.hpp"
#include "sim_request.hpp"
#include "sim_store.hpp"
#include "sim_util.hpp"

namespace plivo_sim {

using nlohmann::json;

namespace {

constexpr std::size_t kMaxBodyBytes = 1 << 20;
constexpr int kListenBacklog = 1024;
// Marks a response that never leaves (reset / timeout faults), for the verbose log.
constexpr const char* kNoAnswerHeader = "X-Simulator-No-Answer";

bool starts_with(const std::string& text, const char* prefix) { return text.rfind(prefix, 0) == 0; }

// A request without Content-Length or Transfer-Encoding has no body (RFC 9112 6.3);
// httplib would read one until the connection's read timeout (5 s), so it is not asked to.
bool declares_body(const httplib::Request& req) {
    return req.has_header("Content-Length") || req.has_header("Transfer-Encoding");
}

}  // namespace

struct Simulator::Impl {
    explicit Impl(SimulatorOptions opts)
        : options(std::move(opts)),
          config(options.config),
          faults(options.seed),
          store(options.max_messages),
          reports(
              store, stats, config,
              ReportOptions{
                  options.auth_token,
                  options.main_auth_token.empty() ? options.auth_token : options.main_auth_token,
                  options.report_workers, options.seed, options.verbose, !options.quiet}) {
        faults.set_fail_next(options.fail_next);
        set_clock_offset_ms(options.config.clock_offset_ms);
    }

    SimulatorOptions options;
    ConfigHolder config;
    FaultPicker faults;
    SlidingWindowLimiter account_limiter;
    SlidingWindowLimiter list_limiter;
    MessageStore store;
    Stats stats;
    OptOutList opt_outs;
    ReportEngine reports;
    Stopper stopper;
    SimHttpServer server;
    int port = 0;

    void setup_routes();
    void handle_post(const httplib::Request& req, httplib::Response& res,
                     const httplib::ContentReader& reader);
    void handle_get(const httplib::Request& req, httplib::Response& res);
    void handle_other(const httplib::Request& req, httplib::Response& res);
    void handle_control_post(const httplib::Request& req, httplib::Response& res,
                             const std::string& body);
    void handle_control_get(const httplib::Request& req, httplib::Response& res);
    void handle_inbound(httplib::Response& res, const std::string& body);
    void send_message(const httplib::Request& req, httplib::Response& res,
                      const httplib::ContentReader& reader, const ApiPath& api);
    void read_api(const httplib::Request& req, httplib::Response& res, const ApiPath& api);
    void handle_media(const httplib::Request& req, httplib::Response& res);

    // powerpacks: the number each (pack, destination) got first, kept (sticky sender)
    std::mutex pack_mutex;
    std::map<std::pair<std::string, std::string>, std::string> pack_sticky;
    std::map<std::string, std::size_t> pack_next;  // round robin for new destinations
    std::string pick_pack_number(const std::string& pack, const std::vector<std::string>& numbers,
                                 const std::string& destination);

    // GET/HEAD /_sim/media/...: requests per path and method
    std::mutex media_mutex;
    std::map<std::string, std::map<std::string, std::uint64_t>> media_counts;
    json media_stats_json() {
        std::lock_guard<std::mutex> lock(media_mutex);
        json out = json::object();
        for (const auto& [path, methods] : media_counts) {
            json counts = {{"GET", 0}, {"HEAD", 0}};
            for (const auto& [method, n] : methods) counts[method] = n;
            out[path] = counts;
        }
        return out;
    }
    void clear_media_stats() {
        std::lock_guard<std::mutex> lock(media_mutex);
        media_counts.clear();
    }

    // Answers a /v1/ request (counted per status code).
    void reply(httplib::Response& res, int status, const json& body) {
        res.status = status;
        res.set_content(body.dump(), "application/json");
        stats.count_status(status);
    }
    void reply_error(httplib::Response& res, int status, const std::string& message,
                     const json& extra = json::object()) {
        json body = {{"api_id", new_uuid()}, {"error", message}};
        for (const auto& [key, value] : extra.items()) body[key] = value;
        reply(res, status, body);
    }
    // Answers a /_sim/ request (not counted).
    static void reply_control(httplib::Response& res, int status, const json& body) {
        res.status = status;
        res.set_content(body.dump(2) + "\n", "application/json");
    }

    // Checks Basic auth against the configured account and the path's auth id.
    bool authorized(const httplib::Request& req, httplib::Response& res, const ApiPath& api);
    // Applies the not-stored faults; true when the request was answered by one.
    bool apply_early_fault(Fault fault, const httplib::Request& req, httplib::Response& res,
                           const Config& config);
    void sleep_latency(const Config& config);
    // The client sees a TCP reset: the connection is aborted (RST) at once.
    void reset_connection(httplib::Response& res);
    // The client sees no answer: hold for timeout_ms, then close the connection.
    void hold_then_close(httplib::Response& res, const Config& config);
    json config_json() const {
        json out = config_to_json(*config.get());
        out["fail_next"] = faults.fail_next_json();
        return out;
    }
};

Simulator::Simulator(SimulatorOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
    impl_->setup_routes();
}

Simulator::~Simulator() {
    stop();
    impl_->reports.stop();
}

int Simulator::bind() {
    auto& server = impl_->server;
    const auto& options = impl_->options;
    if (options.port == 0) {
        impl_->port = server.bind_to_any_port(options.host);
        if (impl_->port <= 0) {
            throw std::runtime_error("cannot bind " + options.host + " to a free port");
        }
    } else {
        if (!server.bind_to_port(options.host, options.port)) {
            throw std::runtime_error("cannot bind " + options.host + ":" +
                                     std::to_string(options.port) +
                                     " (in use, or not an address of this host)");
        }
        impl_->port = options.port;
    }
    server.raise_backlog(kListenBacklog);
    impl_->reports.start();
    return impl_->port;
}

bool Simulator::run() { return impl_->server.listen_after_bind(); }

void Simulator::stop() {
    impl_->stopper.stop();
    if (impl_->server.is_running()) {
        impl_->server.stop();
        // idle keep-alive connections would otherwise hold their threads until the
        // keep-alive timeout; a shutdown makes each one see end-of-file now
        impl_->server.shutdown_connections();
    }
}

void Simulator::Impl::setup_routes() {
    const int threads = std::max(1, options.threads);
    server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    server.set_socket_options([](socket_t sock) {
        int yes = 1;
        // SO_REUSEADDR, not httplib's default SO_REUSEPORT: a second simulator on the
        // same port must fail to bind instead of silently sharing the traffic
        setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    server.set_tcp_nodelay(true);  // headers and body go out in two writes
    server.set_keep_alive_max_count(1000000);
    server.set_keep_alive_timeout(5);
    server.set_payload_max_length(kMaxBodyBytes);

    server.Post(".*",
                [this](const httplib::Request& req, httplib::Response& res,
                       const httplib::ContentReader& reader) { handle_post(req, res, reader); });
    server.Get(".*", [this](const httplib::Request& req, httplib::Response& res) {
        handle_get(req, res);
    });
    const httplib::Server::Handler other =
        [this](const httplib::Request& req, httplib::Response& res) { handle_other(req, res); };
    server.Put(".*", other);
    server.Patch(".*", other);
    server.Delete(".*", other);
    server.Options(".*", other);

    // errors httplib answers itself (malformed request, 413, unknown method): Plivo-shaped
    server.set_error_handler(
        httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& res) {
            if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
            const json body = {{"api_id", new_uuid()},
                               {"error", res.status == 413 ? "request body too large"
                                                           : "invalid request (HTTP " +
                                                                 std::to_string(res.status) + ")"}};
            res.set_content(body.dump(), "application/json");
            return httplib::Server::HandlerResponse::Handled;
        }));
    server.set_exception_handler(
        [this](const httplib::Request& req, httplib::Response& res, std::exception_ptr error) {
            std::string what = "unknown exception";
            try {
                std::rethrow_exception(error);
            } catch (const std::exception& e) {
                what = e.what();
            } catch (...) {
            }
            log_line("internal error on " + req.method + " " + req.path + ": " + what);
            res.status = 500;
            res.set_content(
                json{{"api_id", new_uuid()}, {"error", "simulator internal error: " + what}}.dump(),
                "application/json");
        });
    if (options.verbose) {
        server.set_logger([](const httplib::Request& req, const httplib::Response& res) {
            const std::string outcome =
                res.has_header(kNoAnswerHeader)
                    ? "no answer (" + res.get_header_value(kNoAnswerHeader) + ")"
                    : std::to_string(res.status);
            log_line(req.method + " " + req.target + " -> " + outcome + " (" + req.remote_addr +
                     ":" + std::to_string(req.remote_port) + ")");
        });
    }
}

void Simulator::Impl::handle_post(const httplib::Request& req, httplib::Response& res,
                                  const httplib::ContentReader& reader) {
    if (starts_with(req.path, "/_sim/")) {
        std::string body;
        if (declares_body(req)) {
            reader([&](const char* data, std::size_t size) {
                body.append(data, size);
                return body.size() <= kMaxBodyBytes;
            });
        }
        handle_control_post(req, res, body);
        return;
    }
    const ApiPath api = parse_api_path(req.path);
    if (api.kind == ApiPath::Messages) {
        send_message(req, res, reader, api);
        return;
    }
    if (declares_body(req))  // drain, keep the connection usable
        reader([](const char*, std::size_t) { return true; });
    stats.requests.fetch_add(1, std::memory_order_relaxed);
    if (api.kind == ApiPath::OneMessage) {
        res.set_header("Allow", "GET");
        reply_error(res, 405, "method POST is not allowed on a message; use GET");
    } else {
        reply_error(res, 404,
                    "resource not found: " + req.path +
                        " (messages are sent with POST /v1/Account/{auth_id}/Message/)");
    }
}

void Simulator::Impl::handle_other(const httplib::Request& req, httplib::Response& res) {
    if (req.method == "DELETE" && req.path == "/_sim/media_stats") {
        clear_media_stats();
        reply_control(res, 200, {{"reset", true}});
        return;
    }
    if (starts_with(req.path, "/_sim/")) {
        reply_control(res, 405, {{"error", "method " + req.method + " is not allowed here"}});
        return;
    }
    const ApiPath api = parse_api_path(req.path);
    stats.requests.fetch_add(1, std::memory_order_relaxed);
    if (api.kind == ApiPath::None) {
        reply_error(res, 404, "resource not found: " + req.path);
        return;
    }
    res.set_header("Allow", api.kind == ApiPath::Messages ? "GET, POST" : "GET");
    reply_error(res, 405, "method " + req.method + " is not allowed on this resource");
}

void Simulator::Impl::sleep_latency(const Config& config) {
    std::int64_t ms = config.latency_ms;
    if (config.jitter_ms > 0) ms += faults.uniform_int(0, config.jitter_ms);
    if (ms > 0) stopper.sleep_ms(ms);
}

bool Simulator::Impl::authorized(const httplib::Request& req, httplib::Response& res,
                                 const ApiPath& api) {
    res.set_header("WWW-Authenticate", "Basic realm=\"Plivo\"");
    const std::string header = req.get_header_value("Authorization");
    if (header.empty()) {
        reply_error(res, 401, "authentication credentials were not provided");
        return false;
    }
    if (header.compare(0, 6, "Basic ") != 0) {
        reply_error(res, 401, "only HTTP Basic authentication is supported");
        return false;
    }
    const auto decoded = base64_decode(header.substr(6));
    const std::size_t colon = decoded ? decoded->find(':') : std::string::npos;
    if (!decoded || colon == std::string::npos) {
        reply_error(res, 401, "malformed Basic credentials");
        return false;
    }
    const std::string user = decoded->substr(0, colon);
    const std::string password = decoded->substr(colon + 1);
    if (user != options.auth_id || password != options.auth_token) {
        reply_error(res, 401, "authentication failed: invalid auth id or auth token");
        return false;
    }
    if (api.auth_id != user) {
        reply_error(res, 401, "the auth id in the URL does not match the credentials");
        return false;
    }
    res.headers.erase("WWW-Authenticate");
    return true;
}

void Simulator::Impl::reset_connection(httplib::Response& res) {
    reset_current_connection();
    res.status = 500;  // never sent: the connection is gone
    res.set_header("Connection", "close");
    res.set_header(kNoAnswerHeader, "reset");
}

void Simulator::Impl::hold_then_close(httplib::Response& res, const Config& cfg) {
    hold_then_close_current_connection(cfg.timeout_ms, stopper);
    res.status = 504;  // never sent
    res.set_header("Connection", "close");
    res.set_header(kNoAnswerHeader, "closed");
}

bool Simulator::Impl::apply_early_fault(Fault fault, const httplib::Request& req,
                                        httplib::Response& res, const Config& config) {
    switch (fault) {
        case Fault::Error500:
            reply_error(res, 500, "internal server error");
            break;
        case Fault::Error503:
            reply_error(res, 503, "service unavailable, please retry later");
            break;
        case Fault::Error429RetryAfter:
            res.set_header("Retry-After", std::to_string(config.retry_after_s));
            reply_error(res, 429, "too many requests");
            break;
        case Fault::Error429:
            reply_error(res, 429, "too many requests");
            break;
        case Fault::RejectTimeout:
            hold_then_close(res, config);
            break;
        case Fault::ResetBeforeBody:
            reset_connection(res);
            break;
        default:
            return false;
    }
    stats.count_fault(fault);
    if (options.verbose)
        log_line("fault " + std::string(fault_name(fault)) + " on " + req.method + " " + req.path);
    return true;
}

void Simulator::Impl::send_message(const httplib::Request& req, httplib::Response& res,
                                   const httplib::ContentReader& reader, const ApiPath& api) {
    const ConcurrentRequest in_progress(stats);
    stats.requests.fetch_add(1, std::memory_order_relaxed);
    stats.send_requests.fetch_add(1, std::memory_order_relaxed);
    const std::shared_ptr<const Config> settings = config.get();
    const Config& cfg = *settings;
    const Fault fault = faults.pick(cfg, /*is_send=*/true);
    sleep_latency(cfg);
    if (fault == Fault::ResetBeforeBody) {
        apply_early_fault(fault, req, res, cfg);
        return;
    }
    std::string body;
    bool too_large = false;
    if (declares_body(req)) {
        reader([&](const char* data, std::size_t size) {
            if (body.size() + size > kMaxBodyBytes) {
                too_large = true;
                return false;
            }
            body.append(data, size);
            return true;
        });
    }
    if (apply_early_fault(fault, req, res, cfg)) return;
    if (!authorized(req, res, api)) return;
    if (cfg.rate_limit && !account_limiter.admit(cfg.rate_limit_count, cfg.rate_limit_window_ms)) {
        stats.rate_limited.fetch_add(1, std::memory_order_relaxed);
        reply_error(res, 429, "too many requests");
        return;
    }
    if (too_large) {
        reply_error(res, 413, "request body too large");
        return;
    }
    auto parsed = parse_send_request(body);
    if (auto* error = std::get_if<ApiError>(&parsed)) {
        reply_error(res, error->status, error->message, error->extra);
        return;
    }
    SendRequest& request = std::get<SendRequest>(parsed);
    if (!request.powerpack_uuid.empty()) {
        const auto pack = cfg.powerpacks.find(request.powerpack_uuid);
        if (pack == cfg.powerpacks.end()) {
            reply_error(res, 400, "powerpack not found: no powerpack with uuid '" +
                                      request.powerpack_uuid + "'");
            return;
        }
        for (const auto& destination : request.destinations) {
            request.senders.push_back(
                pick_pack_number(request.powerpack_uuid, pack->second, destination));
        }
    }
    const std::string api_id = new_uuid();
    const Fault applied = kFaultInfo[static_cast<int>(fault)].stores ? fault : Fault::None;
    const auto messages =
        store.accept(request, api.auth_id, api_id, req.remote_addr, applied, cfg);
    json uuids = json::array();
    const bool opt_outs_apply = cfg.opt_out_enabled && opt_outs.size() > 0;
    for (const auto& message : messages) {
        uuids.push_back(message->uuid);
        const bool opted_out =
            opt_outs_apply && opt_outs.blocked(message->from_number, message->to_number);
        if (opted_out) stats.opted_out_sends.fetch_add(1, std::memory_order_relaxed);
        reports.on_accepted(message, opted_out);
    }
    json answer = {{"api_id", api_id}, {"message", "message(s) queued"}, {"message_uuid", uuids}};
    if (!request.invalid_numbers.empty()) answer["invalid_number"] = request.invalid_numbers;

    if (applied != Fault::None) {
        stats.count_fault(applied);
        if (options.verbose)
            log_line("fault " + std::string(fault_name(applied)) + " after storing " + api_id);
    }
    switch (applied) {
        case Fault::Error500AfterStore:
            reply_error(res, 500, "internal server error");
            return;
        case Fault::AcceptThenTimeout:
            hold_then_close(res, cfg);
            return;
        case Fault::AcceptThenReset:
            reset_connection(res);
            return;
        case Fault::Garbage200:
        case Fault::Garbage202: {
            // the real answer cut in half: a body that is not JSON
            const std::string full = answer.dump();
            const int status = applied == Fault::Garbage200 ? 200 : 202;
            res.status = status;
            res.set_content(full.substr(0, full.size() / 2), "application/json");
            stats.count_status(status);
            return;
        }
        default:
            reply(res, 202, answer);
    }
}

std::string Simulator::Impl::pick_pack_number(const std::string& pack,
                                              const std::vector<std::string>& numbers,
                                              const std::string& destination) {
    std::lock_guard<std::mutex> lock(pack_mutex);
    auto& sticky = pack_sticky[{pack, destination}];
    // Plivo's sticky sender: a destination keeps the number it first got, as long as
    // the pack still has it
    if (sticky.empty() || std::find(numbers.begin(), numbers.end(), sticky) == numbers.end()) {
        sticky = numbers[pack_next[pack]++ % numbers.size()];
    }
    return sticky;
}

void Simulator::Impl::handle_get(const httplib::Request& req, httplib::Response& res) {
    if (starts_with(req.path, "/_sim/media/")) {
        handle_media(req, res);
        return;
    }
    if (starts_with(req.path, "/_sim/") || req.path == "/") {
        handle_control_get(req, res);
        return;
    }
    const ApiPath api = parse_api_path(req.path);
    stats.requests.fetch_add(1, std::memory_order_relaxed);
    if (api.kind == ApiPath::None) {
        reply_error(res, 404, "resource not found: " + req.path);
        return;
    }
    if (api.kind == ApiPath::OneMessage)
        stats.get_message_requests.fetch_add(1, std::memory_order_relaxed);
    read_api(req, res, api);
}

void Simulator::Impl::read_api(const httplib::Request& req, httplib::Response& res,
                               const ApiPath& api) {
    const ConcurrentRequest in_progress(stats);
    const std::shared_ptr<const Config> settings = config.get();
    const Config& cfg = *settings;
    const Fault fault = cfg.faults_on_list ? faults.pick(cfg, false) : Fault::None;
    sleep_latency(cfg);
    if (apply_early_fault(fault, req, res, cfg)) return;
    if (!authorized(req, res, api)) return;
    const bool is_list = api.kind == ApiPath::Messages;
    if (cfg.rate_limit) {
        // a list request is under the account's limit and the list API's (one GET
        // .../Message/{uuid}/ only under the account's); refused, it uses up neither
        const bool admitted =
            is_list && cfg.list_rate_limit_count > 0
                ? SlidingWindowLimiter::admit_both(account_limiter, cfg.rate_limit_count,
                                                   cfg.rate_limit_window_ms, list_limiter,
                                                   cfg.list_rate_limit_count,
                                                   cfg.list_rate_limit_window_ms) ==
                      SlidingWindowLimiter::Both::Admitted
                : account_limiter.admit(cfg.rate_limit_count, cfg.rate_limit_window_ms);
        if (!admitted) {
            stats.rate_limited.fetch_add(1, std::memory_order_relaxed);
            if (is_list) stats.list_rate_limited.fetch_add(1, std::memory_order_relaxed);
            reply_error(res, 429, "too many requests");
            return;
        }
    }
    if (is_list) stats.list_requests.fetch_add(1, std::memory_order_relaxed);

    json answer;
    if (is_list) {
        auto parsed = parse_list_query(req.params);
        if (auto* error = std::get_if<ApiError>(&parsed)) {
            reply_error(res, error->status, error->message, error->extra);
            return;
        }
        const ListQuery& query = std::get<ListQuery>(parsed);
        const ListResult result = store.list(query, now_us(), cfg.list_total_count);
        // next / previous keep the caller's filters
        std::string filters;
        for (const auto& [key, value] : req.params) {
            if (key == "limit" || key == "offset") continue;
            filters += "&" + form_encode(key) + "=" + form_encode(value);
        }
        const std::string base = "/v1/Account/" + api.auth_id +
                                 "/Message/?limit=" + std::to_string(query.limit) + "&offset=";
        const std::size_t next_offset = static_cast<std::size_t>(query.offset) + query.limit;
        // Plivo's pages: follow meta.next while it is set; total_count is left out
        // unless list_total_count asks for it (Plivo's is unreliable)
        json meta = {
            {"limit", query.limit},
            {"next", result.more ? json(base + std::to_string(next_offset) + filters)
                                 : json(nullptr)},
            {"offset", query.offset},
            {"previous",
             query.offset > 0
                 ? json(base + std::to_string(std::max(0, query.offset - query.limit)) + filters)
                 : json(nullptr)},
        };
        if (cfg.list_total_count) meta["total_count"] = result.total_count;
        answer = {
            {"api_id", new_uuid()},
            {"meta", std::move(meta)},
            {"objects", result.objects},
        };
    } else {
        auto object = store.object_json(api.uuid);
        if (!object) {
            reply_error(res, 404, "message " + api.uuid + " not found");
            return;
        }
        answer = std::move(*object);
        answer["api_id"] = new_uuid();
    }
    if (fault == Fault::Garbage200 || fault == Fault::Garbage202) {
        stats.count_fault(fault);
        const std::string full = answer.dump();
        res.status = 200;
        res.set_content(full.substr(0, full.size() / 2), "application/json");
        stats.count_status(200);
        return;
    }
    reply(res, 200, answer);
}

void Simulator::Impl::handle_control_get(const httplib::Request& req, httplib::Response& res) {
    if (req.path == "/" || req.path == "/_sim/health") {
        reply_control(res, 200,
                      {{"simulator", "plivo_simulator"},
                       {"ok", true},
                       {"send", "POST /v1/Account/" + options.auth_id + "/Message/"},
                       {"control",
                        {"/_sim/config", "/_sim/stats", "/_sim/messages", "/_sim/reset",
                         "/_sim/inbound", "/_sim/opt_outs", "/_sim/media/<name>",
                         "/_sim/media_stats"}}});
    } else if (req.path == "/_sim/config") {
        reply_control(res, 200, config_json());
    } else if (req.path == "/_sim/stats") {
        json out = stats.to_json();
        out.update(store.counters_json());
        out["reports"]["pending"] = reports.pending();
        out["opt_outs"] = opt_outs.size();
        reply_control(res, 200, out);
    } else if (req.path == "/_sim/opt_outs") {
        reply_control(res, 200, opt_outs.to_json());
    } else if (req.path == "/_sim/media_stats") {
        reply_control(res, 200, media_stats_json());
    } else if (req.path == "/_sim/messages") {
        std::size_t limit = 100, offset = 0;
        try {
            if (req.has_param("limit")) limit = std::stoul(req.get_param_value("limit"));
            if (req.has_param("offset")) offset = std::stoul(req.get_param_value("offset"));
        } catch (const std::exception&) {
            reply_control(res, 400, {{"error", "limit and offset must be integers"}});
            return;
        }
        std::optional<std::string> to_number;
        if (req.has_param("to_number")) {
            const std::string text = req.get_param_value("to_number");
            to_number = number_digits(text).value_or(text);
        }
        reply_control(res, 200, store.dump(limit, offset, to_number));
    } else {
        reply_control(res, 404, {{"error", "unknown control endpoint " + req.path}});
    }
}

void Simulator::Impl::handle_control_post(const httplib::Request& req, httplib::Response& res,
                                          const std::string& body) {
    if (req.path == "/_sim/reset") {
        reports.clear();
        store.reset();
        stats.reset();
        opt_outs.clear();
        clear_media_stats();
        {
            std::lock_guard<std::mutex> lock(pack_mutex);
            pack_sticky.clear();
            pack_next.clear();
        }
        account_limiter.clear();
        list_limiter.clear();
        const bool restore = req.get_param_value("config") == "1";
        if (restore) {
            config.set(options.config);
            faults.set_fail_next(options.fail_next);
            set_clock_offset_ms(options.config.clock_offset_ms);
        }
        reply_control(res, 200, {{"reset", true}, {"config_restored", restore}});
    } else if (req.path == "/_sim/config") {
        json changes = json::parse(body.empty() ? "{}" : body, nullptr, false);
        if (changes.is_discarded() || !changes.is_object()) {
            reply_control(res, 400, {{"error", "the body must be a JSON object"}});
            return;
        }
        try {
            std::optional<FailNext> fail_next;
            if (changes.contains("fail_next")) {
                fail_next = parse_fail_next(changes["fail_next"]);
                changes.erase("fail_next");
            }
            Config updated = apply_config_json(*config.get(), changes);
            config.set(updated);
            set_clock_offset_ms(updated.clock_offset_ms);
            if (fail_next) faults.set_fail_next(std::move(*fail_next));
        } catch (const std::exception& e) {
            reply_control(res, 400, {{"error", e.what()}});
            return;
        }
        reply_control(res, 200, config_json());
    } else if (req.path == "/_sim/inbound") {
        handle_inbound(res, body);
    } else {
        reply_control(res, 404, {{"error", "unknown control endpoint " + req.path}});
    }
}

void Simulator::Impl::handle_inbound(httplib::Response& res, const std::string& body) {
    const std::shared_ptr<const Config> settings = config.get();
    auto parsed = parse_inbound_request(body, settings->inbound_url, settings->inbound_method);
    if (auto* error = std::get_if<std::string>(&parsed)) {
        reply_control(res, 400, {{"error", *error}});
        return;
    }
    const InboundRequest& inbound = std::get<InboundRequest>(parsed);
    // Plivo acts on the keyword when the message arrives, whether or not the webhook
    // ever answers
    if (settings->opt_out_enabled) {
        if (inbound.intent == "optout") {
            opt_outs.block(inbound.to_number, inbound.from_number, now_us());
        } else if (inbound.intent == "optin") {
            opt_outs.unblock(inbound.to_number, inbound.from_number);
        }
    }
    const auto fields = inbound_fields(inbound, *settings);
    stats.inbound_messages.fetch_add(1);
    stats.inbound_requested.fetch_add(static_cast<std::uint64_t>(inbound.repeat));
    reports.send_inbound(inbound.url, inbound.method, inbound.message_uuid, fields, inbound.repeat,
                         std::chrono::milliseconds(inbound.repeat_delay_ms));
    if (options.verbose) {
        log_line("inbound " + inbound.message_uuid + " from " + inbound.from_number + " to " +
                 inbound.to_number + " (intent \"" + inbound.intent + "\") x" +
                 std::to_string(inbound.repeat) + " -> " + inbound.method + " " + inbound.url);
    }
    json sent = json::object();
    for (const auto& [key, value] : fields) sent[key] = value;
    reply_control(res, 202,
                  {{"message_uuid", inbound.message_uuid},
                   {"intent", inbound.intent},
                   {"deliveries", inbound.repeat},
                   {"url", inbound.url},
                   {"method", inbound.method},
                   {"fields", std::move(sent)}});
}

namespace {

// The first bytes of a file of `type`, so that a sniffing client sees what it was told.
std::string media_bytes(const std::string& type, std::size_t size) {
    std::string magic;
    if (type == "image/png") {
        magic = std::string("\x89PNG\r\n\x1a\n", 8);
    } else if (type == "image/jpeg") {
        magic = "\xFF\xD8\xFF\xE0";
    } else if (type == "image/gif") {
        magic = "GIF89a";
    }
    std::string out(size, '\0');
    for (std::size_t i = 0; i < size; ++i)
        out[i] = i < magic.size() ? magic[i] : static_cast<char>('a' + i % 26);
    return out;
}

std::string media_type_for(const std::string& name) {
    const std::size_t dot = name.rfind('.');
    std::string ext = dot == std::string::npos ? "" : name.substr(dot + 1);
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (ext == "png") return "image/png";
    if (ext == "jpg" || ext == "jpeg") return "image/jpeg";
    if (ext == "gif") return "image/gif";
    if (ext == "mp4") return "video/mp4";
    return "application/octet-stream";
}

constexpr std::int64_t kMaxMediaBytes = 64LL * 1024 * 1024;

}  // namespace

// GET / HEAD /_sim/media/<name>?bytes=N&type=T&no_length=1&no_head=1&delay_ms=N&status=S&redirect=N
void Simulator::Impl::handle_media(const httplib::Request& req, httplib::Response& res) {
    {
        std::lock_guard<std::mutex> lock(media_mutex);
        ++media_counts[req.path][req.method];
    }
    auto integer = [&](const char* key, std::int64_t fallback, std::int64_t min,
                       std::int64_t max) -> std::optional<std::int64_t> {
        if (!req.has_param(key)) return fallback;
        const std::string text = req.get_param_value(key);
        const auto digits = number_digits(text);
        if (!digits || *digits != text || digits->size() > 12) return std::nullopt;
        const std::int64_t value = std::stoll(text);
        if (value < min || value > max) return std::nullopt;
        return value;
    };
    const auto bytes = integer("bytes", kDefaultMediaBytes, 0, kMaxMediaBytes);
    const auto delay_ms = integer("delay_ms", 0, 0, 600000);
    const auto status = integer("status", 200, 100, 599);
    const auto redirect = integer("redirect", 0, 0, 20);
    if (!bytes || !delay_ms || !status || !redirect) {
        reply_control(res, 400,
                      {{"error", "bytes (0.." + std::to_string(kMaxMediaBytes) +
                                     "), delay_ms, status (100..599) and redirect (0..20) must "
                                     "be integers in range"}});
        return;
    }
    if (*delay_ms > 0) stopper.sleep_ms(*delay_ms);
    const bool head = req.method == "HEAD";
    if (head && req.get_param_value("no_head") == "1") {
        res.set_header("Allow", "GET");
        res.status = 405;
        return;
    }
    if (*redirect > 0) {
        // the same URL with one hop less
        std::string query;
        for (const auto& [key, value] : req.params) {
            const std::string v = key == "redirect" ? std::to_string(*redirect - 1) : value;
            query += (query.empty() ? "?" : "&") + form_encode(key) + "=" + form_encode(v);
        }
        res.status = 302;
        res.set_header("Location", "http://" + req.get_header_value("Host") + req.path + query);
        return;
    }
    if (*status != 200) {
        res.status = static_cast<int>(*status);
        if (!head) res.set_content("status " + std::to_string(*status) + "\n", "text/plain");
        return;
    }
    const std::string name = req.path.substr(std::string("/_sim/media/").size());
    const std::string type =
        req.has_param("type") ? req.get_param_value("type") : media_type_for(name);
    const auto size = static_cast<std::size_t>(*bytes);
    if (req.get_param_value("no_length") == "1") {
        // chunked: no Content-Length
        res.status = 200;
        res.set_chunked_content_provider(
            type, [type, size](std::size_t, httplib::DataSink& sink) {
                const std::string data = media_bytes(type, size);
                if (!data.empty()) sink.write(data.data(), data.size());
                sink.done();
                return true;
            });
        return;
    }
    res.set_header("Accept-Ranges", "bytes");
    // a Range request: 206, and httplib cuts the body and writes Content-Range
    res.status = req.ranges.empty() ? 200 : 206;
    res.set_content(media_bytes(type, size), type);
}

}  // namespace plivo_sim
