// The pure parts of the MMS media pre-flight (dispatcher/media_check.hpp): one answer's
// verdict, a message's verdict, the verdict cache and the probe bookkeeping.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "media_check.hpp"

namespace plivo {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

HttpResult answer(long status, std::optional<std::string> type, std::optional<std::string> length) {
    HttpResult r;
    r.http_status = status;
    r.content_type = std::move(type);
    r.content_length = std::move(length);
    return r;
}

MediaVerdict passed(const std::string& type, std::uint64_t bytes) {
    MediaVerdict v;
    v.passed = true;
    v.type = type;
    v.bytes = bytes;
    return v;
}

TEST(MediaType, ParametersAndCaseAreIgnored) {
    EXPECT_EQ(normalise_media_type(" Image/JPEG ; charset=binary"), "image/jpeg");
    EXPECT_EQ(classify_media_type("image/jpg"), MediaTypeClass::Image);
    EXPECT_EQ(classify_media_type("image/gif"), MediaTypeClass::Image);
    EXPECT_EQ(classify_media_type("video/mp4"), MediaTypeClass::Other);
    EXPECT_EQ(classify_media_type("text/x-vcard"), MediaTypeClass::Other);
    EXPECT_EQ(classify_media_type("text/html"), MediaTypeClass::Unsupported);
    EXPECT_EQ(classify_media_type("application/octet-stream"), MediaTypeClass::Unsupported);
}

TEST(JudgeMediaResponse, AJpegWithItsLengthPasses) {
    MediaVerdict v = judge_media_response(answer(200, "image/JPEG; q=1", "123456"));
    EXPECT_TRUE(v.passed) << v.problem;
    EXPECT_EQ(v.type, "image/jpeg");
    EXPECT_EQ(v.bytes, 123456u);
}

TEST(JudgeMediaResponse, ARangedGetsSizeComesFromContentRange) {
    HttpResult r = answer(206, "image/png", "1");
    r.content_range = "bytes 0-0/1500000";
    MediaVerdict v = judge_media_response(r);
    EXPECT_TRUE(v.passed) << v.problem;
    EXPECT_EQ(v.bytes, 1500000u);
    r.content_range = "bytes 0-0/*";
    EXPECT_EQ(judge_media_response(r).problem,
              "answered without a Content-Length; Plivo requires one");
}

TEST(JudgeMediaResponse, EachProblemIsNamed) {
    EXPECT_EQ(judge_media_response(answer(404, "text/html", "10")).problem, "answered 404");
    EXPECT_EQ(judge_media_response(answer(302, std::nullopt, "0")).problem, "answered 302");
    EXPECT_EQ(judge_media_response(answer(200, std::nullopt, "10")).problem,
              "answered without a Content-Type; Plivo requires one");
    EXPECT_EQ(judge_media_response(answer(200, "image/jpeg", std::nullopt)).problem,
              "answered without a Content-Length; Plivo requires one");
    EXPECT_EQ(judge_media_response(answer(200, "image/jpeg", "-5")).problem,
              "answered without a Content-Length; Plivo requires one");
    EXPECT_EQ(judge_media_response(answer(200, "text/html; charset=utf-8", "10")).problem,
              "is text/html, which Plivo does not accept as MMS media");
    EXPECT_EQ(judge_media_response(answer(200, "image/jpeg", "3100000")).problem,
              "is 3.1 MB (3,100,000 bytes); Plivo accepts at most 2 MB per file");
    EXPECT_EQ(judge_media_response(answer(200, "video/mp4", "750000")).problem,
              "is video/mp4 of 750 KB (750,000 bytes); carriers accept types other than JPEG, "
              "PNG and GIF only up to 600 KB");
}

TEST(JudgeMediaResponse, LimitsAreDecimalAndInclusive) {
    EXPECT_TRUE(judge_media_response(answer(200, "image/gif", "2000000")).passed);
    EXPECT_FALSE(judge_media_response(answer(200, "image/gif", "2000001")).passed);
    EXPECT_TRUE(judge_media_response(answer(200, "audio/amr", "600000")).passed);
    EXPECT_FALSE(judge_media_response(answer(200, "audio/amr", "600001")).passed);
}

TEST(JudgeMediaResponse, TransferFailures) {
    HttpResult timeout;
    timeout.curl_code = CURLE_OPERATION_TIMEDOUT;
    timeout.curl_error = "Operation timed out after 5001 milliseconds with 0 bytes received";
    EXPECT_EQ(judge_media_response(timeout).problem,
              "did not answer: Operation timed out after 5001 milliseconds with 0 bytes received");

    HttpResult redirects;
    redirects.curl_code = CURLE_TOO_MANY_REDIRECTS;
    redirects.http_status = 302;
    redirects.curl_error = "Maximum (3) redirects followed";
    EXPECT_EQ(judge_media_response(redirects).problem,
              "was redirected too many times (Maximum (3) redirects followed)");

    HttpResult refused;
    refused.curl_code = CURLE_ABORTED_BY_CALLBACK;
    refused.refused_address = "10.0.0.5";
    EXPECT_EQ(judge_media_response(refused).problem,
              "resolves to a private address (10.0.0.5); Plivo cannot fetch it");
    refused.refused_address = "::1";
    EXPECT_EQ(judge_media_response(refused).problem,
              "resolves to a private address (::1, loopback); Plivo cannot fetch it");

    // A ranged GET the driver cut off after its one byte still has every header.
    HttpResult cut = answer(200, "image/jpeg", "900000");
    cut.curl_code = CURLE_WRITE_ERROR;
    cut.body_truncated = true;
    EXPECT_TRUE(judge_media_response(cut).passed);
}

TEST(HeadNeedsRangedGet, RefusalsAndMissingLengths) {
    for (long status : {400L, 403L, 405L, 501L})
        EXPECT_TRUE(head_needs_ranged_get(answer(status, std::nullopt, std::nullopt))) << status;
    EXPECT_TRUE(head_needs_ranged_get(answer(200, "image/jpeg", std::nullopt)));
    EXPECT_TRUE(head_needs_ranged_get(answer(200, "image/jpeg", "0")));
    EXPECT_FALSE(head_needs_ranged_get(answer(200, "image/jpeg", "10")));
    EXPECT_FALSE(head_needs_ranged_get(answer(404, std::nullopt, std::nullopt)));
    HttpResult timeout;
    timeout.curl_code = CURLE_OPERATION_TIMEDOUT;
    EXPECT_FALSE(head_needs_ranged_get(timeout));
}

TEST(BuildMediaRequest, BoundedAndRangedWhenAGet) {
    MediaCheckConfig config;
    config.timeout = 1234ms;
    HttpRequest head =
        build_media_request("https://cdn.example.com/a.jpg", MediaProbe::Head, config, "1.2");
    EXPECT_EQ(head.method, RequestMethod::Head);
    EXPECT_EQ(head.max_redirects, 3);
    EXPECT_EQ(head.timeout, 1234ms);
    EXPECT_TRUE(head.public_addresses_only);
    EXPECT_TRUE(head.auth.user.empty());
    HttpRequest get =
        build_media_request("https://cdn.example.com/a.jpg", MediaProbe::RangedGet, config, "1.2");
    EXPECT_EQ(get.method, RequestMethod::Get);
    EXPECT_NE(std::find(get.headers.begin(), get.headers.end(), "Range: bytes=0-0"),
              get.headers.end());
    EXPECT_EQ(get.stop_after_body_bytes, 1u);
    config.allow_private_addresses = true;
    EXPECT_FALSE(build_media_request("http://127.0.0.1/a", MediaProbe::Head, config, "1")
                     .public_addresses_only);
}

TEST(JudgeMediaSet, NamesTheFieldOneBased) {
    MediaVerdict bad;
    bad.problem = "answered 404";
    EXPECT_EQ(judge_media_set({passed("image/png", 10), bad}),
              "media check: media_urls[2] answered 404");
    EXPECT_EQ(judge_media_set({passed("image/png", 10), passed("image/gif", 20)}), std::nullopt);
}

TEST(JudgeMediaSet, TotalOverFiveMegabytes) {
    std::vector<MediaVerdict> three(3, passed("image/jpeg", 1700000));
    EXPECT_EQ(judge_media_set(three),
              "media check: media_urls together are 5.1 MB (5,100,000 bytes); Plivo accepts at "
              "most 5 MB per message (its error 120)");
    std::vector<MediaVerdict> exactly{passed("image/jpeg", 2000000), passed("image/jpeg", 2000000),
                                      passed("image/jpeg", 1000000)};
    EXPECT_EQ(judge_media_set(exactly), std::nullopt);
}

TEST(MediaCache, ExpiresAndEvictsTheOldest) {
    auto t0 = SteadyClock::now();
    MediaCache cache(2);
    cache.store("a", passed("image/png", 1), t0 + 10s);
    ASSERT_NE(cache.find("a", t0 + 9s), nullptr);
    EXPECT_EQ(cache.find("a", t0 + 9s)->bytes, 1u);
    EXPECT_EQ(cache.find("a", t0 + 10s), nullptr);
    EXPECT_EQ(cache.size(), 0u);

    cache.store("a", passed("image/png", 1), t0 + 60s);
    cache.store("b", passed("image/png", 2), t0 + 60s);
    cache.store("a", passed("image/png", 3), t0 + 60s);  // stored again: now the newest
    cache.store("c", passed("image/png", 4), t0 + 60s);  // b goes
    EXPECT_EQ(cache.size(), 2u);
    EXPECT_EQ(cache.find("b", t0), nullptr);
    ASSERT_NE(cache.find("a", t0), nullptr);
    EXPECT_EQ(cache.find("a", t0)->bytes, 3u);
    EXPECT_NE(cache.find("c", t0), nullptr);
}

// A stand-in for the driver: answers every probe the checker asks for.
std::vector<MediaChecker::Outcome> answer_all(MediaChecker& checker, const HttpResult& result,
                                              SteadyClock::time_point now) {
    std::vector<MediaChecker::Outcome> all;
    while (auto probe = checker.next_probe()) {
        for (auto& outcome : checker.on_answer(*probe, result, now)) all.push_back(outcome);
    }
    return all;
}

TEST(MediaChecker, OneProbePerUrlHoweverManyWait) {
    auto t0 = SteadyClock::now();
    MediaChecker checker(MediaCheckConfig{});
    for (std::uint64_t m = 1; m <= 1000; ++m) {
        EXPECT_EQ(checker.add(m, {"https://x/a.jpg", "https://x/a.jpg"}, t0), std::nullopt);
    }
    EXPECT_EQ(checker.queued(), 1u);
    auto outcomes = answer_all(checker, answer(200, "image/jpeg", "1000"), t0);
    EXPECT_EQ(outcomes.size(), 1000u);
    for (const auto& o : outcomes) EXPECT_EQ(o.failure, std::nullopt);
    EXPECT_EQ(checker.heads_started(), 1u);
    EXPECT_EQ(checker.waiting(), 0u);
    // Cached from now on: decided at once, no probe.
    auto cached = checker.add(1001, {"https://x/a.jpg"}, t0 + 599s);
    ASSERT_TRUE(cached);
    EXPECT_EQ(cached->failure, std::nullopt);
    EXPECT_EQ(checker.queued(), 0u);
    // After the TTL it is asked again.
    EXPECT_EQ(checker.add(1002, {"https://x/a.jpg"}, t0 + 600s), std::nullopt);
    EXPECT_EQ(checker.queued(), 1u);
}

TEST(MediaChecker, FailuresAreCachedForTheShorterTime) {
    auto t0 = SteadyClock::now();
    MediaChecker checker(MediaCheckConfig{});
    checker.add(1, {"https://x/ok.png", "https://x/gone.png"}, t0);
    auto first = checker.next_probe();
    auto second = checker.next_probe();
    ASSERT_TRUE(first && second);
    EXPECT_TRUE(checker.on_answer(*first, answer(200, "image/png", "5"), t0).empty());
    auto outcomes = checker.on_answer(*second, answer(404, std::nullopt, std::nullopt), t0);
    ASSERT_EQ(outcomes.size(), 1u);
    EXPECT_EQ(outcomes[0].failure, "media check: media_urls[2] answered 404");
    auto again = checker.add(2, {"https://x/gone.png"}, t0 + 59s);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->failure, "media check: media_urls[1] answered 404");
    EXPECT_EQ(checker.add(3, {"https://x/gone.png"}, t0 + 60s), std::nullopt);  // asked again
    EXPECT_TRUE(checker.add(4, {"https://x/ok.png"}, t0 + 60s));                // still cached
}

TEST(MediaChecker, ARefusedHeadIsFollowedByOneRangedGet) {
    auto t0 = SteadyClock::now();
    MediaChecker checker(MediaCheckConfig{});
    checker.add(1, {"https://x/a.gif"}, t0);
    auto head = checker.next_probe();
    ASSERT_TRUE(head);
    EXPECT_EQ(head->kind, MediaProbe::Head);
    EXPECT_TRUE(checker.on_answer(*head, answer(405, std::nullopt, std::nullopt), t0).empty());
    auto get = checker.next_probe();
    ASSERT_TRUE(get);
    EXPECT_EQ(get->kind, MediaProbe::RangedGet);
    HttpResult ranged = answer(206, "image/gif", "1");
    ranged.content_range = "bytes 0-0/2500000";
    auto outcomes = checker.on_answer(*get, ranged, t0);
    ASSERT_EQ(outcomes.size(), 1u);
    EXPECT_EQ(outcomes[0].failure,
              "media check: media_urls[1] is 2.5 MB (2,500,000 bytes); Plivo accepts at most 2 MB "
              "per file");
    EXPECT_EQ(checker.heads_started(), 1u);
    EXPECT_EQ(checker.gets_started(), 1u);
}

TEST(MediaChecker, AForgottenMessagesQueuedProbeIsDropped) {
    auto t0 = SteadyClock::now();
    MediaChecker checker(MediaCheckConfig{});
    checker.add(1, {"https://x/a.jpg"}, t0);
    checker.forget(1);
    EXPECT_EQ(checker.next_probe(), std::nullopt);
    EXPECT_EQ(checker.heads_started(), 0u);
    EXPECT_EQ(checker.waiting(), 0u);
}

}  // namespace
}  // namespace plivo
