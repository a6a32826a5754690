#include "outgoing_message.hpp"

#include "input_error.hpp"
#include "phone_number.hpp"
#include "url.hpp"
#include "utf8.hpp"
#include "pure_cpp.hpp"

namespace plivo {

const FieldNames kFunctionArgumentNames{"destination_number", "sender_number", "message_text",
                                        "media_urls",         "callback_url",  "message_type"};
const FieldNames kColumnNames{"recipient",  "sender",       "message_text",
                              "media_urls", "callback_url", "message_type"};

namespace {

constexpr const char* kExampleNumber = "+14155552671";

// Given and not "": what the optional fields need to count as given.
bool is_present(const std::optional<std::string>& value) { return value && !value->empty(); }

// White space and invisible characters: a text made only of them shows nothing.
bool is_blank_char(char32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200B) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

// Called only on text analyze_text has accepted, so it is valid UTF-8.
bool is_blank(const std::string& text) {
    std::size_t pos = 0;
    while (pos < text.size()) {
        const auto decoded = utf8::decode_char(text, pos);
        if (!decoded || !is_blank_char(decoded->code_point)) return false;
        pos += decoded->length;
    }
    return true;
}

// "1 element", "2 elements".
std::string count_of(std::size_t count, const std::string& noun) {
    return std::to_string(count) + " " + noun + (count == 1 ? "" : "s");
}

// The value as errdetail shows it; "" would be easy to miss, so it is spelled out.
std::string quote_or_describe(const std::string& value) {
    return value.empty() ? "an empty string" : quote_for_detail(value);
}

// The sender's E.164 form: the one given, else plivo.sender_number, else an error
// whose hint points at the setting.
std::string resolve_sender(const OutgoingMessage& message, const FieldNames& names) {
    if (is_present(message.sender)) return parse_phone_number(*message.sender, names.sender).e164;

    const std::string setting = kSenderNumberSetting;
    const std::string set_default =
        "ALTER DATABASE <database> SET " + setting + " = '" + kExampleNumber + "'";
    if (is_present(message.default_sender)) {
        try {
            return parse_phone_number(*message.default_sender, setting).e164;
        } catch (const InputError& error) {
            throw InputError(
                InputErrorKind::MissingSetting, setting, error.what(), error.detail(),
                "Correct the setting with " + set_default + ", or give " + names.sender + ".");
        }
    }
    throw InputError(
        InputErrorKind::MissingSetting, names.sender, names.sender + " is required",
        "No " + names.sender + " was given and " + setting + " is not set.",
        "Give " + names.sender + ", or set a default sender with " + set_default + ".");
}

}  // namespace

std::string parse_powerpack_uuid(const std::string& value, const std::string& field) {
    static const int kGroups[] = {8, 4, 4, 4, 12};
    std::string lower;
    std::size_t at = 0;
    bool ok = value.size() == 36;
    for (int group = 0; ok && group < 5; ++group) {
        if (group > 0) ok = value[at++] == '-';
        for (int i = 0; ok && i < kGroups[group]; ++i, ++at) {
            char c = value[at];
            ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        }
    }
    if (!ok) {
        throw InputError(InputErrorKind::InvalidParameter, field,
                         field + " is not a Powerpack uuid",
                         "The value was " + quote_or_describe(value) + ".",
                         "Copy the Powerpack's uuid from the Plivo console, for example "
                         "'d1b5a6c2-3e4f-4a5b-8c6d-7e8f9a0b1c2d'.");
    }
    for (char c : value) lower += static_cast<char>(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
    return lower;
}

namespace {

// Checks the media list of an MMS and returns its URLs.
std::vector<std::string> validate_media_urls(const OutgoingMessage& message,
                                             const FieldNames& names) {
    const std::string usage_hint = "Give 1 to " + std::to_string(kMaxMediaUrls) +
                                   " http(s) URLs, for example "
                                   "ARRAY['https://example.com/photo.jpg'], or send an SMS.";
    if (!message.media_urls) {
        throw InputError(InputErrorKind::NullValue, names.media_urls,
                         names.media_urls + " is required for an MMS", "The value was NULL.",
                         usage_hint);
    }
    const auto& elements = *message.media_urls;
    if (elements.empty()) {
        throw InputError(InputErrorKind::InvalidParameter, names.media_urls,
                         names.media_urls + " must not be empty for an MMS",
                         "The array has no elements.", usage_hint);
    }
    if (elements.size() > kMaxMediaUrls) {
        throw InputError(InputErrorKind::InvalidParameter, names.media_urls,
                         names.media_urls + " has too many elements",
                         "The array has " + count_of(elements.size(), "element") +
                             "; an MMS carries at most " + std::to_string(kMaxMediaUrls) + ".",
                         "Send at most " + std::to_string(kMaxMediaUrls) +
                             " media per message and put the rest in another MMS.");
    }

    std::vector<std::string> urls;
    urls.reserve(elements.size());
    for (std::size_t i = 0; i < elements.size(); ++i) {
        const std::string position = std::to_string(i + 1);  // SQL arrays count from 1
        const std::string field = names.media_urls + "[" + position + "]";
        if (!elements[i]) {
            throw InputError(InputErrorKind::NullValue, field, field + " must not be null",
                             "Element " + position + " of " + names.media_urls + " is NULL.",
                             "Remove the NULL element or give its URL.");
        }
        if (elements[i]->empty()) {
            throw InputError(
                InputErrorKind::InvalidParameter, field, field + " must not be empty",
                "Element " + position + " of " + names.media_urls + " is an empty string.",
                "Remove the empty element or give its URL.");
        }
        require_http_url(*elements[i], field);
        urls.push_back(*elements[i]);
    }
    return urls;
}

// MMS rules: US/CA recipient, 1..kMaxMediaUrls http(s) media, optional text.
void validate_mms(const OutgoingMessage& message, const FieldNames& names,
                  const PhoneNumber& recipient, ValidatedMessage* out) {
    if (recipient.region != "US" && recipient.region != "CA") {
        throw InputError(InputErrorKind::InvalidParameter, names.recipient,
                         names.recipient + " cannot receive an MMS",
                         "The value was " + quote_for_detail(*message.recipient) +
                             ", a number in region " + recipient.region + ".",
                         "MMS is only delivered to US and Canadian numbers; use "
                         "plivo.send_sms() to reach other countries.");
    }
    out->media_urls = validate_media_urls(message, names);
    if (is_present(message.text)) {
        out->text_stats = analyze_text(*message.text, names.text);
        out->text = message.text;
    }
}

// SMS rules: a text with something visible in it, and no media.
void validate_sms(const OutgoingMessage& message, const FieldNames& names, ValidatedMessage* out) {
    const std::string text_hint =
        "Give the text of the message; to send only media, use "
        "plivo.send_mms().";
    if (!message.text) {
        throw InputError(InputErrorKind::NullValue, names.text,
                         names.text + " is required for an SMS", "The value was NULL.", text_hint);
    }
    out->text_stats = analyze_text(*message.text, names.text);
    if (is_blank(*message.text)) {
        throw InputError(InputErrorKind::InvalidParameter, names.text,
                         names.text + " must not be empty for an SMS",
                         "The value was " + quote_or_describe(*message.text) + ".", text_hint);
    }
    out->text = message.text;

    if (message.media_urls && !message.media_urls->empty()) {
        throw InputError(InputErrorKind::InvalidParameter, names.media_urls,
                         names.media_urls + " must be empty for an SMS",
                         "The message type is sms and " + names.media_urls + " has " +
                             count_of(message.media_urls->size(), "element") + ".",
                         "Send media as an MMS: use plivo.send_mms(), or set " +
                             names.message_type + " to 'mms'.");
    }
}

}  // namespace

const char* message_type_name(MessageType type) { return type == MessageType::Mms ? "mms" : "sms"; }

MessageType parse_message_type(const std::string& text, const std::string& field) {
    std::string lower;
    for (char c : text) lower += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    if (lower == "sms") return MessageType::Sms;
    if (lower == "mms") return MessageType::Mms;
    throw InputError(InputErrorKind::InvalidParameter, field, field + " must be 'sms' or 'mms'",
                     "The value was " + quote_or_describe(text) + ".",
                     "Use 'sms' for text only or 'mms' for media, or leave " + field +
                         " NULL to choose by whether media is given.");
}

ValidatedMessage validate_outgoing(const OutgoingMessage& message, const FieldNames& names) {
    if (!message.recipient || message.recipient->empty()) {
        throw InputError(
            InputErrorKind::NullValue, names.recipient, names.recipient + " is required",
            message.recipient ? "The value was an empty string." : "The value was NULL.",
            "Give the recipient's phone number with its country code, for example " +
                std::string(kExampleNumber) + ".");
    }
    const PhoneNumber recipient = parse_phone_number(*message.recipient, names.recipient);

    ValidatedMessage out{};
    out.recipient = recipient.e164;
    if (is_present(message.sender) && is_present(message.powerpack_uuid)) {
        throw InputError(InputErrorKind::InvalidParameter, "powerpack_uuid",
                         "powerpack_uuid and " + names.sender + " cannot both be given",
                         "Plivo takes either a sender number or a Powerpack, never both.",
                         "Leave out " + names.sender + " to let the Powerpack pick the number, or "
                         "powerpack_uuid to send from " + names.sender + ".");
    }
    if (is_present(message.powerpack_uuid)) {
        out.powerpack_uuid = parse_powerpack_uuid(*message.powerpack_uuid, "powerpack_uuid");
    } else if (!is_present(message.sender) && is_present(message.default_powerpack_uuid)) {
        out.powerpack_uuid = parse_powerpack_uuid(*message.default_powerpack_uuid, kPowerpackSetting);
    } else {
        out.sender = resolve_sender(message, names);
    }
    const bool has_media = message.media_urls && !message.media_urls->empty();
    out.type = message.type.value_or(has_media ? MessageType::Mms : MessageType::Sms);
    out.text_stats = TextStats{TextEncoding::Gsm7, 0, 0};

    if (out.type == MessageType::Mms) {
        validate_mms(message, names, recipient, &out);
    } else {
        validate_sms(message, names, &out);
    }

    if (is_present(message.callback_url)) {
        require_http_url(*message.callback_url, names.callback_url);
        out.callback_url = message.callback_url;
    }
    return out;
}

}  // namespace plivo
