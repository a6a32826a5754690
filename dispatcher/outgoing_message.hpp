// Validation of one message before it is enqueued: the single implementation behind
// plivo.send_mms(), plivo.send_sms() and INSERT INTO plivo.message_logs.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "message_text.hpp"

namespace plivo {

enum class MessageType { Sms, Mms };
const char* message_type_name(MessageType type);  // "sms" / "mms"

// "sms" / "mms" (any letter case) to MessageType, for callers that receive the type as
// text. Throws InputError (InvalidParameter) naming `field` for anything else.
MessageType parse_message_type(const std::string& text, const std::string& field);

// The names a caller knows the inputs by: argument names for the SQL functions,
// column names for INSERT. Errors name the field with these.
struct FieldNames {
    std::string recipient;
    std::string sender;
    std::string text;
    std::string media_urls;
    std::string callback_url;
    std::string message_type;
};
extern const FieldNames kFunctionArgumentNames;  // destination_number, sender_number, ...
extern const FieldNames kColumnNames;            // recipient, sender, message_text, ...

// An empty string counts as NULL for the optional sender, default_sender and
// callback_url (an unset setting and many JSON clients give "" for "nothing"), and for
// the text of an MMS. It does not for recipient (a NullValue error), nor for an SMS's
// text or a media URL (errors).
struct OutgoingMessage {
    std::optional<MessageType> type;  // nullopt: mms when media_urls has elements, else sms
    std::optional<std::string> recipient;
    std::optional<std::string> sender;          // nullopt: default_sender is used
    std::optional<std::string> default_sender;  // the plivo.sender_number setting
    std::optional<std::string> text;
    std::optional<std::vector<std::optional<std::string>>> media_urls;  // elements may be NULL
    std::optional<std::string> callback_url;
    // Plivo's Powerpack instead of a sender: Plivo picks the number from the pack.
    std::optional<std::string> powerpack_uuid;
    std::optional<std::string> default_powerpack_uuid;  // the plivo.powerpack_uuid setting
};

struct ValidatedMessage {
    MessageType type;
    std::string recipient;  // E.164
    std::string sender;     // E.164; empty when the message goes through a Powerpack
    std::optional<std::string> powerpack_uuid;  // lower case; set: no sender
    std::optional<std::string> text;
    std::vector<std::string> media_urls;
    std::optional<std::string> callback_url;
    TextStats text_stats;  // of the text; {Gsm7, 0, 0} when there is none
};

constexpr std::size_t kMaxMediaUrls = 10;

// The setting that holds the default sender; errors about it name it.
constexpr const char* kSenderNumberSetting = "plivo.sender_number";
constexpr const char* kPowerpackSetting = "plivo.powerpack_uuid";

// A Powerpack uuid as Plivo writes them (8-4-4-4-12 hex digits), lower-cased. Throws
// InputError naming `field` for anything else.
std::string parse_powerpack_uuid(const std::string& value, const std::string& field);

// The sender is the one given, else powerpack_uuid, else plivo.powerpack_uuid, else
// plivo.sender_number; a sender and a powerpack_uuid together are an error.
// Throws InputError (naming the field by `names`) for the first problem found, checking
// in this order: recipient, sender, then by type (MMS: recipient region, media_urls, its
// elements, text; SMS: text, media_urls), then callback_url. A media URL is named
// "media_urls[3]", 1-based as in SQL. An invalid plivo.sender_number is reported as
// MissingSetting naming the setting.
ValidatedMessage validate_outgoing(const OutgoingMessage& message, const FieldNames& names);

}  // namespace plivo
