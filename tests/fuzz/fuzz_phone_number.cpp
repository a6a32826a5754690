// parse_phone_number on any text: an InputError or a valid E.164 number that parses
// again to itself, with the verdict of libphonenumber's own IsValidNumber().
#include <phonenumbers/phonenumberutil.h>

#include <cstdint>
#include <optional>
#include <string>

#include "fuzz_util.hpp"
#include "input_error.hpp"
#include "phone_number.hpp"

namespace {

// What libphonenumber's Parse() reads from an international number: its E.164 form,
// region and validity. nullopt when it does not parse.
struct Reading {
    std::string e164, region;
    bool valid = false;
};

std::optional<Reading> library_reading(const std::string& international) {
    using i18n::phonenumbers::PhoneNumberUtil;
    const PhoneNumberUtil* util = PhoneNumberUtil::GetInstance();
    i18n::phonenumbers::PhoneNumber number;
    if (util->Parse(international, "ZZ", &number) != PhoneNumberUtil::NO_PARSING_ERROR)
        return std::nullopt;
    Reading reading;
    util->Format(number, PhoneNumberUtil::E164, &reading.e164);
    util->GetRegionCodeForNumber(number, &reading.region);
    reading.valid = util->IsValidNumber(number);
    return reading;
}

std::string digits_of(const std::string& text) {
    std::string digits;
    for (char c : text) if (c >= '0' && c <= '9') digits += c;
    return digits;
}

// libphonenumber's plain answer for the digits written, with our three refusals on top.
bool library_says_valid(const std::string& text) {
    if (text.size() > 32 || text.find_first_not_of("0123456789 +-.()/") != std::string::npos)
        return false;
    const std::string digits = digits_of(text);
    const auto first = digits.empty() ? std::nullopt : library_reading("+" + digits);
    // At most 15 digits, and none added to what was written (short local forms).
    if (!first || !first->valid || first->e164.size() > 16 || first->e164.size() - 1 > digits.size())
        return false;
    // The E.164 form reads as itself (a Mexican "1" is dropped at each reading).
    const auto again = library_reading(first->e164);
    return again && again->e164 == first->e164 && again->region == first->region;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text = fuzz::as_string(data, size);
    plivo::PhoneNumber number;
    // Twice: the second answer may come from the memo of numbers seen before.
    for (int pass = 0; pass < 2; ++pass) {
        try {
            number = plivo::parse_phone_number(text, "recipient");
        } catch (const plivo::InputError& error) {
            FUZZ_CHECK(error.kind() == plivo::InputErrorKind::InvalidParameter);
            FUZZ_CHECK(error.field() == "recipient");
            FUZZ_CHECK(fuzz::is_utf8(error.detail()));
            FUZZ_CHECK(!library_says_valid(text));
            return 0;
        }
        FUZZ_CHECK(library_says_valid(text));
    }
    // Accepted input is short and made of digits and Plivo's punctuation only.
    FUZZ_CHECK(text.size() <= 32);
    FUZZ_CHECK(text.find_first_not_of("0123456789 +-.()/") == std::string::npos);
    // "+" and 2 to 15 digits.
    FUZZ_CHECK(number.e164.size() >= 3 && number.e164.size() <= 16 && number.e164[0] == '+');
    FUZZ_CHECK(number.e164.find_first_not_of("0123456789", 1) == std::string::npos);
    // A region: two capital letters, or "001" for non-geographic numbers.
    FUZZ_CHECK(number.region == "001" ||
               (number.region.size() == 2 && number.region.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") == std::string::npos));
    // E.164 never holds more digits than were written.
    const std::string digits = digits_of(text);
    FUZZ_CHECK(number.e164.size() - 1 <= digits.size());
    // The very number libphonenumber's Parse() reads from the digits (parse_phone_number
    // skips Parse() for plain North American numbers).
    const auto parsed = library_reading("+" + digits);
    FUZZ_CHECK(parsed && parsed->e164 == number.e164 && parsed->region == number.region);
    // The E.164 form is a fixed point.
    const plivo::PhoneNumber again = plivo::parse_phone_number(number.e164, "recipient");
    FUZZ_CHECK(again.e164 == number.e164 && again.region == number.region);
    return 0;
}
