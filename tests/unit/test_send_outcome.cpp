// The classification table of dispatcher/send_outcome.hpp, row by row.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "send_outcome.hpp"

namespace plivo {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

const system_clock::time_point kNow = system_clock::from_time_t(784111777);  // 1994-11-06 08:49:37

HttpResult answered(long status, std::string body) {
    HttpResult result;
    result.id = 42;
    result.http_status = status;
    result.body = std::move(body);
    result.body_may_have_been_sent = true;
    return result;
}

HttpResult transport_failure(CURLcode code, bool sent, std::string error = "") {
    HttpResult result;
    result.id = 42;
    result.curl_code = code;
    result.curl_error = std::move(error);
    result.body_may_have_been_sent = sent;
    return result;
}

const char kQueued[] =
    R"({"api_id":"a1","message":"message(s) queued","message_uuid":["db3ce55a-7f1d-11e1"]})";

TEST(SendOutcome, Accepted) {
    for (long status : {200L, 201L, 202L}) {
        const SendOutcome outcome = classify_send(answered(status, kQueued), kNow);
        const auto* accepted = std::get_if<Accepted>(&outcome);
        ASSERT_NE(accepted, nullptr) << describe_outcome(outcome);
        EXPECT_EQ(accepted->http_status, status);
        EXPECT_EQ(accepted->message_uuids, std::vector<std::string>{"db3ce55a-7f1d-11e1"});
        EXPECT_EQ(accepted->api_id, "a1");
        EXPECT_EQ(accepted->message, "message(s) queued");
    }
    EXPECT_EQ(describe_outcome(classify_send(answered(202, kQueued), kNow)),
              "accepted: HTTP 202, message_uuid db3ce55a-7f1d-11e1");
}

TEST(SendOutcome, SuccessWithoutUuidIsUnknown) {
    for (const char* body : {"", "garbage", "{}", R"({"api_id":"a","error":"odd"})",
                             R"({"message_uuid":[]})", R"({"api_id":"a","message_uuid":)"}) {
        SCOPED_TRACE(body);
        const SendOutcome outcome = classify_send(answered(202, body), kNow);
        const auto* unknown = std::get_if<OutcomeUnknown>(&outcome);
        ASSERT_NE(unknown, nullptr) << describe_outcome(outcome);
        EXPECT_EQ(unknown->http_status, 202);
    }
    HttpResult truncated = answered(202, std::string(kQueued).substr(0, 20));
    truncated.body_truncated = true;
    EXPECT_TRUE(std::holds_alternative<OutcomeUnknown>(classify_send(truncated, kNow)));
}

TEST(SendOutcome, SuccessNamingOurNumberInvalidIsRejected) {
    const SendOutcome outcome = classify_send(
        answered(202, R"({"api_id":"a","message":"message(s) queued","invalid_number":["1415"]})"),
        kNow);
    const auto* rejected = std::get_if<Rejected>(&outcome);
    ASSERT_NE(rejected, nullptr) << describe_outcome(outcome);
    EXPECT_EQ(rejected->error, "invalid destination number: 1415");
    EXPECT_FALSE(rejected->account_wide);
}

TEST(SendOutcome, ClientErrorsAreRejected) {
    for (long status : {400L, 401L, 403L, 404L, 405L, 409L, 410L, 413L, 415L, 422L, 451L, 499L}) {
        SCOPED_TRACE(status);
        const SendOutcome outcome =
            classify_send(answered(status, R"({"api_id":"e","error":"nope"})"), kNow);
        const auto* rejected = std::get_if<Rejected>(&outcome);
        ASSERT_NE(rejected, nullptr) << describe_outcome(outcome);
        EXPECT_EQ(rejected->http_status, status);
        EXPECT_EQ(rejected->error, "nope");
        EXPECT_EQ(rejected->api_id, "e");
        EXPECT_EQ(rejected->account_wide, status == 401 || status == 404);
    }
    EXPECT_EQ(describe_outcome(classify_send(answered(400, R"({"error":"invalid dst"})"), kNow)),
              "rejected: HTTP 400: invalid dst");
}

TEST(SendOutcome, ClientErrorWithGarbageBodyKeepsAnExcerpt) {
    const SendOutcome outcome = classify_send(answered(403, "<h1>Forbidden</h1>\n"), kNow);
    ASSERT_TRUE(std::holds_alternative<Rejected>(outcome));
    EXPECT_EQ(std::get<Rejected>(outcome).error, "<h1>Forbidden</h1> ");
}

TEST(SendOutcome, ClientErrorStatusWinsOverACutBody) {
    HttpResult result = answered(400, R"({"error":"inva)");
    result.curl_code = CURLE_PARTIAL_FILE;
    EXPECT_TRUE(std::holds_alternative<Rejected>(classify_send(result, kNow)));
    result.http_status = 429;
    EXPECT_TRUE(std::holds_alternative<RateLimited>(classify_send(result, kNow)));
}

TEST(SendOutcome, RateLimitedWithAndWithoutRetryAfter) {
    HttpResult result = answered(429, R"({"api_id":"r","error":"too many requests"})");
    SendOutcome outcome = classify_send(result, kNow);
    ASSERT_TRUE(std::holds_alternative<RateLimited>(outcome));
    EXPECT_FALSE(std::get<RateLimited>(outcome).retry_after.has_value());
    EXPECT_EQ(std::get<RateLimited>(outcome).error, "too many requests");

    result.retry_after = "12";
    outcome = classify_send(result, kNow);
    EXPECT_EQ(std::get<RateLimited>(outcome).retry_after, seconds(12));
    EXPECT_EQ(describe_outcome(outcome),
              "rate limited (HTTP 429), retry after 12 s: too many requests");

    result.retry_after = "Sun, 06 Nov 1994 08:50:37 GMT";
    EXPECT_EQ(std::get<RateLimited>(classify_send(result, kNow)).retry_after, seconds(60));
    result.retry_after = "86400";
    EXPECT_EQ(std::get<RateLimited>(classify_send(result, kNow)).retry_after, seconds(3600));
    result.retry_after = "whenever";
    EXPECT_FALSE(std::get<RateLimited>(classify_send(result, kNow)).retry_after.has_value());
}

TEST(SendOutcome, RequestTimeout408IsUnknown) {
    const SendOutcome outcome = classify_send(answered(408, ""), kNow);
    ASSERT_TRUE(std::holds_alternative<OutcomeUnknown>(outcome));
    EXPECT_EQ(std::get<OutcomeUnknown>(outcome).http_status, 408);
}

TEST(SendOutcome, ServerErrorsAreUnknown) {
    for (long status : {500L, 502L, 503L, 504L, 599L}) {
        SCOPED_TRACE(status);
        const SendOutcome outcome = classify_send(answered(status, "<html>oops</html>"), kNow);
        const auto* unknown = std::get_if<OutcomeUnknown>(&outcome);
        ASSERT_NE(unknown, nullptr) << describe_outcome(outcome);
        EXPECT_EQ(unknown->http_status, status);
        EXPECT_NE(unknown->reason.find("oops"), std::string::npos);
    }
    HttpResult busy = answered(503, "");
    busy.retry_after = "30";
    EXPECT_EQ(std::get<OutcomeUnknown>(classify_send(busy, kNow)).retry_after, seconds(30));
}

TEST(SendOutcome, RedirectsAndOddStatusesAreNeverResent) {
    for (long status : {301L, 302L, 307L, 308L}) {
        const SendOutcome outcome = classify_send(answered(status, ""), kNow);
        ASSERT_TRUE(std::holds_alternative<Rejected>(outcome)) << status;
        EXPECT_TRUE(std::get<Rejected>(outcome).account_wide);
    }
    for (long status : {100L, 199L, 600L}) {
        EXPECT_TRUE(
            std::holds_alternative<OutcomeUnknown>(classify_send(answered(status, ""), kNow)))
            << status;
    }
}

// Transport failures: the CURLcode only matters through body_may_have_been_sent, which
// the driver computes (see HttpDriverEvidence tests); both sides of it for each code.
TEST(SendOutcome, TransportFailuresFollowBodyMayHaveBeenSent) {
    for (CURLcode code :
         {CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_CONNECT, CURLE_SSL_CONNECT_ERROR,
          CURLE_PEER_FAILED_VERIFICATION, CURLE_OPERATION_TIMEDOUT, CURLE_SEND_ERROR,
          CURLE_RECV_ERROR, CURLE_GOT_NOTHING, CURLE_SEND_FAIL_REWIND, CURLE_PARTIAL_FILE,
          CURLE_ABORTED_BY_CALLBACK, CURLE_WRITE_ERROR}) {
        SCOPED_TRACE(curl_easy_strerror(code));
        EXPECT_TRUE(
            std::holds_alternative<RetrySafe>(classify_send(transport_failure(code, false), kNow)));
        EXPECT_TRUE(std::holds_alternative<OutcomeUnknown>(
            classify_send(transport_failure(code, true), kNow)));
    }
}

TEST(SendOutcome, TransportReasonsNameTheError) {
    EXPECT_EQ(describe_outcome(classify_send(
                  transport_failure(CURLE_COULDNT_CONNECT, false,
                                    "Failed to connect to 127.0.0.1 port 1: Connection refused"),
                  kNow)),
              "retryable: request not sent: Failed to connect to 127.0.0.1 port 1: Connection "
              "refused (curl error 7)");
    EXPECT_EQ(
        describe_outcome(classify_send(transport_failure(CURLE_OPERATION_TIMEDOUT, true), kNow)),
        "outcome unknown: no complete answer after the request was sent: Timeout was "
        "reached (curl error 28)");
}

TEST(SendOutcome, SuccessStatusThenTransportErrorIsUnknown) {
    HttpResult result = answered(202, R"({"api_id":"a","message_uuid":["u)");
    result.curl_code = CURLE_RECV_ERROR;
    const SendOutcome outcome = classify_send(result, kNow);
    ASSERT_TRUE(std::holds_alternative<OutcomeUnknown>(outcome));
    EXPECT_EQ(std::get<OutcomeUnknown>(outcome).http_status, 202);
    result.http_status = 502;
    EXPECT_TRUE(std::holds_alternative<OutcomeUnknown>(classify_send(result, kNow)));
}

}  // namespace
}  // namespace plivo
