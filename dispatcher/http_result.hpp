// One finished HTTP attempt, as the libcurl driver reports it and send_outcome
// classifies it. Plain data: building one by hand is how the classifier is tested.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <curl/curl.h>

namespace plivo {

struct HttpTimings {
    std::chrono::microseconds connect{0};      // TCP connected (0: reused or never)
    std::chrono::microseconds tls{0};          // TLS handshake done (0: plain http, or never)
    std::chrono::microseconds pretransfer{0};  // about to send the request (0: never got there)
    std::chrono::microseconds first_byte{0};   // first response byte (0: none)
    std::chrono::microseconds total{0};
};

struct HttpResult {
    std::uint64_t id = 0;                    // the caller's id given to HttpDriver::start
    CURLcode curl_code = CURLE_OK;           // CURLE_OK: a complete HTTP response arrived
    std::string curl_error;                  // CURLOPT_ERRORBUFFER text, else curl_easy_strerror
    long http_status = 0;                    // last response's status; 0 when none arrived
    std::string body;                        // response body, at most the driver's cap
    bool body_truncated = false;             // the body was longer than the cap
    std::optional<std::string> retry_after;  // raw Retry-After header of the last response
    // Raw headers of the last response (after redirects), for media checks.
    std::optional<std::string> content_type;
    std::optional<std::string> content_length;
    std::optional<std::string> content_range;
    // public_addresses_only refused the address libcurl connected to (curl_code is then
    // CURLE_ABORTED_BY_CALLBACK and nothing was sent).
    std::optional<std::string> refused_address;
    // False only when it is certain that no byte of the request body left this machine
    // (see http_driver.hpp); a POST with this false can be resent without settling.
    bool body_may_have_been_sent = true;
    bool connection_reused = false;  // the attempt ran on a kept-alive connection
    HttpTimings timings;
};

}  // namespace plivo
