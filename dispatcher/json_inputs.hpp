// JSON that reaches us from SQL: PostgREST's request.jwt.claims and the form fields of
// a delivery report passed as jsonb.
#pragma once

#include <optional>
#include <string>

#include "signature.hpp"

namespace plivo {

// The "sub" claim of PostgREST's request.jwt.claims, when there is one. An empty or
// absent setting gives nullopt; malformed JSON throws InputError (BadJson).
std::optional<std::string> jwt_subject(const std::string& claims_json);

// A JSON object of decoded form fields → Params. A string value is one field, an array
// of strings is a repeated key, numbers and booleans are taken as written; anything
// else (null, objects, nested arrays) throws InputError naming `field`.
Params params_from_json(const std::string& json_text, const std::string& field);

}  // namespace plivo
