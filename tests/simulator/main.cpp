// plivo_simulator: a local stand-in for Plivo's message API (plivo-api.md), for the
// end-to-end tests, the benchmarks and the README's quick start. This file reads the
// command line, refuses non-loopback addresses, and runs the server until SIGINT/SIGTERM.
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "../command_line.hpp"
#include "sim_config.hpp"
#include "sim_faults.hpp"
#include "sim_server.hpp"
#include "sim_util.hpp"

namespace {

using nlohmann::json;
using plivo_sim::SimulatorOptions;

constexpr const char* kDefaultAuthId = "MASIMULATOR000000000";
constexpr const char* kDefaultAuthToken = "simulator-auth-token";

void print_help() {
    std::cout <<
        R"(Usage: plivo_simulator [OPTIONS]

A local Plivo message API for tests, benchmarks and the quick start: it accepts
POST /v1/Account/{auth_id}/Message/ with Plivo's checks and answers, lists messages
(GET .../Message/ and .../Message/{uuid}/), sends signed delivery reports
(queued -> sent -> delivered) to each message's `url`, sends signed inbound messages
on request (POST /_sim/inbound) with Plivo's opt-outs (STOP blocks the pair: a send to
it ends failed, error 200), and injects faults on demand.
It listens on loopback only unless --allow-remote is given.

Start-up options:
  --host ADDR              address to listen on (default 127.0.0.1; loopback only)
  --allow-remote           allow a non-loopback --host (never needed for tests)
  --port N                 port (default 8080; 0 = pick a free one and print it)
  --port-file PATH         write the bound port to PATH (for scripts using --port 0)
  --auth-id ID             account auth id (default MASIMULATOR000000000)
  --auth-token TOKEN       account auth token (default simulator-auth-token)
  --main-auth-token TOKEN  token for the -Ma- signature headers (default: --auth-token)
  --threads N              HTTP worker threads = connections served at once
                           (default 320; cpp-httplib holds one per keep-alive connection)
  --report-workers N       threads sending delivery reports (default 8)
  --max-messages N         keep at most N messages, dropping the oldest (default 1000000)
  --seed N                 seed for fault draws and outcomes (default: random; ids stay random)
  --fail-next KIND[:N],... the next N send requests get fault KIND (in order)
  --powerpack UUID=N,N,... a powerpack and its numbers (repeatable); a send with
                           powerpack_uuid gets one, sticky per destination
  --no-mms-destination N   a number (or prefix ending in *) that cannot take MMS: an
                           MMS to it ends undelivered, error 50 (repeatable)
  --config-file PATH       a JSON object of runtime settings, as POST /_sim/config takes
  --quiet                  print nothing but the start-up line and errors
  --verbose                one log line per request and per report attempt
  -h, --help               this help

)" << plivo_sim::config_help()
              <<
        R"(
Fault kinds (for --fail-next and fail_next): error_500 error_500_after_store error_503
  error_429_retry_after error_429 accept_then_timeout accept_then_reset reject_timeout
  reset_before_body garbage_200 garbage_202. STORED kinds create the message first (it
  appears in the list API and gets delivery reports), as Plivo may have done.

Control endpoints (no auth; loopback):
  GET  /_sim/health          liveness
  GET  /_sim/config          runtime settings and the remaining fail_next queue
  POST /_sim/config          change settings: {"error_503_rate":0.1,"fail_next":[{"kind":"error_503","count":2}]}
  GET  /_sim/stats           requests, status codes, faults, accepted, duplicates, reports,
                             inbound deliveries, opt-outs
  GET  /_sim/messages        stored messages with their request bodies (?limit=&offset=&to_number=)
  POST /_sim/reset           clear messages, counters, pending reports and inbound
                             deliveries, opt-outs (?config=1: settings too)
  POST /_sim/inbound         an inbound message, as Plivo posts it to a message_url (202):
                             {"from":"+14155550123","to":"+14155550100","text":"STOP",
                              "type":"sms|mms","media":[URL,...],"media_start":0|1 (default 1),
                              "message_uuid":ID (default: new),"repeat":N (same uuid N times),
                              "repeat_delay_ms":N,"url":URL (default inbound_url),
                              "method":"POST|GET" (default inbound_method),
                              "intent":"optout|optin|help|" (default: Plivo's keywords)}
                             -> {"message_uuid","intent","deliveries","url","method","fields"}
  GET  /_sim/opt_outs        pairs blocked by STOP: {"opt_outs":[{"our_number",
                             "their_number","since"}]}
  GET|HEAD /_sim/media/NAME  test media: ?bytes=N (default 1024)&type=MIME (default by
                             extension)&no_length=1&no_head=1 (HEAD -> 405)&delay_ms=N
                             &status=S&redirect=N (302 hops); Range: bytes=a-b -> 206
  GET  /_sim/media_stats     {"/_sim/media/NAME":{"GET":n,"HEAD":n}}; DELETE clears it
                             (POST /_sim/reset too)

Inbound keywords (SMS; whole text, trimmed, any case): STOP STOPALL "STOP ALL" END QUIT
  CANCEL UNSUB UNSUBSCRIBE -> MessageIntent "optout" and the pair (to, from) is blocked
  (unless opt_out_enabled is false); START UNSTOP -> "optin", unblocked; HELP INFO ->
  "help"; anything else -> "". Inbound deliveries are signed (V2 and V3) and retried
  like delivery reports (report_timeout_ms, report_retry_delays_ms).

Examples:
  plivo_simulator --port 0 --port-file /tmp/sim.port --error-503-rate 0.05
  curl -d '{"from":"+14155550123","to":"+14155550100","text":"STOP",
            "url":"http://127.0.0.1:8091/plivo/inbound"}' http://127.0.0.1:8080/_sim/inbound
)";
}

[[noreturn]] void usage_error(const std::string& message) {
    test_cli::usage_error("plivo_simulator", message);
}

// True when every address `host` resolves to is a loopback address.
bool is_loopback_host(const std::string& host, std::string& problem) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* result = nullptr;
    const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &result);
    if (rc != 0) {
        problem = "cannot resolve --host " + host + ": " + gai_strerror(rc);
        return false;
    }
    bool all_loopback = true;
    for (addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET) {
            const auto* in = reinterpret_cast<const sockaddr_in*>(ai->ai_addr);
            all_loopback &= (ntohl(in->sin_addr.s_addr) >> 24) == 127;
        } else if (ai->ai_family == AF_INET6) {
            const auto* in6 = reinterpret_cast<const sockaddr_in6*>(ai->ai_addr);
            const bool mapped_loopback =
                IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127;
            all_loopback &= IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) || mapped_loopback;
        } else {
            all_loopback = false;
        }
    }
    freeaddrinfo(result);
    if (!all_loopback) {
        problem = "--host " + host +
                  " is not a loopback address; the simulator accepts any message with its "
                  "fake credentials, so it refuses to listen publicly without --allow-remote";
    }
    return all_loopback;
}

struct Parsed {
    SimulatorOptions options;
    std::string port_file;
    bool allow_remote = false;
};

Parsed parse_arguments(int argc, char** argv) {
    Parsed parsed;
    SimulatorOptions& o = parsed.options;
    json runtime = json::object();  // runtime settings, applied in order at the end
    json config_file = json::object();
    test_cli::Flags flags("plivo_simulator", argc, argv);
    while (flags.next()) {
        const std::string& flag = flags.flag();
        auto next = [&] { return flags.value(); };
        if (flag == "-h" || flag == "--help") {
            print_help();
            std::exit(0);
        } else if (flag == "--host") {
            o.host = next();
        } else if (flag == "--allow-remote") {
            parsed.allow_remote = true;
        } else if (flag == "--port") {
            o.port = static_cast<int>(flags.integer(0, 65535));
        } else if (flag == "--port-file") {
            parsed.port_file = next();
        } else if (flag == "--auth-id") {
            o.auth_id = next();
            if (o.auth_id.empty() || o.auth_id.find_first_of(":/?# ") != std::string::npos) {
                usage_error("--auth-id must be non-empty, without ':', '/', '?', '#' or spaces");
            }
        } else if (flag == "--auth-token") {
            o.auth_token = next();
            if (o.auth_token.empty()) usage_error("--auth-token must not be empty");
        } else if (flag == "--main-auth-token") {
            o.main_auth_token = next();
        } else if (flag == "--threads") {
            o.threads = static_cast<int>(flags.integer(1, 10000));
        } else if (flag == "--report-workers") {
            o.report_workers = static_cast<int>(flags.integer(1, 1000));
        } else if (flag == "--max-messages") {
            o.max_messages = static_cast<std::size_t>(flags.integer(1, 1LL << 40));
        } else if (flag == "--seed") {
            o.seed = static_cast<std::uint64_t>(flags.integer(1, (1LL << 62)));
        } else if (flag == "--powerpack") {
            // UUID=NUMBER,NUMBER,... ; repeatable, one pack each
            const std::string value = next();
            const std::size_t eq = value.find('=');
            if (eq == std::string::npos || eq == 0 || eq + 1 == value.size()) {
                usage_error("--powerpack wants UUID=NUMBER[,NUMBER...], not '" + value + "'");
            }
            if (!runtime.contains("powerpacks")) runtime["powerpacks"] = json::object();
            runtime["powerpacks"][value.substr(0, eq)] =
                plivo_sim::flag_value_to_json("no_mms_destinations", value.substr(eq + 1));
        } else if (flag == "--no-mms-destination") {
            // repeatable: one number (or prefix ending in *) each
            if (!runtime.contains("no_mms_destinations"))
                runtime["no_mms_destinations"] = json::array();
            runtime["no_mms_destinations"].push_back(next());
        } else if (flag == "--fail-next") {
            try {
                auto entries = plivo_sim::parse_fail_next(json(next()));
                o.fail_next.insert(o.fail_next.end(), entries.begin(), entries.end());
            } catch (const std::exception& e) {
                usage_error(e.what());
            }
        } else if (flag == "--config-file") {
            const std::string path = next();
            std::ifstream in(path);
            if (!in) usage_error("cannot read --config-file " + path);
            config_file = json::parse(in, nullptr, false);
            if (config_file.is_discarded() || !config_file.is_object()) {
                usage_error("--config-file " + path + " is not a JSON object");
            }
        } else if (flag == "--quiet") {
            o.quiet = true;
        } else if (flag == "--verbose") {
            o.verbose = true;
        } else if (flag.rfind("--", 0) == 0) {
            std::string key = flag.substr(2);
            for (auto& c : key) {
                if (c == '-') c = '_';
            }
            if (!plivo_sim::is_config_key(key)) usage_error("unknown option " + flag);
            try {
                runtime[key] = plivo_sim::flag_value_to_json(key, next());
            } catch (const std::exception& e) {
                usage_error(e.what());
            }
        } else {
            usage_error("unexpected argument '" + flag + "'");
        }
    }
    try {
        if (config_file.contains("fail_next")) {
            auto entries = plivo_sim::parse_fail_next(config_file["fail_next"]);
            o.fail_next.insert(o.fail_next.begin(), entries.begin(), entries.end());
            config_file.erase("fail_next");
        }
        // the file first, flags override it
        o.config = plivo_sim::apply_config_json(o.config, config_file);
        o.config = plivo_sim::apply_config_json(o.config, runtime);
    } catch (const std::exception& e) {
        usage_error(e.what());
    }
    if (o.quiet && o.verbose) usage_error("--quiet and --verbose exclude each other");
    return parsed;
}

// Writes the port to `path` through a temporary file, so a reader never sees half of it.
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

}  // namespace

int main(int argc, char** argv) {
    Parsed parsed = parse_arguments(argc, argv);
    SimulatorOptions& options = parsed.options;

    std::string problem;
    if (!parsed.allow_remote && !is_loopback_host(options.host, problem)) {
        std::cerr << "plivo_simulator: " << problem << "\n";
        return 2;
    }

    // Before any thread starts: SIGINT/SIGTERM are taken by one thread with sigwait,
    // and a peer that hangs up must not kill the process with SIGPIPE.
    signal(SIGPIPE, SIG_IGN);
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGUSR1);  // internal: ends the signal thread
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    const bool quiet = options.quiet;
    const bool default_token = options.auth_token == kDefaultAuthToken;
    const std::string auth_id = options.auth_id;
    const std::string host = options.host;
    auto simulator = std::make_unique<plivo_sim::Simulator>(std::move(options));
    int port = 0;
    try {
        port = simulator->bind();
    } catch (const std::exception& e) {
        std::cerr << "plivo_simulator: " << e.what() << "\n";
        return 1;
    }
    if (!parsed.port_file.empty() && !write_port_file(parsed.port_file, port)) {
        std::cerr << "plivo_simulator: cannot write --port-file " << parsed.port_file << ": "
                  << std::strerror(errno) << "\n";
        return 1;
    }
    const std::string base = "http://" +
                             (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
                             std::to_string(port);
    std::cout << "plivo_simulator listening on " << base << " (auth id " << auth_id
              << ", auth token " << (default_token ? kDefaultAuthToken : "as given")
              << "); send with POST " << base << "/v1/Account/" << auth_id
              << "/Message/ ; --help for options" << std::endl;

    std::thread signal_thread([&simulator, &signals, quiet] {
        int stops = 0;
        for (;;) {
            int sig = 0;
            if (sigwait(&signals, &sig) != 0 || sig == SIGUSR1) return;
            if (++stops > 1) _exit(130);  // a second Ctrl-C: do not wait any longer
            if (!quiet) plivo_sim::log_line(std::string("stopping on ") + strsignal(sig));
            simulator->stop();
        }
    });

    const bool ok = simulator->run();
    pthread_kill(signal_thread.native_handle(), SIGUSR1);
    signal_thread.join();
    simulator.reset();  // stops the report workers too
    if (!ok) {
        std::cerr << "plivo_simulator: the server stopped unexpectedly\n";
        return 1;
    }
    if (!quiet) plivo_sim::log_line("stopped");
    return 0;
}
