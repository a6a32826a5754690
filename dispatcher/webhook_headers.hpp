// Which Plivo signature a webhook request carries (plivo-api.md §3): V3 when any V3
// header is present — and then never V2, which does not cover the body — else V2.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "signature.hpp"

namespace plivo {

struct WebhookSignature {
    SignatureVersion version;
    std::string signatures;  // the plain and the Ma- header's signatures, comma-separated
    std::string nonce;
};

// `headers` as name/value pairs in any letter case. Throws InputError (kind
// InvalidAuthorization, field "headers") when no signature is there, or when a
// signature comes without its nonce.
WebhookSignature choose_webhook_signature(
    const std::vector<std::pair<std::string, std::string>>& headers);

}  // namespace plivo
