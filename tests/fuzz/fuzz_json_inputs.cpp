// jwt_subject and params_from_json on any text; the params they give must be usable
// for a signature.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "fuzz_util.hpp"
#include "input_error.hpp"
#include "json_inputs.hpp"
#include "signature.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text = fuzz::as_string(data, size);
    const nlohmann::json parsed = nlohmann::json::parse(text, nullptr, false);
    const bool is_object = !parsed.is_discarded() && parsed.is_object();

    try {
        const auto subject = plivo::jwt_subject(text);
        if (subject) {
            FUZZ_CHECK(is_object && !subject->empty());
            FUZZ_CHECK(parsed["sub"].is_string() && parsed["sub"].get<std::string>() == *subject);
        }
        FUZZ_CHECK(text.empty() || is_object);
    } catch (const plivo::InputError& error) {
        FUZZ_CHECK(error.kind() == plivo::InputErrorKind::BadJson);
        FUZZ_CHECK(!text.empty() && !is_object);
        FUZZ_CHECK(fuzz::is_utf8(error.detail()));
    }

    plivo::Params params;
    try {
        params = plivo::params_from_json(text, "params");
        FUZZ_CHECK(is_object);
    } catch (const plivo::InputError& error) {
        FUZZ_CHECK(error.kind() == plivo::InputErrorKind::InvalidParameter);
        FUZZ_CHECK(error.field() == "params");
        FUZZ_CHECK(fuzz::is_utf8(error.detail()) && fuzz::is_utf8(error.what()));
        return 0;
    }
    // One pair per scalar member, one per element of an array member; keys and values
    // are valid UTF-8 (JSON text is).
    std::size_t expected = 0;
    for (const auto& member : parsed.items()) {
        expected += member.value().is_array() ? member.value().size() : 1;
    }
    FUZZ_CHECK(params.size() == expected);
    for (const auto& [key, value] : params) {
        FUZZ_CHECK(parsed.contains(key));
        FUZZ_CHECK(fuzz::is_utf8(key) && fuzz::is_utf8(value));
    }
    const std::string to_sign = plivo::v3_string_to_sign("https://example.com/cb", plivo::HttpMethod::Post, params);
    FUZZ_CHECK(to_sign.size() >= 22);
    return 0;
}
