// The one exception type for rejected user input. The extension's boundary guard
// turns it into a Postgres error: SQLSTATE from `kind`, the message naming the field,
// errdetail with the offending value, errhint with the fix.
#pragma once

#include <stdexcept>
#include <string>

namespace plivo {

enum class InputErrorKind {
    InvalidParameter,   // 22023 invalid_parameter_value
    NullValue,          // 22004 null_value_not_allowed
    StringTooLong,      // 22001 string_data_right_truncation
    BadJson,            // 22032 invalid_json_text
    MissingSetting,     // 22023 as well, but the hint points at a setting
    InvalidAuthorization,  // 28000 invalid_authorization_specification: a bad webhook signature
};

class InputError : public std::runtime_error {
public:
    InputError(InputErrorKind kind, std::string field, const std::string& message,
               std::string detail, std::string hint)
        : std::runtime_error(message), kind_(kind), field_(std::move(field)),
          detail_(std::move(detail)), hint_(std::move(hint)) {}

    InputErrorKind kind() const { return kind_; }
    const std::string& field() const { return field_; }
    const std::string& detail() const { return detail_; }
    const std::string& hint() const { return hint_; }

private:
    InputErrorKind kind_;
    std::string field_;
    std::string detail_;
    std::string hint_;
};

// Shortens a user value for errdetail so that a 1 MB text does not flood the log.
std::string quote_for_detail(const std::string& value, std::size_t max_bytes = 120);

}  // namespace plivo
