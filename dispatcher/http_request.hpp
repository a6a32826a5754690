// One outgoing HTTP request as the libcurl driver sends it. Credentials travel apart
// from the headers so that nothing loggable (headers, URL, describe()) carries the token.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace plivo {

enum class RequestMethod { Get, Post, Head };
const char* request_method_name(RequestMethod method);  // "GET" / "POST" / "HEAD"

// HTTP Basic credentials; the password is the Plivo auth token.
struct BasicAuth {
    std::string user;
    std::string password;
};

struct HttpRequest {
    RequestMethod method = RequestMethod::Get;
    std::string url;
    std::vector<std::string> headers;  // "Name: value" lines; never an Authorization header
    std::string body;                  // sent only for POST
    BasicAuth auth;                    // empty user: no authentication

    // For requests to hosts other than Plivo (media checks); Plivo requests keep the
    // defaults. Redirects: 0 follows none; others only to http and https.
    int max_redirects = 0;
    std::optional<std::chrono::milliseconds> timeout;  // instead of the driver's, when set
    // Ends the transfer once more body bytes than this arrived (the headers are kept and
    // the result says body_truncated); nullopt: the driver's cap, the rest read and dropped.
    std::optional<std::size_t> stop_after_body_bytes;
    // Refuses to send the request to a non-public address (ip_address.hpp), checked on
    // the address libcurl actually connected to, on every redirect too.
    bool public_addresses_only = false;

    // "POST https://host/v1/Account/MA…/Message/ (412 bytes, basic auth MA…:<redacted>)":
    // safe for logs and error messages, the password never appears.
    std::string describe() const;
};

}  // namespace plivo
