// Parsing of JSON inputs with nlohmann/json (see json_inputs.hpp).
#include "json_inputs.hpp"

#include <nlohmann/json.hpp>

#include "input_error.hpp"
#include "pure_cpp.hpp"

namespace plivo {

namespace {

// Scalars as Plivo would have sent them in a form: strings as they are, numbers and
// booleans as their JSON text.
std::optional<std::string> scalar_text(const nlohmann::json& value) {
    if (value.is_string()) return value.get<std::string>();
    if (value.is_number() || value.is_boolean()) return value.dump();
    return std::nullopt;
}

}  // namespace

std::optional<std::string> jwt_subject(const std::string& claims_json) {
    if (claims_json.empty()) return std::nullopt;
    nlohmann::json claims = nlohmann::json::parse(claims_json, nullptr, false);
    if (claims.is_discarded() || !claims.is_object()) {
        throw InputError(InputErrorKind::BadJson, "request.jwt.claims",
                         "request.jwt.claims is not a JSON object",
                         "The setting was " + quote_for_detail(claims_json) + ".",
                         "PostgREST sets it from the caller's JWT; set it to a JSON object or "
                         "leave it empty.");
    }
    auto sub = claims.find("sub");
    if (sub == claims.end() || !sub->is_string() || sub->get<std::string>().empty()) {
        return std::nullopt;
    }
    return sub->get<std::string>();
}

Params params_from_json(const std::string& json_text, const std::string& field) {
    const std::string hint =
        "Pass the decoded form fields as a JSON object of strings, with an array of "
        "strings for a repeated field, e.g. '{\"Status\": \"delivered\"}'.";
    nlohmann::json object = nlohmann::json::parse(json_text, nullptr, false);
    if (object.is_discarded() || !object.is_object()) {
        throw InputError(InputErrorKind::InvalidParameter, field, field + " must be a JSON object",
                         "The value was " + quote_for_detail(json_text) + ".", hint);
    }
    Params params;
    params.reserve(object.size());
    for (const auto& [key, value] : object.items()) {
        if (auto text = scalar_text(value)) {
            params.emplace_back(key, *text);
            continue;
        }
        if (value.is_array()) {
            for (const auto& element : value) {
                auto element_text = scalar_text(element);
                if (!element_text) {
                    throw InputError(
                        InputErrorKind::InvalidParameter, field,
                        field + " field \"" + key + "\" has an element that is not a string",
                        "The element was " + quote_for_detail(element.dump()) + ".", hint);
                }
                params.emplace_back(key, *element_text);
            }
            continue;
        }
        throw InputError(InputErrorKind::InvalidParameter, field,
                         field + " field \"" + key + "\" must be a string or an array of strings",
                         "The value was " + quote_for_detail(value.dump()) + ".", hint);
    }
    return params;
}

}  // namespace plivo
