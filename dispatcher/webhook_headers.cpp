// Picking the signature headers of a Plivo webhook (see webhook_headers.hpp).
#include "webhook_headers.hpp"

#include <cctype>

#include "input_error.hpp"
#include "pure_cpp.hpp"

namespace plivo {

namespace {

std::string lower(std::string text) {
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
}

// All values of one header (HTTP allows a header to repeat), trimmed, empty ones dropped.
std::vector<std::string> header_values(
    const std::vector<std::pair<std::string, std::string>>& headers, const std::string& name) {
    std::vector<std::string> values;
    for (const auto& [key, value] : headers) {
        if (lower(key) != name) continue;
        std::size_t first = value.find_first_not_of(" \t");
        if (first == std::string::npos) continue;
        std::size_t last = value.find_last_not_of(" \t");
        values.push_back(value.substr(first, last - first + 1));
    }
    return values;
}

std::optional<WebhookSignature> collect(
    const std::vector<std::pair<std::string, std::string>>& headers, SignatureVersion version,
    const std::string& suffix) {
    std::vector<std::string> signatures = header_values(headers, "x-plivo-signature-" + suffix);
    for (std::string& ma : header_values(headers, "x-plivo-signature-ma-" + suffix)) {
        signatures.push_back(std::move(ma));
    }
    std::vector<std::string> nonces = header_values(headers, "x-plivo-signature-" + suffix + "-nonce");
    if (signatures.empty() && nonces.empty()) return std::nullopt;
    const std::string name = suffix == "v3" ? "V3" : "V2";
    if (signatures.empty()) {
        throw InputError(InputErrorKind::InvalidAuthorization, "headers",
                         "missing Plivo signature",
                         "The request has X-Plivo-Signature-" + name +
                             "-Nonce but no X-Plivo-Signature-" + name + " header.",
                         "Pass every request header to handle_status_callback unchanged.");
    }
    if (nonces.size() != 1 || nonces.front().empty()) {
        throw InputError(InputErrorKind::InvalidAuthorization, "headers",
                         "missing Plivo signature nonce",
                         "The request must carry exactly one X-Plivo-Signature-" + name +
                             "-Nonce header.",
                         "Pass every request header to handle_status_callback unchanged.");
    }
    WebhookSignature chosen{version, "", nonces.front()};
    for (std::size_t i = 0; i < signatures.size(); ++i) {
        if (i) chosen.signatures += ",";
        chosen.signatures += signatures[i];
    }
    return chosen;
}

}  // namespace

WebhookSignature choose_webhook_signature(
    const std::vector<std::pair<std::string, std::string>>& headers) {
    if (auto v3 = collect(headers, SignatureVersion::V3, "v3")) return *v3;
    if (auto v2 = collect(headers, SignatureVersion::V2, "v2")) return *v2;
    throw InputError(InputErrorKind::InvalidAuthorization, "headers", "missing Plivo signature",
                     "The request has neither X-Plivo-Signature-V3 nor X-Plivo-Signature-V2 "
                     "headers.",
                     "Only requests from Plivo are accepted; pass every request header to "
                     "handle_status_callback unchanged.");
}

}  // namespace plivo
