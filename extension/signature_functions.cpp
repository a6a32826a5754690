// plivo.verify_plivo_signature() and plivo._verify_webhook(): Plivo's V2/V3 webhook
// signatures, checked in SQL.
#include "guard.hpp"

#include <optional>
#include <string>

#include "input_error.hpp"
#include "json_inputs.hpp"
#include "settings.hpp"
#include "sql_arguments.hpp"
#include "signature.hpp"
#include "url.hpp"
#include "webhook_headers.hpp"

extern "C" {
PG_FUNCTION_INFO_V1(plivo_verify_plivo_signature);
PG_FUNCTION_INFO_V1(plivo_verify_webhook);
}

namespace pg_plivo {
namespace {

std::string required_text(FunctionCallInfo fcinfo, int index, const char* field) {
    return pg_plivo::required_text(fcinfo, index, field,
                                   std::string("Pass the ") + field + " Plivo's request came with.");
}

// A jsonb argument as Params (see plivo::params_from_json); empty when NULL.
plivo::Params params_argument(FunctionCallInfo fcinfo, int index, const char* field) {
    if (PG_ARGISNULL(index)) return {};
    Datum json = PG_GETARG_DATUM(index);
    char* cstring = pg_call([&] {
        Jsonb* jsonb = DatumGetJsonbP(json);
        return JsonbToCString(nullptr, &jsonb->root, VARSIZE(jsonb));
    });
    std::string json_text(cstring);
    pfree(cstring);
    return plivo::params_from_json(json_text, field);
}

std::string lower_ascii(std::string text) {
    for (char& c : text) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
    return text;
}

plivo::HttpMethod method_argument(FunctionCallInfo fcinfo, int index) {
    std::string method = lower_ascii(text_argument(fcinfo, index).value_or("POST"));
    if (method == "post") return plivo::HttpMethod::Post;
    if (method == "get") return plivo::HttpMethod::Get;
    throw plivo::InputError(plivo::InputErrorKind::InvalidParameter, "method",
                            "method must be 'GET' or 'POST'",
                            "The value was " + plivo::quote_for_detail(method) + ".",
                            "Pass the HTTP method Plivo called the URL with.");
}

// The token to check with: the argument, else the setting or Vault secret.
std::string auth_token_or_error(std::optional<std::string> given) {
    std::optional<std::string> token = given ? given : configured_auth_token();
    if (!token || token->empty()) {
        throw plivo::InputError(plivo::InputErrorKind::MissingSetting, "auth_token",
                                "no Plivo auth token is configured", "",
                                "Pass auth_token, set plivo.auth_token with ALTER SYSTEM, or "
                                "store the Supabase Vault secret plivo_auth_token.");
    }
    return *token;
}

// For a GET report the fields are the URL's query. A relay may pass them both in the
// URL and as params; a field given both ways is one field of the request, not two.
plivo::Params without_query_fields(const std::string& url, plivo::Params params) {
    auto parts = plivo::split_url(url);
    if (!parts || !parts->query) return params;
    for (const auto& field : plivo::decode_query(*parts->query)) {
        for (auto it = params.begin(); it != params.end(); ++it) {
            if (*it == field) {
                params.erase(it);
                break;
            }
        }
    }
    return params;
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
        plivo::HttpMethod method = method_argument(fcinfo, 3);
        std::string version = lower_ascii(text_argument(fcinfo, 5).value_or("v3"));
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
        plivo::Params params = params_argument(fcinfo, 4, "params");
        std::string token = auth_token_or_error(text_argument(fcinfo, 6));
        // The URL is checked even when nonce or signature are missing: malformed input is an error.
        bool valid = plivo::verify_signature(signature_version, url, nonce.value_or(""),
                                             signature.value_or(""), method, params, token);
        return BoolGetDatum(valid);
    });
}

// plivo._verify_webhook(url, params, headers, method) → (version, nonce): picks the
// signature from the request headers (V3 when present, never falling back to V2) and
// checks it with the configured token; a missing or wrong signature is SQLSTATE 28000.
extern "C" Datum plivo_verify_webhook(PG_FUNCTION_ARGS) {
    return cpp_entry([&]() -> Datum {
        std::string url = required_text(fcinfo, 0, "url");
        plivo::Params params = params_argument(fcinfo, 1, "params");
        plivo::Params headers = params_argument(fcinfo, 2, "headers");
        plivo::HttpMethod method = method_argument(fcinfo, 3);
        if (method == plivo::HttpMethod::Get) params = without_query_fields(url, std::move(params));
        plivo::WebhookSignature chosen = plivo::choose_webhook_signature(headers);
        std::string token = auth_token_or_error(std::nullopt);
        bool v3 = chosen.version == plivo::SignatureVersion::V3;
        if (!plivo::verify_signature(chosen.version, url, chosen.nonce, chosen.signatures, method,
                                     params, token)) {
            throw plivo::InputError(
                plivo::InputErrorKind::InvalidAuthorization, "headers", "invalid Plivo signature",
                std::string("The X-Plivo-Signature-") + (v3 ? "V3" : "V2") +
                    " headers do not match this request for the configured auth token.",
                "Pass the URL Plivo was told to call (not the one behind a proxy), the decoded "
                "fields and the headers unchanged; check plivo.auth_token.");
        }
        TupleDesc desc;
        if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE) {
            throw std::logic_error("plivo._verify_webhook must return a record");
        }
        const std::string& nonce = chosen.nonce;
        return pg_call([&] {
            TupleDesc blessed = BlessTupleDesc(desc);
            Datum values[2] = {CStringGetTextDatum(v3 ? "v3" : "v2"),
                               PointerGetDatum(cstring_to_text_with_len(nonce.data(), nonce.size()))};
            bool nulls[2] = {false, false};
            return HeapTupleGetDatum(heap_form_tuple(blessed, values, nulls));
        });
    });
}
