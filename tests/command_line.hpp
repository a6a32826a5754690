// Command-line flags of the test programs (the simulator and the relay): "--flag value"
// and "--flag=value" alike; a bad flag ends the program with status 2 and says why.
#pragma once

#include <cstdlib>
#include <exception>
#include <iostream>
#include <optional>
#include <string>

namespace test_cli {

[[noreturn]] inline void usage_error(const char* program, const std::string& message) {
    std::cerr << program << ": " << message << " (see --help)\n";
    std::exit(2);
}

class Flags {
public:
    Flags(const char* program, int argc, char** argv)
        : program_(program), argc_(argc), argv_(argv) {}

    // Moves to the next argument; false when there is none left.
    bool next() {
        if (++index_ >= argc_) return false;
        flag_ = argv_[index_];
        inline_value_.reset();
        if (const std::size_t eq = flag_.find('=');
            flag_.rfind("--", 0) == 0 && eq != std::string::npos) {
            inline_value_ = flag_.substr(eq + 1);
            flag_ = flag_.substr(0, eq);
        }
        return true;
    }

    const std::string& flag() const { return flag_; }

    // The flag's value: what follows '=', or else the next argument.
    std::string value() {
        if (inline_value_) return *inline_value_;
        if (index_ + 1 >= argc_) fail(flag_ + " needs a value");
        return argv_[++index_];
    }

    long long integer(long long min, long long max) {
        const std::string text = value();
        try {
            std::size_t used = 0;
            const long long number = std::stoll(text, &used);
            if (used == text.size() && number >= min && number <= max) return number;
        } catch (const std::exception&) {
        }
        fail(flag_ + " needs an integer between " + std::to_string(min) + " and " +
             std::to_string(max) + ", not '" + text + "'");
    }

    [[noreturn]] void fail(const std::string& message) const { usage_error(program_, message); }

private:
    const char* program_;
    int argc_;
    char** argv_;
    int index_ = 0;
    std::string flag_;
    std::optional<std::string> inline_value_;
};

}  // namespace test_cli
