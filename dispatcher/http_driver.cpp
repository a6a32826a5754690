#include "http_driver.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "ip_address.hpp"
#include "pure_cpp.hpp"

// 7.74: the floor CMakeLists.txt asks pkg-config for; everything used below exists since
// (curl_multi_socket_action 7.15.4, *_TIME_T infos 7.61, CURLOPT_MAXAGE_CONN 7.65).
static_assert(LIBCURL_VERSION_NUM >= 0x074A00, "pg_plivo needs libcurl 7.74.0 or later");

namespace plivo {

struct HttpDriver::Transfer {
    CURL* easy = nullptr;
    curl_slist* headers = nullptr;
    HttpRequest request;
    std::uint64_t id = 0;
    bool active = false;    // counted in active_
    bool in_multi = false;  // added to the multi handle and not yet removed
    // Request body: read position, and every byte ever handed to libcurl (never reset).
    std::size_t body_offset = 0;
    std::uint64_t body_bytes_read = 0;
    // Response.
    std::string response;
    std::size_t response_cap = 0;
    bool truncated = false;
    bool stop_at_cap = false;  // stop_after_body_bytes: end the transfer there
    // Headers of the current response, in fixed buffers (the callback must not throw).
    struct Header {
        char value[256] = {0};
        bool present = false;
    };
    Header retry_after, content_type, content_length, content_range;
    bool public_only = false;
    char refused_ip[64] = {0};  // the address the pre-request check refused
    char error[CURL_ERROR_SIZE] = {0};
};

namespace {

using Transfer = HttpDriver::Transfer;

// The callbacks run inside libcurl: they never throw, log or call back into Postgres.

size_t on_body(char* data, size_t size, size_t count, void* user) noexcept {
    auto* transfer = static_cast<Transfer*>(user);
    size_t bytes = size * count;
    size_t room =
        transfer->response_cap - std::min(transfer->response_cap, transfer->response.size());
    size_t keep = std::min(room, bytes);
    if (keep < bytes) transfer->truncated = true;
    if (keep < bytes && transfer->stop_at_cap) {
        transfer->response.append(data, keep);  // within the reserved capacity: no throw
        return 0;  // libcurl ends the transfer with CURLE_WRITE_ERROR
    }
    try {
        transfer->response.append(data, keep);
    } catch (...) {
        return 0;  // out of memory: libcurl fails the transfer with CURLE_WRITE_ERROR
    }
    return bytes;
}

bool header_is(const char* line, size_t length, const char* name) {
    size_t n = std::strlen(name);
    if (length <= n || line[n] != ':') return false;
    for (size_t i = 0; i < n; ++i) {
        char c = line[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != name[i]) return false;
    }
    return true;
}

// The value of `name: value` when the line is that header, trimmed, into `header`.
bool capture(const char* line, size_t length, const char* name, Transfer::Header& header) {
    if (!header_is(line, length, name)) return false;
    size_t begin = std::strlen(name) + 1;  // after "name:"
    size_t end = length;
    while (begin < end && (line[begin] == ' ' || line[begin] == '\t')) ++begin;
    while (end > begin && (line[end - 1] == '\r' || line[end - 1] == '\n' ||
                           line[end - 1] == ' ' || line[end - 1] == '\t')) {
        --end;
    }
    size_t n = std::min(end - begin, sizeof header.value - 1);
    std::memcpy(header.value, line + begin, n);
    header.value[n] = '\0';
    header.present = true;
    return true;
}

// Keeps Retry-After and the media headers; a new status line starts a new response
// (after a redirect or a 100 Continue only the last one's headers count).
size_t on_header(char* line, size_t size, size_t count, void* user) noexcept {
    auto* transfer = static_cast<Transfer*>(user);
    size_t length = size * count;
    if (length >= 5 && std::memcmp(line, "HTTP/", 5) == 0) {
        transfer->retry_after.present = false;
        transfer->content_type.present = false;
        transfer->content_length.present = false;
        transfer->content_range.present = false;
    } else {
        (void)(capture(line, length, "retry-after", transfer->retry_after) ||
               capture(line, length, "content-type", transfer->content_type) ||
               capture(line, length, "content-length", transfer->content_length) ||
               capture(line, length, "content-range", transfer->content_range));
    }
    return length;
}

#if LIBCURL_VERSION_NUM >= 0x075000
// Runs once connected (or reused), before each request is sent, redirects included: the
// address libcurl will really talk to, whatever DNS answered earlier.
int on_prerequest(void* user, char* primary_ip, char*, int, int) noexcept {
    auto* transfer = static_cast<Transfer*>(user);
    if (!transfer->public_only || classify_address(primary_ip) == AddressKind::Public)
        return CURL_PREREQFUNC_OK;
    std::snprintf(transfer->refused_ip, sizeof transfer->refused_ip, "%s", primary_ip);
    return CURL_PREREQFUNC_ABORT;
}
#endif

size_t on_read(char* buffer, size_t size, size_t count, void* user) noexcept {
    auto* transfer = static_cast<Transfer*>(user);
    const std::string& body = transfer->request.body;
    size_t n = std::min(size * count, body.size() - transfer->body_offset);
    std::memcpy(buffer, body.data() + transfer->body_offset, n);
    transfer->body_offset += n;
    transfer->body_bytes_read += n;
    return n;
}

// Refuses every rewind after a body byte was handed out: see http_driver.hpp.
int on_seek(void* user, curl_off_t offset, int origin) noexcept {
    auto* transfer = static_cast<Transfer*>(user);
    if (origin == SEEK_SET && offset == 0 && transfer->body_bytes_read == 0)
        return CURL_SEEKFUNC_OK;
    return CURL_SEEKFUNC_FAIL;
}

bool is_pre_send_code(CURLcode code) {
    switch (code) {
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_FAILED_INIT:
        case CURLE_URL_MALFORMAT:
        case CURLE_NOT_BUILT_IN:
        case CURLE_COULDNT_RESOLVE_PROXY:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_CONNECT:
        case CURLE_OPERATION_TIMEDOUT:  // only counts together with "no pre-transfer"
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_ENGINE_NOTFOUND:
        case CURLE_SSL_ENGINE_SETFAILED:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_USE_SSL_FAILED:
        case CURLE_SSL_ENGINE_INITFAILED:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_CRL_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        case CURLE_SSL_INVALIDCERTSTATUS:
#if LIBCURL_VERSION_NUM >= 0x074D00
        case CURLE_SSL_CLIENTCERT:
#endif
            return true;
        default:
            return false;
    }
}

std::string multi_error(const char* what, CURLMcode code) {
    return std::string(what) + " failed: " + curl_multi_strerror(code);
}

// Sets options until the first failure; remembers which one failed.
class Options {
public:
    explicit Options(CURL* easy) : easy_(easy) {}
    template <typename T>
    Options& set(CURLoption option, T value, const char* name) {
        if (code_ == CURLE_OK) {
            code_ = curl_easy_setopt(easy_, option, value);
            if (code_ != CURLE_OK) failed_ = name;
        }
        return *this;
    }
    CURLcode code() const { return code_; }
    const char* failed() const { return failed_; }

private:
    CURL* easy_;
    CURLcode code_ = CURLE_OK;
    const char* failed_ = "";
};

#define SET(options, option, value) (options).set(option, value, #option)

// A *_TIME_T info in microseconds; -1 when libcurl cannot tell.
std::chrono::microseconds info_time(CURL* easy, CURLINFO info) {
    curl_off_t value = 0;
    if (curl_easy_getinfo(easy, info, &value) != CURLE_OK) return std::chrono::microseconds(-1);
    return std::chrono::microseconds(value);
}

}  // namespace

// libcurl's socket and timer callbacks: they run inside libcurl calls made by this
// driver (also from remove_handle and multi_cleanup), so `driver` is always alive.
struct HttpDriver::Events {
    // curl_multi_assign()ed to a socket once it is in the epoll set: the next call for
    // that socket is then a MOD. libcurl drops the mark itself after CURL_POLL_REMOVE.
    static char in_epoll;

    static int on_socket(CURL*, curl_socket_t fd, int what, void* user, void* mark) noexcept {
        auto* driver = static_cast<HttpDriver*>(user);
        bool added = mark == &in_epoll;
        if (what == CURL_POLL_REMOVE) {
            // Fails harmlessly (EBADF, ENOENT) when the socket is already closed: closing
            // takes it out of the epoll set anyway.
            epoll_ctl(driver->epoll_, EPOLL_CTL_DEL, fd, nullptr);
            if (added) --driver->watched_;
            return 0;
        }
        epoll_event event{};
        event.events =
            ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
        // The socket, and what libcurl wants of it for reading the event back.
        event.data.u64 = static_cast<std::uint32_t>(fd) | (std::uint64_t(what) << 32);
        int op = added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
        int rc = epoll_ctl(driver->epoll_, op, fd, &event);
        if (rc != 0 && errno == (added ? ENOENT : EEXIST)) {  // out of step: take what is
            rc = epoll_ctl(driver->epoll_, added ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &event);
        }
        if (rc != 0) {
            // Unwatched, the transfer would stall until its timeout: perform() throws.
            if (driver->socket_errno_ == 0) driver->socket_errno_ = errno;
            return 0;
        }
        if (!added && curl_multi_assign(driver->multi_, fd, &in_epoll) == CURLM_OK) {
            ++driver->watched_;
        }
        return 0;
    }

    static int on_timer(CURLM*, long timeout_ms, void* user) noexcept {
        static_cast<HttpDriver*>(user)->arm_timer(timeout_ms);
        return 0;
    }
};

char HttpDriver::Events::in_epoll = 0;

bool request_may_have_been_sent(const TransferEvidence& evidence) {
    if (evidence.code == CURLE_OK || evidence.http_status != 0) return true;
    if (evidence.bytes_uploaded != 0 && evidence.has_body) return true;  // >0, or unknown
    if (evidence.has_body) return evidence.body_bytes_read > 0;
    return !(evidence.pretransfer_us == 0 && is_pre_send_code(evidence.code));
}

// One connection per in-flight slot: no queueing inside libcurl, no pipelining.
void HttpDriver::apply_multi_limits(std::size_t max_in_flight) {
    if (max_in_flight == 0) throw std::invalid_argument("max_in_flight must be at least 1");
    long limit = static_cast<long>(max_in_flight);
    CURLMcode code = curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, limit);
    if (code == CURLM_OK) code = curl_multi_setopt(multi_, CURLMOPT_MAX_TOTAL_CONNECTIONS, limit);
    if (code == CURLM_OK) code = curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, limit);
    if (code == CURLM_OK) {
        code = curl_multi_setopt(multi_, CURLMOPT_PIPELINING, long{CURLPIPE_NOTHING});
    }
    if (code != CURLM_OK) throw HttpDriverError(multi_error("curl_multi_setopt", code));
}

HttpDriver::HttpDriver(const HttpDriverConfig& config) : config_(config) {
    if (config_.max_in_flight == 0) throw std::invalid_argument("max_in_flight must be at least 1");
    multi_ = curl_multi_init();
    if (!multi_) throw HttpDriverError("curl_multi_init failed");
    try {
        apply_multi_limits(config_.max_in_flight);
        epoll_ = epoll_create1(EPOLL_CLOEXEC);
        if (epoll_ < 0) {
            throw HttpDriverError(std::string("epoll_create1 failed: ") + std::strerror(errno));
        }
        CURLMcode code = curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &Events::on_socket);
        if (code == CURLM_OK) code = curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
        if (code == CURLM_OK) {
            code = curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &Events::on_timer);
        }
        if (code == CURLM_OK) code = curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
        if (code != CURLM_OK) throw HttpDriverError(multi_error("curl_multi_setopt", code));
    } catch (...) {
        curl_multi_cleanup(multi_);
        if (epoll_ >= 0) close(epoll_);
        throw;
    }
}

void HttpDriver::reconfigure(const HttpDriverConfig& config) {
    apply_multi_limits(config.max_in_flight);
    config_ = config;
}

HttpDriver::~HttpDriver() {
    // Errors here cannot be reported (a destructor must not throw); abort_all() before
    // destruction is the way to learn about transfers still in flight.
    for (auto& transfer : pool_) {
        if (transfer->in_multi) curl_multi_remove_handle(multi_, transfer->easy);
        curl_slist_free_all(transfer->headers);
        curl_easy_cleanup(transfer->easy);
    }
    curl_multi_cleanup(multi_);  // may still call on_socket: the epoll set closes after
    close(epoll_);
}

void HttpDriver::start(std::uint64_t id, HttpRequest request) {
    if (!has_capacity()) throw std::logic_error("HttpDriver::start called with no capacity left");

    Transfer* transfer = nullptr;
    if (!idle_.empty()) {
        transfer = idle_.back();
        idle_.pop_back();
        curl_easy_reset(transfer->easy);
    } else {
        auto fresh = std::make_unique<Transfer>();
        fresh->easy = curl_easy_init();
        if (!fresh->easy) {
            HttpResult result;
            result.id = id;
            result.curl_code = CURLE_FAILED_INIT;
            result.curl_error = "curl_easy_init failed";
            result.body_may_have_been_sent = false;
            ready_.push_back(std::move(result));
            return;
        }
        transfer = fresh.get();
        pool_.push_back(std::move(fresh));
    }
    transfer->id = id;
    transfer->request = std::move(request);
    transfer->body_offset = 0;
    transfer->body_bytes_read = 0;
    transfer->response.clear();
    transfer->response_cap = transfer->request.stop_after_body_bytes
                                 ? std::min(*transfer->request.stop_after_body_bytes,
                                            config_.max_response_bytes)
                                 : config_.max_response_bytes;
    transfer->stop_at_cap = transfer->request.stop_after_body_bytes.has_value();
    transfer->truncated = false;
    transfer->retry_after = {};
    transfer->content_type = {};
    transfer->content_length = {};
    transfer->content_range = {};
    transfer->public_only = transfer->request.public_addresses_only;
    transfer->refused_ip[0] = '\0';
    transfer->error[0] = '\0';
    if (transfer->stop_at_cap) {
        try {  // so that on_body's last append cannot throw
            transfer->response.reserve(transfer->response_cap);
        } catch (...) {
            transfer->stop_at_cap = false;
        }
    }
    transfer->active = true;  // counted now: release() undoes it on every failure below
    ++active_;

    // The header list: ours, plus "Expect:" so that libcurl never waits for 100-continue.
    curl_slist_free_all(transfer->headers);
    transfer->headers = nullptr;
    bool headers_ok = true;
    auto append = [&](const std::string& line) {
        curl_slist* next = curl_slist_append(transfer->headers, line.c_str());
        if (next) {
            transfer->headers = next;
        } else {
            headers_ok = false;
        }
    };
    for (const std::string& line : transfer->request.headers) append(line);
    append("Expect:");

    const HttpRequest& r = transfer->request;
    CURL* easy = transfer->easy;
    Options o(easy);
    SET(o, CURLOPT_URL, r.url.c_str());
    SET(o, CURLOPT_PRIVATE, static_cast<void*>(transfer));
    SET(o, CURLOPT_NOSIGNAL, 1L);
    SET(o, CURLOPT_ERRORBUFFER, transfer->error);
#if LIBCURL_VERSION_NUM >= 0x075500
    SET(o, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    SET(o, CURLOPT_PROTOCOLS, long{CURLPROTO_HTTP | CURLPROTO_HTTPS});
#endif
    SET(o, CURLOPT_HTTP_VERSION, long{CURL_HTTP_VERSION_1_1});
    if (r.max_redirects > 0) {
        SET(o, CURLOPT_FOLLOWLOCATION, 1L);
        SET(o, CURLOPT_MAXREDIRS, static_cast<long>(r.max_redirects));
#if LIBCURL_VERSION_NUM >= 0x075500
        SET(o, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
        SET(o, CURLOPT_REDIR_PROTOCOLS, long{CURLPROTO_HTTP | CURLPROTO_HTTPS});
#endif
    } else {
        SET(o, CURLOPT_FOLLOWLOCATION, 0L);
    }
    const std::chrono::milliseconds timeout = r.timeout.value_or(config_.request_timeout);
    SET(o, CURLOPT_CONNECTTIMEOUT_MS,
        static_cast<long>(std::min(config_.connect_timeout, timeout).count()));
    SET(o, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
    SET(o, CURLOPT_TCP_KEEPALIVE, 1L);
    SET(o, CURLOPT_TCP_KEEPIDLE, static_cast<long>(config_.tcp_keepalive_idle.count()));
    SET(o, CURLOPT_TCP_KEEPINTVL, static_cast<long>(config_.tcp_keepalive_interval.count()));
    SET(o, CURLOPT_MAXAGE_CONN, static_cast<long>(config_.max_idle_connection_age.count()));
#if LIBCURL_VERSION_NUM >= 0x075000
    SET(o, CURLOPT_MAXLIFETIME_CONN, static_cast<long>(config_.max_connection_lifetime.count()));
#endif
    SET(o, CURLOPT_WRITEFUNCTION, &on_body);
    SET(o, CURLOPT_WRITEDATA, static_cast<void*>(transfer));
    SET(o, CURLOPT_HEADERFUNCTION, &on_header);
    SET(o, CURLOPT_HEADERDATA, static_cast<void*>(transfer));
    SET(o, CURLOPT_HTTPHEADER, transfer->headers);
    if (r.public_addresses_only) {
#if LIBCURL_VERSION_NUM >= 0x075000
        SET(o, CURLOPT_PREREQFUNCTION, &on_prerequest);
        SET(o, CURLOPT_PREREQDATA, static_cast<void*>(transfer));
#endif
        // Older libcurl: finish() judges CURLINFO_PRIMARY_IP after the fact instead.
    }
    if (!config_.ca_file.empty()) SET(o, CURLOPT_CAINFO, config_.ca_file.c_str());
    if (config_.proxy) SET(o, CURLOPT_PROXY, config_.proxy->c_str());
    if (!r.auth.user.empty()) {
        SET(o, CURLOPT_HTTPAUTH, long{CURLAUTH_BASIC});
        SET(o, CURLOPT_USERNAME, r.auth.user.c_str());
        SET(o, CURLOPT_PASSWORD, r.auth.password.c_str());
    }
    if (r.method == RequestMethod::Post) {
        SET(o, CURLOPT_POST, 1L);
        SET(o, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
        SET(o, CURLOPT_READFUNCTION, &on_read);
        SET(o, CURLOPT_READDATA, static_cast<void*>(transfer));
        SET(o, CURLOPT_SEEKFUNCTION, &on_seek);
        SET(o, CURLOPT_SEEKDATA, static_cast<void*>(transfer));
    } else if (r.method == RequestMethod::Head) {
        SET(o, CURLOPT_NOBODY, 1L);
    } else {
        SET(o, CURLOPT_HTTPGET, 1L);
    }

    HttpResult failure;
    failure.id = id;
    failure.body_may_have_been_sent = false;
    if (!headers_ok) {
        failure.curl_code = CURLE_OUT_OF_MEMORY;
        failure.curl_error = "curl_slist_append failed";
    } else if (o.code() != CURLE_OK) {
        failure.curl_code = o.code();
        failure.curl_error =
            std::string("setting ") + o.failed() + " failed: " + curl_easy_strerror(o.code());
    } else {
        CURLMcode added = curl_multi_add_handle(multi_, easy);
        if (added == CURLM_OK) {
            transfer->in_multi = true;
            return;
        }
        failure.curl_code = CURLE_FAILED_INIT;
        failure.curl_error = multi_error("curl_multi_add_handle", added);
    }
    release(*transfer);
    ready_.push_back(std::move(failure));
}

// Back to the pool (unless libcurl still holds it). The token is wiped from our copy.
void HttpDriver::release(Transfer& transfer) {
    std::fill(transfer.request.auth.password.begin(), transfer.request.auth.password.end(), '\0');
    transfer.request = HttpRequest{};
    transfer.response.clear();
    transfer.response.shrink_to_fit();
    transfer.active = false;
    --active_;
    if (!transfer.in_multi) idle_.push_back(&transfer);
}

HttpResult HttpDriver::finish(Transfer& transfer, CURLcode code) {
    CURL* easy = transfer.easy;
    HttpResult result;
    result.id = transfer.id;
    result.curl_code = code;
    if (code != CURLE_OK) {
        result.curl_error = transfer.error[0] ? transfer.error : curl_easy_strerror(code);
    }
    long status = 0;
    if (curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK)
        result.http_status = status;
    result.body = std::move(transfer.response);
    result.body_truncated = transfer.truncated;
    auto header = [](const Transfer::Header& h) {
        return h.present ? std::optional<std::string>(h.value) : std::nullopt;
    };
    result.retry_after = header(transfer.retry_after);
    result.content_type = header(transfer.content_type);
    result.content_length = header(transfer.content_length);
    result.content_range = header(transfer.content_range);
    if (transfer.refused_ip[0] != '\0') {
        result.refused_address = std::string(transfer.refused_ip);
        result.curl_error = std::string("refused to connect to ") + transfer.refused_ip +
                            " (not a public address)";
    }
#if LIBCURL_VERSION_NUM < 0x075000
    char* primary_ip = nullptr;
    if (transfer.public_only && curl_easy_getinfo(easy, CURLINFO_PRIMARY_IP, &primary_ip) == CURLE_OK &&
        primary_ip && *primary_ip && classify_address(primary_ip) != AddressKind::Public) {
        result.refused_address = std::string(primary_ip);
        result.curl_code = CURLE_ABORTED_BY_CALLBACK;
        result.curl_error = std::string("refused to connect to ") + primary_ip +
                            " (not a public address)";
    }
#endif

    result.timings.connect = info_time(easy, CURLINFO_CONNECT_TIME_T);
    result.timings.tls = info_time(easy, CURLINFO_APPCONNECT_TIME_T);
    result.timings.pretransfer = info_time(easy, CURLINFO_PRETRANSFER_TIME_T);
    result.timings.first_byte = info_time(easy, CURLINFO_STARTTRANSFER_TIME_T);
    result.timings.total = info_time(easy, CURLINFO_TOTAL_TIME_T);

    TransferEvidence evidence;
    evidence.code = code;
    evidence.has_body = transfer.request.method == RequestMethod::Post;
    evidence.body_bytes_read = transfer.body_bytes_read;
    evidence.http_status = result.http_status;
    evidence.pretransfer_us = result.timings.pretransfer.count();  // -1 when unknown
    curl_off_t uploaded = -1;
    if (curl_easy_getinfo(easy, CURLINFO_SIZE_UPLOAD_T, &uploaded) != CURLE_OK) uploaded = -1;
    evidence.bytes_uploaded = uploaded;
    result.body_may_have_been_sent = request_may_have_been_sent(evidence);

    long connects = -1;
    if (curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK) {
        result.connection_reused = connects == 0 && result.timings.pretransfer.count() > 0;
    }
    return result;
}

void HttpDriver::socket_action(curl_socket_t fd, int bits) {
    int running = 0;
    CURLMcode code = curl_multi_socket_action(multi_, fd, bits, &running);
    if (code != CURLM_OK) throw HttpDriverError(multi_error("curl_multi_socket_action", code));
    if (socket_errno_ != 0) {
        throw HttpDriverError(std::string("epoll_ctl failed: ") + std::strerror(socket_errno_));
    }
}

// -1: no timer. Capped at a day, far beyond any timeout set here, so that the sum
// cannot overflow the clock.
void HttpDriver::arm_timer(long timeout_ms) noexcept {
    timer_set_ = timeout_ms >= 0;
    if (timer_set_) {
        timer_at_ = SteadyClock::now() + std::chrono::milliseconds(std::min(timeout_ms, 86400000L));
    }
}

bool HttpDriver::timer_due(SteadyClock::time_point now) const {
    return timer_set_ && timer_at_ <= now;
}

void HttpDriver::act_on_timer() {
    timer_set_ = false;  // one-shot: libcurl re-arms it through on_timer
    socket_action(CURL_SOCKET_TIMEOUT, 0);
    // libcurl calls on_timer only when its deadline changes; should that deadline not
    // have passed yet by libcurl's clock, it stands unchanged and must not be lost.
    long ms = -1;
    if (!timer_set_ && curl_multi_timeout(multi_, &ms) == CURLM_OK) arm_timer(ms);
}

// The transfers libcurl has finished since the last call, in completion order.
void HttpDriver::collect(std::vector<HttpResult>& results) {
    int left = 0;
    while (CURLMsg* message = curl_multi_info_read(multi_, &left)) {
        if (message->msg != CURLMSG_DONE) continue;
        CURL* easy = message->easy_handle;
        CURLcode done = message->data.result;  // read before removing: message dies with it
        char* pointer = nullptr;
        if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, &pointer) != CURLE_OK || !pointer) {
            throw HttpDriverError("a finished transfer has lost its private pointer");
        }
        Transfer& transfer = *reinterpret_cast<Transfer*>(pointer);
        results.push_back(finish(transfer, done));
        CURLMcode removed = curl_multi_remove_handle(multi_, easy);
        if (removed == CURLM_OK) transfer.in_multi = false;
        release(transfer);
        if (removed != CURLM_OK) {
            throw HttpDriverError(multi_error("curl_multi_remove_handle", removed));
        }
    }
}

// Waits for ready sockets or libcurl's timer, whichever comes first, and hands them to
// libcurl, until a transfer finishes or max_wait is over (at least one look, so a zero
// max_wait still moves ready sockets along). A signal ends the wait early, as
// curl_multi_poll did, so the caller sees its interrupts.
void HttpDriver::wait_and_act(std::chrono::milliseconds max_wait,
                              std::vector<HttpResult>& results) {
    using std::chrono::milliseconds;
    const SteadyClock::time_point give_up =
        SteadyClock::now() + std::clamp(max_wait, milliseconds(0), milliseconds(86400000));
    std::array<epoll_event, 128> events;
    for (bool first = true; results.empty() && active_ > 0; first = false) {
        SteadyClock::time_point now = SteadyClock::now();
        if (!first && now >= give_up) break;
        SteadyClock::time_point until = give_up;
        if (timer_set_) until = std::min(until, timer_at_);
        // Rounded up: waking before libcurl's deadline would only spin.
        auto wait =
            std::chrono::ceil<milliseconds>(std::max(until - now, SteadyClock::duration(0)));
        int n = epoll_wait(epoll_, events.data(), static_cast<int>(events.size()),
                           static_cast<int>(std::min(wait, milliseconds(60000)).count()));
        if (n < 0) {
            if (errno == EINTR) break;
            throw HttpDriverError(std::string("epoll_wait failed: ") + std::strerror(errno));
        }
        for (int i = 0; i < n; ++i) {
            const std::uint32_t ready = events[i].events;
            const auto fd = static_cast<curl_socket_t>(events[i].data.u64 & 0xffffffffu);
            const auto wanted = static_cast<int>(events[i].data.u64 >> 32);
            // As libcurl's own poll does (Curl_socket_check): an error or hang-up makes
            // a reading socket readable (recv tells what happened), a writing one ERR.
            const bool broken = (ready & (EPOLLERR | EPOLLHUP)) != 0;
            int bits = 0;
            if ((ready & EPOLLIN) || (broken && (wanted & CURL_POLL_IN))) bits |= CURL_CSELECT_IN;
            if (ready & EPOLLOUT) bits |= CURL_CSELECT_OUT;
            if (broken && (wanted & CURL_POLL_OUT)) bits |= CURL_CSELECT_ERR;
            socket_action(fd, bits);
        }
        if (timer_due(SteadyClock::now())) act_on_timer();
        collect(results);
    }
}

std::vector<HttpResult> HttpDriver::perform(std::chrono::milliseconds max_wait) {
    std::vector<HttpResult> results = std::move(ready_);
    ready_.clear();
    if (active_ == 0) return results;
    try {
        if (socket_errno_ != 0) {
            throw HttpDriverError(std::string("epoll_ctl failed: ") + std::strerror(socket_errno_));
        }
        // A transfer start()ed since the last call is due here (libcurl's timer of 0).
        if (timer_due(SteadyClock::now())) act_on_timer();
        collect(results);
        if (results.empty()) wait_and_act(max_wait, results);
    } catch (const HttpDriverError&) {
        // Nothing finished is lost: abort_all() hands these out with the rest.
        ready_.insert(ready_.end(), std::make_move_iterator(results.begin()),
                      std::make_move_iterator(results.end()));
        throw;
    }
    return results;
}

std::vector<HttpResult> HttpDriver::abort_all() {
    std::vector<HttpResult> results = std::move(ready_);
    ready_.clear();
    for (auto& pointer : pool_) {
        Transfer& transfer = *pointer;
        if (!transfer.active) continue;
        HttpResult result = finish(transfer, CURLE_ABORTED_BY_CALLBACK);
        result.curl_error = "aborted before completion";
        CURLMcode removed = curl_multi_remove_handle(multi_, transfer.easy);
        if (removed == CURLM_OK) {
            transfer.in_multi = false;
        } else {  // the handle stays out of the pool; the destructor tries again
            result.curl_error += "; " + multi_error("curl_multi_remove_handle", removed);
        }
        results.push_back(std::move(result));
        release(transfer);
    }
    socket_errno_ = 0;  // every socket went with its transfer: a fresh start
    return results;
}

}  // namespace plivo
