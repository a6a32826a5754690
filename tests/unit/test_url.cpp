// URL splitting, query decoding and the validation of user-supplied URLs (dispatcher/url.hpp).
#include <gtest/gtest.h>

#include <cctype>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "input_error.hpp"
#include "url.hpp"

namespace plivo {
namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

const std::string kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

// ---------------------------------------------------------------------------------------
// split_url

TEST(UrlSplit, SplitsEveryPartKeepingThemAsWritten) {
    const auto parts = split_url("HTTPS://user:pw@Example.COM:8443/a/B/?x=1&y=%20#frag");
    ASSERT_TRUE(parts.has_value());
    EXPECT_EQ(parts->scheme, "https");  // the only part that is normalised
    EXPECT_EQ(parts->userinfo, "user:pw");
    EXPECT_EQ(parts->host, "Example.COM");
    EXPECT_EQ(parts->port, "8443");
    EXPECT_EQ(parts->path, "/a/B/");
    EXPECT_EQ(parts->query, "x=1&y=%20");
    EXPECT_EQ(parts->fragment, "frag");
}

TEST(UrlSplit, MinimalUrlHasEmptyPathAndNoQueryOrFragment) {
    const auto parts = split_url("https://answer.url");
    ASSERT_TRUE(parts.has_value());
    EXPECT_EQ(parts->host, "answer.url");
    EXPECT_EQ(parts->userinfo, "");
    EXPECT_EQ(parts->port, "");
    EXPECT_EQ(parts->path, "");
    EXPECT_FALSE(parts->query.has_value());
    EXPECT_FALSE(parts->fragment.has_value());
}

TEST(UrlSplit, EmptyQueryAndFragmentAreDistinctFromAbsentOnes) {
    const auto parts = split_url("https://h/p?#");
    ASSERT_TRUE(parts.has_value());
    EXPECT_EQ(parts->path, "/p");
    EXPECT_EQ(parts->query, "");
    EXPECT_EQ(parts->fragment, "");
}

TEST(UrlSplit, QuestionMarkAfterHashBelongsToTheFragment) {
    const auto parts = split_url("https://h/p#f?x=1#g");
    ASSERT_TRUE(parts.has_value());
    EXPECT_EQ(parts->path, "/p");
    EXPECT_FALSE(parts->query.has_value());
    EXPECT_EQ(parts->fragment, "f?x=1#g");
}

TEST(UrlSplit, QueryWithoutPath) {
    const auto parts = split_url("https://h?a=1/b");
    ASSERT_TRUE(parts.has_value());
    EXPECT_EQ(parts->host, "h");
    EXPECT_EQ(parts->path, "");
    EXPECT_EQ(parts->query, "a=1/b");
}

TEST(UrlSplit, PathIsNotNormalised) {
    const auto parts = split_url("https://h/a%2Fb/./c//../d/");
    ASSERT_TRUE(parts.has_value());
    EXPECT_EQ(parts->path, "/a%2Fb/./c//../d/");
}

TEST(UrlSplit, Ipv6LiteralKeepsItsBrackets) {
    const auto with_port = split_url("http://[::1]:8080/x");
    ASSERT_TRUE(with_port.has_value());
    EXPECT_EQ(with_port->host, "[::1]");
    EXPECT_EQ(with_port->port, "8080");
    EXPECT_EQ(with_port->path, "/x");

    const auto without_port = split_url("https://[2001:db8::1]?q");
    ASSERT_TRUE(without_port.has_value());
    EXPECT_EQ(without_port->host, "[2001:db8::1]");
    EXPECT_EQ(without_port->port, "");
    EXPECT_EQ(without_port->query, "q");
}

TEST(UrlSplit, MalformedIpv6LiteralIsRejected) {
    EXPECT_FALSE(split_url("http://[::1/x"));   // no closing bracket
    EXPECT_FALSE(split_url("http://[]/x"));     // empty
    EXPECT_FALSE(split_url("http://[::1]x/"));  // junk after the bracket
    EXPECT_FALSE(split_url("http://[::1]:/"));  // empty port
    EXPECT_FALSE(split_url("http://[::1<]/"));  // not an address character
}

TEST(UrlSplit, PortMustBeDigitsUpTo65535) {
    ASSERT_TRUE(split_url("https://h:65535/"));
    EXPECT_EQ(split_url("https://h:65535/")->port, "65535");
    EXPECT_EQ(split_url("https://h:0080/")->port, "0080");  // as written
    EXPECT_FALSE(split_url("https://h:65536/"));
    EXPECT_FALSE(split_url("https://h:99999999999999999999999/"));  // no overflow
    EXPECT_FALSE(split_url("https://h:8a/"));
    EXPECT_FALSE(split_url("https://h:-1/"));
    EXPECT_FALSE(split_url("https://h:/"));
    EXPECT_FALSE(split_url("https://h:80:80/"));
}

TEST(UrlSplit, NoSchemeOrNoHostIsNullopt) {
    for (const char* url : {"", "mailto:x@example.com", "//host/path", "https:///path", "https://",
                            "https://:443/", "https:/host/path", "https:host", "host/path",
                            "/relative", "1http://h/", "ht tp://h/", ":/h"}) {
        EXPECT_FALSE(split_url(url).has_value()) << url;
    }
}

TEST(UrlSplit, UserinfoEndsAtTheLastAt) {
    const auto parts = split_url("https://a@b:c@host.example/x@y?z=@");
    ASSERT_TRUE(parts.has_value());
    EXPECT_EQ(parts->userinfo, "a@b:c");
    EXPECT_EQ(parts->host, "host.example");
    EXPECT_EQ(parts->path, "/x@y");
    EXPECT_EQ(parts->query, "z=@");
}

TEST(UrlSplit, HostWithCharactersNoHostCanHaveIsRejected) {
    EXPECT_FALSE(split_url("https://a<b/"));
    EXPECT_FALSE(split_url("https://evil.com\\.good.com/"));
    EXPECT_FALSE(split_url("https://a]b/"));
}

TEST(UrlSplit, UnicodeHostIsKeptAsWritten) {
    const auto parts = split_url(
        "https://b\xC3\xBC"
        "cher.example/");
    ASSERT_TRUE(parts.has_value());
    EXPECT_EQ(parts->host,
              "b\xC3\xBC"
              "cher.example");
}

TEST(UrlSplit, OtherSchemesSplitToo) {
    const auto parts = split_url("FTP+X.y-z://h/x");
    ASSERT_TRUE(parts.has_value());
    EXPECT_EQ(parts->scheme, "ftp+x.y-z");
}

// ---------------------------------------------------------------------------------------
// signature_base

std::string base_of(const std::string& url) {
    const auto parts = split_url(url);
    if (!parts) return "<nullopt>";
    return signature_base(*parts);
}

TEST(UrlSignatureBase, DropsQueryFragmentAndUserinfo) {
    EXPECT_EQ(base_of("https://example.com:8443/cb/?a=1#frag"), "https://example.com:8443/cb/");
    EXPECT_EQ(base_of("https://user:pw@example.com/cb"), "https://example.com/cb");
}

TEST(UrlSignatureBase, KeepsTrailingSlashHostCaseAndPortAsWritten) {
    EXPECT_EQ(base_of("HTTPS://Example.COM:0443/Cb/"), "https://Example.COM:0443/Cb/");
    EXPECT_EQ(base_of("https://answer.url"), "https://answer.url");
    EXPECT_EQ(base_of("https://answer.url/"), "https://answer.url/");
    EXPECT_EQ(base_of("http://[::1]:8080/p?x"), "http://[::1]:8080/p");
}

// ---------------------------------------------------------------------------------------
// percent_decode

TEST(UrlPercentDecode, DecodesEscapesInEitherCase) {
    EXPECT_EQ(percent_decode("x%20y%2fz%2F", false), "x y/z/");
    EXPECT_EQ(percent_decode("caf%c3%a9", false), "caf\xC3\xA9");
}

TEST(UrlPercentDecode, PlusIsASpaceOnlyWhenAsked) {
    EXPECT_EQ(percent_decode("a+b%2B", true), "a b+");
    EXPECT_EQ(percent_decode("a+b%2B", false), "a+b+");
}

TEST(UrlPercentDecode, MalformedEscapesStayAsWritten) {
    EXPECT_EQ(percent_decode("%zz", false), "%zz");
    EXPECT_EQ(percent_decode("%4", false), "%4");
    EXPECT_EQ(percent_decode("%", false), "%");
    EXPECT_EQ(percent_decode("%41%4", false), "A%4");
    EXPECT_EQ(percent_decode("%%41", false), "%A");
    EXPECT_EQ(percent_decode("%4g", false), "%4g");
}

TEST(UrlPercentDecode, ReturnsRawBytes) {
    EXPECT_EQ(percent_decode("%00", false), std::string(1, '\0'));
    EXPECT_EQ(percent_decode("%FF", false), "\xFF");
}

// ---------------------------------------------------------------------------------------
// decode_query: every expectation below is what Python 3.11's
// urllib.parse.parse_qsl(query, keep_blank_values=True) returns.

struct QueryCase {
    const char* query;
    Pairs expected;
};

// Names a case by its query (printable ASCII kept, other bytes as \xNN) in test listings.
void PrintTo(const QueryCase& test_case, std::ostream* out) {
    *out << '"';
    for (const char ch : std::string(test_case.query)) {
        const unsigned char c = static_cast<unsigned char>(ch);
        if (c >= 0x21 && c < 0x7F && c != '"' && c != '\\') {
            *out << ch;
        } else {
            static const char kHex[] = "0123456789ABCDEF";
            *out << "\\x" << kHex[c >> 4] << kHex[c & 0xF];
        }
    }
    *out << '"';
}

class UrlDecodeQuery : public ::testing::TestWithParam<QueryCase> {};

TEST_P(UrlDecodeQuery, MatchesPythonParseQsl) {
    EXPECT_EQ(decode_query(GetParam().query), GetParam().expected) << GetParam().query;
}

INSTANTIATE_TEST_SUITE_P(
    ParseQslCases, UrlDecodeQuery,
    ::testing::Values(
        QueryCase{"", {}}, QueryCase{"&", {}}, QueryCase{"&&", {}},
        QueryCase{"a=1&&b=2", {{"a", "1"}, {"b", "2"}}}, QueryCase{"a=1&", {{"a", "1"}}},
        QueryCase{"b=2&a=1&b=1", {{"b", "2"}, {"a", "1"}, {"b", "1"}}},  // order kept
        QueryCase{"a", {{"a", ""}}}, QueryCase{"a=", {{"a", ""}}}, QueryCase{"=x", {{"", "x"}}},
        QueryCase{"=", {{"", ""}}}, QueryCase{"a==b", {{"a", "=b"}}},
        QueryCase{"a=b=c", {{"a", "b=c"}}}, QueryCase{"a+b=c+d", {{"a b", "c d"}}},
        QueryCase{"tenant=42&b=x%20y", {{"tenant", "42"}, {"b", "x y"}}},
        QueryCase{"%3D=%26", {{"=", "&"}}}, QueryCase{"a=%2B", {{"a", "+"}}},
        QueryCase{"a=1;b=2", {{"a", "1;b=2"}}},  // ';' is not a separator
        QueryCase{"a=%zz&b=%4&c=%41%4", {{"a", "%zz"}, {"b", "%4"}, {"c", "A%4"}}},
        QueryCase{"a=%00", {{"a", std::string(1, '\0')}}},
        QueryCase{"a=%E2%82%AC", {{"a", "\xE2\x82\xAC"}}},
        QueryCase{"a=%F0%9F%98%80", {{"a", "\xF0\x9F\x98\x80"}}},
        QueryCase{"k=caf\xC3\xA9", {{"k", "caf\xC3\xA9"}}}));  // raw UTF-8 passes through

// Decoded bytes that are not UTF-8 become U+FFFD, one per maximal ill-formed subpart.
INSTANTIATE_TEST_SUITE_P(
    InvalidUtf8Cases, UrlDecodeQuery,
    ::testing::Values(
        QueryCase{"a=%ff", {{"a", kReplacementChar}}},
        QueryCase{"%ff=1", {{kReplacementChar, "1"}}},
        QueryCase{"a=%E2%82", {{"a", kReplacementChar}}},
        QueryCase{"a=%E2%82%41", {{"a", kReplacementChar + "A"}}},
        QueryCase{"a=%E2%82%AC%E2", {{"a", "\xE2\x82\xAC" + kReplacementChar}}},
        QueryCase{"a=%C0%80", {{"a", kReplacementChar + kReplacementChar}}},
        QueryCase{"a=%F0%80%80", {{"a", kReplacementChar + kReplacementChar + kReplacementChar}}},
        QueryCase{"a=%ED%A0%80", {{"a", kReplacementChar + kReplacementChar + kReplacementChar}}},
        QueryCase{
            "a=%F4%90%80%80",
            {{"a", kReplacementChar + kReplacementChar + kReplacementChar + kReplacementChar}}}));

// ---------------------------------------------------------------------------------------
// require_http_url

// The InputError require_http_url throws for `url`, or fails the test when it does not throw.
InputError error_for(const std::string& url, const std::string& field = "callback_url") {
    try {
        require_http_url(url, field);
    } catch (const InputError& error) {
        return error;
    }
    ADD_FAILURE() << "no InputError for " << url;
    return InputError(InputErrorKind::NullValue, "", "", "", "");
}

TEST(UrlRequireHttp, AcceptsAbsoluteHttpAndHttpsUrls) {
    for (const char* url : {"https://example.com", "http://example.com/", "HTTPS://Example.com/cb",
                            "https://example.com:8443/plivo/status?tenant=42&x=%20#frag",
                            "http://[::1]:8080/x", "https://127.0.0.1/x",
                            "https://b\xC3\xBC"
                            "cher.example/caf\xC3\xA9.jpg",
                            "https://h:65535/", "https://example.com/a%20b"}) {
        EXPECT_NO_THROW(require_http_url(url, "callback_url")) << url;
    }
}

TEST(UrlRequireHttp, AcceptsExactly2048BytesAndRejects2049) {
    const std::string prefix = "https://example.com/";
    const std::string at_limit = prefix + std::string(2048 - prefix.size(), 'a');
    ASSERT_EQ(at_limit.size(), 2048u);
    EXPECT_NO_THROW(require_http_url(at_limit, "callback_url"));

    const InputError error = error_for(at_limit + "a");
    EXPECT_EQ(error.what(), std::string("callback_url is longer than 2048 bytes"));
    EXPECT_EQ(error.kind(), InputErrorKind::InvalidParameter);
    EXPECT_EQ(error.field(), "callback_url");
    EXPECT_NE(error.detail().find("2049 bytes"), std::string::npos) << error.detail();
    EXPECT_LT(error.detail().size(), 400u) << "the detail must not carry the whole URL";
}

TEST(UrlRequireHttp, RejectsWhitespaceAndControlCharacters) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {" https://example.com/", "a space at byte offset 0"},
        {"https://example.com/ ", "a space at byte offset 20"},
        {"https://example.com/a b", "a space at byte offset 21"},
        {"https://example.com/\t", "a tab"},
        {"https://example.com/\n", "a line break"},
        {"https://example.com/\r\n", "a line break"},
        {std::string("https://example.com/\0", 21), "U+0000"},
        {"https://example.com/\x01", "U+0001"},
        {"https://example.com/\x7F", "U+007F"},
        {"https://example.com/\xC2\x85", "U+0085"},      // NEL, a C1 control
        {"https://example.com/\xC2\xA0", "U+00A0"},      // no-break space
        {"https://example.com/\xE2\x80\xA8", "U+2028"},  // line separator
        {"https://example.com/\xE3\x80\x80", "U+3000"},  // ideographic space
    };
    for (const auto& [url, in_detail] : cases) {
        const InputError error = error_for(url);
        EXPECT_EQ(error.what(),
                  std::string("callback_url contains whitespace or control characters"))
            << url;
        EXPECT_NE(error.detail().find(in_detail), std::string::npos) << error.detail();
        EXPECT_EQ(error.kind(), InputErrorKind::InvalidParameter);
    }
}

TEST(UrlRequireHttp, RejectsUrlsThatAreNotAbsoluteHttpOrHttps) {
    for (const char* url :
         {"", "example.com/status", "example.com:8080/status", "//example.com/status",
          "/plivo/status", "mailto:x@example.com", "ftp://example.com/x", "file:///etc/passwd",
          "javascript:alert(1)", "https:///path", "https://", "https://:443/", "https:example.com",
          "http:/example.com", "https://a<b/", "http://[::1/"}) {
        const InputError error = error_for(url);
        EXPECT_EQ(error.what(), std::string("callback_url is not an absolute http or https URL"))
            << url;
        EXPECT_EQ(error.field(), "callback_url");
        EXPECT_EQ(error.kind(), InputErrorKind::InvalidParameter);
    }
}

TEST(UrlRequireHttp, NotAbsoluteDetailSaysWhatIsWrong) {
    EXPECT_EQ(error_for("").detail(), "The URL is empty.");
    EXPECT_EQ(error_for("ftp://example.com/x").detail(),
              "The URL \"ftp://example.com/x\" uses the scheme \"ftp\"; only http and https are "
              "supported.");
    EXPECT_EQ(error_for("https:///path").detail(), "The URL \"https:///path\" has no host.");
    EXPECT_EQ(error_for("example.com/x").detail(),
              "The URL \"example.com/x\" does not start with http:// or https://.");
    EXPECT_NE(error_for("https://a<b/").detail().find("not a valid host"), std::string::npos);
}

TEST(UrlRequireHttp, RejectsInvalidPorts) {
    for (const char* url :
         {"https://example.com:65536/", "https://example.com:0/", "https://example.com:000/",
          "https://example.com:http/", "https://example.com:/"}) {
        const InputError error = error_for(url);
        EXPECT_EQ(error.what(), std::string("callback_url has an invalid port")) << url;
        EXPECT_NE(error.detail().find("not a number from 1 to 65535"), std::string::npos);
    }
}

TEST(UrlRequireHttp, RejectsCredentialsWithoutShowingThem) {
    for (const char* url :
         {"https://alice:s3cret@example.com/cb", "https://alice@example.com/cb",
          "https://alice:s3cret@example.com:8443/cb?x=1", "https://@example.com/cb"}) {
        const InputError error = error_for(url);
        EXPECT_EQ(error.what(),
                  std::string("callback_url must not contain a user name or password"))
            << url;
        EXPECT_EQ(error.field(), "callback_url");
        EXPECT_EQ(error.kind(), InputErrorKind::InvalidParameter);
        EXPECT_EQ(error.detail().find("alice"), std::string::npos) << error.detail();
        EXPECT_EQ(error.detail().find("s3cret"), std::string::npos) << error.detail();
        EXPECT_NE(error.detail().find("***@example.com"), std::string::npos) << error.detail();
        EXPECT_NE(error.hint().find("user:password@"), std::string::npos) << error.hint();
    }
}

TEST(UrlRequireHttp, NoErrorDetailShowsAPassword) {
    const std::string long_tail(3000, 'x');
    for (const std::string& url :
         {"https://alice:s3cret@example.com/" + long_tail,          // too long
          std::string("https://alice:s3cret@example.com/a b"),      // whitespace
          std::string("ftp://alice:s3cret@example.com/"),           // wrong scheme
          std::string("https://alice:s3cret@example.com:99999/"),   // bad port
          std::string("https://alice:s3cret@/x"),                   // no host
          std::string("alice:s3cret@example.com/x"),                // no scheme
          std::string("https://alice:s3/cret@example.com/x y")}) {  // '/' in the password
        const InputError error = error_for(url);
        EXPECT_EQ(error.detail().find("s3cret"), std::string::npos) << error.detail();
        EXPECT_EQ(error.detail().find("cret"), std::string::npos) << error.detail();
        EXPECT_EQ(std::string(error.what()).find("s3cret"), std::string::npos);
    }
}

TEST(UrlRequireHttp, MessagesFollowPostgresStyleAndNameTheField) {
    for (const std::string& url :
         {std::string("https://example.com/") + std::string(3000, 'a'), std::string("x y"),
          std::string("ftp://h/"), std::string("https://h:0/"), std::string("https://u@h/")}) {
        const InputError error = error_for(url, "media_urls[3]");
        const std::string message = error.what();
        EXPECT_EQ(error.field(), "media_urls[3]");
        EXPECT_EQ(message.rfind("media_urls[3] ", 0), 0u) << message;
        EXPECT_NE(message.back(), '.') << message;
        ASSERT_FALSE(error.detail().empty());
        EXPECT_TRUE(std::isupper(static_cast<unsigned char>(error.detail()[0]))) << error.detail();
        EXPECT_EQ(error.detail().back(), '.') << error.detail();
        ASSERT_FALSE(error.hint().empty());
        EXPECT_TRUE(std::isupper(static_cast<unsigned char>(error.hint()[0]))) << error.hint();
        EXPECT_EQ(error.hint().back(), '.') << error.hint();
    }
}

// ---------------------------------------------------------------------------------------
// redact_userinfo

TEST(UrlRedactUserinfo, ReplacesCredentialsAndKeepsTheRest) {
    EXPECT_EQ(redact_userinfo("https://u:p@h/x?y=@z#@"), "https://***@h/x?y=@z#@");
    EXPECT_EQ(redact_userinfo("https://a@b:c@h/"), "https://***@h/");
    EXPECT_EQ(redact_userinfo("u:p@h/x"), "***@h/x");
}

TEST(UrlRedactUserinfo, LeavesUrlsWithoutCredentialsAlone) {
    EXPECT_EQ(redact_userinfo("https://h/x"), "https://h/x");
    EXPECT_EQ(redact_userinfo("https://h/x?mail=a@b.c"), "https://h/x?mail=a@b.c");
    EXPECT_EQ(redact_userinfo(""), "");
}

}  // namespace
}  // namespace plivo
