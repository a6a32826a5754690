// parse_phone_number(): the forms Plivo accepts, libphonenumber's verdict, and errors
// that name the field and show the value.
#include <optional>
#include <string>

#include <gtest/gtest.h>
#include <phonenumbers/phonenumberutil.h>

#include "phone_number.hpp"
#include "input_error_testing.hpp"

namespace plivo {
namespace {

using testing::catch_input_error;
using testing::expect_postgres_style;

const std::string kField = "destination_number";

struct Accepted {
    std::string input;
    std::string e164;
    std::string region;
};

class PhoneNumberAccepted : public ::testing::TestWithParam<Accepted> {};

TEST_P(PhoneNumberAccepted, GivesE164AndRegion) {
    const PhoneNumber number = parse_phone_number(GetParam().input, kField);
    EXPECT_EQ(number.e164, GetParam().e164);
    EXPECT_EQ(number.region, GetParam().region);
}

INSTANTIATE_TEST_SUITE_P(
    PlivoForms, PhoneNumberAccepted,
    ::testing::Values(
        // One US number in every way Plivo accepts it: + optional, + - . ( ) / and spaces.
        Accepted{"+14155552671", "+14155552671", "US"},
        Accepted{"14155552671", "+14155552671", "US"},
        Accepted{"+1 (415) 555-2671", "+14155552671", "US"},
        Accepted{"1.415.555.2671", "+14155552671", "US"},
        Accepted{"1/415/555/2671", "+14155552671", "US"},
        Accepted{"  +1 415 555 2671  ", "+14155552671", "US"},
        // The numbers plivo-api.md uses: libphonenumber 8.12 counts 555-01XX as valid.
        Accepted{"+14155550100", "+14155550100", "US"},
        Accepted{"14155550111", "+14155550111", "US"},
        Accepted{"+1 800 555 0199", "+18005550199", "US"},  // toll-free
        // Canada shares +1; the area code decides.
        Accepted{"+1 613 555 0123", "+16135550123", "CA"},
        Accepted{"+1 (416) 555-0123", "+14165550123", "CA"},
        Accepted{"+1 787 555 0123", "+17875550123", "PR"},
        Accepted{"+44 20 7183 8750", "+442071838750", "GB"},
        // libphonenumber drops the UK trunk 0 people write in brackets.
        Accepted{"+44 (0)20 7183 8750", "+442071838750", "GB"},
        Accepted{"+33 6 12 34 56 78", "+33612345678", "FR"},
        Accepted{"49 151 23456789", "+4915123456789", "DE"}));

TEST(PhoneNumber, RepeatedNumbersGiveTheSameAnswer) {
    // The second time a number is seen it comes from the memo: same result, whatever
    // the punctuation, and a bad number is refused every time.
    for (int pass = 0; pass < 3; ++pass) {
        EXPECT_EQ(parse_phone_number("+1 (604) 555-0100", "recipient").region, "CA");
        EXPECT_EQ(parse_phone_number("16045550100", "recipient").e164, "+16045550100");
        EXPECT_THROW(parse_phone_number("+1 604 555 010", "recipient"), InputError);
        try {
            parse_phone_number("+1 604 555 010", "sender");
            ADD_FAILURE() << "a short number was accepted";
        } catch (const InputError& error) {
            EXPECT_EQ(error.field(), "sender");  // the field of this call, not the first
        }
    }
}

TEST(PhoneNumber, ThirtyTwoCharactersAreAccepted) {
    const std::string padded = "+1 415 555 2671" + std::string(17, ' ');
    ASSERT_EQ(padded.size(), 32u);
    EXPECT_EQ(parse_phone_number(padded, kField).e164, "+14155552671");
}

TEST(PhoneNumber, ThirtyThreeCharactersAreRefusedBeforeParsing) {
    const std::string padded = "+1 415 555 2671" + std::string(18, ' ');
    ASSERT_EQ(padded.size(), 33u);
    const auto error = catch_input_error([&] { parse_phone_number(padded, kField); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), InputErrorKind::InvalidParameter);
    EXPECT_EQ(error->field(), kField);
    EXPECT_NE(error->detail().find("33 bytes"), std::string::npos) << error->detail();
    EXPECT_NE(error->detail().find("32"), std::string::npos) << error->detail();
    expect_postgres_style(*error);
}

// Found by fuzzing: libphonenumber calls this 16-digit German number valid; E.164 does not.
TEST(PhoneNumber, MoreThanFifteenDigitsAreRefused) {
    const auto error = catch_input_error([&] { parse_phone_number("+4954005415050050", kField); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), InputErrorKind::InvalidParameter);
    EXPECT_NE(error->detail().find("16 digits"), std::string::npos) << error->detail();
    expect_postgres_style(*error);
}

TEST(PhoneNumber, NorthAmericanNumberThatNoRegionHasIsRefused) {
    // "1" and ten digits skip libphonenumber's Parse(); the verdict must still be its own.
    for (const char* input : {"+1 212 055 0100", "+1 999 555 0100", "12120550100"}) {
        const auto error = catch_input_error([&] { parse_phone_number(input, kField); });
        ASSERT_TRUE(error) << input;
        EXPECT_EQ(error->field(), kField);
        EXPECT_EQ(error->detail(), "The value was \"" + std::string(input) + "\".");
    }
}

TEST(PhoneNumber, NorthAmericanVerdictAndRegionAreLibphonenumbers) {
    // A number the US patterns accept is taken as valid and in the US without asking
    // libphonenumber for its region; every area code, with exchanges that are and are
    // not in use, must still get IsValidNumber()'s verdict and GetRegionCodeForNumber()'s
    // region (the US, Canada, the Caribbean, the Pacific territories).
    using i18n::phonenumbers::PhoneNumberUtil;
    const PhoneNumberUtil* util = PhoneNumberUtil::GetInstance();
    int accepted = 0, refused = 0, outside_us = 0;
    for (int area = 200; area <= 999; ++area) {
        for (const char* rest : {"5550123", "2345678", "9110000", "0551234", "4567890"}) {
            const std::string digits = "1" + std::to_string(area) + rest;
            i18n::phonenumbers::PhoneNumber number;
            ASSERT_EQ(util->Parse("+" + digits, "ZZ", &number), PhoneNumberUtil::NO_PARSING_ERROR);
            std::string region;
            util->GetRegionCodeForNumber(number, &region);
            const bool valid = util->IsValidNumber(number);
            std::optional<PhoneNumber> ours;
            try {
                ours = parse_phone_number(digits, kField);
            } catch (const InputError&) {
            }
            EXPECT_EQ(ours.has_value(), valid) << digits;
            if (!ours) {
                ++refused;
                continue;
            }
            ++accepted;
            if (region != "US") ++outside_us;
            EXPECT_EQ(ours->region, region) << digits;
        }
    }
    // The sweep covers all three outcomes.
    EXPECT_GT(accepted, 1000);
    EXPECT_GT(refused, 500);
    EXPECT_GT(outside_us, 100);
}

TEST(PhoneNumber, FormThatReadsAsAnotherNumberAgainIsRefused) {
    // libphonenumber drops a Mexican "1" at each reading (found by fuzzing): what would
    // be stored must read as itself when the worker reads it before sending.
    const auto error = catch_input_error([&] { parse_phone_number("521 1415) 552.0131", kField); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->field(), kField);
    EXPECT_EQ(error->detail(),
              "The value \"521 1415) 552.0131\" reads as +5214155520131, which in turn reads as "
              "+524155520131.");
    // The form it settles on is accepted as it is.
    EXPECT_EQ(parse_phone_number("+524155520131", kField).e164, "+524155520131");
}

TEST(PhoneNumber, ShortLocalFormThatWouldGainDigitsIsRefused) {
    // libphonenumber reads Norfolk Island's 5-digit local form and adds a 3 (found by
    // fuzzing): we never send to digits the caller did not write.
    const auto error = catch_input_error([&] { parse_phone_number("67220208", kField); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->field(), kField);
    EXPECT_EQ(error->detail(), "The value \"67220208\" is a short local form of +672320208.");
    EXPECT_EQ(error->hint(), "Write the number in full, with its country code: +672320208.");
    expect_postgres_style(*error);
    EXPECT_EQ(parse_phone_number("+672 3 20208", kField).e164, "+672320208");
}

TEST(PhoneNumber, HugeInputIsShortenedInTheDetail) {
    const std::string huge(100000, '1');
    const auto error = catch_input_error([&] { parse_phone_number(huge, kField); });
    ASSERT_TRUE(error);
    EXPECT_LT(error->detail().size(), 200u);
    EXPECT_NE(error->detail().find("100000 bytes"), std::string::npos) << error->detail();
}

TEST(PhoneNumber, InvalidNumberNamesFieldAndShowsValue) {
    const auto error = catch_input_error([] { parse_phone_number("+1415", "destination_number"); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), InputErrorKind::InvalidParameter);
    EXPECT_EQ(error->field(), "destination_number");
    EXPECT_STREQ(error->what(), "destination_number is not a valid phone number");
    EXPECT_EQ(error->detail(), "The value was \"+1415\".");
    EXPECT_NE(error->hint().find("country code"), std::string::npos) << error->hint();
    expect_postgres_style(*error);
}

TEST(PhoneNumber, ErrorNamesTheFieldItWasGiven) {
    const auto error = catch_input_error([] { parse_phone_number("12", "sender"); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->field(), "sender");
    EXPECT_STREQ(error->what(), "sender is not a valid phone number");
}

class PhoneNumberRejected : public ::testing::TestWithParam<std::string> {};

TEST_P(PhoneNumberRejected, AsInvalidParameter) {
    const auto error = catch_input_error([] { parse_phone_number(GetParam(), kField); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), InputErrorKind::InvalidParameter);
    EXPECT_EQ(error->field(), kField);
    EXPECT_STREQ(error->what(), "destination_number is not a valid phone number");
    expect_postgres_style(*error);
}

INSTANTIATE_TEST_SUITE_P(
    NotNumbers, PhoneNumberRejected,
    ::testing::Values(
        "+1415",          // too short
        "+141555526710",  // one digit too many for NANP
        "+11234567890",   // NANP area codes never start with 1
        "4155552671",     // US number without its country code: +41 (Switzerland), invalid
        "",               // nothing
        "+",              // no digits
        " ( ) - ",        // punctuation only
        "1-800-FLOWERS",  // letters: libphonenumber would map them to digits
        "+1415555267a",   // one letter
        "+1 415 555 2671 ext. 12", "+1 415 555 2671,",
        "+1\t4155552671",  // tab is not among Plivo's stripped characters
        "+1_415_555_2671",
        "\xEF\xBC\x8B\xEF\xBC\x91\xEF\xBC\x94\xEF\xBC\x91\xEF\xBC\x95",  // full-width "＋１４１５"
        "tel:+14155552671",
        "0044 20 7183 8750",  // international dialling prefix instead of +
        "+999 123 456",       // no such country code
        std::string("+1415555") + '\0' + "2671"));

TEST(PhoneNumber, ForbiddenCharacterIsNamedInDetail) {
    const auto error = catch_input_error([] { parse_phone_number("1-800-FLOWERS", kField); });
    ASSERT_TRUE(error);
    EXPECT_NE(error->detail().find("contains \"F\""), std::string::npos) << error->detail();
    EXPECT_NE(error->detail().find("\"1-800-FLOWERS\""), std::string::npos) << error->detail();
}

TEST(PhoneNumber, NonAsciiCharacterIsNamedWhole) {
    // "+1 415 555 2671" with a full-width plus sign (U+FF0B) in front.
    const auto error = catch_input_error([] {
        parse_phone_number(
            "\xEF\xBC\x8B"
            "14155552671",
            kField);
    });
    ASSERT_TRUE(error);
    EXPECT_NE(error->detail().find("contains \"\xEF\xBC\x8B\""), std::string::npos)
        << error->detail();
}

TEST(PhoneNumber, ControlCharacterIsEscapedInDetail) {
    const auto error = catch_input_error([] { parse_phone_number("+1\n4155552671", kField); });
    ASSERT_TRUE(error);
    EXPECT_NE(error->detail().find("\"+1\\n4155552671\""), std::string::npos) << error->detail();
    expect_postgres_style(*error);
}

TEST(PhoneNumber, NoDigitsSaysSo) {
    const auto error = catch_input_error([] { parse_phone_number("+()", kField); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->detail(), "The value \"+()\" has no digits.");
}

TEST(PhoneNumber, DiallingPrefixGetsItsOwnHint) {
    const auto error = catch_input_error([] { parse_phone_number("00442071838750", kField); });
    ASSERT_TRUE(error);
    EXPECT_NE(error->hint().find("dialling prefix"), std::string::npos) << error->hint();
    const auto other = catch_input_error([] { parse_phone_number("+1415", kField); });
    ASSERT_TRUE(other);
    EXPECT_EQ(other->hint().find("dialling prefix"), std::string::npos) << other->hint();
}

}  // namespace
}  // namespace plivo
