// parse_phone_number on any text: an InputError or a valid E.164 number that parses
// again to itself, with the verdict of libphonenumber's own IsValidNumber().
#include <phonenumbers/phonenumberutil.h>

#include <cstdint>
#include <string>

#include "fuzz_util.hpp"
#include "input_error.hpp"
#include "phone_number.hpp"

namespace {

// libphonenumber's plain answer for the digits written, with our three refusals on top.
bool library_says_valid(const std::string& text) {
    using i18n::phonenumbers::PhoneNumberUtil;
    if (text.size() > 32 || text.find_first_not_of("0123456789 +-.()/") != std::string::npos)
        return false;
    std::string digits;
    for (char c : text) if (c >= '0' && c <= '9') digits += c;
    const PhoneNumberUtil* util = PhoneNumberUtil::GetInstance();
    i18n::phonenumbers::PhoneNumber number;
    if (digits.empty() || util->Parse("+" + digits, "ZZ", &number) != PhoneNumberUtil::NO_PARSING_ERROR)
        return false;
    std::string e164;
    util->Format(number, PhoneNumberUtil::E164, &e164);
    // At most 15 digits, and none added to what was written (short local forms).
    if (!util->IsValidNumber(number) || e164.size() > 16 || e164.size() - 1 > digits.size())
        return false;
    // The E.164 form reads as itself (a Mexican "1" is dropped at each reading).
    i18n::phonenumbers::PhoneNumber again;
    std::string again_e164, region, again_region;
    if (util->Parse(e164, "ZZ", &again) != PhoneNumberUtil::NO_PARSING_ERROR) return false;
    util->Format(again, PhoneNumberUtil::E164, &again_e164);
    util->GetRegionCodeForNumber(number, &region);
    util->GetRegionCodeForNumber(again, &again_region);
    return again_e164 == e164 && again_region == region;
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
    std::string digits;
    for (char c : text) if (c >= '0' && c <= '9') digits += c;
    FUZZ_CHECK(number.e164.size() - 1 <= digits.size());
    // The very number libphonenumber's Parse() reads from the digits (parse_phone_number
    // skips Parse() for plain North American numbers).
    {
        using i18n::phonenumbers::PhoneNumberUtil;
        const PhoneNumberUtil* util = PhoneNumberUtil::GetInstance();
        i18n::phonenumbers::PhoneNumber parsed;
        FUZZ_CHECK(util->Parse("+" + digits, "ZZ", &parsed) == PhoneNumberUtil::NO_PARSING_ERROR);
        std::string e164, region;
        util->Format(parsed, PhoneNumberUtil::E164, &e164);
        util->GetRegionCodeForNumber(parsed, &region);
        FUZZ_CHECK(e164 == number.e164 && region == number.region);
    }
    // The E.164 form is a fixed point.
    const plivo::PhoneNumber again = plivo::parse_phone_number(number.e164, "recipient");
    FUZZ_CHECK(again.e164 == number.e164 && again.region == number.region);
    return 0;
}
