// Opt-out, opt-in and HELP keywords as inbound messages spell them
// (dispatcher/consent_keywords.hpp).
#include <gtest/gtest.h>

#include "consent_keywords.hpp"

namespace plivo {
namespace {

ConsentKeywordLists default_lists() {
    // The settings' defaults (extension/settings.cpp).
    return {parse_keyword_list("stop, stopall, stop all, end, quit, cancel, unsub, unsubscribe, "
                               "revoke, opt out, optout, opt-out"),
            parse_keyword_list("start, unstop"), parse_keyword_list("help, info")};
}

TEST(ConsentKeywords, NormalizeFoldsCaseSpacesAndEdgePunctuation) {
    EXPECT_EQ(normalize_keyword_text("Stop"), "stop");
    EXPECT_EQ(normalize_keyword_text("  STOP!  "), "stop");
    EXPECT_EQ(normalize_keyword_text("\tOpt\n  Out."), "opt out");
    EXPECT_EQ(normalize_keyword_text("opt-out"), "opt-out");
    EXPECT_EQ(normalize_keyword_text("...?"), "");
    EXPECT_EQ(normalize_keyword_text(""), "");
    // UTF-8 is kept byte for byte, not folded or cut.
    EXPECT_EQ(normalize_keyword_text(" Ärger! "), "Ärger");
}

TEST(ConsentKeywords, ParseListNormalizesAndDropsEmptyAndRepeatedEntries) {
    EXPECT_EQ(parse_keyword_list("STOP, ,stop,  Opt   Out ,"),
              (std::vector<std::string>{"stop", "opt out"}));
    EXPECT_TRUE(parse_keyword_list("").empty());
    EXPECT_TRUE(parse_keyword_list(" , ,").empty());
}

TEST(ConsentKeywords, RevocationWordsInEveryCommonSpelling) {
    const auto lists = default_lists();
    for (const char* text : {"STOP", "stop", "Stop", " Stop ", "stop.", "STOP!", "Quit", "END",
                             "cancel", "Unsubscribe", "REVOKE", "opt out", "Opt-Out", "OPTOUT",
                             "stop all", "STOPALL"}) {
        EXPECT_EQ(classify_consent_keyword(text, lists), ConsentKeyword::OptOut) << text;
    }
}

TEST(ConsentKeywords, OptInAndHelp) {
    const auto lists = default_lists();
    EXPECT_EQ(classify_consent_keyword("START", lists), ConsentKeyword::OptIn);
    EXPECT_EQ(classify_consent_keyword("unstop", lists), ConsentKeyword::OptIn);
    EXPECT_EQ(classify_consent_keyword("Help", lists), ConsentKeyword::Help);
    EXPECT_EQ(classify_consent_keyword("info?", lists), ConsentKeyword::Help);
}

TEST(ConsentKeywords, OnlyTheWholeMessageCounts) {
    const auto lists = default_lists();
    for (const char* text : {"stop by at 5", "don't stop", "Starting now", "helpful", "", "  ",
                             "stopp"}) {
        EXPECT_EQ(classify_consent_keyword(text, lists), ConsentKeyword::None) << text;
    }
    EXPECT_EQ(classify_consent_keyword(std::string(10000, 'x'), lists), ConsentKeyword::None);
}

TEST(ConsentKeywords, OptOutWinsWhenAWordIsInSeveralLists) {
    ConsentKeywordLists lists{parse_keyword_list("stop"), parse_keyword_list("stop, start"),
                              parse_keyword_list("stop")};
    EXPECT_EQ(classify_consent_keyword("stop", lists), ConsentKeyword::OptOut);
    EXPECT_EQ(classify_consent_keyword("start", lists), ConsentKeyword::OptIn);
}

TEST(ConsentKeywords, EmptyListsMatchNothing) {
    EXPECT_EQ(classify_consent_keyword("stop", ConsentKeywordLists{}), ConsentKeyword::None);
}

TEST(ConsentKeywords, Names) {
    EXPECT_STREQ(consent_keyword_name(ConsentKeyword::OptOut), "opt_out");
    EXPECT_STREQ(consent_keyword_name(ConsentKeyword::OptIn), "opt_in");
    EXPECT_STREQ(consent_keyword_name(ConsentKeyword::Help), "help");
    EXPECT_EQ(consent_keyword_name(ConsentKeyword::None), nullptr);
}

}  // namespace
}  // namespace plivo
