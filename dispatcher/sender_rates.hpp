// plivo.sender_rate_limits: per-number rate overrides, "+14155550100=25, +14155550111=0.2".
#pragma once

#include <map>
#include <string>

namespace plivo {

// Parses the setting into E.164 → requests per second. Numbers are normalised with
// parse_phone_number; a rate must be a positive number. Throws InputError naming
// plivo.sender_rate_limits for anything else. An empty string gives an empty map.
std::map<std::string, double> parse_sender_rates(const std::string& text);

}  // namespace plivo
