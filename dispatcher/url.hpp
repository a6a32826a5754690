// URL splitting as Plivo's signature rules and our validation need it: the parts are
// kept exactly as written (no normalisation), because the signature covers them.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace plivo {

struct UrlParts {
    std::string scheme;                   // lower-cased, e.g. "https"
    std::string userinfo;                 // as written, without '@'; empty when absent
    std::string host;                     // as written; IPv6 literals keep their brackets
    std::string port;                     // digits as written; empty when the URL writes none
    std::string path;                     // as written, "" when absent
    std::optional<std::string> query;     // without '?'; nullopt when no '?'
    std::optional<std::string> fragment;  // without '#'
};

// Splits an absolute URL. Returns nullopt when it has no scheme or no host.
std::optional<UrlParts> split_url(const std::string& url);

// scheme://host[:port]path — query, fragment and userinfo dropped (plivo-api.md §3).
std::string signature_base(const UrlParts& url);

// Percent-decodes a query string into key/value pairs in their order; '+' is a space,
// a key without '=' gets an empty value, empty pieces ("a=1&&b=2") are skipped.
// Matches Python's urllib.parse.parse_qsl(query, keep_blank_values=True): only '&'
// separates (not ';'), the first '=' splits, a malformed escape ("%zz", "%4") stays as
// written, and decoded bytes that are not valid UTF-8 become U+FFFD, one per maximal
// ill-formed subpart, so every key and value is valid UTF-8.
std::vector<std::pair<std::string, std::string>> decode_query(const std::string& query);

// Percent-decoding of one component ('+' becomes a space when plus_is_space). Returns
// the raw bytes (not checked for UTF-8); a malformed escape stays as written.
std::string percent_decode(const std::string& text, bool plus_is_space);

constexpr std::size_t kMaxUrlBytes = 2048;

// Checks that `url` is an absolute http(s) URL with a host, no whitespace or control
// characters, and at most 2048 bytes; throws InputError naming `field` otherwise.
// Also rejected: a user name or password ("user:pw@", even a bare "@") because URLs land
// in tables and logs, and port 0. No error detail ever shows the userinfo.
void require_http_url(const std::string& url, const std::string& field);

// `url` with any userinfo replaced by "***", for error details and logs. Errs on the safe
// side for URLs that do not split: everything before the last '@' ahead of the first
// '?' or '#' (after "scheme://" when present) is cut.
std::string redact_userinfo(const std::string& url);

}  // namespace plivo
