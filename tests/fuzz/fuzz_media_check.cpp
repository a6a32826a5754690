// The media check's parsers on arbitrary bytes: classify_address (the address libcurl
// connected to), normalise_media_type / classify_media_type (Content-Type),
// judge_media_response (a media server's answer: lines 1-4 are Content-Type,
// Content-Length, Content-Range and the HTTP status), and parse_powerpack_uuid.
#include <arpa/inet.h>

#include <cstdint>
#include <string>

#include "fuzz_util.hpp"
#include "input_error.hpp"
#include "ip_address.hpp"
#include "media_check.hpp"
#include "outgoing_message.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text = fuzz::as_string(data, size);

    // An address inet_pton reads is never Invalid, and neither is it in brackets or with
    // an IPv6 zone ("[::1]", "fe80::1%eth0", as libcurl and other tools write them):
    // those are the same address.
    const plivo::AddressKind kind = plivo::classify_address(text);
    unsigned char buffer[16];
    if (text.find('\0') == std::string::npos &&
        (inet_pton(AF_INET, text.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, text.c_str(), buffer) == 1)) {
        FUZZ_CHECK(kind != plivo::AddressKind::Invalid);
        FUZZ_CHECK(plivo::classify_address("[" + text + "]") == kind);
        if (text.find(':') != std::string::npos && text.find('%') == std::string::npos)
            FUZZ_CHECK(plivo::classify_address(text + "%eth0") == kind);
    }
    if (kind != plivo::AddressKind::Invalid) {
        FUZZ_CHECK(text.find_first_of("0123456789") != std::string::npos || text.find("::") != std::string::npos);
    }
    FUZZ_CHECK(plivo::address_kind_name(kind) != nullptr);

    // The normalised type is lower case, without parameters or spaces around it, and
    // stable; only a type that is exactly one of the listed ones is accepted.
    const std::string type = plivo::normalise_media_type(text);
    FUZZ_CHECK(type.find_first_of(";ABCDEFGHIJKLMNOPQRSTUVWXYZ") == std::string::npos);
    FUZZ_CHECK(type.empty() || (type.front() != ' ' && type.back() != ' '));
    FUZZ_CHECK(plivo::normalise_media_type(type) == type);
    if (plivo::classify_media_type(type) != plivo::MediaTypeClass::Unsupported) {
        FUZZ_CHECK(type.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789/-.") ==
                   std::string::npos);
    }

    // Any answer gets a verdict: passed with a size within Plivo's limit, or a reason.
    const auto lines = fuzz::split_lines(text);
    plivo::HttpResult answer;
    if (lines.size() > 0) answer.content_type = lines[0];
    if (lines.size() > 1) answer.content_length = lines[1];
    if (lines.size() > 2) answer.content_range = lines[2];
    answer.http_status = lines.size() > 3 ? static_cast<long>(lines[3].size() * 37 % 600) : 200;
    const plivo::MediaVerdict verdict = plivo::judge_media_response(answer);
    if (verdict.passed) {
        FUZZ_CHECK(verdict.bytes > 0 && verdict.bytes <= 2000000);
        FUZZ_CHECK(answer.http_status >= 200 && answer.http_status < 300);
        FUZZ_CHECK(verdict.problem.empty());
    } else {
        FUZZ_CHECK(!verdict.problem.empty());
        FUZZ_CHECK(fuzz::is_utf8(verdict.problem));
    }

    // A Powerpack uuid is accepted only as 8-4-4-4-12 hex digits, and comes back lower-cased.
    try {
        const std::string uuid = plivo::parse_powerpack_uuid(text, "powerpack_uuid");
        FUZZ_CHECK(uuid.size() == 36);
        FUZZ_CHECK(uuid.find_first_not_of("0123456789abcdef-") == std::string::npos);
        FUZZ_CHECK(uuid[8] == '-' && uuid[13] == '-' && uuid[18] == '-' && uuid[23] == '-');
    } catch (const plivo::InputError& error) {
        FUZZ_CHECK(error.field() == "powerpack_uuid");
        FUZZ_CHECK(fuzz::is_utf8(error.detail()));
    }
    return 0;
}
