// Plivo webhook signatures V2 and V3 (plivo-api.md §3), with OpenSSL's HMAC-SHA256.
#include "signature.hpp"

#include <algorithm>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "input_error.hpp"
#include "url.hpp"
#include "pure_cpp.hpp"

namespace plivo {

namespace {

// The URL split into its parts, or InputError naming "url": the URL is configuration
// (the callback URL we gave Plivo), so a bad one is an error, not a failed check.
UrlParts split_or_throw(const std::string& url) {
    std::optional<UrlParts> parts = split_url(url);
    if (!parts) {
        throw InputError(InputErrorKind::InvalidParameter, "url", "url is not an absolute URL",
                         "The URL " + quote_for_detail(redact_userinfo(url)) +
                             " has no scheme or no host, so its signature cannot be computed.",
                         "Pass the full URL Plivo was told to call, for example "
                         "https://example.com/plivo/status.");
    }
    return std::move(*parts);
}

// Pairs sorted by key, then by value, comparing bytes (so "Z" sorts before "a").
Params sorted(Params params) {
    std::sort(params.begin(), params.end());
    return params;
}

// k=v&k=v over sorted pairs: decoded text, nothing encoded again.
std::string sorted_query(const Params& params) {
    std::string out;
    for (const auto& [key, value] : sorted(params)) {
        if (!out.empty()) out += '&';
        out += key;
        out += '=';
        out += value;
    }
    return out;
}

// kvkv over sorted pairs, with no separators at all.
std::string sorted_concat(const Params& params) {
    std::string out;
    for (const auto& [key, value] : sorted(params)) {
        out += key;
        out += value;
    }
    return out;
}

std::string trim_spaces(const std::string& text) {
    const std::size_t first = text.find_first_not_of(" \t");
    if (first == std::string::npos) return "";
    const std::size_t last = text.find_last_not_of(" \t");
    return text.substr(first, last - first + 1);
}

// Equal in time that depends on the lengths only, never on where the bytes differ.
bool constant_time_equal(const std::string& a, const std::string& b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

std::string v3_string_to_sign(const std::string& url, HttpMethod method, const Params& params) {
    const UrlParts parts = split_or_throw(url);
    const std::string base = signature_base(parts);
    const Params query = parts.query ? decode_query(*parts.query) : Params{};

    if (method == HttpMethod::Get) {
        Params merged = query;
        merged.insert(merged.end(), params.begin(), params.end());
        return merged.empty() ? base : base + "?" + sorted_query(merged);
    }
    if (params.empty()) return query.empty() ? base : base + "?" + sorted_query(query);
    std::string signed_text = base + "?";
    if (!query.empty()) signed_text += sorted_query(query) + ".";
    return signed_text + sorted_concat(params);
}

std::string hmac_sha256_base64(const std::string& token, const std::string& message) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    // data() is never null, which OpenSSL 3 needs even for an empty key.
    if (HMAC(EVP_sha256(), token.data(), static_cast<int>(token.size()),
             reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest,
             &digest_len) == nullptr) {
        throw std::runtime_error("HMAC-SHA256 failed in OpenSSL");
    }
    unsigned char encoded[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
    const int encoded_len = EVP_EncodeBlock(encoded, digest, static_cast<int>(digest_len));
    return std::string(reinterpret_cast<const char*>(encoded),
                       static_cast<std::size_t>(encoded_len));
}

std::string compute_v2_signature(const std::string& url, const std::string& nonce,
                                 const std::string& auth_token) {
    return hmac_sha256_base64(auth_token, signature_base(split_or_throw(url)) + nonce);
}

std::string compute_v3_signature(const std::string& url, const std::string& nonce,
                                 HttpMethod method, const Params& params,
                                 const std::string& auth_token) {
    return hmac_sha256_base64(auth_token, v3_string_to_sign(url, method, params) + "." + nonce);
}

bool verify_signature(SignatureVersion version, const std::string& url, const std::string& nonce,
                      const std::string& signature_header, HttpMethod method, const Params& params,
                      const std::string& auth_token) {
    // An empty key is one anybody can sign with: refuse rather than accept forgeries.
    if (auth_token.empty()) {
        throw InputError(InputErrorKind::MissingSetting, "auth_token", "auth_token is empty",
                         "A webhook signature cannot be checked without the auth token.",
                         "Configure the Plivo auth token of the account that sends the messages.");
    }
    // The URL is checked next: a bad URL is our configuration's fault, whatever was sent.
    const std::string expected = version == SignatureVersion::V2
                                     ? compute_v2_signature(url, nonce, auth_token)
                                     : compute_v3_signature(url, nonce, method, params, auth_token);
    if (nonce.empty()) return false;

    // Several signatures, comma-separated, while Plivo rotates the token: any one will do.
    bool matched = false;
    std::size_t start = 0;
    while (start <= signature_header.size()) {
        std::size_t end = signature_header.find(',', start);
        if (end == std::string::npos) end = signature_header.size();
        const std::string candidate = trim_spaces(signature_header.substr(start, end - start));
        if (!candidate.empty() && constant_time_equal(candidate, expected)) matched = true;
        start = end + 1;
    }
    return matched;
}

}  // namespace plivo
