// SQL-callable helpers of the consent ledger (sql/src/48_consent.sql): which keyword an
// inbound message is, and numbers written as message_logs writes them.
#include "guard.hpp"

#include <string>

#include "consent_keywords.hpp"
#include "phone_number.hpp"
#include "settings.hpp"
#include "sql_arguments.hpp"

extern "C" {
PG_FUNCTION_INFO_V1(plivo_consent_keyword);
PG_FUNCTION_INFO_V1(plivo_phone_number);
}

using namespace pg_plivo;

namespace {

std::string setting_text(const char* value) { return value ? std::string(value) : std::string(); }

}  // namespace

// plivo._consent_keyword(message_text): 'opt_out', 'opt_in', 'help' or NULL, by the
// plivo.opt_out_keywords, plivo.opt_in_keywords and plivo.help_keywords settings.
extern "C" Datum plivo_consent_keyword(PG_FUNCTION_ARGS) {
    return cpp_entry([&]() -> Datum {
        auto text = text_argument(fcinfo, 0);
        if (!text) PG_RETURN_NULL();
        plivo::ConsentKeywordLists lists{
            plivo::parse_keyword_list(setting_text(settings.opt_out_keywords)),
            plivo::parse_keyword_list(setting_text(settings.opt_in_keywords)),
            plivo::parse_keyword_list(setting_text(settings.help_keywords))};
        const char* name =
            plivo::consent_keyword_name(plivo::classify_consent_keyword(*text, lists));
        if (name == nullptr) PG_RETURN_NULL();
        return text_datum(name);
    });
}

// plivo._phone_number(number, field): E.164, as message_logs keeps recipients; an
// invalid number is a 22023 error naming `field`.
extern "C" Datum plivo_phone_number(PG_FUNCTION_ARGS) {
    return cpp_entry([&]() -> Datum {
        std::string field = text_argument(fcinfo, 1).value_or("number");
        std::string number = required_text(
            fcinfo, 0, field.c_str(), "Pass a phone number with its country code, e.g. +14155550100.");
        return text_datum(plivo::parse_phone_number(number, field).e164);
    });
}
