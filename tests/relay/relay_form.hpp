// Decoding of application/x-www-form-urlencoded text (a POST body or a query string)
// into the JSON object plivo.handle_status_callback() takes as `params`.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace plivo_relay {

// Percent-decodes `text`, '+' as a space. A '%' not followed by two hex digits is kept
// as it is (Plivo's SDKs do the same).
std::string form_decode(const std::string& text);

// "a=1&b=&c&a=2" -> [("a","1"), ("b",""), ("c",""), ("a","2")]: keys and values
// decoded, blank values kept, empty pieces ("&&") skipped.
std::vector<std::pair<std::string, std::string>> parse_form(const std::string& text);

// The fields as a JSON object: one string per key, or an array of strings (in the
// order received) when the key is repeated.
nlohmann::json fields_json(const std::vector<std::pair<std::string, std::string>>& fields);

}  // namespace plivo_relay
