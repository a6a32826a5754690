// Helpers for tests that expect an InputError: catch it, and check that it reads the
// way Postgres errors read (design.md promise 10, style.md).
#pragma once

#include <cctype>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "input_error.hpp"

namespace plivo::testing {

// Runs `action` and returns the InputError it throws; nullopt (and a test failure) when
// it throws nothing. Any other exception escapes and fails the test by itself.
template <typename Action>
std::optional<InputError> catch_input_error(Action&& action) {
    try {
        action();
    } catch (const InputError& error) {
        return error;
    }
    ADD_FAILURE() << "expected an InputError, but nothing was thrown";
    return std::nullopt;
}

// Postgres style: the message is lower case, names the field first and has no trailing
// period; detail and hint are full sentences; all of it is one line each.
inline void expect_postgres_style(const InputError& error) {
    const std::string message = error.what();
    SCOPED_TRACE("message: " + message);
    ASSERT_FALSE(error.field().empty());
    EXPECT_EQ(message.rfind(error.field() + " ", 0), 0u) << "the message must start with the field";
    EXPECT_NE(message.back(), '.');
    for (const std::string& sentence : {error.detail(), error.hint()}) {
        SCOPED_TRACE("sentence: " + sentence);
        ASSERT_FALSE(sentence.empty());
        EXPECT_TRUE(std::isupper(static_cast<unsigned char>(sentence.front())));
        EXPECT_EQ(sentence.back(), '.');
    }
    for (const std::string& text : {message, error.detail(), error.hint()}) {
        EXPECT_EQ(text.find_first_of("\n\r\t"), std::string::npos) << text;
    }
}

}  // namespace plivo::testing
