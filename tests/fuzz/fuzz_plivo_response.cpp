// parse_send_reply, reply_error_text, parse_message_list, parse_listed_message and
// clean_remote_text on any body: JSON or not, Plivo's shape or not. Nothing may throw.
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz_util.hpp"
#include "plivo_response.hpp"

namespace {

// Text that is safe to store: valid UTF-8, no control characters, not longer than the
// cut allows (the cut adds "…", 3 bytes).
void check_clean(const std::string& text, std::size_t max_bytes) {
    FUZZ_CHECK(fuzz::is_utf8(text));
    for (const char c : text) {
        const unsigned char u = static_cast<unsigned char>(c);
        FUZZ_CHECK(u >= 0x20 && u != 0x7F);
    }
    FUZZ_CHECK(text.size() <= max_bytes + 3);
}

void check_listed(const plivo::ListedMessage& message) {
    FUZZ_CHECK(!message.message_uuid.empty());
    for (const std::string* field :
         {&message.message_uuid, &message.message_state, &message.message_direction,
          &message.from_number, &message.to_number, &message.message_time, &message.message_type}) {
        check_clean(*field, 200);
    }
    if (message.error_code) check_clean(*message.error_code, 40);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    const nlohmann::json parsed = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
    const bool is_object = !parsed.is_discarded() && parsed.is_object();

    const plivo::SendReply reply = plivo::parse_send_reply(body);
    FUZZ_CHECK(reply.is_json == is_object);
    check_clean(reply.excerpt, plivo::kMaxExcerptBytes);
    check_clean(reply.api_id, 200);
    check_clean(reply.message, 1000);
    if (reply.error) check_clean(*reply.error, 1000);
    for (const auto& uuid : reply.message_uuids) check_clean(uuid, 200);
    for (const auto& number : reply.invalid_numbers) check_clean(number, 200);
    if (reply.is_json) {
        FUZZ_CHECK(reply.excerpt.empty());
    } else {
        FUZZ_CHECK(reply.message_uuids.empty() && !reply.error && reply.api_id.empty());
        FUZZ_CHECK(reply.excerpt.empty() == body.empty());
    }
    const std::string error_text = plivo::reply_error_text(reply);
    FUZZ_CHECK(!error_text.empty());
    check_clean(error_text, 1000);

    const auto list = plivo::parse_message_list(body);
    if (list) {
        FUZZ_CHECK(is_object && parsed.contains("objects") && parsed["objects"].is_array());
        FUZZ_CHECK(list->objects.size() <= parsed["objects"].size());
        check_clean(list->api_id, 200);
        if (list->next) {
            FUZZ_CHECK(!list->next->empty());
            check_clean(*list->next, 2000);
        }
        for (const auto& message : list->objects) check_listed(message);
    } else {
        FUZZ_CHECK(!is_object || !parsed.contains("objects") || !parsed["objects"].is_array());
    }

    const auto message = plivo::parse_listed_message(body);
    if (message) {
        FUZZ_CHECK(is_object);
        check_listed(*message);
    }

    for (const std::size_t max : {std::size_t{0}, std::size_t{1}, std::size_t{7}, size}) {
        check_clean(plivo::clean_remote_text(body, max), max);
    }
    return 0;
}
