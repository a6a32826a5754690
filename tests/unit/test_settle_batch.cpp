// Batched settling (dispatcher/settle_batch.hpp): which list pages a batch of unsettled
// messages asks for, when it switches from one time window to a list per recipient,
// and which objects each message is judged on.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "input_error.hpp"
#include "settle_batch.hpp"

namespace plivo {
namespace {

using namespace std::chrono_literals;
using SystemClock = std::chrono::system_clock;

const SystemClock::time_point kT0 = SystemClock::from_time_t(1714564800);  // 2024-05-01 12:00:00

UnsettledMessage unsettled(const std::string& id, const std::string& recipient,
                           std::chrono::seconds after_t0, const std::string& sender = "+14155550100") {
    UnsettledMessage m;
    m.id = id;
    m.guard = "guard-" + id;
    m.sender = sender;
    m.recipient = recipient;
    m.unsettled_since = kT0 + after_t0;
    return m;
}

ListedMessage object(const std::string& uuid, const std::string& to_digits) {
    ListedMessage m;
    m.message_uuid = uuid;
    m.to_number = to_digits;
    m.from_number = "14155550100";
    m.message_direction = "outbound";
    m.message_type = "sms";
    m.message_time = format_plivo_time(kT0 + 1s);
    return m;
}

MessageList page(std::vector<ListedMessage> objects, bool more) {
    MessageList list;
    list.objects = std::move(objects);
    if (more) list.next = "/v1/Account/MA1/Message/?limit=20&offset=20";
    return list;
}

SettleBatchConfig config() {
    SettleBatchConfig c;
    c.clock_tolerance = 10s;
    c.request_timeout = 5s;
    return c;
}

std::set<std::string> ids(const std::vector<SettleBatch::Ready>& ready) {
    std::set<std::string> out;
    for (const auto& r : ready) out.insert(r.message.id);
    return out;
}

TEST(SettleBatch, OneWindowServesEveryMessageOfIt) {
    SettleBatch batch({unsettled("c", "+14155550103", 20s), unsettled("a", "+14155550101", 0s),
                       unsettled("b", "+14155550102", 10s)},
                      config());
    ASSERT_EQ(batch.size(), 3u);
    EXPECT_FALSE(batch.per_recipient());
    auto request = batch.next_request();
    ASSERT_TRUE(request);
    EXPECT_TRUE(request->query.recipient.empty());  // no to_number: one list for all
    EXPECT_EQ(request->query.since, kT0 - 10s);     // oldest attempt - tolerance
    ASSERT_TRUE(request->query.until);
    EXPECT_EQ(*request->query.until, kT0 + 20s + 5s + 10s);  // newest + timeout + tolerance
    EXPECT_EQ(request->query.sender, std::optional<std::string>("+14155550100"));
    EXPECT_EQ(request->query.message_type, std::optional<std::string>("sms"));
    EXPECT_TRUE(request->query.outbound_only);
    EXPECT_EQ(request->query.offset, 0);
    EXPECT_FALSE(request->next_link);

    batch.on_page(page({object("u-a", "14155550101"), object("u-other", "14155550999")}, true));
    EXPECT_TRUE(batch.take_ready().empty());  // not complete yet
    request = batch.next_request();
    ASSERT_TRUE(request);
    EXPECT_EQ(request->next_link, std::optional<std::string>("/v1/Account/MA1/Message/?limit=20&offset=20"));
    EXPECT_EQ(request->query.offset, 20);  // the fallback when the link cannot be used

    batch.on_page(page({object("u-b", "14155550102")}, false));
    EXPECT_FALSE(batch.next_request());
    std::vector<SettleBatch::Ready> ready = batch.take_ready();
    EXPECT_EQ(ids(ready), (std::set<std::string>{"a", "b", "c"}));
    for (const auto& r : ready) {
        EXPECT_FALSE(r.overflow);
        if (r.message.id == "a") {
            ASSERT_EQ(r.objects.size(), 1u);
            EXPECT_EQ(r.objects[0].message_uuid, "u-a");
        } else if (r.message.id == "b") {
            ASSERT_EQ(r.objects.size(), 1u);
            EXPECT_EQ(r.objects[0].message_uuid, "u-b");
        } else {
            EXPECT_TRUE(r.objects.empty());  // Plivo has none to this number: not found
        }
    }
    EXPECT_TRUE(batch.take_ready().empty());  // handed out once
    EXPECT_EQ(batch.pages_read(), 2);
}

TEST(SettleBatch, SwitchesToOneListPerRecipientOnceTheWindowCostsAsMuch) {
    SettleBatch batch({unsettled("a", "+14155550101", 0s), unsettled("b", "+14155550102", 1s)},
                      config());
    // Two recipients: after two window pages with more to come, listing each is cheaper.
    batch.on_page(page({object("u-a", "14155550101")}, true));
    auto request = batch.next_request();
    ASSERT_TRUE(request);
    EXPECT_TRUE(request->query.recipient.empty());
    batch.on_page(page({}, true));
    EXPECT_TRUE(batch.per_recipient());
    EXPECT_TRUE(batch.take_ready().empty());

    request = batch.next_request();
    ASSERT_TRUE(request);
    EXPECT_EQ(request->query.recipient, "+14155550101");
    EXPECT_FALSE(request->query.until);                // to now, by number: cheap
    EXPECT_EQ(request->query.since, kT0 - 300s);       // the recipient lookback
    EXPECT_EQ(request->query.offset, 0);
    EXPECT_FALSE(request->next_link);                  // a new list, not the window's link
    batch.on_page(page({object("u-a", "14155550101")}, false));
    std::vector<SettleBatch::Ready> ready = batch.take_ready();
    ASSERT_EQ(ready.size(), 1u);
    EXPECT_EQ(ready[0].message.id, "a");
    ASSERT_EQ(ready[0].objects.size(), 1u);  // the window's copy was dropped: no duplicate

    request = batch.next_request();
    ASSERT_TRUE(request);
    EXPECT_EQ(request->query.recipient, "+14155550102");
    batch.on_page(page({}, false));
    ready = batch.take_ready();
    ASSERT_EQ(ready.size(), 1u);
    EXPECT_EQ(ready[0].message.id, "b");
    EXPECT_TRUE(ready[0].objects.empty());
    EXPECT_FALSE(batch.next_request());
    EXPECT_EQ(batch.pages_read(), 4);
}

TEST(SettleBatch, OneRecipientIsListedByNumberFromTheStart) {
    SettleBatch batch({unsettled("a", "+14155550101", 0s),
                       unsettled("b", "+14155550101", 3s, "+14155550199")},
                      config());
    EXPECT_TRUE(batch.per_recipient());
    auto request = batch.next_request();
    ASSERT_TRUE(request);
    EXPECT_EQ(request->query.recipient, "+14155550101");
    EXPECT_FALSE(request->query.sender);  // two senders: no from_number
    batch.on_page(page({object("u-1", "14155550101")}, false));
    EXPECT_EQ(ids(batch.take_ready()), (std::set<std::string>{"a", "b"}));
}

TEST(SettleBatch, PowerpackAndMixedTypesAreNotFilteredAway) {
    UnsettledMessage pack = unsettled("p", "+14155550101", 0s, "pack-uuid");
    pack.via_powerpack = true;
    UnsettledMessage mms = unsettled("m", "+14155550102", 1s);
    mms.type = MessageType::Mms;
    SettleBatch batch({pack, mms}, config());
    auto request = batch.next_request();
    ASSERT_TRUE(request);
    EXPECT_FALSE(request->query.sender);        // Plivo picks a Powerpack's number
    EXPECT_FALSE(request->query.message_type);  // sms and mms
}

TEST(SettleBatch, BatchTakesTheOldestWithinItsSpanAndLeavesKnownUuidsOut) {
    SettleBatchConfig c = config();
    c.max_span = 60s;
    UnsettledMessage known = unsettled("k", "+14155550104", 0s);
    known.known_uuid = "k-uuid";
    SettleBatch batch({unsettled("late", "+14155550103", 120s), unsettled("a", "+14155550101", 5s),
                       known, unsettled("b", "+14155550102", 65s)},
                      c);
    ASSERT_EQ(batch.size(), 2u);  // a (the oldest listable) and b (within 60 s of it)
    auto request = batch.next_request();
    ASSERT_TRUE(request);
    EXPECT_EQ(request->query.since, kT0 + 5s - 10s);
    EXPECT_EQ(*request->query.until, kT0 + 65s + 15s);
}

TEST(SettleBatch, AMessageTooRecentForTheBacklogCouldGrowTheBatchOnlyWithinItsWindow) {
    SettleBatchConfig c = config();  // tolerance 10 s, timeout 5 s
    c.max_span = 60s;
    SettleBatch batch({unsettled("a", "+14155550101", 0s), unsettled("b", "+14155550102", 10s)}, c);
    // The window ends at 10 + 5 + 10 s; a record of an attempt at t lies from t - 10 s.
    EXPECT_TRUE(batch.could_grow_with(kT0 + 11s));
    EXPECT_TRUE(batch.could_grow_with(kT0 + 35s));
    EXPECT_FALSE(batch.could_grow_with(kT0 + 36s));
    // A batch cut short by its span (or its size) is complete as it is.
    SettleBatch spanned({unsettled("a", "+14155550101", 0s), unsettled("b", "+14155550102", 10s),
                         unsettled("late", "+14155550103", 61s)},
                        c);
    ASSERT_EQ(spanned.size(), 2u);
    EXPECT_FALSE(spanned.could_grow_with(kT0 + 11s));
    c.max_messages = 2;
    SettleBatch full({unsettled("a", "+14155550101", 0s), unsettled("b", "+14155550102", 10s)}, c);
    EXPECT_FALSE(full.could_grow_with(kT0 + 11s));
    // Nor can one beyond the span of the oldest join.
    c.max_messages = 1000;
    c.max_span = 20s;
    SettleBatch short_span({unsettled("a", "+14155550101", 0s), unsettled("b", "+14155550102", 10s)}, c);
    EXPECT_FALSE(short_span.could_grow_with(kT0 + 21s));
}

TEST(SettleBatch, AnObjectWithoutANumberCouldBeAnybodys) {
    SettleBatch batch({unsettled("a", "+14155550101", 0s), unsettled("b", "+14155550102", 0s)},
                      config());
    batch.on_page(page({object("u-blank", "")}, false));
    std::vector<SettleBatch::Ready> ready = batch.take_ready();
    ASSERT_EQ(ready.size(), 2u);
    for (const auto& r : ready) {
        ASSERT_EQ(r.objects.size(), 1u) << r.message.id;
        EXPECT_EQ(r.objects[0].message_uuid, "u-blank");
    }
}

TEST(SettleBatch, EndlessPagesOfOneRecipientAreGivenUp) {
    SettleBatchConfig c = config();
    c.max_pages_per_list = 3;
    SettleBatch batch({unsettled("a", "+14155550101", 0s)}, c);
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(batch.next_request());
        batch.on_page(page({object("u-" + std::to_string(i), "14155550101")}, true));
    }
    std::vector<SettleBatch::Ready> ready = batch.take_ready();
    ASSERT_EQ(ready.size(), 1u);
    EXPECT_TRUE(ready[0].overflow);
    EXPECT_FALSE(batch.next_request());
}

TEST(SettleBatch, EmptyBacklogMakesAnEmptyBatch) {
    UnsettledMessage known = unsettled("k", "+14155550104", 0s);
    known.known_uuid = "k-uuid";
    SettleBatch batch({known}, config());
    EXPECT_TRUE(batch.empty());
    EXPECT_FALSE(batch.next_request());
}

TEST(ListRequests, WindowQueryAndNextLink) {
    PlivoAccount account{"https://api.example.com", "MA1", "token", "test"};
    ListQuery query;
    query.since = kT0 - 10s;
    query.until = kT0 + 30s + 250ms;  // rounded up to the whole second
    query.message_type = "sms";
    query.outbound_only = true;
    query.offset = 40;
    EXPECT_EQ(build_list_request(account, query).url,
              "https://api.example.com/v1/Account/MA1/Message/?message_time__gte=2024-05-01%2011%3A59%3A50"
              "&message_time__lte=2024-05-01%2012%3A00%3A31&message_type=sms"
              "&message_direction=outbound&limit=20&offset=40");
    EXPECT_EQ(build_list_page_request(account, "/v1/Account/MA1/Message/?limit=20&offset=20").url,
              "https://api.example.com/v1/Account/MA1/Message/?limit=20&offset=20");
    EXPECT_EQ(build_list_page_request(account,
                                      "https://api.example.com/v1/Account/MA1/Message/?offset=20")
                  .url,
              "https://api.example.com/v1/Account/MA1/Message/?offset=20");
    // Our credentials go with the request: never to another host or account.
    for (const char* link : {"https://evil.example.net/v1/Account/MA1/Message/?offset=20",
                             "/v1/Account/MA2/Message/?offset=20", "//evil.example.net/x",
                             "/v1/Account/MA1/Message/../Call/?a", "/v1/Account/MA1/Message/"}) {
        EXPECT_THROW(build_list_page_request(account, link), InputError) << link;
    }
}

}  // namespace
}  // namespace plivo
