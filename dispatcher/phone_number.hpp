// Phone numbers, checked with Google's libphonenumber (never a regex).
#pragma once

#include <string>

namespace plivo {

struct PhoneNumber {
    std::string e164;    // "+14155550100"
    std::string region;  // ISO 3166 region libphonenumber assigns, e.g. "US", "CA"
};

// Parses a number written with its country code ("+1 415-555-0100", "14155550100");
// spaces and + - . ( ) / are accepted as Plivo accepts them. Throws InputError naming
// `field` when it is not a valid number (IsValidNumber). Costs ~10 µs the first time a
// number is seen in a thread; numbers seen before come from a small memo.
PhoneNumber parse_phone_number(const std::string& text, const std::string& field);

}  // namespace plivo
