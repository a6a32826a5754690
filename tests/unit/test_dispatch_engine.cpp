// The sending engine (dispatcher/dispatch_engine.hpp) against a scripted fake Plivo on
// loopback: real libcurl, real rate limiter and retry policy, short delays. Every test
// checks the engine's promise that each claimed message ends in exactly one RowUpdate,
// and that the auth token never appears in what the worker would write.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "../httplib_debian.hpp"

#include <nlohmann/json.hpp>

#include "dispatch_engine.hpp"
#include "rate_limiter.hpp"

namespace plivo {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;
using SystemClock = std::chrono::system_clock;
using nlohmann::json;

const char kAuthId[] = "MAENGINETEST00000001";
const char kToken[] = "tok_SECRET_9f8e7d6c5b4a";
const char kPath[] = "/v1/Account/MAENGINETEST00000001/Message/";
const char kSender[] = "+14155550100";
const char kOtherSender[] = "+14155550199";
const char kRecipient[] = "+14155550111";

std::string base64(const std::string& in) {
    static const char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 |
                     (unsigned char)in[i + 2];
        for (int k = 18; k >= 0; k -= 6) out += kAlphabet[(v >> k) & 63];
    }
    if (i + 1 == in.size()) {
        unsigned v = (unsigned char)in[i] << 16;
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += "==";
    } else if (i + 2 == in.size()) {
        unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8;
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += kAlphabet[(v >> 6) & 63];
        out += '=';
    }
    return out;
}

// What the fake Plivo saw.
struct Seen {
    std::string method;
    std::string body;
    std::string authorization;
    std::map<std::string, std::string> params;
    SteadyClock::time_point at;
};

// A scripted Plivo on 127.0.0.1: POST and GET handlers per test (default: 202 accepted
// with uuid "uuid-<dst>", and an empty message list).
class FakePlivo {
public:
    using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

    FakePlivo() {
        server_.new_task_queue = [] { return new httplib::ThreadPool(16); };
        server_.Post(kPath, [this](const httplib::Request& q, httplib::Response& r) {
            serve(q, r, post_);
        });
        server_.Get(kPath, [this](const httplib::Request& q, httplib::Response& r) {
            serve(q, r, get_);
        });
        server_.Get(std::string(kPath) + "([^/]+)/",
                    [this](const httplib::Request& q, httplib::Response& r) { serve(q, r, get_); });
        port_ = server_.bind_to_any_port("127.0.0.1");
        if (port_ <= 0) throw std::runtime_error("bind_to_any_port failed");
        thread_ = std::thread([this] { server_.listen_after_bind(); });
        for (int i = 0; i < 500 && !server_.is_running(); ++i) std::this_thread::sleep_for(2ms);
        on_post([](const httplib::Request& q, httplib::Response& r) {
            r.status = 202;
            r.set_content(json{{"api_id", "api-1"},
                               {"message", "message(s) queued"},
                               {"message_uuid", json::array({"uuid-" + json::parse(q.body).value("dst", "")})}}
                              .dump(),
                          "application/json");
        });
        on_get([](const httplib::Request&, httplib::Response& r) {
            r.status = 200;
            r.set_content(list_body({}, false), "application/json");
        });
    }
    ~FakePlivo() {
        server_.stop();
        thread_.join();
    }

    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    void on_post(Handler handler) {
        std::lock_guard<std::mutex> lock(mutex_);
        post_ = std::move(handler);
    }
    void on_get(Handler handler) {
        std::lock_guard<std::mutex> lock(mutex_);
        get_ = std::move(handler);
    }
    std::vector<Seen> seen(const std::string& method) {
        std::lock_guard<std::mutex> lock(mutex_);
        std::vector<Seen> out;
        for (const Seen& s : seen_)
            if (s.method == method) out.push_back(s);
        return out;
    }
    std::size_t posts() { return seen("POST").size(); }
    std::size_t gets() { return seen("GET").size(); }
    int max_concurrent() const { return max_concurrent_; }

    // A list reply in Plivo's shape.
    static std::string list_body(const std::vector<json>& objects, bool more, int offset = 0) {
        json meta = {{"limit", 20},
                     {"offset", offset},
                     {"total_count", objects.size() + (more ? 100 : 0)},
                     {"previous", nullptr},
                     {"next", more ? json(std::string(kPath) + "?limit=20&offset=" +
                                          std::to_string(offset + 20))
                                   : json(nullptr)}};
        return json{{"api_id", "list-1"}, {"meta", meta}, {"objects", objects}}.dump();
    }

private:
    void serve(const httplib::Request& q, httplib::Response& r, const Handler& which) {
        Handler handler;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            Seen s{q.method, q.body, q.get_header_value("Authorization"), {}, SteadyClock::now()};
            for (const auto& [key, value] : q.params) s.params[key] = value;
            seen_.push_back(std::move(s));
            handler = which;
        }
        int now = ++concurrent_;
        for (int was = max_concurrent_; now > was && !max_concurrent_.compare_exchange_weak(was, now);) {
        }
        handler(q, r);
        --concurrent_;
    }

    httplib::Server server_;
    int port_ = 0;
    std::thread thread_;
    std::mutex mutex_;
    Handler post_;
    Handler get_;
    std::vector<Seen> seen_;
    std::atomic<int> concurrent_{0};
    std::atomic<int> max_concurrent_{0};
};

// One object of Plivo's message list; numbers as Plivo writes them (digits).
json listed(const std::string& uuid, SystemClock::time_point time,
            const std::string& from = "14155550100", const std::string& to = "14155550111") {
    return json{{"message_uuid", uuid},     {"message_state", "delivered"},
                {"message_direction", "outbound"}, {"from_number", from},
                {"to_number", to},           {"message_time", format_plivo_time(time)},
                {"message_type", "sms"},     {"error_code", "000"}};
}

class DispatchEngineTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() { ASSERT_EQ(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK); }
    static void TearDownTestSuite() { curl_global_cleanup(); }

    EngineConfig config() {
        EngineConfig c;
        c.account = PlivoAccount{plivo_.url(), kAuthId, kToken, "test"};
        c.http.max_in_flight = 4;
        c.http.connect_timeout = 1000ms;
        c.http.request_timeout = 3000ms;
        c.retry.base = 100ms;
        c.retry.cap = 400ms;
        c.retry.max_attempts = 3;
        c.limits.account_rate = 100;
        c.limits.account_burst = 100;
        c.settle_delay = 300ms;
        c.list_requests_per_minute = 6000;  // tests of the list's own limit set theirs
        c.default_callback_url = "https://cb.example.com/default";
        c.random = [] { return 0.5; };
        // Media pre-flight has its own tests (test_media_check_engine.cpp); here an MMS's
        // example.com media must go to the fake Plivo untouched.
        c.media.enabled = false;
        return c;
    }

    DispatchEngine& engine(const EngineConfig& c) {
        engine_ = std::make_unique<DispatchEngine>(c);
        return *engine_;
    }

    static ClaimedMessage message(const std::string& id, const std::string& sender = kSender,
                                  const std::string& recipient = kRecipient) {
        ClaimedMessage m;
        m.id = id;
        m.params.sender = sender;
        m.params.recipient = recipient;
        m.params.text = "Hello";
        return m;
    }

    // What the worker does after claiming: the ledger remembers every claimed id.
    void add(std::vector<ClaimedMessage> messages) {
        for (const ClaimedMessage& m : messages) {
            EXPECT_TRUE(claimed_.insert(m.id).second) << "claimed twice: " << m.id;
        }
        engine_->add_claimed(std::move(messages), SteadyClock::now());
    }

    static UnsettledMessage unsettled_message(const std::string& id, SystemClock::time_point since,
                                              const std::string& recipient = kRecipient) {
        UnsettledMessage m;
        m.id = id;
        m.guard = "guard-" + id;
        m.sender = kSender;
        m.recipient = recipient;
        m.unsettled_since = since;
        return m;
    }

    // The worker's backlog: each message is expected to end in one update too.
    void add_unsettled(std::vector<UnsettledMessage> backlog) {
        for (const UnsettledMessage& m : backlog) claimed_.insert(m.id);
        engine_->add_unsettled(std::move(backlog), SteadyClock::now());
    }

    // Takes updates and settle checks as the worker would; answers checks with owned_.
    void collect() {
        for (RowUpdate& u : engine_->take_updates()) {
            order_.push_back(u.id);
            EXPECT_EQ(updates_.count(u.id), 0u) << "second update for " << u.id;
            updates_[u.id] = u;
        }
        for (SettleCheck& check : engine_->take_settle_checks()) {
            checks_.push_back(check);
            if (answer_checks_)
                engine_->resolve_settle_check(check.id, SettleAnswer{owned_(check), rivals_},
                                              SteadyClock::now());
        }
    }

    // Drives the engine like the worker loop (claiming from queue_ as capacity allows)
    // until `done` or the timeout.
    bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = 5000ms) {
        auto deadline = SteadyClock::now() + timeout;
        while (SteadyClock::now() < deadline) {
            if (!queue_.empty()) {
                std::size_t n = engine_->claim_capacity(SteadyClock::now());
                std::vector<ClaimedMessage> batch;
                while (n-- > 0 && !queue_.empty()) {
                    batch.push_back(queue_.front());
                    queue_.pop_front();
                }
                if (!batch.empty()) add(std::move(batch));
            }
            max_engine_in_flight_ = std::max(max_engine_in_flight_, engine_->in_flight());
            if (engine_->in_flight() > 0) {
                engine_->perform(20ms);
            } else {
                auto wake = engine_->next_wakeup(SteadyClock::now());
                collect();
                if (done()) return true;
                std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(wake.value_or(20ms), 20ms));
            }
            collect();
            if (done()) return true;
        }
        return false;
    }

    // Plivo accepts every POST (202, uuid "u-<dst>") once `wait` returns.
    void accept_posts(std::function<void()> wait) {
        plivo_.on_post([wait](const httplib::Request& q, httplib::Response& r) {
            wait();
            r.status = 202;
            r.set_content(json{{"api_id", "a"}, {"message", "q"},
                               {"message_uuid", json::array({"u-" + json::parse(q.body).value("dst", "")})}}
                              .dump(),
                          "application/json");
        });
    }

    // ... once the test sets release_ (at most 3 s).
    void accept_posts_when_released() {
        accept_posts([this] {
            for (int i = 0; i < 600 && !release_; ++i) std::this_thread::sleep_for(5ms);
        });
    }

    bool run_until_updated(std::size_t n, std::chrono::milliseconds timeout = 5000ms) {
        return run_until([&] { return updates_.size() >= n; }, timeout);
    }

    // m0 is sent and accepted as u-14155550111 (its update recorded or not, as the
    // worker would say); then m1, to the same number with an unknown outcome, is settled
    // against a Plivo list that holds only m0's uuid (no row owns it, says owned_).
    bool settle_m1_onto_m0s_uuid(bool recorded) {
        engine(config());
        accept_posts([] {});
        add({message("m0")});
        if (!run_until_updated(1)) return false;
        EXPECT_EQ(update("m0").plivo_message_uuid, "u-14155550111");
        EXPECT_EQ(engine_->unrecorded_uuids(), 1u);
        if (recorded) {
            engine_->uuids_recorded({update("m0")});
            EXPECT_EQ(engine_->unrecorded_uuids(), 0u);
        }
        auto since = SystemClock::now() - 10s;
        plivo_.on_get([since](const httplib::Request&, httplib::Response& r) {
            r.set_content(FakePlivo::list_body({listed("u-14155550111", since + 1s)}, false),
                          "application/json");
        });
        add_unsettled({unsettled_message("m1", since)});
        return run_until_updated(2);
    }

    // A fresh engine given one message, m1, whose earlier attempt (at `since`) has an
    // unknown outcome; runs until m1 has its update.
    bool settle_m1(SystemClock::time_point since, std::chrono::milliseconds timeout = 5000ms) {
        engine(config());
        add_unsettled({unsettled_message("m1", since)});
        return run_until_updated(1, timeout);
    }

    const RowUpdate& update(const std::string& id) {
        static const RowUpdate none{};
        auto it = updates_.find(id);
        EXPECT_NE(it, updates_.end()) << "no update for " << id;
        return it == updates_.end() ? none : it->second;
    }

    // The engine's invariant: every claimed message ended in exactly one update, and
    // nothing the worker would store carries the auth token.
    void TearDown() override {
        if (engine_) {
            collect();
            EXPECT_EQ(engine_->in_flight(), 0u);
            EXPECT_EQ(engine_->held(), 0u);
            engine_->abort_all();
            collect();
        }
        std::set<std::string> updated;
        for (const auto& [id, u] : updates_) {
            updated.insert(id);
            std::string text = row_updates_json({u});
            EXPECT_EQ(text.find(kToken), std::string::npos) << text;
            EXPECT_EQ(text.find(base64(std::string(kAuthId) + ":" + kToken)), std::string::npos);
            EXPECT_TRUE(u.status == "sent" || u.status == "retrying" || u.status == "failed");
        }
        EXPECT_EQ(updated, claimed_);
        engine_.reset();
    }

    std::atomic<bool> release_{false};  // for handlers that wait; outlives plivo_
    FakePlivo plivo_;
    std::unique_ptr<DispatchEngine> engine_;
    std::set<std::string> claimed_;
    std::map<std::string, RowUpdate> updates_;
    std::vector<std::string> order_;  // update ids in the order they came
    std::vector<SettleCheck> checks_;
    bool answer_checks_ = true;
    std::function<std::set<std::string>(const SettleCheck&)> owned_ = [](const SettleCheck&) {
        return std::set<std::string>{};
    };
    int rivals_ = 0;  // unsettled messages of the same pair the worker reports
    std::deque<ClaimedMessage> queue_;
    std::size_t max_engine_in_flight_ = 0;
};

// --- sending ------------------------------------------------------------------------

TEST_F(DispatchEngineTest, AcceptedSendsTheExactBodyWithBasicAuth) {
    engine(config());
    ClaimedMessage own = message("m2", kSender, "+14155550112");
    own.params.type = MessageType::Mms;
    own.params.text = "Pic";
    own.params.media_urls = {"https://example.com/a.jpg"};
    own.params.callback_url = "https://own.example.com/cb";
    add({message("m1"), own});
    ASSERT_TRUE(run_until_updated(2));

    std::vector<Seen> posts = plivo_.seen("POST");
    ASSERT_EQ(posts.size(), 2u);
    std::set<std::string> bodies;
    for (const Seen& s : posts) {
        bodies.insert(s.body);
        EXPECT_EQ(s.authorization, "Basic " + base64(std::string(kAuthId) + ":" + kToken));
        EXPECT_EQ(s.body.find(kToken), std::string::npos);
    }
    EXPECT_EQ(bodies, (std::set<std::string>{
                          R"({"dst":"14155550111","method":"POST","src":"14155550100","text":"Hello","type":"sms","url":"https://cb.example.com/default"})",
                          R"({"dst":"14155550112","media_urls":["https://example.com/a.jpg"],"method":"POST","src":"14155550100","text":"Pic","type":"mms","url":"https://own.example.com/cb"})"}));

    const RowUpdate& u = update("m1");
    EXPECT_EQ(u.status, "sent");
    EXPECT_EQ(u.plivo_message_uuid, "uuid-14155550111");
    ASSERT_TRUE(u.status_info_json);
    EXPECT_EQ(json::parse(*u.status_info_json),
              json::parse(R"({"api_id":"api-1","message":"message(s) queued","message_uuid":["uuid-14155550111"]})"));
    EXPECT_EQ(u.last_http_status, 202);
    EXPECT_TRUE(u.clear_last_error);
    EXPECT_TRUE(u.clear_unsettled);
    EXPECT_FALSE(u.error_code);
    EXPECT_FALSE(u.next_attempt_at);
    EXPECT_EQ(update("m2").plivo_message_uuid, "uuid-14155550112");
    EXPECT_TRUE(checks_.empty());
}

TEST_F(DispatchEngineTest, RejectedFailsWithPlivosTextAndIsNeverRetried) {
    plivo_.on_post([](const httplib::Request&, httplib::Response& r) {
        r.status = 400;
        r.set_content(R"({"api_id":"x","error":"invalid dst number"})", "application/json");
    });
    engine(config());
    add({message("m1")});
    ASSERT_TRUE(run_until_updated(1));
    const RowUpdate& u = update("m1");
    EXPECT_EQ(u.status, "failed");
    EXPECT_EQ(u.error_code, "http_400");
    ASSERT_TRUE(u.last_error);
    EXPECT_NE(u.last_error->find("invalid dst number"), std::string::npos) << *u.last_error;
    EXPECT_EQ(u.last_http_status, 400);
    EXPECT_TRUE(u.clear_unsettled);
    EXPECT_FALSE(u.next_attempt_at);
    EXPECT_FALSE(u.plivo_message_uuid);
    run_until([] { return false; }, 300ms);  // nothing more happens
    EXPECT_EQ(plivo_.posts(), 1u);
}

// A server (or proxy) that echoes the credentials back: what is stored has them cut out.
TEST_F(DispatchEngineTest, EchoedAuthTokenIsNeverStored) {
    plivo_.on_post([](const httplib::Request&, httplib::Response& r) {
        r.status = 401;
        r.set_content(std::string(R"({"api_id":"x","error":"bad credentials )") + kAuthId + ":" +
                          kToken + R"("})",
                      "application/json");
    });
    engine(config());
    add({message("m1")});
    ASSERT_TRUE(run_until_updated(1));
    const RowUpdate& u = update("m1");
    EXPECT_EQ(u.status, "failed");
    EXPECT_EQ(u.error_code, "http_401");
    ASSERT_TRUE(u.last_error);
    EXPECT_NE(u.last_error->find(std::string("bad credentials ") + kAuthId + ":<redacted>"),
              std::string::npos)
        << *u.last_error;
    // TearDown checks that the token is nowhere in the update or its JSON.
}

TEST_F(DispatchEngineTest, RateLimitedHonoursRetryAfterAndSlowsTheAccount) {
    plivo_.on_post([](const httplib::Request&, httplib::Response& r) {
        r.status = 429;
        r.set_header("Retry-After", "2");
        r.set_content(R"({"api_id":"x","error":"too many requests"})", "application/json");
    });
    DispatchEngine& e = engine(config());
    EXPECT_EQ(e.claim_capacity(SteadyClock::now()), 4u);
    auto before = SystemClock::now();
    add({message("m1")});
    ASSERT_TRUE(run_until_updated(1));
    const RowUpdate& u = update("m1");
    EXPECT_EQ(u.status, "retrying");
    ASSERT_TRUE(u.next_attempt_at);
    EXPECT_GE(*u.next_attempt_at, before + 2s);
    EXPECT_LE(*u.next_attempt_at, SystemClock::now() + 2s + 100ms);
    EXPECT_EQ(u.last_http_status, 429);
    EXPECT_TRUE(u.clear_unsettled);
    ASSERT_TRUE(u.last_error);
    EXPECT_NE(u.last_error->find("rate limited"), std::string::npos) << *u.last_error;
    // The account is paused for the Retry-After: nothing may be claimed meanwhile.
    EXPECT_EQ(e.claim_capacity(SteadyClock::now()), 0u);
}

TEST_F(DispatchEngineTest, ServerErrorAfterReadingLeavesTheOutcomeUnsettled) {
    plivo_.on_post([](const httplib::Request&, httplib::Response& r) {
        r.status = 500;
        r.set_content(R"({"api_id":"x","error":"internal"})", "application/json");
    });
    engine(config());
    auto before = SystemClock::now();
    add({message("m1")});
    ASSERT_TRUE(run_until_updated(1));
    auto after = SystemClock::now();
    const RowUpdate& u = update("m1");
    EXPECT_EQ(u.status, "retrying");
    ASSERT_TRUE(u.unsettled_since);
    EXPECT_GE(*u.unsettled_since, before);
    EXPECT_LE(*u.unsettled_since, after);
    EXPECT_FALSE(u.clear_unsettled);
    // Not claimed again until settled from the backlog.
    EXPECT_TRUE(u.await_settlement);
    EXPECT_FALSE(u.plivo_message_uuid);
    EXPECT_EQ(u.last_http_status, 500);
    EXPECT_EQ(plivo_.posts(), 1u);
}

TEST_F(DispatchEngineTest, OutcomeUnknownOnTheLastAttemptFailsAndSaysItMayHaveBeenDelivered) {
    plivo_.on_post([](const httplib::Request&, httplib::Response& r) {
        r.status = 503;
        r.set_content("upstream down", "text/plain");
    });
    engine(config());
    ClaimedMessage m = message("m1");
    m.attempts = 3;  // max_attempts
    add({m});
    ASSERT_TRUE(run_until_updated(1));
    const RowUpdate& u = update("m1");
    EXPECT_EQ(u.status, "failed");
    ASSERT_TRUE(u.last_error);
    EXPECT_EQ(u.last_error->rfind("outcome unknown after 3 attempts: ", 0), 0u) << *u.last_error;
    EXPECT_NE(u.last_error->find("it may have been delivered"), std::string::npos);
    EXPECT_TRUE(u.unsettled_since);
    EXPECT_FALSE(u.clear_unsettled);
}

TEST_F(DispatchEngineTest, ClosedPortIsRetriedWithoutSettling) {
    // A bound socket that never listens: connections to it are refused.
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), length), 0);
    ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
    EngineConfig c = config();
    c.account.api_url = "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port));
    engine(c);
    auto before = SystemClock::now();
    add({message("m1")});
    ASSERT_TRUE(run_until_updated(1));
    close(fd);
    const RowUpdate& u = update("m1");
    EXPECT_EQ(u.status, "retrying");
    EXPECT_TRUE(u.clear_unsettled);
    EXPECT_FALSE(u.unsettled_since);
    ASSERT_TRUE(u.next_attempt_at);
    EXPECT_GE(*u.next_attempt_at, before + 50ms);  // 0.5 of the 100 ms ceiling
    EXPECT_FALSE(u.last_http_status);
    ASSERT_TRUE(u.last_error);
    EXPECT_NE(u.last_error->find("request not sent"), std::string::npos) << *u.last_error;
}

TEST_F(DispatchEngineTest, InvalidStoredMessageFailsWithoutARequest) {
    engine(config());
    add({message("m1", "not a number")});
    ASSERT_TRUE(run_until_updated(1));
    const RowUpdate& u = update("m1");
    EXPECT_EQ(u.status, "failed");
    ASSERT_TRUE(u.last_error);
    EXPECT_NE(u.last_error->find("invalid message"), std::string::npos) << *u.last_error;
    EXPECT_EQ(plivo_.posts(), 0u);
}

// --- settling -----------------------------------------------------------------------

TEST_F(DispatchEngineTest, SettleCutoffCoversTheListsLagAndTheAttemptsWindow) {
    EngineConfig c = config();  // settle_delay 300 ms, request_timeout 3 s, tolerance 10 s
    EXPECT_EQ(engine(c).settle_cutoff(), 14000ms);
    c.settle_delay = 60s;
    EXPECT_EQ(engine(c).settle_cutoff(), 60000ms);
}

TEST_F(DispatchEngineTest, ClaimedUnsettledMessageGoesBackToWaitForSettling) {
    // The claim never hands one over; an older worker's claim could: it is not sent.
    engine(config());
    ClaimedMessage m = message("m1");
    m.unsettled_since = SystemClock::now() - 100ms;
    add({m});
    ASSERT_TRUE(run_until_updated(1));
    const RowUpdate& u = update("m1");
    EXPECT_EQ(u.status, "retrying");
    EXPECT_TRUE(u.await_settlement);
    EXPECT_TRUE(u.not_attempted);
    EXPECT_EQ(u.unsettled_since, m.unsettled_since);
    EXPECT_FALSE(u.clear_unsettled);
    EXPECT_EQ(plivo_.posts() + plivo_.gets(), 0u);
    EXPECT_NE(row_updates_json({u}).find(R"("await_settlement":true)"), std::string::npos);
}

// The recipient had opted out with Plivo: Plivo accepted the message, then failed it
// with error 200. Settling records that (the database makes it an opt-out), not "sent".
TEST_F(DispatchEngineTest, SettleFoundWithError200RecordsTheRefusal) {
    auto since = SystemClock::now() - 10s;
    plivo_.on_get([since](const httplib::Request&, httplib::Response& r) {
        json object = listed("refused-1", since + 1s);
        object["message_state"] = "failed";
        object["error_code"] = "200";
        r.set_content(FakePlivo::list_body({object}, false), "application/json");
    });
    ASSERT_TRUE(settle_m1(since));

    const RowUpdate& u = update("m1");
    EXPECT_EQ(u.status, "failed");
    EXPECT_EQ(u.plivo_message_uuid, "refused-1");
    EXPECT_EQ(u.error_code, std::optional<std::string>("200"));
    ASSERT_TRUE(u.status_info_json);
    EXPECT_EQ(json::parse(*u.status_info_json),
              json::parse(R"({"settled":"found","message_state":"failed","error_code":"200",)"
                          R"("candidates":["refused-1"]})"));
    EXPECT_TRUE(u.clear_unsettled);
    EXPECT_EQ(plivo_.posts(), 0u);
}

TEST_F(DispatchEngineTest, SettleFoundRecordsWhatPlivoCharged) {
    auto since = SystemClock::now() - 10s;
    plivo_.on_get([since](const httplib::Request&, httplib::Response& r) {
        json object = listed("priced-1", since + 1s);
        object["units"] = 2;
        object["total_rate"] = "0.00500";
        object["total_amount"] = "1e-2";  // not a plain decimal: left out, not guessed
        r.set_content(FakePlivo::list_body({object}, false), "application/json");
    });
    ASSERT_TRUE(settle_m1(since));

    const RowUpdate& u = update("m1");
    EXPECT_EQ(u.status, "sent");
    EXPECT_EQ(u.units, std::optional<std::string>("2"));
    EXPECT_EQ(u.total_rate, std::optional<std::string>("0.00500"));
    EXPECT_FALSE(u.total_amount);
    const json row = json::parse(row_updates_json({u}))[0];
    EXPECT_EQ(row["units"], "2");
    EXPECT_EQ(row["total_rate"], "0.00500");
    EXPECT_FALSE(row.contains("total_amount"));
}

TEST_F(DispatchEngineTest, SettleFoundMarksSentWithoutResending) {
    auto since = SystemClock::now() - 10s;
    plivo_.on_get([since](const httplib::Request&, httplib::Response& r) {
        r.set_content(FakePlivo::list_body({listed("other-sender", since + 1s, "14155550999"),
                                            listed("found-1", since + 1s)},
                                           false),
                      "application/json");
    });
    ASSERT_TRUE(settle_m1(since));

    std::vector<Seen> gets = plivo_.seen("GET");
    ASSERT_EQ(gets.size(), 1u);
    // One recipient: listed by its number, as far back as before.
    EXPECT_EQ(gets[0].params["to_number"], "14155550111");
    EXPECT_EQ(gets[0].params["from_number"], "14155550100");
    EXPECT_EQ(gets[0].params["message_type"], "sms");
    EXPECT_EQ(gets[0].params["message_direction"], "outbound");
    EXPECT_EQ(gets[0].params["message_time__gte"], format_plivo_time(since - 5min));
    EXPECT_EQ(gets[0].params.count("message_time__lte"), 0u);
    EXPECT_EQ(gets[0].params["limit"], "20");
    EXPECT_EQ(gets[0].params["offset"], "0");
    EXPECT_EQ(gets[0].authorization, "Basic " + base64(std::string(kAuthId) + ":" + kToken));
    ASSERT_EQ(checks_.size(), 1u);
    EXPECT_EQ(checks_[0].id, "m1");
    EXPECT_EQ(checks_[0].candidate_uuids, std::vector<std::string>{"found-1"});

    const RowUpdate& u = update("m1");
    EXPECT_EQ(u.status, "sent");
    EXPECT_EQ(u.plivo_message_uuid, "found-1");
    EXPECT_EQ(u.settle_guard, std::optional<std::string>("guard-m1"));
    ASSERT_TRUE(u.status_info_json);
    EXPECT_EQ(json::parse(*u.status_info_json),
              json::parse(R"({"settled":"found","message_state":"delivered","candidates":["found-1"]})"));
    EXPECT_TRUE(u.clear_unsettled);
    EXPECT_TRUE(u.clear_last_error);
    EXPECT_EQ(plivo_.posts(), 0u);
}

TEST_F(DispatchEngineTest, SettleNotFoundMakesTheMessageDueAgain) {
    auto before = SystemClock::now();
    ASSERT_TRUE(settle_m1(SystemClock::now() - 10s));
    EXPECT_TRUE(checks_.empty());  // no candidate at all: no question for the worker
    EXPECT_EQ(plivo_.gets(), 1u);
    EXPECT_EQ(plivo_.posts(), 0u);  // the claim sends it again, counting the attempt
    const RowUpdate& u = update("m1");
    EXPECT_EQ(u.status, "retrying");
    EXPECT_TRUE(u.clear_unsettled);
    EXPECT_FALSE(u.await_settlement);
    ASSERT_TRUE(u.next_attempt_at);
    EXPECT_GE(*u.next_attempt_at, before);
    EXPECT_EQ(u.settle_guard, std::optional<std::string>("guard-m1"));
}

TEST_F(DispatchEngineTest, SettleCandidateOwnedByAnotherRowIsNotOurs) {
    auto since = SystemClock::now() - 10s;
    plivo_.on_get([since](const httplib::Request&, httplib::Response& r) {
        r.set_content(FakePlivo::list_body({listed("owned-1", since + 1s)}, false),
                      "application/json");
    });
    owned_ = [](const SettleCheck&) { return std::set<std::string>{"owned-1"}; };
    ASSERT_TRUE(settle_m1(since));
    ASSERT_EQ(checks_.size(), 1u);
    EXPECT_EQ(update("m1").status, "retrying");
    EXPECT_TRUE(update("m1").clear_unsettled);
    EXPECT_FALSE(update("m1").plivo_message_uuid);
}

TEST_F(DispatchEngineTest, UuidGivenToAMessageIsNotSettledOntoAnotherUntilRecorded) {
    // Until m0's update is written, the database cannot say its uuid is owned: the
    // engine itself keeps m1 from settling onto it (m1 is not found: sent again).
    ASSERT_TRUE(settle_m1_onto_m0s_uuid(false));
    EXPECT_EQ(update("m1").status, "retrying");
    EXPECT_TRUE(update("m1").clear_unsettled);
}

TEST_F(DispatchEngineTest, RecordedUuidIsLeftToTheDatabase) {
    // Once the worker says m0's update is written, the engine forgets its uuid (memory
    // stays bounded by what is unwritten): whether a listed uuid is owned is then the
    // database's answer. Here the answer says nobody owns it, so m1 takes it.
    ASSERT_TRUE(settle_m1_onto_m0s_uuid(true));
    EXPECT_EQ(plivo_.posts(), 1u);
    EXPECT_EQ(update("m1").plivo_message_uuid, "u-14155550111");
}

TEST_F(DispatchEngineTest, SettleAmbiguousTakesTheOldestUnownedAndNeverResends) {
    auto since = SystemClock::now() - 60s;
    plivo_.on_get([since](const httplib::Request&, httplib::Response& r) {
        json bad_time = listed("c-badtime", since);
        bad_time["message_time"] = "not a time";
        r.set_content(FakePlivo::list_body({listed("c-new", since + 20s), bad_time,
                                            listed("c-owned", since + 1s),
                                            listed("c-old", since + 5s)},
                                           false),
                      "application/json");
    });
    owned_ = [](const SettleCheck&) { return std::set<std::string>{"c-owned"}; };
    ASSERT_TRUE(settle_m1(since));
    ASSERT_EQ(checks_.size(), 1u);
    EXPECT_EQ(checks_[0].candidate_uuids.size(), 4u);
    const RowUpdate& u = update("m1");
    EXPECT_EQ(u.status, "sent");
    EXPECT_EQ(u.plivo_message_uuid, "c-old");
    ASSERT_TRUE(u.status_info_json);
    json info = json::parse(*u.status_info_json);
    EXPECT_EQ(info["settled"], "ambiguous");
    EXPECT_EQ(std::set<std::string>(info["candidates"].begin(), info["candidates"].end()),
              (std::set<std::string>{"c-new", "c-badtime", "c-old"}));
    EXPECT_TRUE(u.clear_unsettled);
    EXPECT_EQ(plivo_.posts(), 0u);
}

TEST_F(DispatchEngineTest, SettleFollowsNextToTheLastPage) {
    auto since = SystemClock::now() - 10s;
    plivo_.on_get([since](const httplib::Request& q, httplib::Response& r) {
        int offset = std::stoi(q.get_param_value("offset"));
        bool last = offset == 140;
        r.set_content(last ? FakePlivo::list_body({listed("page-8", since + 2s)}, false, offset)
                           : FakePlivo::list_body({listed("x" + std::to_string(offset), since,
                                                          "14155550999")},
                                                  true, offset),
                      "application/json");
    });
    ASSERT_TRUE(settle_m1(since, 30000ms));
    std::vector<Seen> gets = plivo_.seen("GET");
    ASSERT_EQ(gets.size(), 8u);  // no page limit: every page, through meta.next
    for (int i = 0; i < 8; ++i) EXPECT_EQ(gets[i].params["offset"], std::to_string(20 * i));
    EXPECT_EQ(update("m1").plivo_message_uuid, "page-8");
    EXPECT_EQ(plivo_.posts(), 0u);
}

TEST_F(DispatchEngineTest, OneTimeWindowSettlesManyMessagesInFewRequests) {
    // 30 answers lost in a brown-out, to 30 numbers: one window of two pages, not 30 lists.
    auto since = SystemClock::now() - 30s;
    std::vector<json> objects;
    std::vector<UnsettledMessage> backlog;
    for (int i = 0; i < 30; ++i) {
        std::string to = "1415555" + std::to_string(1000 + i);
        backlog.push_back(unsettled_message("m" + std::to_string(i), since + std::chrono::seconds(i % 10),
                                            "+" + to));
        if (i % 3 != 0) objects.push_back(listed("u-" + to, since + std::chrono::seconds(i % 10), "14155550100", to));
    }
    objects.push_back(listed("someone-else", since + 2s, "14155550100", "14155559999"));
    plivo_.on_get([objects](const httplib::Request& q, httplib::Response& r) {
        std::size_t offset = std::stoul(q.get_param_value("offset"));
        std::vector<json> page(objects.begin() + std::min(offset, objects.size()),
                               objects.begin() + std::min(offset + 20, objects.size()));
        r.set_content(FakePlivo::list_body(page, offset + 20 < objects.size(), static_cast<int>(offset)),
                      "application/json");
    });
    engine(config());
    add_unsettled(backlog);
    ASSERT_TRUE(run_until_updated(30, 10000ms));
    std::vector<Seen> gets = plivo_.seen("GET");
    ASSERT_EQ(gets.size(), 2u);
    for (Seen& get : gets) EXPECT_EQ(get.params.count("to_number"), 0u);
    EXPECT_EQ(gets[0].params["message_direction"], "outbound");
    EXPECT_EQ(gets[1].params["offset"], "20");  // meta.next, as Plivo wrote it
    EXPECT_EQ(gets[0].params["message_time__gte"], format_plivo_time(since - 10s));
    EXPECT_EQ(gets[0].params["message_time__lte"],
              format_plivo_time(std::chrono::ceil<std::chrono::seconds>(since + 9s + 3s + 10s)));
    for (int i = 0; i < 30; ++i) {
        const RowUpdate& u = update("m" + std::to_string(i));
        std::string to = "1415555" + std::to_string(1000 + i);
        if (i % 3 == 0) {
            EXPECT_EQ(u.status, "retrying") << i;  // not listed: due again
            EXPECT_FALSE(u.plivo_message_uuid) << i;
        } else {
            EXPECT_EQ(u.status, "sent") << i;
            EXPECT_EQ(u.plivo_message_uuid, "u-" + to) << i;
        }
        EXPECT_TRUE(u.clear_unsettled) << i;
    }
    EXPECT_EQ(plivo_.posts(), 0u);
}

TEST_F(DispatchEngineTest, ListRequestsKeepToTheirOwnBucket) {
    auto since = SystemClock::now() - 10s;
    plivo_.on_get([since](const httplib::Request& q, httplib::Response& r) {
        int offset = std::stoi(q.get_param_value("offset"));
        r.set_content(FakePlivo::list_body({listed("x" + std::to_string(offset), since, "14155550999")},
                                           offset < 60, offset),
                      "application/json");
    });
    EngineConfig c = config();
    c.list_requests_per_minute = 120;  // one every 500 ms, whatever the account allows
    engine(c);
    add_unsettled({unsettled_message("m1", since)});
    ASSERT_TRUE(run_until_updated(1, 10000ms));
    std::vector<Seen> gets = plivo_.seen("GET");
    ASSERT_EQ(gets.size(), 4u);
    for (std::size_t i = 1; i < gets.size(); ++i)
        EXPECT_GE(gets[i].at - gets[i - 1].at, 450ms) << i;
}

TEST_F(DispatchEngineTest, ListRateLimitSlowsSettlingNeverSending) {
    auto since = SystemClock::now() - 10s;
    std::atomic<int> lists{0};
    plivo_.on_get([since, &lists](const httplib::Request&, httplib::Response& r) {
        if (lists++ == 0) {
            r.status = 429;
            r.set_header("Retry-After", "2");
            r.set_content(R"({"error":"too many requests"})", "application/json");
            return;
        }
        r.set_content(FakePlivo::list_body({listed("found-1", since + 1s)}, false), "application/json");
    });
    engine(config());
    add_unsettled({unsettled_message("m1", since)});
    ASSERT_TRUE(run_until([&] { return lists.load() == 1; }));
    // Right after the list's 429, ten sends go out: the account is not slowed down.
    for (int i = 0; i < 10; ++i)
        queue_.push_back(message("s" + std::to_string(i), kSender, "+1415555200" + std::to_string(i)));
    ASSERT_TRUE(run_until_updated(11, 10000ms));
    EXPECT_EQ(update("m1").plivo_message_uuid, "found-1");
    std::vector<Seen> gets = plivo_.seen("GET");
    std::vector<Seen> posts = plivo_.seen("POST");
    ASSERT_EQ(gets.size(), 2u);
    ASSERT_EQ(posts.size(), 10u);
    for (const Seen& post : posts) EXPECT_LT(post.at, gets[1].at);  // all before the list's retry
    EXPECT_GE(gets[1].at - gets[0].at, 1900ms);                      // Retry-After honoured
    EXPECT_EQ(engine_->settle_progress().list_rate_limited, 1u);
}

TEST_F(DispatchEngineTest, SettleListFailureKeepsTheMessageUnsettledAndTriesAgain) {
    auto since = SystemClock::now() - 10s;
    std::atomic<int> lists{0};
    plivo_.on_get([since, &lists](const httplib::Request&, httplib::Response& r) {
        if (lists++ == 0) {
            r.status = 500;
            r.set_content(R"({"error":"list broken"})", "application/json");
            return;
        }
        r.set_content(FakePlivo::list_body({listed("found-1", since + 1s)}, false), "application/json");
    });
    engine(config());
    add_unsettled({unsettled_message("m1", since)});
    ASSERT_TRUE(run_until([&] { return lists.load() == 1; }));
    run_until([] { return false; }, 300ms);
    EXPECT_TRUE(updates_.empty());  // the row is left as it is: unsettled, never resent
    EXPECT_NE(engine_->settle_progress().last_error.find("list broken"), std::string::npos);
    EXPECT_EQ(engine_->settle_progress().failures, 1u);
    ASSERT_TRUE(run_until_updated(1, 10000ms));
    EXPECT_EQ(engine_->settle_progress().failures, 1u);  // the retry succeeded
    EXPECT_EQ(update("m1").plivo_message_uuid, "found-1");
    EXPECT_EQ(plivo_.posts(), 0u);
}

TEST_F(DispatchEngineTest, KnownUuidIsLookedUpInsteadOfListed) {
    plivo_.on_get([](const httplib::Request& q, httplib::Response& r) {
        if (q.path == std::string(kPath) + "named-1/") {
            r.set_content(listed("named-1", SystemClock::now() - 5s).dump(), "application/json");
        } else {
            r.set_content(FakePlivo::list_body({}, false), "application/json");
        }
    });
    engine(config());
    UnsettledMessage m = unsettled_message("m1", SystemClock::now() - 10s);
    m.known_uuid = "named-1";
    add_unsettled({m});
    ASSERT_TRUE(run_until_updated(1));
    std::vector<Seen> gets = plivo_.seen("GET");
    ASSERT_EQ(gets.size(), 1u);
    EXPECT_EQ(gets[0].params.count("to_number"), 0u);  // no list request
    EXPECT_EQ(update("m1").status, "sent");
    EXPECT_EQ(update("m1").plivo_message_uuid, "named-1");
    EXPECT_TRUE(update("m1").clear_unsettled);
}

TEST_F(DispatchEngineTest, KnownUuidPlivoDoesNotKnowIsListedNextTime) {
    plivo_.on_get([](const httplib::Request& q, httplib::Response& r) {
        if (q.path != kPath) {
            r.status = 404;
            r.set_content(R"({"error":"not found"})", "application/json");
        } else {
            r.set_content(FakePlivo::list_body({}, false), "application/json");
        }
    });
    engine(config());
    UnsettledMessage m = unsettled_message("m1", SystemClock::now() - 10s);
    m.known_uuid = "gone-1";
    add_unsettled({m});
    ASSERT_TRUE(run_until([&] { return plivo_.gets() == 1 && engine_->in_flight() == 0; }));
    EXPECT_TRUE(updates_.empty());  // not resent on a 404 alone
    engine_->add_unsettled({m}, SteadyClock::now());  // the next backlog brings it again
    ASSERT_TRUE(run_until_updated(1));
    std::vector<Seen> gets = plivo_.seen("GET");
    ASSERT_EQ(gets.size(), 2u);
    EXPECT_EQ(gets[1].params["to_number"], "14155550111");
    EXPECT_EQ(update("m1").status, "retrying");  // listed, not found: due again
}

TEST_F(DispatchEngineTest, AnswerNamingAUuidIsKeptForTheLookup) {
    plivo_.on_post([](const httplib::Request&, httplib::Response& r) {
        r.status = 500;
        r.set_content(R"({"api_id":"x","message_uuid":["half-1"],"error":"internal"})",
                      "application/json");
    });
    engine(config());
    add({message("m1")});
    ASSERT_TRUE(run_until_updated(1));
    const RowUpdate& u = update("m1");
    EXPECT_EQ(u.status, "retrying");
    EXPECT_TRUE(u.unsettled_since);
    EXPECT_TRUE(u.await_settlement);
    EXPECT_EQ(u.plivo_message_uuid, std::optional<std::string>("half-1"));
}

TEST_F(DispatchEngineTest, DecidedMessagesAreNotTakenUpAgainFromTheBacklog) {
    auto since = SystemClock::now() - 10s;
    engine(config());
    add_unsettled({unsettled_message("m1", since)});
    ASSERT_TRUE(run_until_updated(1));
    // The update is not written yet when the next backlog brings the row again.
    EXPECT_GT(engine_->settle_backlog_wanted(SteadyClock::now()), 0u);
    engine_->add_unsettled({unsettled_message("m1", since)}, SteadyClock::now());
    run_until([] { return false; }, 300ms);
    EXPECT_EQ(plivo_.gets(), 1u);
    // Nothing new in it: the engine looks again only after a while.
    EXPECT_EQ(engine_->settle_backlog_wanted(SteadyClock::now()), 0u);
}

TEST_F(DispatchEngineTest, ABurstStraddlingTheCutoffIsListedOnceWhenAllOfItIsThere) {
    // m1 is old enough for the backlog; m2, lost in the same burst 0.1 s later, is not
    // yet. Listing m1's window now would mean listing it again for m2.
    auto since = SystemClock::now() - 10s;
    std::atomic<int> lists{0};
    plivo_.on_get([since, &lists](const httplib::Request&, httplib::Response& r) {
        ++lists;
        r.set_content(FakePlivo::list_body({listed("u-1", since, "14155550100", "14155550111"),
                                            listed("u-2", since + 100ms, "14155550100", "14155550122")},
                                           false),
                      "application/json");
    });
    engine(config());
    claimed_.insert("m1");
    engine_->add_unsettled({unsettled_message("m1", since, "+14155550111")}, SteadyClock::now(),
                           since + 100ms);
    run_until([] { return false; }, 300ms);
    EXPECT_EQ(lists.load(), 0);  // waits for m2
    EXPECT_EQ(engine_->settle_backlog_wanted(SteadyClock::now()), 0u);  // until the next look
    // The next look has both (and nothing too recent): one list for the two.
    claimed_.insert("m2");
    engine_->add_unsettled({unsettled_message("m1", since, "+14155550111"),
                            unsettled_message("m2", since + 100ms, "+14155550122")},
                           SteadyClock::now(), std::nullopt);
    ASSERT_TRUE(run_until_updated(2));
    EXPECT_EQ(lists.load(), 1);
    EXPECT_EQ(update("m1").plivo_message_uuid, "u-1");
    EXPECT_EQ(update("m2").plivo_message_uuid, "u-2");
}

TEST_F(DispatchEngineTest, AnUnsettledMessageFarFromTheBatchDoesNotHoldItBack) {
    auto since = SystemClock::now() - 100s;
    plivo_.on_get([since](const httplib::Request&, httplib::Response& r) {
        r.set_content(FakePlivo::list_body({listed("u-1", since)}, false), "application/json");
    });
    engine(config());  // tolerance 10 s, timeout 3 s: the window ends 13 s after m1
    claimed_.insert("m1");
    engine_->add_unsettled({unsettled_message("m1", since)}, SteadyClock::now(), since + 24s);
    ASSERT_TRUE(run_until_updated(1));
    EXPECT_EQ(update("m1").plivo_message_uuid, "u-1");
}

TEST_F(DispatchEngineTest, SettleWithMoreUnsettledOfThePairThanListedFailsAmbiguous) {
    // After a crash two messages to one number are unsettled and Plivo lists one: it may
    // be either's. Neither may take it and leave the other to resend it.
    auto since = SystemClock::now() - 10s;
    plivo_.on_get([since](const httplib::Request&, httplib::Response& r) {
        r.set_content(FakePlivo::list_body({listed("one-of-two", since + 1s)}, false),
                      "application/json");
    });
    rivals_ = 1;
    ASSERT_TRUE(settle_m1(since));
    ASSERT_EQ(checks_.size(), 1u);
    EXPECT_EQ(checks_[0].sender, kSender);
    EXPECT_EQ(checks_[0].recipient, kRecipient);
    EXPECT_EQ(checks_[0].message_type, "sms");
    const RowUpdate& u = update("m1");
    EXPECT_EQ(u.status, "failed");
    EXPECT_FALSE(u.plivo_message_uuid);
    EXPECT_FALSE(u.clear_unsettled);  // it may have been delivered
    ASSERT_TRUE(u.last_error);
    EXPECT_NE(u.last_error->find("outcome ambiguous: 2 messages"), std::string::npos) << *u.last_error;
    ASSERT_TRUE(u.status_info_json);
    EXPECT_EQ(json::parse(*u.status_info_json),
              json::parse(R"({"settled":"ambiguous","candidates":["one-of-two"],"unsettled_of_this_pair":2})"));
    EXPECT_EQ(plivo_.posts(), 0u);
}

TEST_F(DispatchEngineTest, SettleWithAsManyListedAsUnsettledTakesOne) {
    auto since = SystemClock::now() - 10s;
    plivo_.on_get([since](const httplib::Request&, httplib::Response& r) {
        r.set_content(FakePlivo::list_body({listed("late", since + 3s), listed("early", since + 1s)},
                                           false),
                      "application/json");
    });
    rivals_ = 1;  // both were accepted: each takes one, nothing is resent
    ASSERT_TRUE(settle_m1(since));
    EXPECT_EQ(update("m1").status, "sent");
    EXPECT_EQ(update("m1").plivo_message_uuid, "early");
    EXPECT_EQ(plivo_.posts(), 0u);
}

TEST_F(DispatchEngineTest, CancelledSettleCheckLeavesTheRowUnsettled) {
    auto since = SystemClock::now() - 10s;
    plivo_.on_get([since](const httplib::Request&, httplib::Response& r) {
        r.set_content(FakePlivo::list_body({listed("c-1", since + 1s)}, false), "application/json");
    });
    answer_checks_ = false;
    DispatchEngine& e = engine(config());
    add_unsettled({unsettled_message("m1", since)});
    ASSERT_TRUE(run_until([&] { return checks_.size() == 1; }));
    EXPECT_EQ(e.held(), 0u);  // not a claimed message
    EXPECT_EQ(e.settle_backlog_wanted(SteadyClock::now()), 0u);  // waits for the worker
    e.cancel_settle_check("m1", SteadyClock::now());
    e.resolve_settle_check("m1", SettleAnswer{}, SteadyClock::now());  // too late: ignored
    collect();
    EXPECT_TRUE(updates_.empty());
    claimed_.erase("m1");  // no update is the expected outcome here
    EXPECT_GT(e.settle_backlog_wanted(SteadyClock::now()), 0u);  // ready for the next backlog
    EXPECT_EQ(plivo_.posts(), 0u);
}

// --- rate limits and concurrency --------------------------------------------------------

TEST_F(DispatchEngineTest, SenderRateHoldsOnlyThatSendersMessages) {
    EngineConfig c = config();
    c.limits.sender_rate = 1.0;
    c.limits.sender_burst = 1.0;
    DispatchEngine& e = engine(c);
    add({message("a1", kSender, "+14155550111"), message("a2", kSender, "+14155550112"),
         message("b1", kOtherSender, "+14155550113")});
    EXPECT_EQ(e.in_flight(), 2u);
    EXPECT_EQ(e.held(), 1u);
    EXPECT_EQ(e.claim_capacity(SteadyClock::now()), 1u);  // 4 slots - 2 in flight - 1 held
    ASSERT_TRUE(run_until_updated(3));
    std::map<std::string, SteadyClock::time_point> at;
    for (const Seen& s : plivo_.seen("POST")) at[json::parse(s.body)["dst"].get<std::string>()] = s.at;
    ASSERT_EQ(at.size(), 3u);
    auto a1 = at["14155550111"], a2 = at["14155550112"], b1 = at["14155550113"];
    EXPECT_GE(a2 - a1, 900ms);
    EXPECT_LE(a2 - a1, 1300ms);
    EXPECT_LE(b1 - a1, 200ms);  // the other sender is not queued behind them
    for (const char* id : {"a1", "a2", "b1"}) EXPECT_EQ(update(id).status, "sent");
}

TEST_F(DispatchEngineTest, MessageHeldTooLongGoesBackToTheQueue) {
    EngineConfig c = config();
    c.limits.sender_rate = 0.1;  // a token every 10 s
    c.limits.sender_burst = 1.0;
    c.max_hold = 200ms;
    DispatchEngine& e = engine(c);
    auto start = SystemClock::now();
    add({message("a1", kSender, "+14155550111"), message("a2", kSender, "+14155550112")});
    EXPECT_EQ(e.held(), 1u);
    ASSERT_TRUE(run_until_updated(1));
    auto wake = e.next_wakeup(SteadyClock::now());
    ASSERT_TRUE(wake.has_value());
    EXPECT_GT(*wake, 0ms);
    EXPECT_LE(*wake, 200ms);  // the hold limit comes long before the token
    ASSERT_TRUE(run_until_updated(2));
    const RowUpdate& u = update("a2");
    EXPECT_EQ(u.status, "retrying");
    ASSERT_TRUE(u.next_attempt_at);
    EXPECT_GE(*u.next_attempt_at, start + 9s);  // when the sender's next token comes
    EXPECT_LE(*u.next_attempt_at, SystemClock::now() + 10s);
    EXPECT_EQ(u.last_error, "waiting for sender rate limit");
    EXPECT_FALSE(u.clear_unsettled);
    EXPECT_EQ(update("a1").status, "sent");
    EXPECT_EQ(plivo_.posts(), 1u);
    EXPECT_FALSE(e.next_wakeup(SteadyClock::now()).has_value());
}

TEST_F(DispatchEngineTest, ClaimCapacityIsCappedByAccountTokens) {
    EngineConfig c = config();
    c.limits.account_rate = 0.5;
    c.limits.account_burst = 3;
    DispatchEngine& e = engine(c);
    EXPECT_EQ(e.claim_capacity(SteadyClock::now()), 3u);  // 4 slots, 3 tokens
    add({message("m1")});
    EXPECT_EQ(e.claim_capacity(SteadyClock::now()), 2u);
    ASSERT_TRUE(run_until_updated(1));
}

TEST_F(DispatchEngineTest, InFlightLimitWithoutHeadOfLineBlocking) {
    plivo_.on_post([](const httplib::Request& q, httplib::Response& r) {
        std::string dst = json::parse(q.body)["dst"];
        if (dst == "14155550199") std::this_thread::sleep_for(1200ms);
        r.status = 202;
        r.set_content(json{{"api_id", "a"}, {"message", "q"}, {"message_uuid", json::array({"u-" + dst})}}.dump(),
                      "application/json");
    });
    EngineConfig c = config();
    c.http.max_in_flight = 2;
    engine(c);
    queue_.push_back(message("slow", kSender, "+14155550199"));
    for (int i = 0; i < 6; ++i)
        queue_.push_back(message("fast" + std::to_string(i), kSender, "+1415555012" + std::to_string(i)));
    ASSERT_TRUE(run_until_updated(7));
    EXPECT_LE(plivo_.max_concurrent(), 2);
    EXPECT_LE(max_engine_in_flight_, 2u);
    ASSERT_EQ(order_.size(), 7u);
    EXPECT_EQ(order_.back(), "slow");  // the six fast ones went by it through the other slot
}

TEST_F(DispatchEngineTest, ClaimAheadWaitsBehindTheWireAndNeverExceedsMaxInFlight) {
    accept_posts([] { std::this_thread::sleep_for(200ms); });
    EngineConfig c = config();
    c.http.max_in_flight = 2;
    c.claim_ahead = 2;
    DispatchEngine& e = engine(c);
    EXPECT_EQ(e.claim_capacity(SteadyClock::now()), 4u);  // 2 slots and 2 ahead
    add({message("m1", kSender, "+14155550111"), message("m2", kSender, "+14155550112"),
         message("m3", kSender, "+14155550113"), message("m4", kSender, "+14155550114")});
    EXPECT_EQ(e.in_flight(), 2u);
    EXPECT_EQ(e.held(), 2u);
    EXPECT_EQ(e.claim_capacity(SteadyClock::now()), 0u);
    for (int i = 5; i <= 8; ++i)
        queue_.push_back(message("m" + std::to_string(i), kSender, "+1415555011" + std::to_string(i)));
    ASSERT_TRUE(run_until_updated(8));
    EXPECT_LE(plivo_.max_concurrent(), 2);
    EXPECT_LE(max_engine_in_flight_, 2u);
    EXPECT_EQ(plivo_.posts(), 8u);
    for (int i = 1; i <= 8; ++i) EXPECT_EQ(update("m" + std::to_string(i)).status, "sent");
}

TEST_F(DispatchEngineTest, ClaimAheadGrowsWhileAnswersAreQuickAndFallsBackWhenTheySlowDown) {
    std::atomic<int> delay_ms{0};
    accept_posts([&delay_ms] { std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms.load())); });
    EngineConfig c = config();
    c.http.max_in_flight = 1;
    c.claim_ahead = 1;
    c.claim_ahead_max = 16;
    // A window of a second: an answer on loopback (a few ms, tens under sanitizers on a
    // busy machine) is quick, one of 1.5 s is not, whatever the machine's speed.
    c.claim_ahead_window = 1000ms;
    DispatchEngine& e = engine(c);
    EXPECT_EQ(e.claim_window(), 2u);  // no answer yet: the one slot and claim_ahead
    EXPECT_EQ(e.claim_capacity(SteadyClock::now()), 2u);
    queue_.push_back(message("m1", kSender, "+14155550111"));
    ASSERT_TRUE(run_until_updated(1));
    // A quick answer: a second holds more than 16 of them.
    EXPECT_EQ(e.claim_window(), 17u);
    EXPECT_EQ(e.claim_capacity(SteadyClock::now()), 17u);
    // Answers that take 1.5 s: after two the window is back to the slot and claim_ahead.
    delay_ms = 1500;
    queue_.push_back(message("m2", kSender, "+14155550112"));
    queue_.push_back(message("m3", kSender, "+14155550113"));
    ASSERT_TRUE(run_until_updated(3, 10000ms));
    EXPECT_EQ(e.claim_window(), 2u);
    EXPECT_LE(plivo_.max_concurrent(), 1);
    for (const char* id : {"m1", "m2", "m3"}) EXPECT_EQ(update(id).status, "sent");
}

TEST_F(DispatchEngineTest, MessageHeldBehindABusySlotStillGoesBackAfterMaxHold) {
    accept_posts_when_released();
    EngineConfig c = config();
    c.http.max_in_flight = 1;
    c.claim_ahead = 1;
    c.max_hold = 300ms;
    DispatchEngine& e = engine(c);
    auto start = SteadyClock::now();  // before add(): the hold starts there
    add({message("m1", kSender, "+14155550111"), message("m2", kSender, "+14155550112")});
    ASSERT_TRUE(run_until_updated(1));  // m2, while m1 holds the only slot
    EXPECT_GE(SteadyClock::now() - start, 300ms);
    const RowUpdate& u = update("m2");
    EXPECT_EQ(u.status, "retrying");
    EXPECT_TRUE(u.not_attempted);
    EXPECT_EQ(u.last_error, "waiting for a free request slot");
    EXPECT_EQ(e.in_flight(), 1u);
    release_ = true;
    ASSERT_TRUE(run_until_updated(2));
    EXPECT_EQ(update("m1").status, "sent");
    EXPECT_EQ(plivo_.posts(), 1u);
}

TEST_F(DispatchEngineTest, ReleaseHeldGivesBackOnlyWhatIsNotOnTheWire) {
    accept_posts_when_released();
    EngineConfig c = config();
    c.http.max_in_flight = 1;
    c.claim_ahead = 2;
    DispatchEngine& e = engine(c);
    auto before = SystemClock::now();
    add({message("m1", kSender, "+14155550111"), message("m2", kSender, "+14155550112"),
         message("m3", kSender, "+14155550113")});
    ASSERT_TRUE(run_until([&] { return plivo_.posts() == 1; }));
    EXPECT_EQ(e.held(), 2u);
    e.release_held("sending paused (plivo.paused)");
    EXPECT_EQ(e.held(), 0u);
    EXPECT_EQ(e.in_flight(), 1u);
    collect();
    for (const char* id : {"m2", "m3"}) {
        const RowUpdate& u = update(id);
        EXPECT_EQ(u.status, "retrying");
        EXPECT_TRUE(u.not_attempted);  // the claim's attempt does not count
        EXPECT_EQ(u.last_error, "sending paused (plivo.paused)");
        ASSERT_TRUE(u.next_attempt_at);
        EXPECT_GE(*u.next_attempt_at, before);  // due at once
        EXPECT_LE(*u.next_attempt_at, SystemClock::now());
        EXPECT_FALSE(u.plivo_message_uuid);
    }
    release_ = true;
    ASSERT_TRUE(run_until_updated(3));
    EXPECT_EQ(update("m1").status, "sent");
    EXPECT_EQ(plivo_.posts(), 1u);
}

TEST_F(DispatchEngineTest, ConfigureWhileInFlightAppliesToNewRequests) {
    accept_posts_when_released();
    DispatchEngine& e = engine(config());
    add({message("m1")});
    ASSERT_TRUE(run_until([&] { return plivo_.posts() == 1; }));
    EngineConfig next = config();
    next.account.auth_token = "tok_NEW_0123456789";
    next.http.max_in_flight = 1;
    e.configure(next);
    EXPECT_EQ(e.claim_capacity(SteadyClock::now()), 0u);  // the one slot is taken
    release_ = true;
    ASSERT_TRUE(run_until_updated(1));
    EXPECT_EQ(update("m1").status, "sent");
    EXPECT_EQ(e.claim_capacity(SteadyClock::now()), 1u);
    add({message("m2", kSender, "+14155550112")});
    ASSERT_TRUE(run_until_updated(2));
    std::vector<Seen> posts = plivo_.seen("POST");
    ASSERT_EQ(posts.size(), 2u);
    EXPECT_EQ(posts[0].authorization, "Basic " + base64(std::string(kAuthId) + ":" + kToken));
    EXPECT_EQ(posts[1].authorization, "Basic " + base64(std::string(kAuthId) + ":tok_NEW_0123456789"));
    EXPECT_EQ(row_updates_json({update("m2")}).find("tok_NEW"), std::string::npos);
}

TEST_F(DispatchEngineTest, AbortAllWithAPostInFlight) {
    plivo_.on_post([this](const httplib::Request&, httplib::Response& r) {
        for (int i = 0; i < 600 && !release_; ++i) std::this_thread::sleep_for(5ms);
        r.status = 202;
        r.set_content(R"({"api_id":"a","message":"q","message_uuid":["late"]})", "application/json");
    });
    EngineConfig c = config();
    c.limits.sender_rate = 0.1;
    c.limits.sender_burst = 1.0;
    DispatchEngine& e = engine(c);
    ClaimedMessage held = message("held", kSender, "+14155550112");  // same sender: held
    auto before = SystemClock::now();
    add({message("flying"), held});
    ASSERT_TRUE(run_until([&] { return plivo_.posts() == 1; }));
    EXPECT_EQ(e.in_flight(), 1u);
    EXPECT_EQ(e.held(), 1u);
    e.abort_all();
    auto after = SystemClock::now();
    release_ = true;
    collect();
    EXPECT_EQ(e.in_flight(), 0u);
    EXPECT_EQ(e.held(), 0u);
    const RowUpdate& flying = update("flying");
    EXPECT_EQ(flying.status, "retrying");
    ASSERT_TRUE(flying.unsettled_since);
    EXPECT_GE(*flying.unsettled_since, before);
    EXPECT_LE(*flying.unsettled_since, after);
    EXPECT_TRUE(flying.await_settlement);  // settled from the backlog before any resend
    EXPECT_FALSE(flying.clear_unsettled);
    const RowUpdate& h = update("held");
    EXPECT_EQ(h.status, "retrying");
    EXPECT_FALSE(h.unsettled_since);
    EXPECT_FALSE(h.clear_unsettled);
    ASSERT_TRUE(h.next_attempt_at);
    EXPECT_LE(*h.next_attempt_at, after);
}

TEST_F(DispatchEngineTest, NextWakeupSaysWhenTheEngineNeedsTheWorker) {
    EngineConfig c = config();
    c.limits.sender_rate = 2.0;  // a token every 500 ms
    c.limits.sender_burst = 1.0;
    DispatchEngine& e = engine(c);
    EXPECT_FALSE(e.next_wakeup(SteadyClock::now()).has_value());  // nothing to do
    add({message("a1", kSender, "+14155550111"), message("a2", kSender, "+14155550112")});
    EXPECT_EQ(e.next_wakeup(SteadyClock::now()), 0ms);  // a request is on the wire
    ASSERT_TRUE(run_until_updated(1));                  // a1 answered; a2 waits for a token
    auto wake = e.next_wakeup(SteadyClock::now());
    ASSERT_TRUE(wake.has_value());
    EXPECT_GT(*wake, 100ms);
    EXPECT_LE(*wake, 500ms);
    // Driven without taking updates (the way the worker sleeps when nothing is on the
    // wire): next_wakeup() itself starts a2 when its token comes.
    auto deadline = SteadyClock::now() + 3s;
    while (e.held() + e.in_flight() > 0 && SteadyClock::now() < deadline) {
        if (e.in_flight() > 0) {
            e.perform(20ms);
        } else {
            auto next = e.next_wakeup(SteadyClock::now());
            std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(next.value_or(20ms), 20ms));
        }
    }
    EXPECT_EQ(e.next_wakeup(SteadyClock::now()), 0ms);  // a2's update waits to be taken
    collect();
    EXPECT_EQ(update("a2").status, "sent");
    EXPECT_FALSE(e.next_wakeup(SteadyClock::now()).has_value());
}

TEST_F(DispatchEngineTest, SettlingWaitingForAnAccountTokenWakesWhenItComes) {
    // The worker no longer sleeps at least 10 ms between idle rounds when the engine
    // names a time: a lookup due now but without its account token must not say zero.
    plivo_.on_get([](const httplib::Request&, httplib::Response& r) {
        r.set_content(listed("named-1", SystemClock::now() - 5s).dump(), "application/json");
    });
    accept_posts([] {});
    EngineConfig c = config();
    c.limits.account_rate = 1.0;
    c.limits.account_burst = 1.0;
    DispatchEngine& e = engine(c);
    add({message("m0")});
    ASSERT_TRUE(run_until_updated(1));  // the account's one token went to m0
    UnsettledMessage m = unsettled_message("m1", SystemClock::now() - 10s);
    m.known_uuid = "named-1";
    add_unsettled({m});
    EXPECT_EQ(e.in_flight(), 0u);
    auto wake = e.next_wakeup(SteadyClock::now());
    ASSERT_TRUE(wake.has_value());
    EXPECT_GT(*wake, 500ms);  // m0's token came at most a few ms ago; the next in ~1 s
    EXPECT_LE(*wake, 1001ms);
    ASSERT_TRUE(run_until_updated(2, 3000ms));
    EXPECT_EQ(update("m1").plivo_message_uuid, "named-1");
}
// --- JSON for the worker and the limiter additions -----------------------------------

TEST(DispatchEngineJson, RowUpdatesJsonExactText) {
    const auto t = SystemClock::from_time_t(1714564800);  // 2024-05-01 12:00:00 UTC
    RowUpdate full;
    full.id = "6f1c0f5e-2b7a-4c39-9d7e-0a1b2c3d4e5f";
    full.status = "retrying";
    full.plivo_message_uuid = "u-1";
    full.status_info_json = R"({"b":[1,2],"a":"x"})";
    full.error_code = "http_500";
    full.last_error = "boom \"quoted\"\n";
    full.last_http_status = 500;
    full.next_attempt_at = t + std::chrono::microseconds(123456);
    full.unsettled_since = t - 1s + std::chrono::microseconds(5);
    full.clear_unsettled = false;
    full.not_attempted = true;
    RowUpdate bare;
    bare.id = "x";
    bare.status = "sent";
    bare.status_info_json = "plain text";
    bare.clear_last_error = true;
    bare.clear_unsettled = true;
    EXPECT_EQ(row_updates_json({full, bare}),
              R"([{"clear_last_error":false,"clear_unsettled":false,"error_code":"http_500",)"
              R"("id":"6f1c0f5e-2b7a-4c39-9d7e-0a1b2c3d4e5f","last_error":"boom \"quoted\"\n",)"
              R"("last_http_status":500,"next_attempt_at":"2024-05-01T12:00:00.123456Z",)"
              R"("not_attempted":true,"plivo_message_uuid":"u-1","plivo_status_info":{"b":[1,2],"a":"x"},)"
              R"("status":"retrying","unsettled_since":"2024-05-01T11:59:59.000005Z"},)"
              R"({"clear_last_error":true,"clear_unsettled":true,"error_code":null,"id":"x",)"
              R"("last_error":null,"last_http_status":null,"next_attempt_at":null,)"
              R"("not_attempted":false,"plivo_message_uuid":null,"plivo_status_info":{"text":"plain text"},)"
              R"("status":"sent","unsettled_since":null}])");
    EXPECT_EQ(row_updates_json({}), "[]");
}

// Whatever the texts hold, the result parses, and a status info that is not a JSON
// object arrives as {"text": ...}.
TEST(DispatchEngineJson, RowUpdatesJsonStaysValidForAnyText) {
    std::vector<RowUpdate> updates;
    for (const char* info : {"[1,2]", "{\"a\":", "  {\"ok\": true}", "", "{\"x\":\"\xff\"}"}) {
        RowUpdate u;
        u.id = "id";
        u.status = "failed";
        u.status_info_json = info;
        u.last_error = std::string("bad \xc3\x28 utf-8, \"quote\", tab\t, nul ") + '\0';
        updates.push_back(u);
    }
    nlohmann::json rows = nlohmann::json::parse(row_updates_json(updates));
    ASSERT_EQ(rows.size(), 5u);
    EXPECT_EQ(rows[0]["plivo_status_info"], nlohmann::json({{"text", "[1,2]"}}));
    EXPECT_EQ(rows[1]["plivo_status_info"], nlohmann::json({{"text", "{\"a\":"}}));
    EXPECT_EQ(rows[2]["plivo_status_info"], nlohmann::json({{"ok", true}}));
    EXPECT_EQ(rows[3]["plivo_status_info"], nlohmann::json({{"text", ""}}));
    EXPECT_TRUE(rows[4]["plivo_status_info"].contains("text"));  // invalid UTF-8 inside
    EXPECT_EQ(rows[0]["last_error"].get<std::string>().substr(0, 4), "bad ");
    EXPECT_NE(rows[0]["last_error"].get<std::string>().find("\"quote\", tab\t"), std::string::npos);
}

TEST(DispatchEngineRateLimiter, AccountOnlyAcquireLeavesSenderTokens) {
    using Clock = RateLimiter::Clock;
    const Clock::time_point t0 = Clock::time_point(1000h);
    RateLimits limits;
    limits.account_rate = 1.0;
    limits.account_burst = 2.0;
    limits.sender_rate = 1.0;
    limits.sender_burst = 1.0;
    RateLimiter limiter(limits, t0);
    EXPECT_EQ(limiter.account_tokens(t0), 2.0);
    EXPECT_TRUE(limiter.try_acquire_account(t0));
    EXPECT_EQ(limiter.account_tokens(t0), 1.0);
    EXPECT_EQ(limiter.account_tokens(t0 + 500ms), 1.0);  // whole tokens only
    // The sender's own token is untouched by the account-only request.
    EXPECT_TRUE(limiter.try_acquire(kSender, t0));
    EXPECT_FALSE(limiter.try_acquire_account(t0));  // the account is empty now
    EXPECT_EQ(limiter.account_tokens(t0), 0.0);
    EXPECT_TRUE(limiter.try_acquire_account(t0 + 1s));
}

TEST(DispatchEngineRateLimiter, PausedAccountHasNoTokens) {
    using Clock = RateLimiter::Clock;
    const Clock::time_point t0 = Clock::time_point(1000h);
    RateLimits limits;
    limits.account_rate = 10.0;
    limits.account_burst = 10.0;
    RateLimiter limiter(limits, t0);
    limiter.on_rate_limited(t0, std::chrono::seconds(3));
    EXPECT_EQ(limiter.account_tokens(t0 + 2s), 0.0);
    EXPECT_FALSE(limiter.try_acquire_account(t0 + 2s));
    EXPECT_GT(limiter.account_tokens(t0 + 3s), 0.0);
    EXPECT_TRUE(limiter.try_acquire_account(t0 + 3s));
}

}  // namespace
}  // namespace plivo
