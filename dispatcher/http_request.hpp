// One outgoing HTTP request as the libcurl driver sends it. Credentials travel apart
// from the headers so that nothing loggable (headers, URL, describe()) carries the token.
#pragma once

#include <string>
#include <vector>

namespace plivo {

enum class RequestMethod { Get, Post };
const char* request_method_name(RequestMethod method);  // "GET" / "POST"

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

    // "POST https://host/v1/Account/MA…/Message/ (412 bytes, basic auth MA…:<redacted>)":
    // safe for logs and error messages, the password never appears.
    std::string describe() const;
};

}  // namespace plivo
