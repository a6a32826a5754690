// Plivo webhook signatures, V2 and V3, exactly as plivo-api.md §3 describes.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace plivo {

enum class SignatureVersion { V2, V3 };
enum class HttpMethod { Get, Post };

// Decoded form or query fields; a repeated key appears once per value.
using Params = std::vector<std::pair<std::string, std::string>>;

// The exact string that V3 signs before ".nonce" is appended (useful in tests and logs).
// Throws InputError(field "url") when the URL has no scheme or host.
std::string v3_string_to_sign(const std::string& url, HttpMethod method, const Params& params);

// Base64(HMAC-SHA256(token, message)), padded: 44 characters.
std::string hmac_sha256_base64(const std::string& token, const std::string& message);

// The signature Plivo would send for these inputs (used by the simulator and tests).
std::string compute_v2_signature(const std::string& url, const std::string& nonce,
                                 const std::string& auth_token);
std::string compute_v3_signature(const std::string& url, const std::string& nonce,
                                 HttpMethod method, const Params& params,
                                 const std::string& auth_token);

// True when any of the comma-separated signatures in `signature_header` matches (spaces
// around each are ignored), compared in constant time. An empty nonce or header is false.
// Throws InputError (field "url") for a URL without scheme or host, and InputError
// (MissingSetting, field "auth_token") for an empty auth token, which anyone could sign with.
bool verify_signature(SignatureVersion version, const std::string& url, const std::string& nonce,
                      const std::string& signature_header, HttpMethod method, const Params& params,
                      const std::string& auth_token);

}  // namespace plivo
