// The libcurl multi driver (dispatcher/http_driver.hpp) against real loopback servers:
// cpp-httplib for ordinary behaviour, a raw socket server to kill a kept-alive
// connection at the worst moment.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "../httplib_debian.hpp"

#include "http_driver.hpp"
#include "plivo_request.hpp"
#include "retry_after.hpp"
#include "send_outcome.hpp"

namespace plivo {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

const char kQueued[] = R"({"api_id":"a1","message":"message(s) queued","message_uuid":["u-1"]})";

// An httplib server on 127.0.0.1 and a port the kernel picks, on its own thread.
class LoopbackServer {
public:
    // httplib keeps a thread per kept-alive connection: `threads` bounds concurrency.
    explicit LoopbackServer(std::size_t threads = 32) {
        server_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
        server_.set_keep_alive_max_count(1000);
        server_.set_keep_alive_timeout(30);
        int listener = -1;
        server_.set_socket_options([&listener](int sock) {
            httplib::default_socket_options(sock);
            listener = sock;
        });
        port_ = server_.bind_to_any_port("127.0.0.1");
        server_.set_socket_options(httplib::default_socket_options);  // drops &listener
        if (port_ <= 0) throw std::runtime_error("bind_to_any_port failed");
        // Debian's libcpp-httplib listens with a backlog of 5: dozens of simultaneous
        // connects then overflow it and some get reset. A second listen() raises it.
        if (listener < 0 || listen(listener, 256) != 0)
            throw std::runtime_error("raising the listen backlog failed");
        thread_ = std::thread([this] { server_.listen_after_bind(); });
        for (int i = 0; i < 500 && !server_.is_running(); ++i) std::this_thread::sleep_for(2ms);
    }
    ~LoopbackServer() {
        server_.stop();
        thread_.join();
    }

    httplib::Server& server() { return server_; }
    std::string url(const std::string& path = "") const {
        return "http://127.0.0.1:" + std::to_string(port_) + path;
    }

    // Call at the start of a handler: counts requests, client ports and concurrency.
    struct Visit {
        LoopbackServer& server;
        explicit Visit(LoopbackServer& s, const httplib::Request& request) : server(s) {
            std::lock_guard<std::mutex> lock(server.mutex_);
            ++server.requests_;
            server.ports_.insert(request.remote_port);
            server.max_concurrent_ = std::max(server.max_concurrent_, ++server.concurrent_);
        }
        ~Visit() {
            std::lock_guard<std::mutex> lock(server.mutex_);
            --server.concurrent_;
        }
    };

    int requests() {
        std::lock_guard<std::mutex> lock(mutex_);
        return requests_;
    }
    std::size_t distinct_client_ports() {
        std::lock_guard<std::mutex> lock(mutex_);
        return ports_.size();
    }
    int max_concurrent() {
        std::lock_guard<std::mutex> lock(mutex_);
        return max_concurrent_;
    }

private:
    httplib::Server server_;
    int port_ = 0;
    std::thread thread_;
    std::mutex mutex_;
    int requests_ = 0;
    int concurrent_ = 0;
    int max_concurrent_ = 0;
    std::set<int> ports_;
};

// A bare HTTP/1.1 server that answers one connection at a time and, per request, either
// answers 202 with a keep-alive or closes the connection without a byte: the way a
// server that crashed (or timed the connection out) right after reading looks.
class RawServer {
public:
    // (connection index, request index on that connection) → answer?
    using Script = std::function<bool(int, int)>;

    explicit RawServer(Script script) : script_(std::move(script)) {
        listener_ = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t length = sizeof address;
        if (listener_ < 0 || bind(listener_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
            listen(listener_, 8) != 0 ||
            getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
            throw std::runtime_error("raw server socket setup failed");
        }
        port_ = ntohs(address.sin_port);
        thread_ = std::thread([this] { run(); });
    }
    ~RawServer() {
        stop_ = true;
        thread_.join();
        close(listener_);
    }

    std::string url(const std::string& path) const {
        return "http://127.0.0.1:" + std::to_string(port_) + path;
    }
    int requests() const { return requests_; }
    int connections() const { return connections_; }

private:
    bool readable(int fd) {
        pollfd p{fd, POLLIN, 0};
        while (!stop_) {
            int n = poll(&p, 1, 50);
            if (n > 0) return true;
            if (n < 0) return false;
        }
        return false;
    }

    // Reads one request (headers, then Content-Length bytes); false on EOF or error.
    bool read_request(int fd, std::string& buffer) {
        std::size_t end;
        while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
            if (!read_more(fd, buffer)) return false;
        }
        std::size_t content_length = 0;
        std::size_t at = buffer.find("Content-Length: ");
        if (at != std::string::npos && at < end)
            content_length = std::stoul(buffer.substr(at + 16));
        while (buffer.size() < end + 4 + content_length) {
            if (!read_more(fd, buffer)) return false;
        }
        buffer.erase(0, end + 4 + content_length);
        return true;
    }

    bool read_more(int fd, std::string& buffer) {
        if (!readable(fd)) return false;
        char chunk[4096];
        ssize_t n = recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) return false;
        buffer.append(chunk, static_cast<std::size_t>(n));
        return true;
    }

    void run() {
        while (!stop_) {
            if (!readable(listener_)) continue;
            int fd = accept(listener_, nullptr, nullptr);
            if (fd < 0) continue;
            int connection = connections_++;
            std::string buffer;
            for (int request = 0; read_request(fd, buffer); ++request) {
                ++requests_;
                if (!script_(connection, request)) break;
                std::string body = kQueued;
                std::string reply =
                    "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n"
                    "Content-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n" + body;
                if (send(fd, reply.data(), reply.size(), MSG_NOSIGNAL) < 0) break;
            }
            close(fd);
        }
    }

    Script script_;
    int listener_ = -1;
    int port_ = 0;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::atomic<int> requests_{0};
    std::atomic<int> connections_{0};
};

// A port on 127.0.0.1 that nothing listens on (bound, read, closed).
int closed_port() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    bind(fd, reinterpret_cast<sockaddr*>(&address), length);
    getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    close(fd);
    return ntohs(address.sin_port);
}

HttpDriverConfig config(std::size_t in_flight = 4) {
    HttpDriverConfig c;
    c.max_in_flight = in_flight;
    c.connect_timeout = 2s;
    c.request_timeout = 5s;
    c.proxy = "";  // never a proxy on loopback
    return c;
}

HttpRequest post(const std::string& url, const std::string& body = "{\"x\":1}") {
    HttpRequest request;
    request.method = RequestMethod::Post;
    request.url = url;
    request.headers = {"Content-Type: application/json"};
    request.body = body;
    return request;
}

HttpRequest get(const std::string& url) {
    HttpRequest request;
    request.url = url;
    return request;
}

struct Finished {
    HttpResult result;
    SteadyClock::duration at;  // since the run started
};

// Sends requests[i] with id i, topping up as each one finishes; fails the test on hang.
std::vector<Finished> run_all(HttpDriver& driver, const std::vector<HttpRequest>& requests,
                              std::size_t* max_seen_in_flight = nullptr) {
    std::vector<Finished> finished;
    const auto start = SteadyClock::now();
    std::size_t next = 0;
    while (finished.size() < requests.size()) {
        while (next < requests.size() && driver.has_capacity()) {
            driver.start(next, requests[next]);
            ++next;
        }
        if (max_seen_in_flight)
            *max_seen_in_flight = std::max(*max_seen_in_flight, driver.in_flight());
        for (HttpResult& result : driver.perform(20ms)) {
            finished.push_back({std::move(result), SteadyClock::now() - start});
        }
        if (SteadyClock::now() - start > 20s) {
            ADD_FAILURE() << "requests did not finish";
            break;
        }
    }
    return finished;
}

HttpResult run_one(HttpDriver& driver, const HttpRequest& request) {
    std::vector<Finished> finished = run_all(driver, {request});
    return finished.empty() ? HttpResult{} : finished.front().result;
}

class HttpDriverTest : public ::testing::Test {
protected:
    // The worker's job in production (after fork); reference-counted by libcurl.
    static void SetUpTestSuite() { ASSERT_EQ(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK); }
    static void TearDownTestSuite() { curl_global_cleanup(); }
};

TEST_F(HttpDriverTest, SendRequestArrivesExactlyAsBuilt) {
    LoopbackServer server;
    httplib::Request seen;
    std::mutex mutex;
    server.server().Post(R"(/v1/Account/(\w+)/Message/)",
                         [&](const httplib::Request& request, httplib::Response& response) {
                             std::lock_guard<std::mutex> lock(mutex);
                             seen = request;
                             response.status = 202;
                             response.set_content(kQueued, "application/json");
                         });
    PlivoAccount account{server.url("/"), "MAXXXXXXXXXXXXXXXXX1", "s3cr3t-token", "1.2.3"};
    SendParams message;
    message.sender = "+14155550100";
    message.recipient = "+14155550111";
    message.text = "hi";
    HttpDriver driver(config());
    const HttpResult result = run_one(driver, build_send_request(account, message));

    EXPECT_EQ(result.id, 0u);
    EXPECT_EQ(result.curl_code, CURLE_OK) << result.curl_error;
    EXPECT_EQ(result.http_status, 202);
    EXPECT_EQ(result.body, kQueued);
    EXPECT_FALSE(result.retry_after.has_value());
    EXPECT_TRUE(result.body_may_have_been_sent);
    EXPECT_GT(result.timings.total.count(), 0);
    EXPECT_TRUE(
        std::holds_alternative<Accepted>(classify_send(result, std::chrono::system_clock::now())));

    std::lock_guard<std::mutex> lock(mutex);
    EXPECT_EQ(seen.method, "POST");
    EXPECT_EQ(seen.path, "/v1/Account/MAXXXXXXXXXXXXXXXXX1/Message/");
    EXPECT_EQ(seen.body, R"({"dst":"14155550111","src":"14155550100","text":"hi","type":"sms"})");
    EXPECT_EQ(seen.get_header_value("Content-Type"), "application/json");
    EXPECT_EQ(seen.get_header_value("Accept"), "application/json");
    EXPECT_EQ(seen.get_header_value("User-Agent"), "pg_plivo/1.2.3");
    EXPECT_EQ(seen.get_header_value("Authorization"),
              "Basic TUFYWFhYWFhYWFhYWFhYWFhYWDE6czNjcjN0LXRva2Vu");
    EXPECT_EQ(seen.get_header_value("Content-Length"), std::to_string(seen.body.size()));
    EXPECT_FALSE(seen.has_header("Expect"));
    EXPECT_FALSE(seen.has_header("Transfer-Encoding"));
}

TEST_F(HttpDriverTest, ListRequestQueryArrivesDecodable) {
    LoopbackServer server;
    std::map<std::string, std::string> params;
    std::mutex mutex;
    server.server().Get(R"(/v1/Account/(\w+)/Message/)",
                        [&](const httplib::Request& request, httplib::Response& response) {
                            std::lock_guard<std::mutex> lock(mutex);
                            for (const auto& [key, value] : request.params) params[key] = value;
                            response.set_content(R"({"objects":[]})", "application/json");
                        });
    PlivoAccount account{server.url(), "MAXXXXXXXXXXXXXXXXX1", "t", "1"};
    ListQuery query;
    query.recipient = "+14155550111";
    query.since = std::chrono::system_clock::from_time_t(1714564807);  // 2024-05-01 12:00:07 UTC
    HttpDriver driver(config());
    const HttpResult result = run_one(driver, build_list_request(account, query));
    EXPECT_EQ(result.http_status, 200);
    std::lock_guard<std::mutex> lock(mutex);
    EXPECT_EQ(params["to_number"], "14155550111");
    EXPECT_EQ(params["message_time__gte"], "2024-05-01 12:00:07");
    EXPECT_EQ(params["limit"], "20");
    EXPECT_EQ(params["offset"], "0");
}

TEST_F(HttpDriverTest, SlowRequestDoesNotHoldUpTheOthers) {
    LoopbackServer server;
    server.server().Post("/slow",
                         [&](const httplib::Request& request, httplib::Response& response) {
                             LoopbackServer::Visit visit(server, request);
                             std::this_thread::sleep_for(1200ms);
                             response.set_content(kQueued, "application/json");
                         });
    server.server().Post("/fast",
                         [&](const httplib::Request& request, httplib::Response& response) {
                             LoopbackServer::Visit visit(server, request);
                             std::this_thread::sleep_for(20ms);
                             response.set_content(kQueued, "application/json");
                         });
    std::vector<HttpRequest> requests{post(server.url("/slow"))};
    for (int i = 0; i < 15; ++i) requests.push_back(post(server.url("/fast")));

    HttpDriver driver(config(4));
    const std::vector<Finished> finished = run_all(driver, requests);
    ASSERT_EQ(finished.size(), requests.size());
    EXPECT_EQ(finished.back().result.id, 0u) << "the slow request finishes last";
    for (std::size_t i = 0; i + 1 < finished.size(); ++i) {
        EXPECT_NE(finished[i].result.id, 0u);
        EXPECT_EQ(finished[i].result.http_status, 200);
        EXPECT_LT(finished[i].at, 1000ms) << "fast request " << finished[i].result.id << " waited";
    }
    EXPECT_GE(finished.back().at, 1200ms);
}

TEST_F(HttpDriverTest, InFlightLimitIsRespected) {
    LoopbackServer server;
    server.server().Post("/work",
                         [&](const httplib::Request& request, httplib::Response& response) {
                             LoopbackServer::Visit visit(server, request);
                             std::this_thread::sleep_for(100ms);
                             response.set_content(kQueued, "application/json");
                         });
    HttpDriver driver(config(3));
    std::size_t max_in_flight = 0;
    const std::vector<Finished> finished =
        run_all(driver, std::vector<HttpRequest>(12, post(server.url("/work"))), &max_in_flight);
    EXPECT_EQ(finished.size(), 12u);
    EXPECT_EQ(max_in_flight, 3u);
    EXPECT_EQ(server.max_concurrent(), 3);
    EXPECT_EQ(server.requests(), 12);
}

TEST_F(HttpDriverTest, StartWithoutCapacityThrows) {
    LoopbackServer server;
    HttpDriver driver(config(1));
    driver.start(1, get(server.url("/")));
    EXPECT_FALSE(driver.has_capacity());
    EXPECT_THROW(driver.start(2, get(server.url("/"))), std::logic_error);
    driver.abort_all();
    EXPECT_TRUE(driver.has_capacity());
}

TEST_F(HttpDriverTest, ReconfigureChangesTheLimitWithoutDroppingTransfers) {
    LoopbackServer server;
    server.server().Post("/work",
                         [&](const httplib::Request& request, httplib::Response& response) {
                             LoopbackServer::Visit visit(server, request);
                             std::this_thread::sleep_for(100ms);
                             response.set_content(kQueued, "application/json");
                         });
    HttpDriver driver(config(4));
    for (std::uint64_t id = 0; id < 4; ++id) driver.start(id, post(server.url("/work")));
    driver.reconfigure(config(1));
    EXPECT_EQ(driver.in_flight(), 4u);
    EXPECT_FALSE(driver.has_capacity());
    std::size_t done = 0;
    const auto deadline = SteadyClock::now() + 10s;
    while (done < 4 && SteadyClock::now() < deadline) {
        for (const HttpResult& result : driver.perform(20ms)) {
            EXPECT_EQ(result.http_status, 200);
            ++done;
        }
        EXPECT_EQ(driver.has_capacity(), driver.in_flight() < 1);
    }
    EXPECT_EQ(done, 4u);
    EXPECT_THROW(driver.reconfigure(config(0)), std::invalid_argument);
    EXPECT_EQ(driver.config().max_in_flight, 1u);
}

TEST_F(HttpDriverTest, ConnectionsAreReused) {
    LoopbackServer server;
    server.server().Post("/fast",
                         [&](const httplib::Request& request, httplib::Response& response) {
                             LoopbackServer::Visit visit(server, request);
                             response.set_content(kQueued, "application/json");
                         });
    HttpDriver driver(config(2));
    const std::vector<Finished> finished =
        run_all(driver, std::vector<HttpRequest>(20, post(server.url("/fast"))));
    ASSERT_EQ(finished.size(), 20u);
    int reused = 0;
    for (const Finished& f : finished) reused += f.result.connection_reused ? 1 : 0;
    EXPECT_EQ(server.requests(), 20);
    EXPECT_LE(server.distinct_client_ports(), 2u) << "one connection per in-flight slot";
    EXPECT_GE(reused, 18);
}

TEST_F(HttpDriverTest, TimeoutAfterTheBodyWasReadMayHaveBeenSent) {
    LoopbackServer server;
    std::atomic<bool> body_seen{false};
    server.server().Post("/hang",
                         [&](const httplib::Request& request, httplib::Response& response) {
                             body_seen = request.body == "{\"x\":1}";
                             std::this_thread::sleep_for(1000ms);
                             response.set_content(kQueued, "application/json");
                         });
    HttpDriverConfig c = config();
    c.request_timeout = 300ms;
    HttpDriver driver(c);
    const HttpResult result = run_one(driver, post(server.url("/hang")));
    EXPECT_TRUE(body_seen);
    EXPECT_EQ(result.curl_code, CURLE_OPERATION_TIMEDOUT);
    EXPECT_EQ(result.http_status, 0);
    EXPECT_TRUE(result.body_may_have_been_sent);
    EXPECT_TRUE(std::holds_alternative<OutcomeUnknown>(
        classify_send(result, std::chrono::system_clock::now())));
}

TEST_F(HttpDriverTest, ConnectRefusedWasNotSent) {
    HttpDriver driver(config());
    const HttpResult result =
        run_one(driver, post("http://127.0.0.1:" + std::to_string(closed_port()) + "/x"));
    EXPECT_EQ(result.curl_code, CURLE_COULDNT_CONNECT);
    EXPECT_FALSE(result.curl_error.empty());
    EXPECT_FALSE(result.body_may_have_been_sent);
    EXPECT_TRUE(
        std::holds_alternative<RetrySafe>(classify_send(result, std::chrono::system_clock::now())));
}

TEST_F(HttpDriverTest, OtherProtocolsAreRefusedBeforeSending) {
    HttpDriver driver(config());
    const HttpResult result = run_one(driver, post("file:///etc/passwd"));
    EXPECT_EQ(result.curl_code, CURLE_UNSUPPORTED_PROTOCOL);
    EXPECT_FALSE(result.body_may_have_been_sent);
}

TEST_F(HttpDriverTest, RetryAfterHeaderIsCaptured) {
    LoopbackServer server;
    server.server().Post("/busy", [&](const httplib::Request&, httplib::Response& response) {
        response.status = 429;
        response.set_header("Retry-After", "7");
        response.set_content(R"({"api_id":"r","error":"too many requests"})", "application/json");
    });
    server.server().Post("/down", [&](const httplib::Request&, httplib::Response& response) {
        response.status = 503;
        response.set_header("retry-after", "Wed, 21 Oct 2037 07:28:00 GMT");
        response.set_content("<html>down</html>", "text/html");
    });
    HttpDriver driver(config());
    const auto now = std::chrono::system_clock::now();
    const HttpResult busy = run_one(driver, post(server.url("/busy")));
    EXPECT_EQ(busy.http_status, 429);
    EXPECT_EQ(busy.retry_after, "7");
    const SendOutcome outcome = classify_send(busy, now);
    ASSERT_TRUE(std::holds_alternative<RateLimited>(outcome));
    EXPECT_EQ(std::get<RateLimited>(outcome).retry_after, std::chrono::seconds(7));

    const HttpResult down = run_one(driver, post(server.url("/down")));
    EXPECT_EQ(down.http_status, 503);
    EXPECT_EQ(down.retry_after, "Wed, 21 Oct 2037 07:28:00 GMT");
    EXPECT_EQ(std::get<OutcomeUnknown>(classify_send(down, now)).retry_after, kMaxRetryAfter);
}

TEST_F(HttpDriverTest, ResponseBodyIsCapped) {
    LoopbackServer server;
    server.server().Get("/big", [&](const httplib::Request&, httplib::Response& response) {
        response.set_content(std::string(100000, 'x'), "text/plain");
    });
    HttpDriverConfig c = config();
    c.max_response_bytes = 1024;
    HttpDriver driver(c);
    const HttpResult result = run_one(driver, get(server.url("/big")));
    EXPECT_EQ(result.curl_code, CURLE_OK);
    EXPECT_EQ(result.body.size(), 1024u);
    EXPECT_TRUE(result.body_truncated);
}

TEST_F(HttpDriverTest, AbortAllReportsWhatWasInFlight) {
    LoopbackServer server;
    std::atomic<int> bodies{0};
    server.server().Post("/hang", [&](const httplib::Request&, httplib::Response& response) {
        ++bodies;
        std::this_thread::sleep_for(500ms);
        response.set_content(kQueued, "application/json");
    });
    HttpDriver driver(config());
    driver.start(7, post(server.url("/hang")));
    driver.start(8, post(server.url("/hang")));
    const auto deadline = SteadyClock::now() + 5s;
    while (bodies < 2 && SteadyClock::now() < deadline) {
        EXPECT_TRUE(driver.perform(10ms).empty());
    }
    std::vector<HttpResult> aborted = driver.abort_all();
    ASSERT_EQ(aborted.size(), 2u);
    for (const HttpResult& result : aborted) {
        EXPECT_EQ(result.curl_code, CURLE_ABORTED_BY_CALLBACK);
        EXPECT_TRUE(result.body_may_have_been_sent);
    }
    EXPECT_EQ(driver.in_flight(), 0u);
    EXPECT_TRUE(driver.perform(10ms).empty());
}

// Many transfers open at once, each waiting on the server: the event loop must keep all
// of them moving together, each with its own answer.
TEST_F(HttpDriverTest, ManyConcurrentRequestsAllCompleteWithTheirOwnAnswers) {
    constexpr std::size_t kInFlight = 64;
    constexpr std::size_t kRequests = 96;
    constexpr auto kDelay = 400ms;
    LoopbackServer server(kInFlight + 16);
    server.server().Post(
        R"(/echo/(\d+))", [&](const httplib::Request& request, httplib::Response& response) {
            LoopbackServer::Visit visit(server, request);
            std::this_thread::sleep_for(kDelay);
            response.set_content("answer " + request.matches[1].str() + " to " + request.body,
                                 "text/plain");
        });
    std::vector<HttpRequest> requests;
    for (std::size_t i = 0; i < kRequests; ++i) {
        requests.push_back(
            post(server.url("/echo/" + std::to_string(i)), "{\"n\":" + std::to_string(i) + "}"));
    }
    HttpDriver driver(config(kInFlight));
    const auto started = SteadyClock::now();
    const std::vector<Finished> finished = run_all(driver, requests);
    const auto took = SteadyClock::now() - started;

    ASSERT_EQ(finished.size(), kRequests);
    std::set<std::uint64_t> ids;
    for (const Finished& f : finished) {
        const HttpResult& r = f.result;
        ASSERT_LT(r.id, kRequests);
        ids.insert(r.id);
        EXPECT_EQ(r.curl_code, CURLE_OK) << r.curl_error;
        EXPECT_EQ(r.http_status, 200);
        const std::string n = std::to_string(r.id);
        EXPECT_EQ(r.body, "answer " + n + " to {\"n\":" + n + "}");
    }
    EXPECT_EQ(ids.size(), kRequests) << "every id exactly once";
    EXPECT_EQ(server.requests(), static_cast<int>(kRequests));
    // Served one by one this would take 96 × 400 ms = 38 s; two waves take about 0.8 s.
    EXPECT_GE(server.max_concurrent(), static_cast<int>(kInFlight * 3 / 4));
    EXPECT_LT(took, 15s);
    EXPECT_EQ(driver.in_flight(), 0u);
}

// Nothing ever comes back on the socket: only libcurl's timer can end the transfer, and
// perform() must wake for it rather than sleep out its whole max_wait.
TEST_F(HttpDriverTest, RequestTimeoutFiresWhenTheServerNeverAnswers) {
    // Listening but never accepting: the kernel completes the handshake and takes the
    // request into its buffer, and no byte ever comes back.
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(listener, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&address), length), 0);
    ASSERT_EQ(listen(listener, 8), 0);
    ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);
    const std::string url = "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port)) + "/x";

    HttpDriverConfig c = config();
    c.request_timeout = 300ms;
    HttpDriver driver(c);
    driver.start(5, post(url));
    const auto started = SteadyClock::now();
    std::vector<HttpResult> results;
    while (results.empty() && SteadyClock::now() - started < 20s) results = driver.perform(10s);
    const auto took = SteadyClock::now() - started;
    close(listener);

    ASSERT_EQ(results.size(), 1u);
    EXPECT_EQ(results[0].id, 5u);
    EXPECT_EQ(results[0].curl_code, CURLE_OPERATION_TIMEDOUT);
    EXPECT_TRUE(results[0].body_may_have_been_sent);
    EXPECT_GE(took, 250ms);
    EXPECT_LT(took, 5s) << "perform(10s) slept past libcurl's deadline";
    EXPECT_EQ(driver.sockets_watched(), 0u);
}

TEST_F(HttpDriverTest, PerformWaitsAboutMaxWaitWhenNothingFinishes) {
    LoopbackServer server;
    std::atomic<int> arrived{0};
    server.server().Post("/slow", [&](const httplib::Request&, httplib::Response& response) {
        ++arrived;
        std::this_thread::sleep_for(1500ms);
        response.set_content(kQueued, "application/json");
    });
    HttpDriver driver(config());

    // Nothing in flight: at once, whatever max_wait says.
    auto started = SteadyClock::now();
    EXPECT_TRUE(driver.perform(5s).empty());
    EXPECT_LT(SteadyClock::now() - started, 1s);

    driver.start(1, post(server.url("/slow")));
    const auto deadline = SteadyClock::now() + 5s;
    while (arrived == 0 && SteadyClock::now() < deadline) {
        ASSERT_TRUE(driver.perform(10ms).empty());
    }
    ASSERT_EQ(arrived, 1);
    EXPECT_EQ(driver.sockets_watched(), 1u) << "the connection waiting for its answer";
    started = SteadyClock::now();
    EXPECT_TRUE(driver.perform(300ms).empty());
    const auto took = SteadyClock::now() - started;
    EXPECT_GE(took, 250ms);
    EXPECT_LT(took, 2500ms);
    EXPECT_EQ(driver.in_flight(), 1u);
    EXPECT_EQ(driver.abort_all().size(), 1u);
}

TEST_F(HttpDriverTest, SequentialRequestsReuseOneConnection) {
    LoopbackServer server;
    server.server().Post("/fast",
                         [&](const httplib::Request& request, httplib::Response& response) {
                             LoopbackServer::Visit visit(server, request);
                             response.set_content(kQueued, "application/json");
                         });
    HttpDriver driver(config(4));
    for (int i = 0; i < 6; ++i) {
        const HttpResult result = run_one(driver, post(server.url("/fast")));
        EXPECT_EQ(result.http_status, 200);
        EXPECT_EQ(result.connection_reused, i > 0) << "request " << i;
        // libcurl 7.88 asks for no watch on an idle kept-alive connection.
        EXPECT_EQ(driver.sockets_watched(), 0u) << "request " << i;
    }
    EXPECT_EQ(server.distinct_client_ports(), 1u);
}

TEST_F(HttpDriverTest, AbortAllMidFlightLeavesTheDriverUsable) {
    LoopbackServer server(48);
    std::atomic<int> hanging{0};
    server.server().Post("/hang", [&](const httplib::Request&, httplib::Response& response) {
        ++hanging;
        std::this_thread::sleep_for(600ms);
        response.set_content(kQueued, "application/json");
    });
    server.server().Post(R"(/fast/(\d+))",
                         [&](const httplib::Request& request, httplib::Response& response) {
                             response.set_content(request.matches[1].str(), "text/plain");
                         });
    HttpDriver driver(config(8));
    for (std::uint64_t id = 100; id < 108; ++id) driver.start(id, post(server.url("/hang")));
    const auto deadline = SteadyClock::now() + 5s;
    while (hanging < 8 && SteadyClock::now() < deadline) {
        ASSERT_TRUE(driver.perform(10ms).empty());
    }
    ASSERT_EQ(hanging, 8);
    EXPECT_EQ(driver.sockets_watched(), 8u);

    std::vector<HttpResult> aborted = driver.abort_all();
    ASSERT_EQ(aborted.size(), 8u);
    std::set<std::uint64_t> aborted_ids;
    for (const HttpResult& result : aborted) {
        aborted_ids.insert(result.id);
        EXPECT_EQ(result.curl_code, CURLE_ABORTED_BY_CALLBACK);
        EXPECT_TRUE(result.body_may_have_been_sent);
    }
    EXPECT_EQ(aborted_ids.size(), 8u);
    EXPECT_EQ(driver.in_flight(), 0u);
    EXPECT_EQ(driver.sockets_watched(), 0u) << "no socket of an aborted transfer stays watched";

    std::vector<HttpRequest> requests;
    for (int i = 0; i < 20; ++i) requests.push_back(post(server.url("/fast/" + std::to_string(i))));
    const std::vector<Finished> finished = run_all(driver, requests);
    ASSERT_EQ(finished.size(), requests.size());
    for (const Finished& f : finished) {
        EXPECT_EQ(f.result.curl_code, CURLE_OK) << f.result.curl_error;
        EXPECT_EQ(f.result.body, std::to_string(f.result.id));
    }
}

// Destroyed with transfers on the wire: libcurl's callbacks fire during the cleanup and
// must find the driver still whole (run under ASan: build-asan).
TEST_F(HttpDriverTest, DestroyedWithTransfersInFlight) {
    LoopbackServer server;
    std::atomic<int> hanging{0};
    server.server().Post("/hang", [&](const httplib::Request&, httplib::Response& response) {
        ++hanging;
        std::this_thread::sleep_for(300ms);
        response.set_content(kQueued, "application/json");
    });
    {
        HttpDriver driver(config(4));
        for (std::uint64_t id = 0; id < 4; ++id) driver.start(id, post(server.url("/hang")));
        const auto deadline = SteadyClock::now() + 5s;
        while (hanging < 4 && SteadyClock::now() < deadline) driver.perform(10ms);
        EXPECT_EQ(hanging, 4);
    }
    HttpDriver next(config(1));  // and a new driver works as before
    EXPECT_EQ(run_one(next, post(server.url("/hang"))).http_status, 200);
}

// What libcurl does on its own: a POST on a reused connection that the server closes
// without answering is sent AGAIN on a fresh connection (CURLOPT_POSTFIELDS rewinds
// freely). If this starts failing, libcurl changed: re-read http_driver.hpp's note.
TEST_F(HttpDriverTest, PlainLibcurlResendsAPostOnADeadReusedConnection) {
    RawServer server(
        [](int connection, int request) { return !(connection == 0 && request == 1); });
    CURL* easy = curl_easy_init();
    ASSERT_NE(easy, nullptr);
    const std::string url = server.url("/v1/Account/MA/Message/");
    std::string sink;
    auto write = +[](char*, size_t size, size_t count, void*) -> size_t { return size * count; };
    ASSERT_EQ(curl_easy_setopt(easy, CURLOPT_URL, url.c_str()), CURLE_OK);
    ASSERT_EQ(curl_easy_setopt(easy, CURLOPT_POSTFIELDS, "{\"x\":1}"), CURLE_OK);
    ASSERT_EQ(curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write), CURLE_OK);
    ASSERT_EQ(curl_easy_setopt(easy, CURLOPT_PROXY, ""), CURLE_OK);
    EXPECT_EQ(curl_easy_perform(easy), CURLE_OK);  // request 0 on connection 0
    EXPECT_EQ(curl_easy_perform(easy), CURLE_OK);  // request 1 dies, libcurl resends it
    curl_easy_cleanup(easy);
    EXPECT_EQ(server.requests(), 3) << "two sends, three POSTs received";
    EXPECT_EQ(server.connections(), 2);
}

// The driver refuses that rewind: the second send fails as "may have been sent", and
// the server received it exactly once.
TEST_F(HttpDriverTest, DeadReusedConnectionIsNeverResent) {
    RawServer server(
        [](int connection, int request) { return !(connection == 0 && request == 1); });
    HttpDriver driver(config(1));
    const HttpResult first = run_one(driver, post(server.url("/v1/Account/MA/Message/")));
    EXPECT_EQ(first.http_status, 202);
    const HttpResult second = run_one(driver, post(server.url("/v1/Account/MA/Message/")));
    EXPECT_EQ(second.curl_code, CURLE_SEND_FAIL_REWIND) << second.curl_error;
    EXPECT_TRUE(second.body_may_have_been_sent);
    EXPECT_TRUE(std::holds_alternative<OutcomeUnknown>(
        classify_send(second, std::chrono::system_clock::now())));
    EXPECT_EQ(server.requests(), 2);
    // The driver is still usable: the next request opens a fresh connection.
    const HttpResult third = run_one(driver, post(server.url("/v1/Account/MA/Message/")));
    EXPECT_EQ(third.http_status, 202);
    EXPECT_EQ(server.requests(), 3);
}

// A GET may be retried by libcurl on a fresh connection: harmless, it changes nothing.
TEST_F(HttpDriverTest, DeadReusedConnectionStillRetriesGets) {
    RawServer server(
        [](int connection, int request) { return !(connection == 0 && request == 1); });
    HttpDriver driver(config(1));
    EXPECT_EQ(run_one(driver, get(server.url("/list"))).http_status, 202);
    EXPECT_EQ(run_one(driver, get(server.url("/list"))).http_status, 202);
    EXPECT_EQ(server.requests(), 3);
}

// request_may_have_been_sent: every CURLcode that can end a transfer, with and without
// evidence that the body left.
TEST(HttpDriverEvidence, BodyBytesDecideForPosts) {
    for (int raw = 1; raw < CURL_LAST; ++raw) {
        const CURLcode code = static_cast<CURLcode>(raw);
        SCOPED_TRACE(curl_easy_strerror(code));
        TransferEvidence e;
        e.code = code;
        e.has_body = true;
        e.bytes_uploaded = 0;
        e.pretransfer_us = 0;
        EXPECT_FALSE(request_may_have_been_sent(e));
        e.pretransfer_us = 1500;  // connected and started, but no body byte read
        EXPECT_FALSE(request_may_have_been_sent(e));
        e.body_bytes_read = 1;
        EXPECT_TRUE(request_may_have_been_sent(e));
        e.body_bytes_read = 0;
        e.bytes_uploaded = -1;  // libcurl could not tell: assume the worst
        EXPECT_TRUE(request_may_have_been_sent(e));
        e.bytes_uploaded = 0;
        e.http_status = 500;
        EXPECT_TRUE(request_may_have_been_sent(e));
    }
    TransferEvidence ok;
    ok.code = CURLE_OK;
    ok.has_body = true;
    EXPECT_TRUE(request_may_have_been_sent(ok));
}

TEST(HttpDriverEvidence, OnlyConnectPhaseErrorsProveAGetNeverLeft) {
    const std::set<CURLcode> before_sending{
        CURLE_UNSUPPORTED_PROTOCOL,  CURLE_FAILED_INIT,
        CURLE_URL_MALFORMAT,         CURLE_NOT_BUILT_IN,
        CURLE_COULDNT_RESOLVE_PROXY, CURLE_COULDNT_RESOLVE_HOST,
        CURLE_COULDNT_CONNECT,       CURLE_OPERATION_TIMEDOUT,
        CURLE_SSL_CONNECT_ERROR,     CURLE_PEER_FAILED_VERIFICATION,
        CURLE_SSL_ENGINE_NOTFOUND,   CURLE_SSL_ENGINE_SETFAILED,
        CURLE_SSL_CERTPROBLEM,       CURLE_SSL_CIPHER,
        CURLE_USE_SSL_FAILED,        CURLE_SSL_ENGINE_INITFAILED,
        CURLE_SSL_CACERT_BADFILE,    CURLE_SSL_CRL_BADFILE,
        CURLE_SSL_ISSUER_ERROR,      CURLE_SSL_PINNEDPUBKEYNOTMATCH,
        CURLE_SSL_INVALIDCERTSTATUS, CURLE_SSL_CLIENTCERT};
    for (int raw = 1; raw < CURL_LAST; ++raw) {
        const CURLcode code = static_cast<CURLcode>(raw);
        SCOPED_TRACE(curl_easy_strerror(code));
        TransferEvidence e;
        e.code = code;
        e.has_body = false;
        e.pretransfer_us = 0;
        e.bytes_uploaded = 0;
        EXPECT_EQ(request_may_have_been_sent(e), before_sending.count(code) == 0);
        e.pretransfer_us = 10;  // it got as far as sending
        EXPECT_TRUE(request_may_have_been_sent(e));
        e.pretransfer_us = -1;  // unknown
        EXPECT_TRUE(request_may_have_been_sent(e));
    }
}

}  // namespace
}  // namespace plivo
