#include "phone_number.hpp"

#include <phonenumbers/phonenumberutil.h>

#include <unordered_map>

#include "input_error.hpp"
#include "utf8.hpp"
#include "pure_cpp.hpp"

namespace plivo {

namespace {

// Longer input is refused before libphonenumber sees it: E.164 has at most 15 digits,
// which leaves room for generous punctuation and spacing.
constexpr std::size_t kMaxPhoneNumberInput = 32;

constexpr const char* kCountryCodeHint =
    "Write the number with its country code, for example +14155552671 for a US number "
    "or +442071838750 for a UK number.";

// The characters Plivo strips from a number (plivo-api.md §1).
bool is_number_punctuation(char c) {
    switch (c) {
        case ' ':
        case '+':
        case '-':
        case '.':
        case '(':
        case ')':
        case '/':
            return true;
        default:
            return false;
    }
}

// Numbers already found valid, by their digits (the result depends on nothing else).
// Senders repeat on every message and recipients often do; libphonenumber's check is
// regular expressions over its metadata. Per thread, cleared when full: no locks, bounded.
constexpr std::size_t kKnownNumbersLimit = 4096;
thread_local std::unordered_map<std::string, PhoneNumber> known_numbers;

// "1" and ten digits whose first is 2-9: a North American number written in full. For
// these, Parse() would take the country code 1 and keep the ten digits as they are (the
// national prefix "1" cannot match a number starting with 2-9, and there are no carrier
// codes); it spends its time on regular expressions that look for extensions and
// prefixes (half of a validated INSERT's phone-number cost). The fuzzer checks that both
// ways give the same number.
bool is_plain_nanp(const std::string& digits) {
    return digits.size() == 11 && digits[0] == '1' && digits[1] >= '2' && digits[1] <= '9';
}

[[noreturn]] void throw_not_a_number(const std::string& field, std::string detail,
                                     std::string hint = kCountryCodeHint) {
    throw InputError(InputErrorKind::InvalidParameter, field,
                     field + " is not a valid phone number", std::move(detail), std::move(hint));
}

}  // namespace

PhoneNumber parse_phone_number(const std::string& text, const std::string& field) {
    if (text.size() > kMaxPhoneNumberInput) {
        throw_not_a_number(field, "The value " + quote_for_detail(text, 40) + " is " +
                                      std::to_string(text.size()) + " bytes long; at most " +
                                      std::to_string(kMaxPhoneNumberInput) + " are accepted.");
    }

    // Keep the digits; anything but digits and Plivo's punctuation is refused here, so
    // that libphonenumber never turns letters into digits ("1-800-FLOWERS") or reads an
    // extension ("ext. 12") we would silently drop.
    std::string digits;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c >= '0' && c <= '9') {
            digits += c;
        } else if (!is_number_punctuation(c)) {
            const auto whole_char = utf8::decode_char(text, i);
            const std::string offending = text.substr(i, whole_char ? whole_char->length : 1);
            throw_not_a_number(field, "The value " + quote_for_detail(text) + " contains " +
                                          quote_for_detail(offending) +
                                          "; only digits, spaces and + - . ( ) / are allowed.");
        }
    }
    if (digits.empty()) {
        throw_not_a_number(field, "The value " + quote_for_detail(text) + " has no digits.");
    }

    if (auto known = known_numbers.find(digits); known != known_numbers.end()) return known->second;

    // Always international: the country code comes first whether or not '+' was written.
    using i18n::phonenumbers::PhoneNumberUtil;
    const PhoneNumberUtil* util = PhoneNumberUtil::GetInstance();  // lazy singleton
    i18n::phonenumbers::PhoneNumber number;
    PhoneNumber result;
    bool parsed = false;
    if (is_plain_nanp(digits)) {
        number.set_country_code(1);
        number.set_national_number(std::stoull(digits.substr(1)));
        parsed = true;
    } else {
        parsed = util->Parse("+" + digits, "ZZ", &number) == PhoneNumberUtil::NO_PARSING_ERROR;
    }
    // IsValidNumber() is GetRegionCodeForNumber() and then IsValidNumberForRegion() for
    // the region found; the region is wanted anyway, so that is what is called. For a
    // US number both calls ran the same check, the US patterns: finding the region tries
    // the regions of +1 in turn, the US first, and takes the first whose patterns the
    // number matches (the US metadata has no leading digits that would pick it before).
    // So a number the US patterns accept is valid and in the US, with one check (a
    // third of a validated INSERT's phone-number cost); other numbers take both calls.
    // The fuzzer checks that both ways give the same validity and region.
    bool valid = false;
    if (parsed && number.country_code() == 1 && util->IsValidNumberForRegion(number, "US")) {
        result.region = "US";
        valid = true;
    } else if (parsed) {
        util->GetRegionCodeForNumber(number, &result.region);
        valid = util->IsValidNumberForRegion(number, result.region);
    }
    if (!valid) {
        std::string hint = kCountryCodeHint;
        if (digits[0] == '0') {
            hint =
                "Write the number with its country code instead of a dialling prefix or a "
                "leading 0, for example +442071838750 rather than 00442071838750 or "
                "02071838750.";
        }
        throw_not_a_number(field, "The value was " + quote_for_detail(text) + ".", std::move(hint));
    }

    util->Format(number, PhoneNumberUtil::E164, &result.e164);
    // E.164 allows at most 15 digits; libphonenumber's metadata accepts a few longer
    // national numbers (found by fuzzing: +4954005415050050), which Plivo cannot route.
    if (result.e164.size() > 16) {
        throw_not_a_number(field, "The value " + quote_for_detail(text) + " has " +
                                      std::to_string(result.e164.size() - 1) +
                                      " digits; an international number has at most 15.");
    }
    // Some short local forms get digits added (found by fuzzing: +672 20208 becomes
    // +672 3 20208 on Norfolk Island). Sending to a number nobody wrote is refused.
    if (result.e164.size() - 1 > digits.size()) {
        throw_not_a_number(field,
                           "The value " + quote_for_detail(text) + " is a short local form of " +
                               result.e164 + ".",
                           "Write the number in full, with its country code: " + result.e164 +
                               ".");
    }
    // Some forms lose a digit that was written, and what is left reads as yet another
    // number (found by fuzzing: +52 1 1415 552 0131 reads as +52 1 415 552 0131, which
    // reads as +52 415 552 0131). A stored number is read again before it is sent, so
    // only a form that reads as itself is accepted. Digits kept as written read alike.
    if (result.e164 != "+" + digits) {
        i18n::phonenumbers::PhoneNumber again;
        PhoneNumber reread;
        if (util->Parse(result.e164, "ZZ", &again) == PhoneNumberUtil::NO_PARSING_ERROR) {
            util->Format(again, PhoneNumberUtil::E164, &reread.e164);
            util->GetRegionCodeForNumber(again, &reread.region);
        }
        if (reread.e164 != result.e164 || reread.region != result.region) {
            throw_not_a_number(field,
                               "The value " + quote_for_detail(text) + " reads as " +
                                   result.e164 + ", which in turn reads as " +
                                   (reread.e164.empty() ? "no number" : reread.e164) + ".",
                               "Write the number as it is dialled from abroad, without a "
                               "national or mobile prefix after the country code.");
        }
    }
    if (known_numbers.size() >= kKnownNumbersLimit) known_numbers.clear();
    known_numbers.emplace(std::move(digits), result);
    return result;
}

}  // namespace plivo
