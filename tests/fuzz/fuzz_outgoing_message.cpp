// validate_outgoing. The input is lines "field=value" with field one of type, recipient,
// sender, default_sender, text, media (repeatable; "media" alone is a NULL element),
// media_list (an empty, non-NULL list) and callback; "\n" inside text is written "\\n".
#include <cstdint>
#include <string>

#include "fuzz_util.hpp"
#include "input_error.hpp"
#include "outgoing_message.hpp"
#include "phone_number.hpp"
#include "url.hpp"

namespace {

std::string unescape_newlines(const std::string& text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\\' && i + 1 < text.size() && text[i + 1] == 'n') {
            out += '\n';
            ++i;
        } else {
            out += text[i];
        }
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    plivo::OutgoingMessage message;
    for (const std::string& line : fuzz::split_lines(fuzz::as_string(data, size))) {
        const std::size_t eq = line.find('=');
        const std::string field = line.substr(0, eq);
        const std::string value = eq == std::string::npos ? "" : line.substr(eq + 1);
        if (field == "type") {
            try {
                message.type = plivo::parse_message_type(value, "message_type");
            } catch (const plivo::InputError& error) {
                FUZZ_CHECK(error.field() == "message_type");
            }
        } else if (field == "recipient") {
            message.recipient = value;
        } else if (field == "sender") {
            message.sender = value;
        } else if (field == "default_sender") {
            message.default_sender = value;
        } else if (field == "text") {
            message.text = unescape_newlines(value);
        } else if (field == "media" || field == "media_list") {
            if (!message.media_urls) message.media_urls.emplace();
            if (field == "media") {
                if (eq == std::string::npos) {
                    message.media_urls->push_back(std::nullopt);
                } else {
                    message.media_urls->push_back(value);
                }
            }
        } else if (field == "callback") {
            message.callback_url = value;
        }
    }

    for (const plivo::FieldNames* names : {&plivo::kFunctionArgumentNames, &plivo::kColumnNames}) {
        plivo::ValidatedMessage valid;
        try {
            valid = plivo::validate_outgoing(message, *names);
        } catch (const plivo::InputError& error) {
            FUZZ_CHECK(!error.field().empty());
            FUZZ_CHECK(fuzz::is_utf8(error.what()) && fuzz::is_utf8(error.detail()) &&
                       fuzz::is_utf8(error.hint()));
            continue;
        }
        // Numbers in E.164, which parse again to themselves.
        FUZZ_CHECK(plivo::parse_phone_number(valid.recipient, "r").e164 == valid.recipient);
        FUZZ_CHECK(plivo::parse_phone_number(valid.sender, "s").e164 == valid.sender);
        const bool has_media = message.media_urls && !message.media_urls->empty();
        FUZZ_CHECK(!message.type || *message.type == valid.type);
        if (!message.type) {
            FUZZ_CHECK(valid.type == (has_media ? plivo::MessageType::Mms : plivo::MessageType::Sms));
        }
        if (valid.type == plivo::MessageType::Mms) {
            const std::string region = plivo::parse_phone_number(valid.recipient, "r").region;
            FUZZ_CHECK(region == "US" || region == "CA");
            FUZZ_CHECK(!valid.media_urls.empty() && valid.media_urls.size() <= plivo::kMaxMediaUrls);
            for (const std::string& url : valid.media_urls) plivo::require_http_url(url, "m");
        } else {
            FUZZ_CHECK(valid.text && !valid.text->empty() && valid.media_urls.empty());
        }
        if (valid.text) {
            const plivo::TextStats stats = plivo::analyze_text(*valid.text, "t");
            FUZZ_CHECK(stats.encoding == valid.text_stats.encoding &&
                       stats.units == valid.text_stats.units &&
                       stats.segments == valid.text_stats.segments);
        } else {
            FUZZ_CHECK(valid.text_stats.units == 0 && valid.text_stats.segments == 0);
        }
        if (valid.callback_url) {
            FUZZ_CHECK(!valid.callback_url->empty());
            plivo::require_http_url(*valid.callback_url, "c");
        }
    }
    return 0;
}
