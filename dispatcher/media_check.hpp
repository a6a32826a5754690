// Media pre-flight for MMS: before an MMS's first attempt, each media URL is asked for
// with HEAD (a ranged GET when HEAD is refused) and judged by what Plivo will require
// when it fetches it (plivo-api.md §5): a 2xx answer with Content-Type and
// Content-Length, at most 2 MB per file, at most 5 MB in all, and types other than
// JPEG, PNG and GIF only up to 600 KB (what US carriers deliver). A message that fails
// is never sent: Plivo would charge for it and then fail it, or reject it with error 120.
//
// Limits are decimal: 2 MB is 2,000,000 bytes, 5 MB 5,000,000, 600 KB 600,000 (the
// stricter reading of "MB" where Plivo does not say which it means).
//
// The parts are pure so that they can be tested without a network: judge_media_response
// judges one answer, judge_media_set one message, MediaCache remembers verdicts, and
// MediaChecker decides which probes to make (one per URL however many messages wait for
// it) and which messages an answer settles; the DispatchEngine makes the requests.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "http_request.hpp"
#include "http_result.hpp"

namespace plivo {

struct MediaCheckConfig {
    bool enabled = true;
    // Media on private, loopback, link-local… addresses pass (tests and the simulator
    // run on 127.0.0.1); off, they fail: Plivo could not fetch them.
    bool allow_private_addresses = false;
    std::chrono::milliseconds timeout{5000};  // per request (HEAD, then maybe a GET)
    std::chrono::seconds cache_ttl{600};      // a passed URL's verdict is reused this long
    std::chrono::seconds failure_ttl{60};     // a failed one's: a fixed URL recovers soon
    std::size_t max_concurrent = 0;  // media requests at once; 0: max(1, max_in_flight / 4)
    int max_redirects = 3;
};

constexpr std::uint64_t kMaxMediaFileBytes = 2000000;      // Plivo: 2 MB per file
constexpr std::uint64_t kMaxMediaTotalBytes = 5000000;     // Plivo: 5 MB per message (error 120)
constexpr std::uint64_t kMaxOtherMediaTypeBytes = 600000;  // carriers: 600 KB unless JPEG/PNG/GIF
constexpr std::size_t kMediaCacheEntries = 10000;
constexpr const char* kMediaCheckPrefix = "media check: ";  // starts every failure reason

enum class MediaTypeClass {
    Image,        // image/jpeg, image/jpg, image/png, image/gif: any size up to 2 MB
    Other,        // accepted by Plivo for MMS, up to 600 KB
    Unsupported,  // anything else (text/html, application/octet-stream, …)
};

// "Image/JPEG; charset=binary" → "image/jpeg": parameters and letter case dropped.
std::string normalise_media_type(const std::string& content_type);
MediaTypeClass classify_media_type(const std::string& normalised_type);

// One URL's verdict, without the field's name (it may be media_urls[1] in one message
// and media_urls[3] in the next).
struct MediaVerdict {
    bool passed = false;
    std::string type;         // normalised, when passed
    std::uint64_t bytes = 0;  // when passed
    std::string problem;      // when failed: "answered 404", "did not answer: …"
};

enum class MediaProbe { Head, RangedGet };

// HEAD (or GET with "Range: bytes=0-0") to `url`, bounded by `config`: its timeout,
// redirects, http(s) only, public addresses only unless allowed, one body byte at most.
HttpRequest build_media_request(const std::string& url, MediaProbe probe,
                                const MediaCheckConfig& config, const std::string& version);

// A HEAD answer that says nothing about what a GET would get: servers that refuse
// HEAD (405, 501, and 400 or 403 as presigned URLs signed for GET answer it), or a
// 2xx without a usable Content-Length (some send it only with the body). A ranged GET
// is asked instead.
bool head_needs_ranged_get(const HttpResult& head);

// Judges one answer (HEAD, or the ranged GET: a 206's size comes from Content-Range).
MediaVerdict judge_media_response(const HttpResult& result);

// A message's verdicts, one per media_urls element in order: nullopt when it may be
// sent, else the reason ("media check: media_urls[2] answered 404"), the first failing
// element first, then the 5 MB total.
std::optional<std::string> judge_media_set(const std::vector<MediaVerdict>& verdicts);

// Verdicts per URL until they expire; at most `capacity`, the oldest stored goes first.
class MediaCache {
public:
    using SteadyTime = std::chrono::steady_clock::time_point;
    explicit MediaCache(std::size_t capacity = kMediaCacheEntries);

    // nullptr when none is kept or it has expired (then it is dropped).
    const MediaVerdict* find(const std::string& url, SteadyTime now);
    void store(const std::string& url, MediaVerdict verdict, SteadyTime expires);
    std::size_t size() const { return entries_.size(); }
    void clear() {
        entries_.clear();
        order_.clear();
    }

private:
    struct Entry {
        MediaVerdict verdict;
        SteadyTime expires;
        std::list<std::string>::iterator order;
    };
    std::size_t capacity_;
    std::unordered_map<std::string, Entry> entries_;
    std::list<std::string> order_;  // oldest stored first
};

// Which probes to make and which messages their answers decide. Messages are the
// caller's ids; a URL is probed once at a time, however many messages wait for it.
class MediaChecker {
public:
    using SteadyTime = std::chrono::steady_clock::time_point;

    struct Outcome {
        std::uint64_t message = 0;
        std::optional<std::string> failure;  // nullopt: every medium passed
    };
    struct Probe {
        std::string url;
        MediaProbe kind = MediaProbe::Head;
    };

    explicit MediaChecker(const MediaCheckConfig& config,
                          std::size_t cache_capacity = kMediaCacheEntries);
    // Verdicts reached under other address or redirect rules are dropped.
    void configure(const MediaCheckConfig& config);
    const MediaCheckConfig& config() const { return config_; }

    // The outcome at once when every URL's verdict is cached; otherwise the message
    // waits for answers (on_answer) and nullopt is returned.
    std::optional<Outcome> add(std::uint64_t message, const std::vector<std::string>& urls,
                               SteadyTime now);
    // The message no longer waits (given back); probes for it go on when already on the
    // wire (their verdicts are cached), and are dropped when only queued.
    void forget(std::uint64_t message);

    // The next probe to make; it counts as in flight until on_answer or abandon.
    std::optional<Probe> next_probe();
    // The messages this answer decided. A HEAD that needs a ranged GET queues one first.
    std::vector<Outcome> on_answer(const Probe& probe, const HttpResult& result, SteadyTime now);
    // A probe ended without a usable answer (the driver broke): asked again later.
    void abandon(const Probe& probe);

    std::size_t in_flight() const { return in_flight_; }
    std::size_t queued() const { return queue_.size(); }
    std::size_t waiting() const { return messages_.size(); }
    std::uint64_t heads_started() const { return heads_started_; }
    std::uint64_t gets_started() const { return gets_started_; }

private:
    struct Waiting {
        std::vector<std::string> urls;
        std::vector<MediaVerdict> verdicts;  // by index into urls
        std::size_t pending = 0;             // distinct URLs without a verdict yet
    };
    Outcome outcome_of(std::uint64_t message, const Waiting& waiting) const;

    MediaCheckConfig config_;
    MediaCache cache_;
    std::unordered_map<std::uint64_t, Waiting> messages_;
    // URL being probed (queued or on the wire) → messages waiting for it.
    std::unordered_map<std::string, std::vector<std::uint64_t>> probing_;
    std::deque<Probe> queue_;
    std::size_t in_flight_ = 0;
    std::uint64_t heads_started_ = 0;
    std::uint64_t gets_started_ = 0;
};

}  // namespace plivo
