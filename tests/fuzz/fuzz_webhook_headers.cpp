// choose_webhook_signature: the input is one "Name: value" line per header.
#include <cctype>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "fuzz_util.hpp"
#include "input_error.hpp"
#include "webhook_headers.hpp"

namespace {

std::string lower(std::string text) {
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
}

bool blank(const std::string& value) { return value.find_first_not_of(" \t") == std::string::npos; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::vector<std::pair<std::string, std::string>> headers;
    for (const std::string& line : fuzz::split_lines(fuzz::as_string(data, size))) {
        const std::size_t colon = line.find(':');
        if (colon == std::string::npos) {
            headers.emplace_back(line, "");
            continue;
        }
        std::size_t value = colon + 1;
        if (value < line.size() && line[value] == ' ') ++value;
        headers.emplace_back(line.substr(0, colon), line.substr(value));
    }

    // What the headers hold, counted independently.
    bool any_v3 = false;
    bool any_v2 = false;
    for (const auto& [name, value] : headers) {
        if (blank(value)) continue;  // empty headers are ignored
        const std::string key = lower(name);
        any_v3 |= key == "x-plivo-signature-v3" || key == "x-plivo-signature-ma-v3" ||
                  key == "x-plivo-signature-v3-nonce";
        any_v2 |= key == "x-plivo-signature-v2" || key == "x-plivo-signature-ma-v2" ||
                  key == "x-plivo-signature-v2-nonce";
    }

    try {
        const plivo::WebhookSignature chosen = plivo::choose_webhook_signature(headers);
        // V3 whenever a V3 header is there: never a downgrade to V2.
        FUZZ_CHECK(chosen.version == (any_v3 ? plivo::SignatureVersion::V3 : plivo::SignatureVersion::V2));
        FUZZ_CHECK(any_v3 || any_v2);
        FUZZ_CHECK(!chosen.nonce.empty() && !chosen.signatures.empty());
        for (const std::string* text : {&chosen.nonce, &chosen.signatures}) {
            FUZZ_CHECK(text->front() != ' ' && text->front() != '\t');
            FUZZ_CHECK(text->back() != ' ' && text->back() != '\t');
        }
        // The nonce is one header's value, as sent (trimmed).
        bool found = false;
        const std::string nonce_name = any_v3 ? "x-plivo-signature-v3-nonce" : "x-plivo-signature-v2-nonce";
        for (const auto& [name, value] : headers) {
            found |= lower(name) == nonce_name && value.find(chosen.nonce) != std::string::npos;
        }
        FUZZ_CHECK(found);
    } catch (const plivo::InputError& error) {
        FUZZ_CHECK(error.kind() == plivo::InputErrorKind::InvalidAuthorization);
        FUZZ_CHECK(error.field() == "headers");
    }
    return 0;
}
