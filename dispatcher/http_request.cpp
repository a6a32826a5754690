#include "http_request.hpp"

#include "pure_cpp.hpp"

namespace plivo {

const char* request_method_name(RequestMethod method) {
    switch (method) {
        case RequestMethod::Post: return "POST";
        case RequestMethod::Head: return "HEAD";
        case RequestMethod::Get: break;
    }
    return "GET";
}

std::string HttpRequest::describe() const {
    std::string text = std::string(request_method_name(method)) + " " + url;
    std::string details;
    if (method == RequestMethod::Post) details = std::to_string(body.size()) + " bytes";
    if (!auth.user.empty()) {
        if (!details.empty()) details += ", ";
        details += "basic auth " + auth.user + ":<redacted>";
    }
    if (!details.empty()) text += " (" + details + ")";
    return text;
}

}  // namespace plivo
