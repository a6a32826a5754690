// Arguments of SQL-callable C functions, read into C++ values.
#pragma once

#include "guard.hpp"

#include <optional>
#include <string>

#include "input_error.hpp"

namespace pg_plivo {

inline std::optional<std::string> text_argument(FunctionCallInfo fcinfo, int index) {
    if (PG_ARGISNULL(index)) return std::nullopt;
    Datum value = PG_GETARG_DATUM(index);
    char* cstring = pg_call([&] { return TextDatumGetCString(value); });
    std::string result(cstring);
    pfree(cstring);
    return result;
}

// A NULL argument is a 22004 error naming `field`; `hint` says what to pass.
inline std::string required_text(FunctionCallInfo fcinfo, int index, const char* field,
                                 const std::string& hint) {
    auto value = text_argument(fcinfo, index);
    if (!value) {
        throw plivo::InputError(plivo::InputErrorKind::NullValue, field,
                                std::string(field) + " must not be null", "", hint);
    }
    return *value;
}

inline Datum text_datum(const std::string& text) {
    return pg_call(
        [&] { return PointerGetDatum(cstring_to_text_with_len(text.data(), text.size())); });
}

}  // namespace pg_plivo
