// v3_string_to_sign, compute_v2/v3_signature and verify_signature. The input is lines:
// method (GET or POST), url, nonce, auth token, signature header, then one "key=value"
// line per param.
#include <algorithm>
#include <cstdint>
#include <string>

#include "fuzz_util.hpp"
#include "input_error.hpp"
#include "signature.hpp"
#include "url.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::vector<std::string> lines = fuzz::split_lines(fuzz::as_string(data, size));
    lines.resize(std::max<std::size_t>(lines.size(), 5));
    const plivo::HttpMethod method =
        lines[0] == "GET" ? plivo::HttpMethod::Get : plivo::HttpMethod::Post;
    const std::string& url = lines[1];
    const std::string& nonce = lines[2];
    const std::string& token = lines[3];
    const std::string& header = lines[4];
    plivo::Params params;
    for (std::size_t i = 5; i < lines.size(); ++i) {
        const std::size_t eq = lines[i].find('=');
        params.emplace_back(lines[i].substr(0, eq),
                            eq == std::string::npos ? "" : lines[i].substr(eq + 1));
    }

    const auto parts = plivo::split_url(url);
    std::string to_sign;
    try {
        to_sign = plivo::v3_string_to_sign(url, method, params);
        FUZZ_CHECK(parts.has_value());
    } catch (const plivo::InputError& error) {
        // Only a URL that does not split is refused.
        FUZZ_CHECK(!parts.has_value() && error.field() == "url");
        try {
            plivo::verify_signature(plivo::SignatureVersion::V3, url, nonce, header, method, params,
                                    token.empty() ? "t" : token);
            FUZZ_CHECK(false);
        } catch (const plivo::InputError&) {
        }
        return 0;
    }

    // The signed string starts with the base and does not depend on the params' order.
    const std::string base = plivo::signature_base(*parts);
    FUZZ_CHECK(to_sign.compare(0, base.size(), base) == 0);
    FUZZ_CHECK(to_sign.size() == base.size() || to_sign[base.size()] == '?');
    plivo::Params reversed(params.rbegin(), params.rend());
    FUZZ_CHECK(plivo::v3_string_to_sign(url, method, reversed) == to_sign);
    if (method == plivo::HttpMethod::Post && !params.empty()) {
        FUZZ_CHECK(to_sign.size() > base.size());
    }

    const std::string v3 = plivo::compute_v3_signature(url, nonce, method, params, token);
    const std::string v2 = plivo::compute_v2_signature(url, nonce, token);
    FUZZ_CHECK(v3.size() == 44 && v2.size() == 44);
    FUZZ_CHECK(v3 == plivo::hmac_sha256_base64(token, to_sign + "." + nonce));

    using plivo::SignatureVersion;
    try {
        const bool given = plivo::verify_signature(SignatureVersion::V3, url, nonce, header, method,
                                                   params, token);
        FUZZ_CHECK(!token.empty());
        // Accepted only when one of the comma-separated signatures is the right one.
        if (given) FUZZ_CHECK(!nonce.empty() && header.find(v3) != std::string::npos);
        // What we compute is accepted, alone, among others, with spaces around it; a
        // header that does not hold it is refused.
        FUZZ_CHECK(plivo::verify_signature(SignatureVersion::V3, url, nonce, v3, method, params,
                                           token) == !nonce.empty());
        FUZZ_CHECK(plivo::verify_signature(SignatureVersion::V3, url, nonce, header + ", " + v3 + " ",
                                           method, params, token) == !nonce.empty());
        FUZZ_CHECK(plivo::verify_signature(SignatureVersion::V2, url, nonce, "x," + v2, method,
                                           params, token) == !nonce.empty());
        if (header.find(v3) == std::string::npos) FUZZ_CHECK(!given);
        // V2 never accepts a V3 signature unless the two strings happen to be equal.
        if (v2 != v3) {
            FUZZ_CHECK(!plivo::verify_signature(SignatureVersion::V2, url, nonce, v3, method,
                                                params, token));
        }
    } catch (const plivo::InputError& error) {
        FUZZ_CHECK(token.empty() && error.kind() == plivo::InputErrorKind::MissingSetting);
    }
    return 0;
}
