#include "send_outcome.hpp"

#include "plivo_response.hpp"
#include "retry_after.hpp"
#include "pure_cpp.hpp"

namespace plivo {

namespace {

// The one uuid an answer without a clear verdict still names, if it reads at all.
std::optional<std::string> named_uuid(const HttpResult& result) {
    if (result.body.empty() || result.body_truncated) return std::nullopt;
    SendReply reply = parse_send_reply(result.body);
    if (reply.message_uuids.size() != 1 || reply.message_uuids.front().empty()) return std::nullopt;
    return reply.message_uuids.front();
}

std::string transport_text(const HttpResult& result) {
    std::string text =
        result.curl_error.empty() ? curl_easy_strerror(result.curl_code) : result.curl_error;
    return clean_remote_text(text, 300) + " (curl error " +
           std::to_string(static_cast<int>(result.curl_code)) + ")";
}

std::optional<std::chrono::seconds> retry_after_of(const HttpResult& result,
                                                   std::chrono::system_clock::time_point now) {
    if (!result.retry_after) return std::nullopt;
    return parse_retry_after(*result.retry_after, now);
}

// A 4xx status line is Plivo's (or a proxy's) final word, even when the body was cut off.
SendOutcome classify_client_error(const HttpResult& result,
                                  std::chrono::system_clock::time_point now) {
    SendReply reply = parse_send_reply(result.body);
    std::string error = reply_error_text(reply);
    long status = result.http_status;
    if (status == 429) return RateLimited{retry_after_of(result, now), error};
    if (status == 408) {
        return OutcomeUnknown{status, "HTTP 408 (request timeout): " + error,
                              retry_after_of(result, now), std::nullopt};
    }
    return Rejected{status, error, reply.api_id, status == 401 || status == 404};
}

SendOutcome classify_success(const HttpResult& result) {
    SendReply reply = parse_send_reply(result.body);
    if (!reply.message_uuids.empty()) {
        return Accepted{result.http_status, reply.message_uuids, reply.api_id, reply.message};
    }
    if (!reply.invalid_numbers.empty()) {
        std::string numbers;
        for (const std::string& number : reply.invalid_numbers) {
            numbers += (numbers.empty() ? "" : ", ") + number;
        }
        return Rejected{result.http_status, "invalid destination number: " + numbers, reply.api_id,
                        false};
    }
    std::string what = result.body_truncated ? "a truncated body"
                       : reply.is_json       ? "no message_uuid (" + reply_error_text(reply) + ")"
                                       : "a body that is not JSON: " + reply_error_text(reply);
    return OutcomeUnknown{result.http_status,
                          "HTTP " + std::to_string(result.http_status) + " with " + what,
                          std::nullopt, std::nullopt};
}

}  // namespace

SendOutcome classify_send(const HttpResult& result, std::chrono::system_clock::time_point now) {
    long status = result.http_status;
    if (status >= 400 && status < 500) return classify_client_error(result, now);

    if (result.curl_code != CURLE_OK) {
        if (!result.body_may_have_been_sent) {
            return RetrySafe{"request not sent: " + transport_text(result)};
        }
        std::string reason =
            "no complete answer after the request was sent: " + transport_text(result);
        if (status != 0) reason = "HTTP " + std::to_string(status) + ", then " + reason;
        return OutcomeUnknown{status, reason, retry_after_of(result, now),
                              named_uuid(result)};
    }

    if (status >= 200 && status < 300) return classify_success(result);
    if (status >= 300 && status < 400) {
        return Rejected{
            status,
            "unexpected redirect (HTTP " + std::to_string(status) + "): check the Plivo API URL",
            "", true};
    }
    SendReply reply = parse_send_reply(result.body);
    return OutcomeUnknown{status, "HTTP " + std::to_string(status) + ": " + reply_error_text(reply),
                          retry_after_of(result, now), named_uuid(result)};
}

std::string describe_outcome(const SendOutcome& outcome) {
    struct Describe {
        std::string operator()(const Accepted& a) const {
            std::string uuids;
            for (const std::string& uuid : a.message_uuids)
                uuids += (uuids.empty() ? "" : ",") + uuid;
            return "accepted: HTTP " + std::to_string(a.http_status) + ", message_uuid " + uuids;
        }
        std::string operator()(const Rejected& r) const {
            return "rejected: HTTP " + std::to_string(r.http_status) + ": " + r.error;
        }
        std::string operator()(const RateLimited& r) const {
            std::string text = "rate limited (HTTP 429)";
            if (r.retry_after)
                text += ", retry after " + std::to_string(r.retry_after->count()) + " s";
            return text + ": " + r.error;
        }
        std::string operator()(const RetrySafe& r) const { return "retryable: " + r.reason; }
        std::string operator()(const OutcomeUnknown& u) const {
            return "outcome unknown: " + u.reason;
        }
    };
    return std::visit(Describe{}, outcome);
}

}  // namespace plivo
