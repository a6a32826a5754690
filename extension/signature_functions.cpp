// plivo.verify_plivo_signature(): Plivo's V2/V3 webhook signatures, checked in SQL.
#include "guard.hpp"

#include <optional>
#include <string>

#include "input_error.hpp"
#include "json_inputs.hpp"
#include "settings.hpp"
#include "signature.hpp"

extern "C" {
PG_FUNCTION_INFO_V1(plivo_verify_plivo_signature);
}

namespace pg_plivo {
namespace {

std::optional<std::string> text_argument(FunctionCallInfo fcinfo, int index) {
    if (PG_ARGISNULL(index)) return std::nullopt;
    Datum value = PG_GETARG_DATUM(index);
    char* cstring = pg_call([&] { return TextDatumGetCString(value); });
    std::string result(cstring);
    pfree(cstring);
    return result;
}

std::string required_text(FunctionCallInfo fcinfo, int index, const char* field) {
    auto value = text_argument(fcinfo, index);
    if (!value) {
        throw plivo::InputError(plivo::InputErrorKind::NullValue, field,
                                std::string(field) + " must not be null", "",
                                std::string("Pass the ") + field + " Plivo's request came with.");
    }
    return *value;
}

std::string lower_ascii(std::string text) {
    for (char& c : text) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
    return text;
}

}  // namespace
}  // namespace pg_plivo

using namespace pg_plivo;

// verify_plivo_signature(url, nonce, signature, method, params jsonb, version, auth_token)
extern "C" Datum plivo_verify_plivo_signature(PG_FUNCTION_ARGS) {
    return cpp_entry([&]() -> Datum {
        std::string url = required_text(fcinfo, 0, "url");
        auto nonce = text_argument(fcinfo, 1);
        auto signature = text_argument(fcinfo, 2);
        std::string method = lower_ascii(text_argument(fcinfo, 3).value_or("POST"));
        std::string version = lower_ascii(text_argument(fcinfo, 5).value_or("v3"));

        plivo::HttpMethod http_method;
        if (method == "post") {
            http_method = plivo::HttpMethod::Post;
        } else if (method == "get") {
            http_method = plivo::HttpMethod::Get;
        } else {
            throw plivo::InputError(plivo::InputErrorKind::InvalidParameter, "method",
                                    "method must be 'GET' or 'POST'",
                                    "The value was " + plivo::quote_for_detail(method) + ".",
                                    "Pass the HTTP method Plivo called the URL with.");
        }
        plivo::SignatureVersion signature_version;
        if (version == "v3") {
            signature_version = plivo::SignatureVersion::V3;
        } else if (version == "v2") {
            signature_version = plivo::SignatureVersion::V2;
        } else {
            throw plivo::InputError(plivo::InputErrorKind::InvalidParameter, "version",
                                    "version must be 'v2' or 'v3'",
                                    "The value was " + plivo::quote_for_detail(version) + ".",
                                    "Use 'v3' for X-Plivo-Signature-V3 headers and 'v2' for "
                                    "X-Plivo-Signature-V2 headers.");
        }

        plivo::Params params;
        if (!PG_ARGISNULL(4)) {
            Datum json = PG_GETARG_DATUM(4);
            char* cstring = pg_call([&] {
                Jsonb* jsonb = DatumGetJsonbP(json);
                return JsonbToCString(nullptr, &jsonb->root, VARSIZE(jsonb));
            });
            std::string json_text(cstring);
            pfree(cstring);
            params = plivo::params_from_json(json_text, "params");
        }

        std::optional<std::string> token = text_argument(fcinfo, 6);
        if (!token) token = configured_auth_token();
        if (!token || token->empty()) {
            throw plivo::InputError(plivo::InputErrorKind::MissingSetting, "auth_token",
                                    "no Plivo auth token is configured", "",
                                    "Pass auth_token, set plivo.auth_token with ALTER SYSTEM, or "
                                    "store the Supabase Vault secret plivo_auth_token.");
        }
        // The URL is checked even when nonce or signature are missing: malformed input is an error.
        bool valid = plivo::verify_signature(signature_version, url, nonce.value_or(""),
                                             signature.value_or(""), http_method, params, *token);
        return BoolGetDatum(valid);
    });
}
