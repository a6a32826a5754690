// The libcurl multi driver: up to N requests in flight on kept-alive HTTP/1.1
// connections, topped up by the caller as each one finishes (design.md promise 5).
// Single-threaded: create, use and destroy it on the worker's main thread.
//
// The caller owns libcurl's global state: curl_global_init(CURL_GLOBAL_DEFAULT) once in
// the worker after fork, before the first HttpDriver; curl_global_cleanup() at exit.
//
// Worker loop shape:
//   while (driver.has_capacity() && a message is due and the rate limiter agrees)
//       driver.start(row_id, build_send_request(...));
//   for (HttpResult& r : driver.perform(20ms)) record(classify_send(r, now));
//   (check interrupts; when nothing is in flight, WaitLatch instead of perform)
// perform() waits at most max_wait, so new rows (latch) are seen within that time.
//
// Driving: libcurl's event API. libcurl tells us which sockets to watch (kept in an
// epoll set owned by the driver) and when its next timeout is due; perform() hands
// libcurl only the sockets that are ready and the timer when it expires, so a call
// costs what is active, not every open transfer (curl_multi_perform/poll look at all).
//
// libcurl and a dead kept-alive connection (libcurl 7.88, CURLOPT_SEEKFUNCTION(3), and
// the test PlainLibcurlResendsAPostOnADeadReusedConnection): when a request on a REUSED
// connection gets no response byte at all (the server closed it, or crashed after
// reading the request), libcurl quietly sends it again on a fresh connection, rewinding
// the upload. For a POST the server may already have acted on, that is a duplicate SMS
// (the test shows it with CURLOPT_POSTFIELDS: two sends, three POSTs). Mitigations here:
//  - The body goes through CURLOPT_READFUNCTION, and CURLOPT_SEEKFUNCTION refuses to
//    rewind once any body byte was handed out: libcurl then fails the transfer with
//    CURLE_SEND_FAIL_REWIND instead of resending, and it is reported as "may have been
//    sent" (OutcomeUnknown → settle). A retry before any body byte left is harmless and
//    still allowed.
//  - CURLOPT_MAXAGE_CONN (default 30 s here, libcurl's is 118 s) stays below common
//    server and load-balancer idle timeouts (60–75 s), so the race is rare.
//  - "Expect:" is suppressed and only Basic auth is used: no other legitimate rewinds.
//  CURLOPT_FORBID_REUSE would also avoid it, at the cost of a TLS handshake per message.
//  Residual case: should libcurl retry without asking to rewind (it read body bytes but
//  wrote none), our callback goes on mid-body, the server gets a short body and the
//  attempt times out: reported as "may have been sent", never a duplicate.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <curl/curl.h>

#include "http_request.hpp"
#include "http_result.hpp"

namespace plivo {

struct HttpDriverConfig {
    std::size_t max_in_flight = 8;  // also the connection limit to the host
    std::chrono::milliseconds connect_timeout{5000};
    std::chrono::milliseconds request_timeout{15000};   // the whole attempt
    std::size_t max_response_bytes = 64 * 1024;         // the rest is dropped (body_truncated)
    std::chrono::seconds max_idle_connection_age{30};   // CURLOPT_MAXAGE_CONN
    std::chrono::seconds max_connection_lifetime{300};  // CURLOPT_MAXLIFETIME_CONN; 0: none
    std::chrono::seconds tcp_keepalive_idle{30};
    std::chrono::seconds tcp_keepalive_interval{10};
    std::string ca_file;               // empty: the system's CA store
    std::optional<std::string> proxy;  // nullopt: libcurl's default (environment); "": none
};

// The multi handle failed: the driver can no longer be trusted; call abort_all().
class HttpDriverError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// What is known about a failed transfer, for request_may_have_been_sent().
struct TransferEvidence {
    CURLcode code = CURLE_OK;
    bool has_body = false;              // a POST with a body
    std::uint64_t body_bytes_read = 0;  // bytes libcurl took from our read callback, ever
    curl_off_t bytes_uploaded = -1;     // CURLINFO_SIZE_UPLOAD_T; -1 unknown
    curl_off_t pretransfer_us = -1;     // CURLINFO_PRETRANSFER_TIME_T; -1 unknown
    long http_status = 0;
};

// Conservative: false only when the request certainly never reached the server. With a
// body, libcurl can send only what it read from our callback (no rewinds): no byte read
// means the server cannot have the request. Without a body, only a connect-phase error
// before pre-transfer proves it.
bool request_may_have_been_sent(const TransferEvidence& evidence);

class HttpDriver {
public:
    // Throws HttpDriverError when libcurl cannot make or configure a multi handle, and
    // std::invalid_argument for a zero in-flight limit.
    explicit HttpDriver(const HttpDriverConfig& config);
    ~HttpDriver();
    HttpDriver(const HttpDriver&) = delete;
    HttpDriver& operator=(const HttpDriver&) = delete;

    std::size_t in_flight() const { return active_; }
    bool has_capacity() const { return active_ < config_.max_in_flight; }
    const HttpDriverConfig& config() const { return config_; }

    // New settings (SIGHUP): timeouts and limits apply to requests started from now on;
    // a lower max_in_flight just starts nothing new until enough have finished. Throws
    // like the constructor (the old settings stay when it does).
    void reconfigure(const HttpDriverConfig& config);

    // Starts a request; its result comes from a later perform() with the same id. A
    // request libcurl refuses to set up also comes back that way (never sent). Throws
    // std::logic_error when there is no capacity (check has_capacity() first).
    void start(std::uint64_t id, HttpRequest request);

    // Moves transfers along and returns those that finished, in completion order. When
    // none finished yet and some are in flight, waits up to max_wait for network
    // activity first. Returns at once when nothing is in flight. Throws HttpDriverError
    // when the multi handle fails (the in-flight requests: call abort_all()).
    std::vector<HttpResult> perform(std::chrono::milliseconds max_wait);

    // Stops every transfer and reports each, with CURLE_ABORTED_BY_CALLBACK and
    // body_may_have_been_sent judged as usual, plus results not yet handed out.
    // For shutdown and after HttpDriverError.
    std::vector<HttpResult> abort_all();

    // Sockets libcurl has us watching now (for tests: 0 once nothing is in flight).
    std::size_t sockets_watched() const { return watched_; }

    struct Transfer;  // one pooled easy handle and its buffers (http_driver.cpp)

private:
    struct Events;  // libcurl's socket and timer callbacks (http_driver.cpp)
    using SteadyClock = std::chrono::steady_clock;

    void apply_multi_limits(std::size_t max_in_flight);
    void socket_action(curl_socket_t fd, int bits);
    void arm_timer(long timeout_ms) noexcept;
    bool timer_due(SteadyClock::time_point now) const;
    void act_on_timer();
    void collect(std::vector<HttpResult>& results);
    void wait_and_act(std::chrono::milliseconds max_wait, std::vector<HttpResult>& results);
    HttpResult finish(Transfer& transfer, CURLcode code);
    void release(Transfer& transfer);

    HttpDriverConfig config_;
    CURLM* multi_ = nullptr;
    int epoll_ = -1;           // the sockets libcurl asked us to watch
    std::size_t watched_ = 0;  // how many of them
    int socket_errno_ = 0;     // an epoll_ctl failure in the socket callback
    bool timer_set_ = false;   // libcurl wants CURL_SOCKET_TIMEOUT at timer_at_
    SteadyClock::time_point timer_at_{};
    std::vector<std::unique_ptr<Transfer>> pool_;  // every transfer ever made, at most N
    std::vector<Transfer*> idle_;
    std::size_t active_ = 0;
    std::vector<HttpResult> ready_;  // finished outside perform(): setup failures
};

}  // namespace plivo
