// Which signature a Plivo webhook carries: V3 first and never falling back to V2.
#include <gtest/gtest.h>

#include "input_error.hpp"
#include "webhook_headers.hpp"

namespace {

using plivo::choose_webhook_signature;
using plivo::InputError;
using plivo::InputErrorKind;
using plivo::SignatureVersion;
using Headers = std::vector<std::pair<std::string, std::string>>;

InputErrorKind kind_of(const Headers& headers) {
    try {
        choose_webhook_signature(headers);
    } catch (const InputError& error) {
        return error.kind();
    }
    ADD_FAILURE() << "no error";
    return InputErrorKind::InvalidParameter;
}

TEST(WebhookHeaders, PrefersV3AndJoinsPlainAndMaSignatures) {
    auto chosen = choose_webhook_signature({{"X-Plivo-Signature-V2", "v2sig"},
                                            {"X-Plivo-Signature-V2-Nonce", "2"},
                                            {"X-Plivo-Signature-V3", "plain"},
                                            {"X-Plivo-Signature-Ma-V3", "main"},
                                            {"X-Plivo-Signature-V3-Nonce", "3"}});
    EXPECT_EQ(chosen.version, SignatureVersion::V3);
    EXPECT_EQ(chosen.signatures, "plain,main");
    EXPECT_EQ(chosen.nonce, "3");
}

TEST(WebhookHeaders, HeaderNamesInAnyCaseAndValuesTrimmed) {
    auto chosen = choose_webhook_signature(
        {{"x-plivo-signature-ma-v3", " main "}, {"X-PLIVO-SIGNATURE-V3-NONCE", "\t42 "}});
    EXPECT_EQ(chosen.version, SignatureVersion::V3);
    EXPECT_EQ(chosen.signatures, "main");
    EXPECT_EQ(chosen.nonce, "42");
}

TEST(WebhookHeaders, FallsToV2OnlyWhenNoV3HeaderAtAll) {
    auto chosen = choose_webhook_signature(
        {{"X-Plivo-Signature-V2", "a"}, {"X-Plivo-Signature-V2-Nonce", "n"}, {"Host", "x"}});
    EXPECT_EQ(chosen.version, SignatureVersion::V2);
    EXPECT_EQ(chosen.signatures, "a");
    // A V3 nonce alone (signature stripped) must not let V2 decide: it is an error.
    EXPECT_EQ(kind_of({{"X-Plivo-Signature-V3-Nonce", "n"},
                       {"X-Plivo-Signature-V2", "a"},
                       {"X-Plivo-Signature-V2-Nonce", "n"}}),
              InputErrorKind::InvalidAuthorization);
}

TEST(WebhookHeaders, MissingSignatureOrNonceIsAnAuthorizationError) {
    EXPECT_EQ(kind_of({{"Content-Type", "application/x-www-form-urlencoded"}}),
              InputErrorKind::InvalidAuthorization);
    EXPECT_EQ(kind_of({{"X-Plivo-Signature-V3", "s"}}), InputErrorKind::InvalidAuthorization);
    EXPECT_EQ(kind_of({{"X-Plivo-Signature-V3", "s"}, {"X-Plivo-Signature-V3-Nonce", "  "}}),
              InputErrorKind::InvalidAuthorization);
    EXPECT_EQ(kind_of({{"X-Plivo-Signature-V3", "s"},
                       {"X-Plivo-Signature-V3-Nonce", "1"},
                       {"x-plivo-signature-v3-nonce", "2"}}),
              InputErrorKind::InvalidAuthorization);
}

}  // namespace
