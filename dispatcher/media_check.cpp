#include "media_check.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "ip_address.hpp"
#include "plivo_response.hpp"
#include "pure_cpp.hpp"

namespace plivo {

namespace {

std::string lower_trimmed(const std::string& text) {
    std::size_t begin = text.find_first_not_of(" \t");
    if (begin == std::string::npos) return "";
    std::size_t end = text.find_last_not_of(" \t");
    std::string out = text.substr(begin, end - begin + 1);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// Digits only (no sign, no spaces inside), without overflow.
std::optional<std::uint64_t> parse_count(const std::string& text) {
    std::string digits = lower_trimmed(text);
    if (digits.empty() || digits.size() > 18) return std::nullopt;
    std::uint64_t value = 0;
    for (char c : digits) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return value;
}

// "bytes 0-0/12345" → 12345; "bytes 0-0/*" (size unknown) → nullopt.
std::optional<std::uint64_t> content_range_total(const std::string& range) {
    std::string text = lower_trimmed(range);
    if (text.rfind("bytes ", 0) != 0) return std::nullopt;
    std::size_t slash = text.find('/');
    if (slash == std::string::npos) return std::nullopt;
    return parse_count(text.substr(slash + 1));
}

// "3.1 MB (3,145,728 bytes)": the rounded size and the exact one, as the limits are
// near enough that rounding alone could read "2.0 MB; at most 2 MB".
std::string describe_size(std::uint64_t bytes) {
    std::string exact = std::to_string(bytes);
    for (int at = static_cast<int>(exact.size()) - 3; at > 0; at -= 3) exact.insert(at, ",");
    char rounded[32];
    if (bytes >= 1000000) {
        std::snprintf(rounded, sizeof rounded, "%.1f MB", static_cast<double>(bytes) / 1e6);
    } else {
        std::snprintf(rounded, sizeof rounded, "%.0f KB", static_cast<double>(bytes) / 1e3);
    }
    return std::string(rounded) + " (" + exact + " bytes)";
}

bool is_2xx(long status) { return status >= 200 && status < 300; }

// The driver stopped the transfer at its body cap: the headers are all there.
bool stopped_at_cap(const HttpResult& result) {
    return result.curl_code == CURLE_WRITE_ERROR && result.body_truncated &&
           result.http_status != 0;
}

// The size a complete answer gives: a 206's total, else Content-Length.
std::optional<std::uint64_t> answered_size(const HttpResult& result) {
    if (result.http_status == 206) {
        return result.content_range ? content_range_total(*result.content_range) : std::nullopt;
    }
    return result.content_length ? parse_count(*result.content_length) : std::nullopt;
}

MediaVerdict failed(std::string problem) {
    MediaVerdict verdict;
    verdict.problem = std::move(problem);
    return verdict;
}

}  // namespace

std::string normalise_media_type(const std::string& content_type) {
    return lower_trimmed(content_type.substr(0, content_type.find(';')));
}

MediaTypeClass classify_media_type(const std::string& type) {
    static const char* const kImages[] = {"image/jpeg", "image/jpg", "image/png", "image/gif"};
    static const char* const kOthers[] = {
        "image/bmp",       "image/tiff", "image/webp", "video/mp4",    "video/3gpp",
        "video/quicktime", "video/mpeg", "audio/mpeg", "audio/mp4",    "audio/amr",
        "audio/wav",       "audio/ogg",  "text/vcard", "text/x-vcard", "text/calendar",
        "application/pdf", "text/plain", "text/csv"};
    for (const char* image : kImages)
        if (type == image) return MediaTypeClass::Image;
    for (const char* other : kOthers)
        if (type == other) return MediaTypeClass::Other;
    return MediaTypeClass::Unsupported;
}

HttpRequest build_media_request(const std::string& url, MediaProbe probe,
                                const MediaCheckConfig& config, const std::string& version) {
    HttpRequest request;
    request.method = probe == MediaProbe::Head ? RequestMethod::Head : RequestMethod::Get;
    request.url = url;
    request.headers.push_back("User-Agent: pg_plivo/" + version + " (media check)");
    request.headers.push_back("Accept: */*");
    if (probe == MediaProbe::RangedGet) request.headers.push_back("Range: bytes=0-0");
    request.max_redirects = std::max(0, config.max_redirects);
    request.timeout = config.timeout;
    // A server that ignores Range sends the whole file: one byte is all we take.
    request.stop_after_body_bytes = 1;
    request.public_addresses_only = !config.allow_private_addresses;
    return request;
}

bool head_needs_ranged_get(const HttpResult& head) {
    if (head.curl_code != CURLE_OK) return false;
    switch (head.http_status) {
        case 400:
        case 403:
        case 405:
        case 501:
            return true;
        default:
            break;
    }
    if (!is_2xx(head.http_status)) return false;
    std::optional<std::uint64_t> size = answered_size(head);
    return !size || *size == 0;
}

MediaVerdict judge_media_response(const HttpResult& result) {
    if (result.refused_address) {
        AddressKind kind = classify_address(*result.refused_address);
        std::string where = kind == AddressKind::Private
                                ? *result.refused_address
                                : *result.refused_address + ", " + address_kind_name(kind);
        return failed("resolves to a private address (" + clean_remote_text(where, 100) +
                      "); Plivo cannot fetch it");
    }
    if (result.curl_code != CURLE_OK && !stopped_at_cap(result)) {
        std::string error = clean_remote_text(result.curl_error, 300);
        if (result.curl_code == CURLE_TOO_MANY_REDIRECTS)
            return failed("was redirected too many times (" + error + ")");
        if (result.curl_code == CURLE_UNSUPPORTED_PROTOCOL)
            return failed("is not an http or https URL, or redirects to one that is not (" + error +
                          ")");
        return failed("did not answer: " + error);
    }
    if (!is_2xx(result.http_status))
        return failed("answered " + std::to_string(result.http_status));
    if (!result.content_type || normalise_media_type(*result.content_type).empty())
        return failed("answered without a Content-Type; Plivo requires one");
    std::string type = normalise_media_type(*result.content_type);
    MediaTypeClass kind = classify_media_type(type);
    if (kind == MediaTypeClass::Unsupported) {
        return failed("is " + clean_remote_text(type, 100) +
                      ", which Plivo does not accept as MMS media");
    }
    std::optional<std::uint64_t> bytes = answered_size(result);
    if (!bytes) return failed("answered without a Content-Length; Plivo requires one");
    if (*bytes == 0) return failed("is empty (Content-Length 0)");
    if (*bytes > kMaxMediaFileBytes) {
        return failed("is " + describe_size(*bytes) + "; Plivo accepts at most 2 MB per file");
    }
    if (kind == MediaTypeClass::Other && *bytes > kMaxOtherMediaTypeBytes) {
        return failed("is " + type + " of " + describe_size(*bytes) +
                      "; carriers accept types other than JPEG, PNG and GIF only up to 600 KB");
    }
    MediaVerdict verdict;
    verdict.passed = true;
    verdict.type = std::move(type);
    verdict.bytes = *bytes;
    return verdict;
}

std::optional<std::string> judge_media_set(const std::vector<MediaVerdict>& verdicts) {
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < verdicts.size(); ++i) {
        if (!verdicts[i].passed) {
            return std::string(kMediaCheckPrefix) + "media_urls[" + std::to_string(i + 1) + "] " +
                   verdicts[i].problem;
        }
        total += verdicts[i].bytes;
    }
    if (total > kMaxMediaTotalBytes) {
        return std::string(kMediaCheckPrefix) + "media_urls together are " + describe_size(total) +
               "; Plivo accepts at most 5 MB per message (its error 120)";
    }
    return std::nullopt;
}

// --- MediaCache ----------------------------------------------------------------------

MediaCache::MediaCache(std::size_t capacity) : capacity_(std::max<std::size_t>(1, capacity)) {}

const MediaVerdict* MediaCache::find(const std::string& url, SteadyTime now) {
    auto found = entries_.find(url);
    if (found == entries_.end()) return nullptr;
    if (found->second.expires <= now) {
        order_.erase(found->second.order);
        entries_.erase(found);
        return nullptr;
    }
    return &found->second.verdict;
}

void MediaCache::store(const std::string& url, MediaVerdict verdict, SteadyTime expires) {
    if (auto found = entries_.find(url); found != entries_.end()) {
        order_.erase(found->second.order);
        entries_.erase(found);
    }
    while (entries_.size() >= capacity_) {
        entries_.erase(order_.front());
        order_.pop_front();
    }
    order_.push_back(url);
    entries_.emplace(url, Entry{std::move(verdict), expires, std::prev(order_.end())});
}

// --- MediaChecker --------------------------------------------------------------------

MediaChecker::MediaChecker(const MediaCheckConfig& config, std::size_t cache_capacity)
    : config_(config), cache_(cache_capacity) {}

void MediaChecker::configure(const MediaCheckConfig& config) {
    if (config.allow_private_addresses != config_.allow_private_addresses ||
        config.max_redirects != config_.max_redirects) {
        cache_.clear();
    }
    config_ = config;
}

MediaChecker::Outcome MediaChecker::outcome_of(std::uint64_t message,
                                               const Waiting& waiting) const {
    return Outcome{message, judge_media_set(waiting.verdicts)};
}

std::optional<MediaChecker::Outcome> MediaChecker::add(std::uint64_t message,
                                                       const std::vector<std::string>& urls,
                                                       SteadyTime now) {
    Waiting waiting;
    waiting.urls = urls;
    waiting.verdicts.resize(urls.size());
    std::vector<std::string> missing;  // distinct URLs without a cached verdict
    for (std::size_t i = 0; i < urls.size(); ++i) {
        if (const MediaVerdict* cached = cache_.find(urls[i], now)) {
            waiting.verdicts[i] = *cached;
        } else if (std::find(missing.begin(), missing.end(), urls[i]) == missing.end()) {
            missing.push_back(urls[i]);
        }
    }
    if (missing.empty()) return outcome_of(message, waiting);
    waiting.pending = missing.size();
    for (const std::string& url : missing) {
        auto [probe, fresh] = probing_.try_emplace(url);
        probe->second.push_back(message);
        if (fresh) queue_.push_back(Probe{url, MediaProbe::Head});
    }
    messages_[message] = std::move(waiting);
    return std::nullopt;
}

void MediaChecker::forget(std::uint64_t message) {
    auto found = messages_.find(message);
    if (found == messages_.end()) return;
    for (const std::string& url : found->second.urls) {
        auto probe = probing_.find(url);
        if (probe == probing_.end()) continue;
        auto& waiters = probe->second;
        waiters.erase(std::remove(waiters.begin(), waiters.end(), message), waiters.end());
    }
    messages_.erase(found);
}

std::optional<MediaChecker::Probe> MediaChecker::next_probe() {
    while (!queue_.empty()) {
        Probe probe = std::move(queue_.front());
        queue_.pop_front();
        auto waiters = probing_.find(probe.url);
        if (waiters == probing_.end()) continue;
        if (waiters->second.empty()) {  // nobody waits any more: not worth a request
            probing_.erase(waiters);
            continue;
        }
        ++in_flight_;
        ++(probe.kind == MediaProbe::Head ? heads_started_ : gets_started_);
        return probe;
    }
    return std::nullopt;
}

std::vector<MediaChecker::Outcome> MediaChecker::on_answer(const Probe& probe,
                                                           const HttpResult& result,
                                                           SteadyTime now) {
    if (in_flight_ > 0) --in_flight_;
    std::vector<Outcome> outcomes;
    if (probe.kind == MediaProbe::Head && head_needs_ranged_get(result)) {
        queue_.push_front(Probe{probe.url, MediaProbe::RangedGet});  // before new URLs
        return outcomes;
    }
    MediaVerdict verdict = judge_media_response(result);
    auto ttl = verdict.passed ? config_.cache_ttl : config_.failure_ttl;
    if (ttl > std::chrono::seconds::zero()) cache_.store(probe.url, verdict, now + ttl);
    auto waiters = probing_.find(probe.url);
    if (waiters == probing_.end()) return outcomes;
    std::vector<std::uint64_t> decided = std::move(waiters->second);
    probing_.erase(waiters);
    for (std::uint64_t message : decided) {
        auto found = messages_.find(message);
        if (found == messages_.end()) continue;
        Waiting& waiting = found->second;
        for (std::size_t i = 0; i < waiting.urls.size(); ++i) {
            if (waiting.urls[i] == probe.url) waiting.verdicts[i] = verdict;
        }
        if (--waiting.pending == 0) {
            outcomes.push_back(outcome_of(message, waiting));
            messages_.erase(found);
        }
    }
    return outcomes;
}

void MediaChecker::abandon(const Probe& probe) {
    if (in_flight_ > 0) --in_flight_;
    queue_.push_back(probe);
}

}  // namespace plivo
