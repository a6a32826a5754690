// URL splitting, query decoding and the validation of user-supplied http(s) URLs.
#include "url.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string>
#include <utility>

#include "input_error.hpp"
#include "utf8.hpp"
#include "pure_cpp.hpp"

namespace plivo {

namespace {

// Why split_once() could not split a URL; require_http_url() words its error from it.
enum class SplitFailure { None, NoScheme, NoAuthority, EmptyHost, BadHost, BadPort };

struct SplitResult {
    UrlParts parts;
    bool has_at = false;  // the authority holds an '@', even with an empty userinfo
    SplitFailure failure = SplitFailure::None;
};

bool is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

bool is_hex(unsigned char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int hex_value(unsigned char c) {
    if (is_digit(c)) return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return c - 'A' + 10;
}

// RFC 3986 unreserved, sub-delims and '%' (pct-encoded): what a host name may hold.
bool is_host_char(unsigned char c) {
    return is_alpha(c) || is_digit(c) || (c != 0 && std::strchr("-._~!$&'()*+,;=%", c) != nullptr);
}

// Length of a scheme followed by ':' at the start of `url` (RFC 3986 §3.1), or 0.
std::size_t scheme_length(const std::string& url) {
    if (url.empty() || !is_alpha(static_cast<unsigned char>(url[0]))) return 0;
    std::size_t i = 1;
    while (i < url.size()) {
        const unsigned char c = static_cast<unsigned char>(url[i]);
        if (c == ':') return i;
        if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.') return 0;
        ++i;
    }
    return 0;
}

// Digits only, at most 65535; leading zeros allowed ("0080" is port 80).
bool is_valid_port(const std::string& port) {
    if (port.empty()) return false;
    unsigned long value = 0;
    for (const char ch : port) {
        if (!is_digit(static_cast<unsigned char>(ch))) return false;
        value = value * 10 + static_cast<unsigned long>(ch - '0');
        if (value > 65535) return false;
    }
    return true;
}

// The one splitter behind split_url() and require_http_url(): it also says why it failed.
SplitResult split_once(const std::string& url) {
    SplitResult result;
    UrlParts& parts = result.parts;

    const std::size_t scheme_len = scheme_length(url);
    if (scheme_len == 0) {
        result.failure = SplitFailure::NoScheme;
        return result;
    }
    parts.scheme = url.substr(0, scheme_len);
    for (char& ch : parts.scheme) {
        if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
    }

    std::size_t pos = scheme_len + 1;
    if (url.compare(pos, 2, "//") != 0) {
        result.failure = SplitFailure::NoAuthority;
        return result;
    }
    pos += 2;

    const std::size_t authority_end = std::min(url.find_first_of("/?#", pos), url.size());
    const std::string authority = url.substr(pos, authority_end - pos);

    // The last '@' ends the userinfo, as WHATWG and Python's urlsplit read it.
    std::string host_port = authority;
    const std::size_t at = authority.rfind('@');
    if (at != std::string::npos) {
        result.has_at = true;
        parts.userinfo = authority.substr(0, at);
        host_port = authority.substr(at + 1);
    }

    std::size_t port_colon = std::string::npos;
    if (!host_port.empty() && host_port[0] == '[') {
        const std::size_t close = host_port.find(']');
        if (close == std::string::npos || close == 1) {
            result.failure = SplitFailure::BadHost;
            return result;
        }
        for (std::size_t i = 1; i < close; ++i) {
            const unsigned char c = static_cast<unsigned char>(host_port[i]);
            if (!is_host_char(c) && c != ':') {
                result.failure = SplitFailure::BadHost;
                return result;
            }
        }
        parts.host = host_port.substr(0, close + 1);
        if (close + 1 < host_port.size()) {
            if (host_port[close + 1] != ':') {
                result.failure = SplitFailure::BadHost;
                return result;
            }
            port_colon = close + 1;
        }
    } else {
        port_colon = host_port.find(':');
        parts.host = host_port.substr(0, port_colon);
        if (parts.host.empty()) {
            result.failure = SplitFailure::EmptyHost;
            return result;
        }
        // Bytes >= 0x80 pass so that a host written in Unicode (IDN) is kept as written.
        for (const char ch : parts.host) {
            const unsigned char c = static_cast<unsigned char>(ch);
            if (c < 0x80 && !is_host_char(c)) {
                result.failure = SplitFailure::BadHost;
                return result;
            }
        }
    }
    if (port_colon != std::string::npos) {
        parts.port = host_port.substr(port_colon + 1);
        if (!is_valid_port(parts.port)) {
            result.failure = SplitFailure::BadPort;
            return result;
        }
    }

    const std::size_t query_mark = url.find_first_of("?#", authority_end);
    parts.path = url.substr(authority_end, std::min(query_mark, url.size()) - authority_end);
    if (query_mark != std::string::npos && url[query_mark] == '?') {
        const std::size_t hash = url.find('#', query_mark + 1);
        parts.query = url.substr(query_mark + 1, std::min(hash, url.size()) - query_mark - 1);
    }
    const std::size_t hash = url.find('#', authority_end);
    if (hash != std::string::npos) parts.fragment = url.substr(hash + 1);
    return result;
}

// Appends `in` to `out` with every ill-formed UTF-8 sequence replaced by U+FFFD, one per
// maximal subpart: the rule Python's bytes.decode(errors='replace') and Node follow.
void append_repaired_utf8(std::string& out, const std::string& in) {
    static const char kReplacement[] = "\xEF\xBF\xBD";
    std::size_t i = 0;
    while (i < in.size()) {
        const unsigned char c = static_cast<unsigned char>(in[i]);
        if (c < 0x80) {
            out += static_cast<char>(c);
            ++i;
            continue;
        }
        int need = 0;
        unsigned char lo = 0x80;
        unsigned char hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c == 0xE0) {
            need = 2;
            lo = 0xA0;  // no overlong forms
        } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
            need = 2;
        } else if (c == 0xED) {
            need = 2;
            hi = 0x9F;  // no surrogates
        } else if (c == 0xF0) {
            need = 3;
            lo = 0x90;
        } else if (c >= 0xF1 && c <= 0xF3) {
            need = 3;
        } else if (c == 0xF4) {
            need = 3;
            hi = 0x8F;  // nothing above U+10FFFF
        } else {
            out += kReplacement;
            ++i;
            continue;
        }
        std::size_t j = i + 1;
        int got = 0;
        while (got < need && j < in.size()) {
            const unsigned char next = static_cast<unsigned char>(in[j]);
            if (next < lo || next > hi) break;
            lo = 0x80;
            hi = 0xBF;
            ++j;
            ++got;
        }
        if (got == need) {
            out.append(in, i, j - i);
        } else {
            out += kReplacement;
        }
        i = j;
    }
}

// Names the first whitespace or control character in `url` and sets `offset` to its
// byte offset; returns "" when there is none. Covers ASCII controls, DEL, C1 controls
// and the Unicode White_Space characters (no-break space, line separator, ...).
std::string find_whitespace_or_control(const std::string& url, std::size_t& offset) {
    std::size_t i = 0;
    while (i < url.size()) {
        offset = i;
        const auto decoded = utf8::decode_char(url, i);
        if (!decoded) {  // not UTF-8: not ours to judge here
            ++i;
            continue;
        }
        i += decoded->length;
        const char32_t c = decoded->code_point;
        if (c == ' ') return "a space";
        if (c == '\t') return "a tab";
        if (c == '\n' || c == '\r') return "a line break";
        if (c < 0x20 || c == 0x7F || (c >= 0x80 && c <= 0x9F)) {
            return "the control character " + utf8::code_point_name(c);
        }
        if (c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
            c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000) {
            return "the whitespace character " + utf8::code_point_name(c);
        }
    }
    return "";
}

[[noreturn]] void throw_url_error(const std::string& field, const std::string& message,
                                  const std::string& detail, const std::string& hint) {
    throw InputError(InputErrorKind::InvalidParameter, field, field + " " + message, detail, hint);
}

const char kAbsoluteUrlHint[] =
    "Write a URL that starts with https:// or http:// followed by a host name, for example "
    "https://example.com/plivo/status.";

}  // namespace

std::optional<UrlParts> split_url(const std::string& url) {
    SplitResult result = split_once(url);
    if (result.failure != SplitFailure::None) return std::nullopt;
    return std::move(result.parts);
}

std::string signature_base(const UrlParts& url) {
    std::string base = url.scheme + "://" + url.host;
    if (!url.port.empty()) base += ":" + url.port;
    return base + url.path;
}

std::string percent_decode(const std::string& text, bool plus_is_space) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char ch = text[i];
        if (ch == '%' && i + 2 < text.size() && is_hex(static_cast<unsigned char>(text[i + 1])) &&
            is_hex(static_cast<unsigned char>(text[i + 2]))) {
            out += static_cast<char>(hex_value(static_cast<unsigned char>(text[i + 1])) * 16 +
                                     hex_value(static_cast<unsigned char>(text[i + 2])));
            i += 2;
        } else if (ch == '+' && plus_is_space) {
            out += ' ';
        } else {
            out += ch;  // a malformed escape such as "%zz" or a trailing "%4" stays as written
        }
    }
    return out;
}

std::vector<std::pair<std::string, std::string>> decode_query(const std::string& query) {
    std::vector<std::pair<std::string, std::string>> pairs;
    std::size_t start = 0;
    while (start <= query.size()) {
        std::size_t end = query.find('&', start);
        if (end == std::string::npos) end = query.size();
        if (end > start) {
            const std::string piece = query.substr(start, end - start);
            const std::size_t eq = piece.find('=');
            std::string key;
            std::string value;
            append_repaired_utf8(key, percent_decode(piece.substr(0, eq), true));
            if (eq != std::string::npos) {
                append_repaired_utf8(value, percent_decode(piece.substr(eq + 1), true));
            }
            pairs.emplace_back(std::move(key), std::move(value));
        }
        start = end + 1;
    }
    return pairs;
}

std::string redact_userinfo(const std::string& url) {
    const std::size_t scheme_len = scheme_length(url);
    std::size_t begin = 0;
    if (scheme_len > 0 && url.compare(scheme_len + 1, 2, "//") == 0) begin = scheme_len + 3;
    const std::size_t end = std::min(url.find_first_of("?#", begin), url.size());
    if (end == begin) return url;
    const std::size_t at = url.rfind('@', end - 1);
    if (at == std::string::npos || at < begin) return url;
    return url.substr(0, begin) + "***" + url.substr(at);
}

void require_http_url(const std::string& url, const std::string& field) {
    // Every detail shows the URL with its credentials cut out.
    const auto shown = [&url] { return quote_for_detail(redact_userinfo(url)); };

    if (url.size() > kMaxUrlBytes) {
        throw_url_error(
            field, "is longer than " + std::to_string(kMaxUrlBytes) + " bytes",
            "The URL is " + std::to_string(url.size()) + " bytes long: " + shown() + ".",
            "Use a URL of at most " + std::to_string(kMaxUrlBytes) +
                " bytes; keep large data out of the query string.");
    }

    std::size_t offset = 0;
    const std::string bad_char = find_whitespace_or_control(url, offset);
    if (!bad_char.empty()) {
        throw_url_error(field, "contains whitespace or control characters",
                        "The URL " + shown() + " contains " + bad_char + " at byte offset " +
                            std::to_string(offset) + ".",
                        "Remove line breaks and surrounding spaces, and percent-encode spaces "
                        "inside the URL as %20.");
    }

    const SplitResult split = split_once(url);
    switch (split.failure) {
        case SplitFailure::None:
            break;
        case SplitFailure::NoScheme:
        case SplitFailure::NoAuthority:
        case SplitFailure::EmptyHost: {
            const bool http_scheme = split.parts.scheme == "http" || split.parts.scheme == "https";
            std::string detail = "The URL is empty.";
            if (!url.empty()) {
                detail =
                    "The URL " + shown() +
                    (http_scheme ? " has no host." : " does not start with http:// or https://.");
            }
            throw_url_error(field, "is not an absolute http or https URL", detail,
                            kAbsoluteUrlHint);
        }
        case SplitFailure::BadHost:
            throw_url_error(field, "is not an absolute http or https URL",
                            "The host in " + shown() + " is not a valid host name or IP address.",
                            kAbsoluteUrlHint);
        case SplitFailure::BadPort:
            throw_url_error(field, "has an invalid port",
                            "The port in " + shown() + " is not a number from 1 to 65535.",
                            "Write the port as digits from 1 to 65535, or leave it out to use the "
                            "default port.");
    }

    const UrlParts& parts = split.parts;
    if (parts.scheme != "http" && parts.scheme != "https") {
        throw_url_error(field, "is not an absolute http or https URL",
                        "The URL " + shown() + " uses the scheme \"" + parts.scheme +
                            "\"; only http and https are supported.",
                        kAbsoluteUrlHint);
    }
    if (split.has_at) {
        throw_url_error(field, "must not contain a user name or password",
                        "The URL " + shown() + " has credentials before the host.",
                        "Remove the user:password@ part: URLs are stored in tables and logs in "
                        "clear text.");
    }
    if (!parts.port.empty() && parts.port.find_first_not_of('0') == std::string::npos) {
        throw_url_error(field, "has an invalid port",
                        "The port in " + shown() + " is not a number from 1 to 65535.",
                        "Write the port as digits from 1 to 65535, or leave it out to use the "
                        "default port.");
    }
}

}  // namespace plivo
