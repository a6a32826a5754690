// The MMS media pre-flight over the network: the libcurl driver and MediaChecker
// against a media server on loopback, then the DispatchEngine with a fake Plivo.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../httplib_debian.hpp"

#include "dispatch_engine.hpp"
#include "media_check.hpp"

namespace plivo {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

const char kAuthId[] = "MAMEDIATEST000000001";
const char kPlivoPath[] = "/v1/Account/MAMEDIATEST000000001/Message/";

// Media and a Plivo that accepts every POST, on one loopback server; counts requests by
// "METHOD path".
class Server {
public:
    Server() {
        server_.new_task_queue = [] { return new httplib::ThreadPool(16); };
        const std::string jpeg(1234, 'j');
        const std::string big(3000000, 'b');
        media("/a.jpg", [jpeg](const httplib::Request&, httplib::Response& r) {
            r.set_content(jpeg, "image/jpeg");
        });
        media("/big.jpg", [big](const httplib::Request&, httplib::Response& r) {
            r.set_content(big, "image/jpeg");
        });
        media("/no-head.png", [jpeg](const httplib::Request& q, httplib::Response& r) {
            if (q.method == "HEAD") {
                r.status = 405;
                return;
            }
            r.set_content(jpeg, "image/png");
        });
        media("/slow.jpg", [this, jpeg](const httplib::Request&, httplib::Response& r) {
            std::this_thread::sleep_for(slow_for_);
            r.set_content(jpeg, "image/jpeg");
        });
        // /hop/N redirects to /hop/N-1; /hop/0 is the picture.
        server_.Get(R"(/hop/(\d+))", [this, jpeg](const httplib::Request& q, httplib::Response& r) {
            count(q);
            int n = std::stoi(q.matches[1]);
            if (n == 0) {
                r.set_content(jpeg, "image/jpeg");
            } else {
                r.set_redirect("/hop/" + std::to_string(n - 1));
            }
        });
        server_.Post(kPlivoPath, [this](const httplib::Request& q, httplib::Response& r) {
            count(q);
            r.status = 202;
            r.set_content(R"({"api_id":"a","message":"message(s) queued","message_uuid":["u-)" +
                              std::to_string(++uuids_) + "\"]}",
                          "application/json");
        });
        port_ = server_.bind_to_any_port("127.0.0.1");
        if (port_ <= 0) throw std::runtime_error("bind_to_any_port failed");
        thread_ = std::thread([this] { server_.listen_after_bind(); });
        for (int i = 0; i < 500 && !server_.is_running(); ++i) std::this_thread::sleep_for(2ms);
    }
    ~Server() {
        server_.stop();
        thread_.join();
    }

    std::string url(const std::string& path = "") const {
        return "http://127.0.0.1:" + std::to_string(port_) + path;
    }
    int seen(const std::string& method_and_path) {
        std::lock_guard<std::mutex> lock(mutex_);
        return seen_[method_and_path];
    }
    int total_seen() {
        std::lock_guard<std::mutex> lock(mutex_);
        int n = 0;
        for (const auto& entry : seen_) n += entry.second;
        return n;
    }
    int posts() { return seen(std::string("POST ") + kPlivoPath); }
    std::chrono::milliseconds slow_for_{1500};

private:
    void media(const std::string& path, httplib::Server::Handler handler) {
        server_.Get(path, [this, handler](const httplib::Request& q, httplib::Response& r) {
            count(q);
            handler(q, r);
        });
    }
    void count(const httplib::Request& q) {
        std::lock_guard<std::mutex> lock(mutex_);
        ++seen_[q.method + " " + q.path];
    }

    httplib::Server server_;
    int port_ = 0;
    std::thread thread_;
    std::mutex mutex_;
    std::map<std::string, int> seen_;
    std::atomic<int> uuids_{0};
};

class MediaCheckNetworkTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() { ASSERT_EQ(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK); }
    static void TearDownTestSuite() { curl_global_cleanup(); }

    MediaCheckConfig media_config() {
        MediaCheckConfig c;
        c.allow_private_addresses = true;  // the server is on 127.0.0.1
        c.timeout = 3000ms;
        return c;
    }

    // One message with `urls` through a MediaChecker and a real driver, as the engine
    // drives them: its outcome, with the requests made counted by the checker.
    MediaChecker::Outcome check(MediaChecker& checker, const std::vector<std::string>& urls) {
        HttpDriver driver(HttpDriverConfig{});
        auto outcome = checker.add(1, urls, SteadyClock::now());
        std::map<std::uint64_t, MediaChecker::Probe> wire;
        std::uint64_t next_id = 1;
        auto deadline = SteadyClock::now() + 10s;
        while (!outcome && SteadyClock::now() < deadline) {
            while (driver.has_capacity()) {
                auto probe = checker.next_probe();
                if (!probe) break;
                driver.start(next_id, build_media_request(probe->url, probe->kind, checker.config(),
                                                          "test"));
                wire.emplace(next_id++, *probe);
            }
            for (const HttpResult& result : driver.perform(50ms)) {
                MediaChecker::Probe probe = wire.at(result.id);
                wire.erase(result.id);
                for (auto& o : checker.on_answer(probe, result, SteadyClock::now())) outcome = o;
            }
        }
        EXPECT_TRUE(outcome) << "no outcome within 10 s";
        return outcome.value_or(MediaChecker::Outcome{1, std::string("none")});
    }

    Server server_;
};

TEST_F(MediaCheckNetworkTest, HeadAnsweredGivesTheVerdict) {
    MediaChecker checker(media_config());
    EXPECT_EQ(check(checker, {server_.url("/a.jpg")}).failure, std::nullopt);
    EXPECT_EQ(server_.seen("HEAD /a.jpg"), 1);
    EXPECT_EQ(server_.seen("GET /a.jpg"), 0);
    EXPECT_EQ(checker.heads_started(), 1u);
}

TEST_F(MediaCheckNetworkTest, RefusedHeadIsFollowedByOneRangedGet) {
    MediaChecker checker(media_config());
    EXPECT_EQ(check(checker, {server_.url("/no-head.png")}).failure, std::nullopt);
    EXPECT_EQ(server_.seen("HEAD /no-head.png"), 1);
    EXPECT_EQ(server_.seen("GET /no-head.png"), 1);
    EXPECT_EQ(checker.gets_started(), 1u);
}

TEST_F(MediaCheckNetworkTest, TooLargeFileFailsOnItsContentLength) {
    MediaChecker checker(media_config());
    EXPECT_EQ(check(checker, {server_.url("/a.jpg"), server_.url("/big.jpg")}).failure,
              "media check: media_urls[2] is 3.0 MB (3,000,000 bytes); Plivo accepts at most "
              "2 MB per file");
}

TEST_F(MediaCheckNetworkTest, MissingFileFails) {
    MediaChecker checker(media_config());
    EXPECT_EQ(check(checker, {server_.url("/nothing-here.jpg")}).failure,
              "media check: media_urls[1] answered 404");
}

TEST_F(MediaCheckNetworkTest, SlowServerBeyondTheTimeoutDidNotAnswer) {
    MediaCheckConfig config = media_config();
    config.timeout = 300ms;
    MediaChecker checker(config);
    auto started = SteadyClock::now();
    std::optional<std::string> failure = check(checker, {server_.url("/slow.jpg")}).failure;
    ASSERT_TRUE(failure);
    EXPECT_EQ(failure->rfind("media check: media_urls[1] did not answer: ", 0), 0u) << *failure;
    EXPECT_LT(SteadyClock::now() - started, 1200ms);
}

TEST_F(MediaCheckNetworkTest, RedirectsAreFollowedUpToTheLimit) {
    MediaChecker checker(media_config());
    EXPECT_EQ(check(checker, {server_.url("/hop/3")}).failure, std::nullopt);
    std::optional<std::string> failure = check(checker, {server_.url("/hop/4")}).failure;
    ASSERT_TRUE(failure);
    EXPECT_EQ(failure->rfind("media check: media_urls[1] was redirected too many times", 0), 0u)
        << *failure;
}

TEST_F(MediaCheckNetworkTest, LoopbackIsRefusedBeforeAnyRequestUnlessAllowed) {
    MediaCheckConfig config = media_config();
    config.allow_private_addresses = false;
    MediaChecker refusing(config);
    EXPECT_EQ(check(refusing, {server_.url("/a.jpg")}).failure,
              "media check: media_urls[1] resolves to a private address (127.0.0.1, loopback); "
              "Plivo cannot fetch it");
    EXPECT_EQ(server_.total_seen(), 0);  // refused after connecting, before the request
    MediaChecker allowing(media_config());
    EXPECT_EQ(check(allowing, {server_.url("/a.jpg")}).failure, std::nullopt);
}

// --- through the DispatchEngine -----------------------------------------------------

class MediaEngineTest : public MediaCheckNetworkTest {
protected:
    EngineConfig config() {
        EngineConfig c;
        c.account = PlivoAccount{server_.url(), kAuthId, "tok_media_secret", "test"};
        c.http.max_in_flight = 4;
        c.http.connect_timeout = 1000ms;
        c.http.request_timeout = 3000ms;
        c.limits.account_rate = 1000;
        c.limits.account_burst = 1000;
        c.random = [] { return 0.5; };
        c.media = media_config();
        return c;
    }

    static ClaimedMessage mms(const std::string& id, const std::vector<std::string>& urls) {
        ClaimedMessage m = sms(id);
        m.params.type = MessageType::Mms;
        m.params.media_urls = urls;
        return m;
    }
    static ClaimedMessage sms(const std::string& id) {
        ClaimedMessage m;
        m.id = id;
        m.params.sender = "+14155550100";
        m.params.recipient = "+1415555" + std::to_string(1000 + std::stoi(id.substr(1)));
        m.params.text = "Hi";
        return m;
    }

    // The worker loop: claims from queue_ as the engine allows, until `n` updates came.
    bool run_until_updated(std::size_t n, std::chrono::milliseconds timeout = 10000ms) {
        auto deadline = SteadyClock::now() + timeout;
        while (SteadyClock::now() < deadline) {
            std::size_t room = engine_->claim_capacity(SteadyClock::now());
            std::vector<ClaimedMessage> batch;
            while (room-- > 0 && !queue_.empty()) {
                batch.push_back(queue_.front());
                queue_.pop_front();
            }
            if (!batch.empty()) engine_->add_claimed(std::move(batch), SteadyClock::now());
            if (engine_->in_flight() > 0) {
                engine_->perform(20ms);
            } else {
                auto wake = engine_->next_wakeup(SteadyClock::now());
                std::this_thread::sleep_for(
                    std::min<std::chrono::milliseconds>(wake.value_or(20ms), 20ms));
            }
            for (RowUpdate& u : engine_->take_updates()) {
                EXPECT_EQ(updates_.count(u.id), 0u) << "second update for " << u.id;
                updated_at_[u.id] = SteadyClock::now();
                updates_[u.id] = std::move(u);
            }
            if (updates_.size() >= n) return true;
        }
        return false;
    }

    void TearDown() override {
        if (engine_) {
            EXPECT_EQ(engine_->held(), 0u);
            engine_->abort_all();
            EXPECT_TRUE(engine_->take_updates().empty());
        }
    }

    std::unique_ptr<DispatchEngine> engine_;
    std::deque<ClaimedMessage> queue_;
    std::map<std::string, RowUpdate> updates_;
    std::map<std::string, SteadyClock::time_point> updated_at_;
};

TEST_F(MediaEngineTest, HundredMmsWithOneImageMakeOneHeadAndHundredSends) {
    engine_ = std::make_unique<DispatchEngine>(config());
    for (int i = 0; i < 100; ++i)
        queue_.push_back(mms("m" + std::to_string(i), {server_.url("/a.jpg")}));
    ASSERT_TRUE(run_until_updated(100));
    for (const auto& [id, u] : updates_)
        EXPECT_EQ(u.status, "sent") << id << ": " << u.last_error.value_or("");
    EXPECT_EQ(server_.seen("HEAD /a.jpg"), 1);
    EXPECT_EQ(server_.posts(), 100);
    EXPECT_EQ(engine_->media_requests_started().heads, 1u);
    EXPECT_EQ(engine_->media_requests_started().ranged_gets, 0u);
}

TEST_F(MediaEngineTest, TooLargeFileFailsTheMessageWithoutASend) {
    engine_ = std::make_unique<DispatchEngine>(config());
    queue_.push_back(mms("m1", {server_.url("/big.jpg")}));
    ASSERT_TRUE(run_until_updated(1));
    const RowUpdate& u = updates_["m1"];
    EXPECT_EQ(u.status, "failed");
    EXPECT_TRUE(u.not_attempted);
    EXPECT_EQ(u.last_error,
              "media check: media_urls[1] is 3.0 MB (3,000,000 bytes); Plivo accepts "
              "at most 2 MB per file");
    EXPECT_FALSE(u.error_code);
    EXPECT_FALSE(u.plivo_message_uuid);
    EXPECT_EQ(server_.posts(), 0);
}

TEST_F(MediaEngineTest, TextMessagesGoOutWhileAMediaServerIsSlow) {
    EngineConfig c = config();
    c.http.max_in_flight = 1;  // a single send slot: the media check must not take it
    engine_ = std::make_unique<DispatchEngine>(c);
    queue_.push_back(mms("m0", {server_.url("/slow.jpg")}));
    for (int i = 1; i <= 5; ++i) queue_.push_back(sms("m" + std::to_string(i)));
    auto started = SteadyClock::now();
    ASSERT_TRUE(run_until_updated(6));
    for (int i = 1; i <= 5; ++i) {
        const std::string id = "m" + std::to_string(i);
        EXPECT_EQ(updates_[id].status, "sent");
        EXPECT_LT(updated_at_[id] - started, 1000ms) << id << " waited for the slow media server";
    }
    EXPECT_EQ(updates_["m0"].status, "sent");
    EXPECT_GE(updated_at_["m0"] - started, 1400ms);
    EXPECT_EQ(server_.posts(), 6);
}

TEST_F(MediaEngineTest, PrivateAddressFailsTheMessageUnlessAllowed) {
    EngineConfig c = config();
    c.media.allow_private_addresses = false;
    engine_ = std::make_unique<DispatchEngine>(c);
    queue_.push_back(mms("m1", {server_.url("/a.jpg")}));
    ASSERT_TRUE(run_until_updated(1));
    EXPECT_EQ(updates_["m1"].status, "failed");
    EXPECT_EQ(updates_["m1"].last_error,
              "media check: media_urls[1] resolves to a private address (127.0.0.1, loopback); "
              "Plivo cannot fetch it");
    EXPECT_EQ(server_.total_seen(), 0);

    c.media.allow_private_addresses = true;
    engine_->configure(c);
    queue_.push_back(mms("m2", {server_.url("/a.jpg")}));  // its refusal is forgotten
    ASSERT_TRUE(run_until_updated(2));
    EXPECT_EQ(updates_["m2"].status, "sent");
}

TEST_F(MediaEngineTest, OnlyTheFirstAttemptIsChecked) {
    engine_ = std::make_unique<DispatchEngine>(config());
    ClaimedMessage retry = mms("m1", {server_.url("/big.jpg")});
    retry.attempts = 2;
    queue_.push_back(retry);
    ASSERT_TRUE(run_until_updated(1));
    EXPECT_EQ(updates_["m1"].status, "sent");
    EXPECT_EQ(engine_->media_requests_started().heads, 0u);
}

TEST_F(MediaEngineTest, MediaSlowerThanMaxHoldGivesTheMessageBackThenItsVerdictIsCached) {
    EngineConfig c = config();
    c.max_hold = 300ms;
    server_.slow_for_ = 800ms;
    engine_ = std::make_unique<DispatchEngine>(c);
    queue_.push_back(mms("m1", {server_.url("/slow.jpg")}));
    ASSERT_TRUE(run_until_updated(1));
    const RowUpdate& back = updates_["m1"];
    EXPECT_EQ(back.status, "retrying");
    EXPECT_TRUE(back.not_attempted);
    EXPECT_TRUE(back.next_attempt_at);
    EXPECT_EQ(server_.posts(), 0);
    // The probe goes on; once answered, the message claimed again needs no request.
    for (auto until = SteadyClock::now() + 3s;
         engine_->in_flight() > 0 && SteadyClock::now() < until;)
        engine_->perform(20ms);
    updates_.clear();
    queue_.push_back(mms("m1", {server_.url("/slow.jpg")}));
    ASSERT_TRUE(run_until_updated(1));
    EXPECT_EQ(updates_["m1"].status, "sent");
    EXPECT_EQ(engine_->media_requests_started().heads, 1u);
}

TEST_F(MediaEngineTest, StoppingWhileMediaIsCheckedGivesTheMessageBackUnsent) {
    engine_ = std::make_unique<DispatchEngine>(config());
    engine_->add_claimed({mms("m1", {server_.url("/slow.jpg")})}, SteadyClock::now());
    engine_->perform(50ms);
    ASSERT_EQ(engine_->in_flight(), 1u);  // the HEAD
    engine_->abort_all();
    std::vector<RowUpdate> updates = engine_->take_updates();
    ASSERT_EQ(updates.size(), 1u);
    EXPECT_EQ(updates[0].status, "retrying");
    EXPECT_TRUE(updates[0].not_attempted);
    EXPECT_EQ(updates[0].last_error, "not sent (dispatcher stopping)");
    EXPECT_EQ(engine_->in_flight(), 0u);
    EXPECT_EQ(server_.posts(), 0);
}

}  // namespace
}  // namespace plivo
