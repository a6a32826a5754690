// Plivo webhook signatures V2 and V3 (dispatcher/signature.hpp) against the test vectors
// of plivo-api.md §3, which plivo-node's and plivo-python's own validators accept.
#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>
#include <string>

#include "input_error.hpp"
#include "signature.hpp"

namespace plivo {
namespace {

const std::string kCdToken = "Y2Q2ZDgxZmY5YWRiOTI5YmQ1Njg0MTAxZWIyOTc4";
const std::string kCdNonce = "31627761595286130198";
const std::string kEfgToken = "MY_AUTH_TOKEN_123";
const std::string kEfgNonce = "43597245624586714324";
const std::string kHooksUrl = "https://hooks.example.com/plivo/status";

// Plivo's own go-SDK test parameters.
const Params kP13 = {
    {"Direction", "outbound"},
    {"From", "19792014278"},
    {"ALegUUID", "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36"},
    {"CallStatus", "in-progress"},
    {"BillRate", "0.002"},
    {"ParentAuthID", "MANWVLYTK4ZWU1YTY4QA"},
    {"To", "sip:PlivoSignature382029104058171078704104@phone-qa.voice.plivodev.com"},
    {"ALegRequestUUID", "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36"},
    {"CallUUID", "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36"},
    {"RequestUUID", "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36"},
    {"SIP-H-To", "<sip:PlivoSignature382029104058171078704104@52.9.11.55;transport=udp>;tag=1"},
    {"SessionStart", "2020-04-08 11:34:33.238707"},
    {"Event", "StartApp"},
};

// A delivery report, with the empty PowerpackUUID.
const Params kDr14 = {
    {"From", "14155550100"},
    {"To", "14155550111"},
    {"MessageUUID", "db3ce55a-7f1d-11e1-8ea7-1231380bc196"},
    {"Status", "delivered"},
    {"ErrorCode", "000"},
    {"Units", "1"},
    {"TotalRate", "0.0050"},
    {"TotalAmount", "0.0050"},
    {"MessageTime", "2024-05-01 12:00:00"},
    {"ParentMessageUUID", "db3ce55a-7f1d-11e1-8ea7-1231380bc196"},
    {"PartInfo", "1 of 1"},
    {"PowerpackUUID", ""},
    {"Sequence", "1"},
    {"Type", "sms"},
};
const std::string kSignatureE = "T7tXYKm92Jqi2aclv7V3Syd4SGDFrS9FYMeyi/cU/Ss=";

bool verify_v3_post(const std::string& url, const std::string& nonce, const std::string& header,
                    const Params& params, const std::string& token) {
    return verify_signature(SignatureVersion::V3, url, nonce, header, HttpMethod::Post, params,
                            token);
}

bool verify_e(const std::string& header, const Params& params = kDr14,
              const std::string& nonce = kEfgNonce, const std::string& token = kEfgToken) {
    return verify_v3_post(kHooksUrl, nonce, header, params, token);
}

// ---------------------------------------------------------------------------------------
// HMAC and Base64

TEST(SignatureHmac, MatchesRfc4231TestCase2) {
    EXPECT_EQ(hmac_sha256_base64("Jefe", "what do ya want for nothing?"),
              "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=");
}

TEST(SignatureHmac, EmptyKeyAndMessageStillHash) {
    EXPECT_EQ(hmac_sha256_base64("", ""), "thNnmggU2ex3L5XXeMNfxf8Wl8STcVZTxscSFEKSxa0=");
}

// ---------------------------------------------------------------------------------------
// The test vectors of plivo-api.md §3

TEST(SignatureVectors, A_V2) {
    EXPECT_EQ(compute_v2_signature("https://answer.url", "12345", "my_auth_token"),
              "ehV3IKhLysWBxC1sy8INm0qGoQYdYsHwuoKjsX7FsXc=");
    EXPECT_TRUE(verify_signature(SignatureVersion::V2, "https://answer.url", "12345",
                                 "ehV3IKhLysWBxC1sy8INm0qGoQYdYsHwuoKjsX7FsXc=", HttpMethod::Post,
                                 {}, "my_auth_token"));
}

TEST(SignatureVectors, B_V2WithPortTrailingSlashQueryAndFragment) {
    const std::string url = "https://example.com:8443/cb/?a=1#frag";
    EXPECT_EQ(compute_v2_signature(url, "1234567890", kEfgToken),
              "v45rVZcxJisQbtJl5BfEal+M4WkkPm1AhaDWxW5TN8Q=");
    EXPECT_TRUE(verify_signature(SignatureVersion::V2, url, "1234567890",
                                 "v45rVZcxJisQbtJl5BfEal+M4WkkPm1AhaDWxW5TN8Q=", HttpMethod::Get,
                                 {}, kEfgToken));
}

TEST(SignatureVectors, C_V3PostWithQueryAndParams) {
    const std::string url =
        "https://plivobin.non-prod.plivops.com/api/v1/validate_signature03.xml/?a=b&c=d";
    const std::string expected = "k7Pusd4OxCIjR5IfA9iedDNu/h/gbdYqdzG/MiYtd1c=";
    EXPECT_EQ(compute_v3_signature(url, kCdNonce, HttpMethod::Post, kP13, kCdToken), expected);
    EXPECT_TRUE(verify_v3_post(url, kCdNonce, expected, kP13, kCdToken));
}

TEST(SignatureVectors, D_V3PostWithParamsOnly) {
    const std::string url = "https://plivobin.non-prod.plivops.com/api/v1/validate_signature03.xml";
    const std::string expected = "iAjE5QqI37mbkYe4w3jTMudqEzbDufdqi7sYwTu64e0=";
    EXPECT_EQ(compute_v3_signature(url, kCdNonce, HttpMethod::Post, kP13, kCdToken), expected);
    EXPECT_TRUE(verify_v3_post(url, kCdNonce, expected, kP13, kCdToken));
}

TEST(SignatureVectors, E_V3DeliveryReportWithAnEmptyValue) {
    EXPECT_EQ(compute_v3_signature(kHooksUrl, kEfgNonce, HttpMethod::Post, kDr14, kEfgToken),
              kSignatureE);
    EXPECT_TRUE(verify_e(kSignatureE));
}

TEST(SignatureVectors, F_V3PostWithEncodedQuery) {
    const std::string url = kHooksUrl + "?tenant=42&b=x%20y";
    const Params params = {{"Status", "sent"}, {"MessageUUID", "abc"}};
    EXPECT_EQ(v3_string_to_sign(url, HttpMethod::Post, params),
              "https://hooks.example.com/plivo/status?b=x y&tenant=42.MessageUUIDabcStatussent");
    const std::string expected = "iy6y2PykZNKe74c4Wloas9WlogyInL09qf88PNRzFok=";
    EXPECT_EQ(compute_v3_signature(url, kEfgNonce, HttpMethod::Post, params, kEfgToken), expected);
    EXPECT_EQ(hmac_sha256_base64(kEfgToken,
                                 "https://hooks.example.com/plivo/status?b=x y&tenant=42."
                                 "MessageUUIDabcStatussent.43597245624586714324"),
              expected);
    EXPECT_TRUE(verify_v3_post(url, kEfgNonce, expected, params, kEfgToken));
}

TEST(SignatureVectors, G_V3HeaderWithTwoSignaturesOneValid) {
    const Params params = {{"Status", "queued"}};
    const std::string valid = "yhOpishwygZLPYZ/d3v3/Ui1OgoboCmThzijwY+wVsU=";
    const std::string bogus = "AAAAbogusSigAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    EXPECT_EQ(compute_v3_signature(kHooksUrl, kEfgNonce, HttpMethod::Post, params, kEfgToken),
              valid);
    EXPECT_TRUE(verify_e(bogus + "," + valid, params));
    EXPECT_TRUE(verify_e(valid + "," + bogus, params));
    EXPECT_FALSE(verify_e(bogus, params));
    EXPECT_FALSE(verify_e(bogus + "," + bogus, params));
}

// ---------------------------------------------------------------------------------------
// What must fail, and what must still pass

TEST(SignatureVerify, WrongTokenFails) {
    EXPECT_FALSE(verify_e(kSignatureE, kDr14, kEfgNonce, "MY_AUTH_TOKEN_124"));
    EXPECT_FALSE(verify_signature(SignatureVersion::V2, "https://answer.url", "12345",
                                  "ehV3IKhLysWBxC1sy8INm0qGoQYdYsHwuoKjsX7FsXc=", HttpMethod::Post,
                                  {}, "my_auth_tokeN"));
}

TEST(SignatureVerify, WrongNonceFails) {
    EXPECT_FALSE(verify_e(kSignatureE, kDr14, "43597245624586714325"));
    EXPECT_FALSE(verify_signature(SignatureVersion::V2, "https://answer.url", "12346",
                                  "ehV3IKhLysWBxC1sy8INm0qGoQYdYsHwuoKjsX7FsXc=", HttpMethod::Post,
                                  {}, "my_auth_token"));
}

TEST(SignatureVerify, TamperedParamFails) {
    Params tampered = kDr14;
    for (auto& [key, value] : tampered) {
        if (key == "Status") value = "failed";
    }
    EXPECT_FALSE(verify_e(kSignatureE, tampered));
}

TEST(SignatureVerify, ExtraParamFails) {
    Params extra = kDr14;
    extra.emplace_back("Extra", "1");
    EXPECT_FALSE(verify_e(kSignatureE, extra));
}

TEST(SignatureVerify, MissingParamFails) {
    Params missing(kDr14.begin() + 1, kDr14.end());
    EXPECT_FALSE(verify_e(kSignatureE, missing));
}

TEST(SignatureVerify, MissingEmptyParamFails) {
    // The empty PowerpackUUID is signed as its key alone, so dropping it is a change.
    Params missing;
    std::copy_if(kDr14.begin(), kDr14.end(), std::back_inserter(missing),
                 [](const auto& pair) { return pair.first != "PowerpackUUID"; });
    ASSERT_EQ(missing.size(), kDr14.size() - 1);
    EXPECT_FALSE(verify_e(kSignatureE, missing));
}

TEST(SignatureVerify, ParamsInAnyOrderStillVerify) {
    Params reversed(kDr14.rbegin(), kDr14.rend());
    EXPECT_TRUE(verify_e(kSignatureE, reversed));
    Params rotated = kP13;
    std::rotate(rotated.begin(), rotated.begin() + 5, rotated.end());
    EXPECT_TRUE(verify_v3_post(
        "https://plivobin.non-prod.plivops.com/api/v1/validate_signature03.xml", kCdNonce,
        "iAjE5QqI37mbkYe4w3jTMudqEzbDufdqi7sYwTu64e0=", rotated, kCdToken));
}

TEST(SignatureVerify, QueryParametersInAnyOrderStillVerify) {
    const Params params = {{"Status", "sent"}, {"MessageUUID", "abc"}};
    EXPECT_TRUE(verify_v3_post(kHooksUrl + "?b=x%20y&tenant=42", kEfgNonce,
                               "iy6y2PykZNKe74c4Wloas9WlogyInL09qf88PNRzFok=", params, kEfgToken));
    // '+' decodes to the same space as %20.
    EXPECT_TRUE(verify_v3_post(kHooksUrl + "?b=x+y&tenant=42", kEfgNonce,
                               "iy6y2PykZNKe74c4Wloas9WlogyInL09qf88PNRzFok=", params, kEfgToken));
}

TEST(SignatureVerify, TamperedQueryFailsForV3) {
    const Params params = {{"Status", "sent"}, {"MessageUUID", "abc"}};
    EXPECT_FALSE(verify_v3_post(kHooksUrl + "?tenant=43&b=x%20y", kEfgNonce,
                                "iy6y2PykZNKe74c4Wloas9WlogyInL09qf88PNRzFok=", params, kEfgToken));
}

TEST(SignatureVerify, TamperedSignatureFails) {
    std::string flipped = kSignatureE;
    flipped[0] = 't';  // Base64 is case-sensitive
    EXPECT_FALSE(verify_e(flipped));
    EXPECT_FALSE(verify_e(kSignatureE.substr(0, kSignatureE.size() - 1)));  // truncated
    EXPECT_FALSE(verify_e(kSignatureE + "="));                              // lengthened
}

TEST(SignatureVerify, HeaderWithSpacesAroundCommas) {
    const std::string bogus = "AAAAbogusSigAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    EXPECT_TRUE(verify_e(bogus + ", " + kSignatureE));
    EXPECT_TRUE(verify_e("  " + kSignatureE + " ,  " + bogus));
    EXPECT_TRUE(verify_e(bogus + ",\t" + kSignatureE + "\t"));
    EXPECT_TRUE(verify_e(",," + kSignatureE + ","));
}

TEST(SignatureVerify, V2IgnoresBodyAndQuery) {
    const std::string signature = "v45rVZcxJisQbtJl5BfEal+M4WkkPm1AhaDWxW5TN8Q=";
    const Params body = {{"Status", "delivered"}, {"MessageUUID", "abc"}};
    for (const char* url : {"https://example.com:8443/cb/", "https://example.com:8443/cb/?a=2",
                            "https://example.com:8443/cb/?z=9&a=1#other"}) {
        EXPECT_EQ(compute_v2_signature(url, "1234567890", kEfgToken), signature) << url;
        EXPECT_TRUE(verify_signature(SignatureVersion::V2, url, "1234567890", signature,
                                     HttpMethod::Post, body, kEfgToken))
            << url;
        EXPECT_TRUE(verify_signature(SignatureVersion::V2, url, "1234567890", signature,
                                     HttpMethod::Get, {}, kEfgToken))
            << url;
    }
    // The base is still covered: port, path and trailing slash matter.
    EXPECT_FALSE(verify_signature(SignatureVersion::V2, "https://example.com/cb/", "1234567890",
                                  signature, HttpMethod::Post, {}, kEfgToken));
    EXPECT_FALSE(verify_signature(SignatureVersion::V2, "https://example.com:8443/cb", "1234567890",
                                  signature, HttpMethod::Post, {}, kEfgToken));
}

TEST(SignatureVerify, V3IgnoresFragmentAndUserinfoButNotThePath) {
    EXPECT_TRUE(verify_v3_post(kHooksUrl + "#frag", kEfgNonce, kSignatureE, kDr14, kEfgToken));
    EXPECT_TRUE(verify_v3_post("https://u:p@hooks.example.com/plivo/status", kEfgNonce, kSignatureE,
                               kDr14, kEfgToken));
    EXPECT_FALSE(verify_v3_post(kHooksUrl + "/", kEfgNonce, kSignatureE, kDr14, kEfgToken));
    EXPECT_FALSE(verify_v3_post("http://hooks.example.com/plivo/status", kEfgNonce, kSignatureE,
                                kDr14, kEfgToken));
}

TEST(SignatureVerify, V2SignatureIsNotAcceptedAsV3) {
    const std::string v2 = compute_v2_signature(kHooksUrl, kEfgNonce, kEfgToken);
    EXPECT_FALSE(verify_signature(SignatureVersion::V3, kHooksUrl, kEfgNonce, v2, HttpMethod::Post,
                                  {}, kEfgToken));
}

TEST(SignatureVerify, EmptyNonceOrHeaderIsFalseNotAnError) {
    // Even a signature that really was computed over an empty nonce is refused.
    const std::string over_empty_nonce =
        compute_v3_signature(kHooksUrl, "", HttpMethod::Post, kDr14, kEfgToken);
    EXPECT_FALSE(verify_e(over_empty_nonce, kDr14, ""));
    const std::string v2_over_empty_nonce = compute_v2_signature(kHooksUrl, "", kEfgToken);
    EXPECT_FALSE(verify_signature(SignatureVersion::V2, kHooksUrl, "", v2_over_empty_nonce,
                                  HttpMethod::Post, {}, kEfgToken));
    EXPECT_FALSE(verify_e(""));
    EXPECT_FALSE(verify_e(" , ,"));
}

TEST(SignatureVerify, UrlWithoutSchemeOrHostIsAnInputErrorOnUrl) {
    for (const char* url : {"/plivo/status", "hooks.example.com/plivo/status", "https:///x", ""}) {
        try {
            verify_v3_post(url, kEfgNonce, kSignatureE, kDr14, kEfgToken);
            ADD_FAILURE() << "no InputError for " << url;
        } catch (const InputError& error) {
            EXPECT_EQ(error.field(), "url") << url;
            EXPECT_EQ(error.kind(), InputErrorKind::InvalidParameter);
            EXPECT_EQ(error.what(), std::string("url is not an absolute URL"));
        }
        // Also with an empty nonce: the configuration error is not hidden by a plain false.
        EXPECT_THROW(
            verify_signature(SignatureVersion::V2, url, "", "", HttpMethod::Post, {}, kEfgToken),
            InputError)
            << url;
        EXPECT_THROW(compute_v2_signature(url, "1", kEfgToken), InputError) << url;
        EXPECT_THROW(v3_string_to_sign(url, HttpMethod::Get, {}), InputError) << url;
    }
}

TEST(SignatureVerify, UrlErrorDetailHidesCredentials) {
    try {
        compute_v2_signature("alice:s3cret@hooks.example.com/x", "1", kEfgToken);
        ADD_FAILURE() << "no InputError";
    } catch (const InputError& error) {
        EXPECT_EQ(error.detail().find("s3cret"), std::string::npos) << error.detail();
    }
}

TEST(SignatureVerify, EmptyAuthTokenIsRefused) {
    const std::string forged =
        compute_v3_signature(kHooksUrl, kEfgNonce, HttpMethod::Post, kDr14, "");
    try {
        verify_e(forged, kDr14, kEfgNonce, "");
        ADD_FAILURE() << "an empty auth token was accepted";
    } catch (const InputError& error) {
        EXPECT_EQ(error.kind(), InputErrorKind::MissingSetting);
        EXPECT_EQ(error.field(), "auth_token");
    }
}

// ---------------------------------------------------------------------------------------
// The V3 string to sign: the rules of plivo-api.md §3 one by one

TEST(SignatureV3String, PostWithoutParamsIsTheBaseAlone) {
    EXPECT_EQ(v3_string_to_sign(kHooksUrl, HttpMethod::Post, {}), kHooksUrl);
    EXPECT_EQ(v3_string_to_sign(kHooksUrl + "?", HttpMethod::Post, {}), kHooksUrl);
}

TEST(SignatureV3String, PostWithQueryOnlyAddsTheSortedQuery) {
    EXPECT_EQ(v3_string_to_sign(kHooksUrl + "?b=2&a=1&a=0", HttpMethod::Post, {}),
              kHooksUrl + "?a=0&a=1&b=2");
}

TEST(SignatureV3String, PostWithParamsAndEmptyQueryHasNoDot) {
    EXPECT_EQ(v3_string_to_sign(kHooksUrl + "?", HttpMethod::Post, {{"k", "v"}}),
              kHooksUrl + "?kv");
    EXPECT_EQ(v3_string_to_sign(kHooksUrl + "?&", HttpMethod::Post, {{"k", "v"}}),
              kHooksUrl + "?kv");
}

TEST(SignatureV3String, GetMergesQueryAndParams) {
    EXPECT_EQ(v3_string_to_sign(kHooksUrl + "?b=2&a=1", HttpMethod::Get, {{"c", "3"}, {"a", "0"}}),
              kHooksUrl + "?a=0&a=1&b=2&c=3");
    EXPECT_EQ(v3_string_to_sign(kHooksUrl, HttpMethod::Get, {{"Status", "sent"}}),
              kHooksUrl + "?Status=sent");
    EXPECT_EQ(v3_string_to_sign(kHooksUrl + "?x=%2B+y", HttpMethod::Get, {}), kHooksUrl + "?x=+ y");
    EXPECT_EQ(v3_string_to_sign(kHooksUrl, HttpMethod::Get, {}), kHooksUrl);
    EXPECT_EQ(v3_string_to_sign(kHooksUrl + "?#f", HttpMethod::Get, {}), kHooksUrl);
}

TEST(SignatureV3String, GetAndPostDifferForTheSameInput) {
    const Params params = {{"Status", "sent"}};
    EXPECT_NE(compute_v3_signature(kHooksUrl, kEfgNonce, HttpMethod::Get, params, kEfgToken),
              compute_v3_signature(kHooksUrl, kEfgNonce, HttpMethod::Post, params, kEfgToken));
}

TEST(SignatureV3String, KeysSortByBytesUppercaseFirst) {
    EXPECT_EQ(v3_string_to_sign(kHooksUrl, HttpMethod::Post,
                                {{"a", "1"}, {"B", "2"}, {"Z", "3"}, {"_", "4"}}),
              kHooksUrl + "?B2Z3_4a1");
    EXPECT_EQ(v3_string_to_sign(kHooksUrl + "?a=1&B=2", HttpMethod::Get, {}),
              kHooksUrl + "?B=2&a=1");
}

TEST(SignatureV3String, ValuesOfARepeatedKeySortToo) {
    EXPECT_EQ(v3_string_to_sign(kHooksUrl, HttpMethod::Post, {{"k", "b"}, {"k", "a"}, {"k", "B"}}),
              kHooksUrl + "?kBkakb");
    EXPECT_EQ(v3_string_to_sign(kHooksUrl + "?k=b&k=a", HttpMethod::Get, {{"k", "B"}}),
              kHooksUrl + "?k=B&k=a&k=b");
}

TEST(SignatureV3String, DecodedUtf8GoesInAsIs) {
    EXPECT_EQ(v3_string_to_sign(kHooksUrl + "?n=caf%C3%A9", HttpMethod::Post,
                                {{"Text", "h\xC3\xA9llo \xF0\x9F\x98\x80"}}),
              kHooksUrl + "?n=caf\xC3\xA9.Texth\xC3\xA9llo \xF0\x9F\x98\x80");
    // Non-ASCII keys sort by their UTF-8 bytes, after every ASCII key.
    EXPECT_EQ(v3_string_to_sign(kHooksUrl, HttpMethod::Post, {{"\xC3\xA9", "1"}, {"z", "2"}}),
              kHooksUrl +
                  "?z2\xC3\xA9"
                  "1");
}

TEST(SignatureV3String, NothingIsEncodedAgain) {
    EXPECT_EQ(v3_string_to_sign(kHooksUrl + "?q=a%26b%3Dc", HttpMethod::Get, {{"p", "x&y=z"}}),
              kHooksUrl + "?p=x&y=z&q=a&b=c");
}

}  // namespace
}  // namespace plivo
