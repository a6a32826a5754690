#include "plivo_response.hpp"

#include <algorithm>
#include <limits>

#include <nlohmann/json.hpp>

#include "utf8.hpp"
#include "pure_cpp.hpp"

namespace plivo {

namespace {

using nlohmann::json;

constexpr std::size_t kMaxFieldBytes = 200;
constexpr std::size_t kMaxErrorBytes = 1000;

// Any JSON value as storable text: strings as they are, the rest as compact JSON.
std::string value_text(const json& value, std::size_t max_bytes) {
    if (value.is_string()) return clean_remote_text(value.get_ref<const std::string&>(), max_bytes);
    if (value.is_null()) return "";
    return clean_remote_text(value.dump(-1, ' ', false, json::error_handler_t::replace), max_bytes);
}

std::string field_text(const json& object, const char* key,
                       std::size_t max_bytes = kMaxFieldBytes) {
    auto it = object.find(key);
    return it == object.end() ? std::string() : value_text(*it, max_bytes);
}

// A JSON array of strings, or a single string, as a list; other shapes give nothing.
std::vector<std::string> string_list(const json& object, const char* key) {
    std::vector<std::string> out;
    auto it = object.find(key);
    if (it == object.end()) return out;
    if (it->is_string()) {
        out.push_back(value_text(*it, kMaxFieldBytes));
    } else if (it->is_array()) {
        for (const json& item : *it) {
            if (item.is_string() || item.is_number())
                out.push_back(value_text(item, kMaxFieldBytes));
        }
    }
    return out;
}

// A count from the reply, clamped to long: get<long>() on 1e300 (or on an unsigned
// above LONG_MAX) would be undefined behaviour, and the body is the network's.
long number_field(const json& object, const char* key) {
    auto it = object.find(key);
    if (it == object.end() || !it->is_number()) return 0;
    constexpr long kMax = std::numeric_limits<long>::max();
    constexpr long kMin = std::numeric_limits<long>::min();
    if (it->is_number_unsigned()) {
        const auto value = it->get<json::number_unsigned_t>();
        return value > static_cast<json::number_unsigned_t>(kMax) ? kMax : static_cast<long>(value);
    }
    if (it->is_number_integer()) return it->get<long>();
    const double value = it->get<double>();
    if (value >= -static_cast<double>(kMin)) return kMax;  // 2^63: the first value above
    if (value < static_cast<double>(kMin)) return kMin;
    return static_cast<long>(value);
}

std::optional<ListedMessage> listed_message(const json& object) {
    if (!object.is_object()) return std::nullopt;
    ListedMessage message;
    message.message_uuid = field_text(object, "message_uuid");
    if (message.message_uuid.empty()) return std::nullopt;
    message.message_state = field_text(object, "message_state");
    message.message_direction = field_text(object, "message_direction");
    message.from_number = field_text(object, "from_number");
    message.to_number = field_text(object, "to_number");
    message.message_time = field_text(object, "message_time");
    message.message_type = field_text(object, "message_type");
    auto code = object.find("error_code");
    if (code != object.end() && !code->is_null()) message.error_code = value_text(*code, 40);
    message.units = field_text(object, "units", 40);
    message.total_rate = field_text(object, "total_rate", 40);
    message.total_amount = field_text(object, "total_amount", 40);
    return message;
}

}  // namespace

std::string clean_remote_text(std::string_view text, std::size_t max_bytes) {
    std::string out;
    out.reserve(std::min(text.size(), max_bytes) + 3);
    std::size_t i = 0;
    while (i < text.size()) {
        auto decoded = utf8::decode_char(text, i);
        std::size_t length = decoded ? decoded->length : 0;
        std::string_view piece = length ? text.substr(i, length) : std::string_view("?");
        if (length == 1) {
            unsigned char c = static_cast<unsigned char>(text[i]);
            if (c == '\n' || c == '\r' || c == '\t')
                piece = " ";
            else if (c < 0x20 || c == 0x7F)
                piece = "?";
        }
        if (out.size() + piece.size() > max_bytes) {
            out += "\xE2\x80\xA6";  // "…"
            return out;
        }
        out += piece;
        i += length ? length : 1;
    }
    return out;
}

SendReply parse_send_reply(std::string_view body) {
    SendReply reply;
    json parsed = json::parse(body.begin(), body.end(), nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object()) {
        reply.excerpt = clean_remote_text(body, kMaxExcerptBytes);
        return reply;
    }
    reply.is_json = true;
    reply.api_id = field_text(parsed, "api_id");
    reply.message = field_text(parsed, "message", kMaxErrorBytes);
    reply.message_uuids = string_list(parsed, "message_uuid");
    reply.invalid_numbers = string_list(parsed, "invalid_number");
    auto error = parsed.find("error");
    if (error != parsed.end() && !error->is_null())
        reply.error = value_text(*error, kMaxErrorBytes);
    return reply;
}

std::string reply_error_text(const SendReply& reply) {
    if (reply.error && !reply.error->empty()) return *reply.error;
    if (!reply.excerpt.empty()) return reply.excerpt;
    if (reply.is_json && !reply.message.empty()) return reply.message;
    return reply.is_json ? "no error text in the reply" : "empty body";
}

std::optional<MessageList> parse_message_list(std::string_view body) {
    json parsed = json::parse(body.begin(), body.end(), nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object()) return std::nullopt;
    auto objects = parsed.find("objects");
    if (objects == parsed.end() || !objects->is_array()) return std::nullopt;
    MessageList list;
    list.api_id = field_text(parsed, "api_id");
    auto meta = parsed.find("meta");
    if (meta != parsed.end() && meta->is_object()) {
        list.limit = number_field(*meta, "limit");
        list.offset = number_field(*meta, "offset");
        list.total_count = number_field(*meta, "total_count");
        auto next = meta->find("next");
        if (next != meta->end() && !next->is_null()) {
            std::string link = value_text(*next, 2000);
            if (!link.empty()) list.next = link;
        }
    }
    for (const json& object : *objects) {
        if (auto message = listed_message(object)) list.objects.push_back(std::move(*message));
    }
    return list;
}

std::optional<ListedMessage> parse_listed_message(std::string_view body) {
    json parsed = json::parse(body.begin(), body.end(), nullptr, false);
    if (parsed.is_discarded()) return std::nullopt;
    return listed_message(parsed);
}

}  // namespace plivo
