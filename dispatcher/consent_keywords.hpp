// Consent keywords: whether an inbound message is an opt-out ("Stop"), an opt-in
// ("START") or a request for help, by the keyword lists pg_plivo's settings hold.
#pragma once

#include <string>
#include <vector>

namespace plivo {

enum class ConsentKeyword { None, OptOut, OptIn, Help };

// What a keyword is compared as: ASCII letters folded to lower case, whitespace runs
// made one space, and whitespace and punctuation at either end dropped ("  Stop! " and
// "STOP." are both "stop"). Other bytes (UTF-8) are kept as they are.
std::string normalize_keyword_text(const std::string& text);

// A comma-separated list as the settings write it ("stop, opt out, END"): each entry
// normalised, empty ones dropped.
std::vector<std::string> parse_keyword_list(const std::string& list);

struct ConsentKeywordLists {
    std::vector<std::string> opt_out;
    std::vector<std::string> opt_in;
    std::vector<std::string> help;
};

// The whole message must be the keyword: "stop" is an opt-out, "stop by at 5" is not.
// Opt-out wins over the other lists when a word is in several (revocation must never
// be missed).
ConsentKeyword classify_consent_keyword(const std::string& text, const ConsentKeywordLists& lists);

// "opt_out", "opt_in", "help", or nullptr for None.
const char* consent_keyword_name(ConsentKeyword keyword);

}  // namespace plivo
