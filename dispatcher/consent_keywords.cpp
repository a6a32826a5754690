#include "consent_keywords.hpp"

#include <algorithm>

namespace plivo {
namespace {

bool is_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

// ASCII punctuation only: a multi-byte UTF-8 character is never cut in half.
bool is_edge_punctuation(unsigned char c) {
    return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
           (c >= '{' && c <= '~');
}

// Longer than any keyword can reasonably be: such a message is not one.
constexpr std::size_t kMaxKeywordBytes = 64;

}  // namespace

std::string normalize_keyword_text(const std::string& text) {
    std::string folded;
    folded.reserve(text.size());
    bool pending_space = false;
    for (unsigned char c : text) {
        if (is_space(c)) {
            pending_space = !folded.empty();
            continue;
        }
        if (pending_space) folded.push_back(' ');
        pending_space = false;
        folded.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a')
                                              : static_cast<char>(c));
    }
    std::size_t begin = 0;
    std::size_t end = folded.size();
    while (begin < end && (is_edge_punctuation(folded[begin]) || folded[begin] == ' ')) ++begin;
    while (end > begin &&
           (is_edge_punctuation(folded[end - 1]) || folded[end - 1] == ' ')) {
        --end;
    }
    return folded.substr(begin, end - begin);
}

std::vector<std::string> parse_keyword_list(const std::string& list) {
    std::vector<std::string> words;
    std::size_t start = 0;
    while (start <= list.size()) {
        std::size_t comma = list.find(',', start);
        if (comma == std::string::npos) comma = list.size();
        std::string word = normalize_keyword_text(list.substr(start, comma - start));
        if (!word.empty() && std::find(words.begin(), words.end(), word) == words.end()) {
            words.push_back(std::move(word));
        }
        start = comma + 1;
    }
    return words;
}

ConsentKeyword classify_consent_keyword(const std::string& text,
                                        const ConsentKeywordLists& lists) {
    if (text.size() > kMaxKeywordBytes * 4) return ConsentKeyword::None;
    std::string word = normalize_keyword_text(text);
    if (word.empty() || word.size() > kMaxKeywordBytes) return ConsentKeyword::None;
    auto listed = [&](const std::vector<std::string>& words) {
        return std::find(words.begin(), words.end(), word) != words.end();
    };
    if (listed(lists.opt_out)) return ConsentKeyword::OptOut;
    if (listed(lists.opt_in)) return ConsentKeyword::OptIn;
    if (listed(lists.help)) return ConsentKeyword::Help;
    return ConsentKeyword::None;
}

const char* consent_keyword_name(ConsentKeyword keyword) {
    switch (keyword) {
        case ConsentKeyword::OptOut:
            return "opt_out";
        case ConsentKeyword::OptIn:
            return "opt_in";
        case ConsentKeyword::Help:
            return "help";
        case ConsentKeyword::None:
            break;
    }
    return nullptr;
}

}  // namespace plivo
