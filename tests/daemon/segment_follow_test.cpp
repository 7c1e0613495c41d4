// Real daemons following a segment that another process resizes or re-creates: they
// re-attach within a few ticks, live clients get a reset snapshot of the new segment, writes
// land in it, and no acknowledged event is lost on the way.
#include <atomic>
#include <optional>
#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include "http/health.hpp"
#include "progressista/store.hpp"
#include "support/json_doc.hpp"
#include "support/daemon_process.hpp"
#include "support/http_client.hpp"
#include "support/segment_fixture.hpp"
#include "support/sse_reader.hpp"
#include "support/wait.hpp"
#include "support/ws_client.hpp"

namespace progressista {
namespace {

using testing::Connection;
using testing::DaemonProcess;
using testing::eventually;
using testing::ev;
using ::testing::HasSubstr;
using testing::http;
using testing::http_request;
using testing::ScopedSegmentName;
using testing::SseReader;
using testing::WsTestClient;
using namespace std::chrono_literals;

// Generous: the sanitizer build is several times slower.
constexpr auto kWait = 30s;

using Parsed = testing::JsonDoc;

std::set<std::string> ids(const std::string& prefix, int count) {
  std::set<std::string> out;
  for (int i = 0; i < count; ++i) out.insert(prefix + std::to_string(i));
  return out;
}

std::uint64_t generation_of(std::uint16_t port) {
  return Parsed(http(port, "GET", "/health").body).u64("generation");
}

std::set<std::string> tasks_of(std::uint16_t port) {
  return Parsed(http(port, "GET", "/tasks").body).keys("tasks");
}

int post(std::uint16_t port, const std::string& body) {
  return http(port, "POST", "/progress", body).status;
}

std::unique_ptr<Store> attach(const ScopedSegmentName& seg) {
  SegmentOptions o;
  o.name = seg.str();
  o.create = false;
  return Store::open(o);
}

TEST(SegmentFollow, HealthReportsTheGenerationFollowsAndMemory) {
  ScopedSegmentName seg;
  auto store = Store::open(testing::options(seg, 64));
  ASSERT_EQ(store->table().upsert(ev("a").n(1), now_seconds()), Upsert::kCreated);
  ASSERT_EQ(store->table().upsert(ev("b").status(Status::kError), now_seconds()), Upsert::kCreated);
  daemon::HttpResponse r;
  daemon::health_response(*store, Role::kServe, r);
  const Parsed h(r.body);
  ASSERT_TRUE(h.ok) << r.body;
  EXPECT_EQ(h.u64("generation"), store->segment().generation());
  EXPECT_EQ(h.u64("follows"), 0u);
  EXPECT_EQ(h.u64("capacity"), 64u);
  const MemoryUse m = store->table().memory();
  const auto mem = [&](std::string_view key) {
    std::uint64_t v = ~std::uint64_t{0};
    EXPECT_EQ(h.root["memory"][key].get_uint64().get(v), simdjson::SUCCESS) << key;
    return v;
  };
  EXPECT_EQ(mem("tasks"), 2u);
  EXPECT_EQ(mem("max_tasks"), 64u);
  EXPECT_EQ(mem("finished"), 1u);
  EXPECT_EQ(mem("budget_bytes"), m.budget_bytes);
  EXPECT_EQ(mem("free_blocks"), m.free_blocks);
  EXPECT_EQ(mem("blocks"), m.blocks);
  EXPECT_EQ(mem("block_bytes"), m.block_bytes);
  EXPECT_THAT(r.body, HasSubstr(R"("role":"serve")"));

  // After a resize by another Store, follow() re-attaches and /health says so.
  SegmentOptions bigger = testing::options(seg, 128);
  bigger.resize = true;
  const auto other = Store::open(bigger);
  EXPECT_TRUE(eventually([&] { return store->follow(); }, kWait));
  daemon::health_response(*store, Role::kServe, r);
  const Parsed after(r.body);
  EXPECT_EQ(after.u64("generation"), other->segment().generation());
  EXPECT_EQ(after.u64("follows"), 1u);
  EXPECT_EQ(after.u64("capacity"), 128u);
  EXPECT_EQ(after.u64("tasks"), 2u);
}

// (a) serve, with live clients and tasks, while another process (an ingest started with a
// larger --memory) resizes its segment.
TEST(SegmentFollow, ServeFollowsAResizeAndItsClientsGetTheWholeNewSegment) {
  ScopedSegmentName seg;
  DaemonProcess serve({"serve", "--segment", seg.str(), "--capacity", "64", "--threads", "2",
                       "--tick", "0.02"});
  ASSERT_TRUE(serve.running()) << serve.log();
  for (int i = 0; i < 20; ++i)
    ASSERT_EQ(post(serve.port(), fmt::format(R"({{"task_id":"t{}","n":{}}})", i, i)), 200);
  const std::uint64_t before = generation_of(serve.port());
  ASSERT_NE(before, 0u);

  // Clients are closed before the daemons stop (a client that does not answer the close
  // handshake holds a stop for the client timeout).
  auto delta_client = std::make_unique<WsTestClient>(serve.port(), "/ws?protocol=delta");
  auto plain_client = std::make_unique<WsTestClient>(serve.port(), "/ws");
  auto sse_client = std::make_unique<SseReader>(serve.port());
  WsTestClient& delta = *delta_client;
  WsTestClient& plain = *plain_client;
  SseReader& sse = *sse_client;
  ASSERT_TRUE(delta.open()) << delta.error();
  auto first = delta.read();
  ASSERT_TRUE(first);
  EXPECT_EQ(Parsed(*first).keys("tasks"), ids("t", 20));
  ASSERT_TRUE(plain.open()) << plain.error();
  ASSERT_TRUE(plain.read());
  ASSERT_TRUE(sse.ok);
  std::string id, data;
  ASSERT_TRUE(sse.next(id, data));
  EXPECT_EQ(Parsed(data).str("type"), "snapshot");

  DaemonProcess bigger({"ingest", "--segment", seg.str(), "--memory", "4M", "--threads", "1"});
  ASSERT_TRUE(bigger.running()) << bigger.log();
  EXPECT_THAT(bigger.log(), HasSubstr("resized segment"));
  const auto now = attach(seg);
  const std::uint64_t after = now->segment().generation();
  ASSERT_NE(after, before);
  EXPECT_GT(now->segment().capacity(), 64u);

  // serve re-attaches within a few ticks (its 1 s timer at the latest).
  EXPECT_TRUE(eventually([&] { return generation_of(serve.port()) == after; }, kWait))
      << serve.log();
  const Parsed health(http(serve.port(), "GET", "/health").body);
  EXPECT_GE(health.u64("follows"), 1u);
  EXPECT_EQ(health.u64("capacity"), now->segment().capacity());
  EXPECT_EQ(generation_of(bigger.port()), after);
  EXPECT_TRUE(eventually(
      [&] { return serve.log().find("was resized or re-created") != std::string::npos; }, kWait))
      << serve.log();

  // Every client gets a reset snapshot holding every task.
  std::string last;
  EXPECT_TRUE(delta.read_until(
      [](const std::string& f) {
        const Parsed p(f);
        return p.str("type") == "snapshot" && p.flag("reset") && p.keys("tasks") == ids("t", 20);
      },
      kWait, &last))
      << last.substr(0, 300);
  bool reset = false;
  for (int frames = 0; frames < 200 && !reset && sse.next(id, data, kWait); ++frames) {
    const Parsed p(data);
    reset = p.str("type") == "snapshot" && p.flag("reset") && p.keys("tasks") == ids("t", 20);
  }
  EXPECT_TRUE(reset) << data.substr(0, 300);

  // A write to serve lands in the new segment: seen through it by this test (ingest has no
  // read routes) and by serve's readers and live clients (a delta, or a snapshot when the
  // client lagged).
  ASSERT_EQ(post(serve.port(), R"({"task_id":"after","n":1})"), 200);
  TaskRecord rec;
  EXPECT_TRUE(now->table().lookup("after", rec));
  EXPECT_EQ(tasks_of(serve.port()).count("after"), 1u);
  // Rejections counted by the HTTP server itself (not HTTP: 400) go to the new segment too.
  const std::uint64_t bad = now->counters().get(Counter::kRejectedBadRequest);
  {
    Connection garbage(serve.port());
    ASSERT_TRUE(garbage.send("NOT HTTP AT ALL\r\n\r\n"));
    EXPECT_EQ(garbage.read_reply().status, 400);
  }
  EXPECT_EQ(now->counters().get(Counter::kRejectedBadRequest), bad + 1);
  EXPECT_TRUE(delta.read_until(
      [](const std::string& f) {
        const Parsed p(f);
        return p.keys("upserts").count("after") > 0 ||
               (p.str("type") == "snapshot" && p.keys("tasks").count("after") > 0);
      },
      kWait, &last))
      << last.substr(0, 300);
  EXPECT_TRUE(plain.read_until(
      [](const std::string& f) {
        const auto k = Parsed(f).keys("tasks");
        return k.size() == 21 && k.count("after");
      },
      kWait, &last))
      << last.substr(0, 300);
  delta_client.reset();
  plain_client.reset();
  sse_client.reset();
  EXPECT_EQ(bigger.stop(), 0) << bigger.log();
  EXPECT_EQ(serve.stop(), 0) << serve.log();
}

// (b) a segment removed and re-created by another process: the broadcaster serves the new
// one, and an SSE id from the old one gets a reset snapshot, never the new feed's changes.
TEST(SegmentFollow, BroadcasterFollowsASegmentRemovedAndRecreated) {
  ScopedSegmentName seg;
  DaemonProcess broadcast({"broadcast", "--segment", seg.str(), "--capacity", "64", "--threads",
                           "2", "--tick", "0.02"});
  ASSERT_TRUE(broadcast.running()) << broadcast.log();
  std::string old_id;
  std::uint64_t before = 0;
  {
    auto store = attach(seg);
    before = store->segment().generation();
    ASSERT_EQ(store->table().upsert(ev("old").n(1), now_seconds()), Upsert::kCreated);
    ASSERT_TRUE(eventually([&] { return tasks_of(broadcast.port()).count("old") > 0; }, kWait));
  }
  auto sse_client = std::make_unique<SseReader>(broadcast.port());
  SseReader& sse = *sse_client;
  std::string id, data;
  ASSERT_TRUE(sse.next(id, data));
  ASSERT_EQ(Parsed(data).keys("tasks"), std::set<std::string>{"old"});
  old_id = id;
  auto delta_client = std::make_unique<WsTestClient>(broadcast.port(), "/ws?protocol=delta");
  WsTestClient& delta = *delta_client;
  ASSERT_TRUE(delta.open()) << delta.error();
  ASSERT_TRUE(delta.read());

  // Removed and made again (the broadcaster may get there first: it attaches to what the
  // name leads to, and either way both end up on the same new segment).
  ASSERT_TRUE(Segment::remove(seg.str()));
  auto store = Store::open(testing::options(seg, 64));
  const std::uint64_t after = store->segment().generation();
  ASSERT_NE(after, before);
  // More changes than the old id's value, so that a replay of this feed would be possible.
  const int fresh = static_cast<int>(std::stoull(old_id)) + 10;
  for (int i = 0; i < fresh; ++i)
    ASSERT_EQ(store->table().upsert(ev("new" + std::to_string(i)).n(i), now_seconds()),
              Upsert::kCreated);

  EXPECT_TRUE(eventually([&] { return generation_of(broadcast.port()) == after; }, kWait))
      << broadcast.log();
  EXPECT_TRUE(eventually([&] { return tasks_of(broadcast.port()) == ids("new", fresh); }, kWait));
  std::string last;
  EXPECT_TRUE(delta.read_until(
      [&](const std::string& f) {
        const Parsed p(f);
        return p.str("type") == "snapshot" && p.flag("reset") && !p.keys("tasks").count("old");
      },
      kWait, &last))
      << last.substr(0, 300);
  bool reset = false;
  for (int frames = 0; frames < 200 && !reset && sse.next(id, data, kWait); ++frames) {
    const Parsed p(data);
    reset = p.str("type") == "snapshot" && p.flag("reset") && !p.keys("tasks").count("old");
  }
  EXPECT_TRUE(reset) << data.substr(0, 300);
  EXPECT_GT(std::stoull(id), std::stoull(old_id));  // ids keep growing across segments

  delta_client.reset();
  sse_client.reset();

  // Resuming from an id of the old segment: a snapshot of the new one.
  std::optional<SseReader> resumed(std::in_place, broadcast.port(), "Last-Event-ID: " + old_id + "\r\n");
  ASSERT_TRUE(resumed->next(id, data));
  const Parsed p(data);
  EXPECT_EQ(p.str("type"), "snapshot") << data.substr(0, 300);
  EXPECT_TRUE(p.flag("reset"));
  EXPECT_EQ(p.keys("tasks"), ids("new", fresh));
  // And one from the new segment resumes with just the changes after it.
  resumed.reset();
  std::optional<SseReader> again(std::in_place, broadcast.port(), "Last-Event-ID: " + id + "\r\n");
  ASSERT_EQ(store->table().upsert(ev("new0").n(100), now_seconds()), Upsert::kUpdated);
  std::string again_id;
  ASSERT_TRUE(again->next(again_id, data));
  EXPECT_EQ(Parsed(data).str("type"), "delta") << data.substr(0, 300);
  EXPECT_GT(std::stoull(again_id), std::stoull(id));
  again.reset();
  EXPECT_EQ(broadcast.stop(), 0) << broadcast.log();
}

// (c) no acknowledged event is lost across resizes: a bounded poster (2,000 events, about
// 2 s) against one ingest while a second ingest process and then the test itself resize the
// segment; afterwards every task holds at least the n of its last acknowledged event.
TEST(SegmentFollow, NoAcknowledgedEventIsLostAcrossResizes) {
  ScopedSegmentName seg;
  DaemonProcess ingest({"ingest", "--segment", seg.str(), "--capacity", "1024", "--threads", "2"});
  ASSERT_TRUE(ingest.running()) << ingest.log();

  constexpr int kTasks = 200;
  constexpr int kEvents = 2000;
  std::vector<int> acked(kTasks, 0);
  std::atomic<int> acked_count{0};
  std::atomic<bool> poster_done{false};
  std::unique_ptr<DaemonProcess> second;
  std::string resize_error;
  std::thread resizer([&] {
    const auto reach = [&](int n) {
      return eventually([&] { return acked_count.load() >= n || poster_done.load(); }, kWait);
    };
    if (!reach(kEvents / 5)) return;
    second = std::make_unique<DaemonProcess>(std::vector<std::string>{
        "ingest", "--segment", seg.str(), "--capacity", "4096", "--threads", "1"});
    if (!reach(kEvents * 3 / 5)) return;
    SegmentOptions o;
    o.name = seg.str();
    o.memory = 16u << 20;
    o.resize = true;
    try {
      (void)Store::open(o);
    } catch (const std::exception& e) {
      resize_error = e.what();
    }
  });

  Connection c(ingest.port());
  ASSERT_TRUE(c.connected());
  int failures = 0;
  std::string failure;
  const auto deadline = std::chrono::steady_clock::now() + 120s;  // bounded in time as well
  for (int i = 0; i < kEvents && std::chrono::steady_clock::now() < deadline; ++i) {
    const int task = i % kTasks;
    const int n = i / kTasks + 1;
    const std::string body = fmt::format(R"({{"task_id":"p{}","n":{}}})", task, n);
    if (!c.send(http_request("POST", "/progress", body))) break;
    const auto r = c.read_reply();
    if (r.status == 200) {
      acked[static_cast<std::size_t>(task)] = n;
      acked_count.fetch_add(1);
    } else if (failures++ == 0) {
      failure = fmt::format("{} {}", r.status, r.body);
    }
    std::this_thread::sleep_for(1ms);  // pacing: the run spans the resizes
  }
  poster_done = true;
  resizer.join();
  EXPECT_EQ(failures, 0) << failure;
  EXPECT_EQ(acked_count.load(), kEvents);
  EXPECT_EQ(resize_error, "");
  ASSERT_TRUE(second && second->running()) << (second ? second->log() : std::string());
  EXPECT_THAT(second->log(), HasSubstr("resized segment"));

  const auto now = attach(seg);
  EXPECT_GE(now->segment().size(), (16u << 20) - 4096);  // the last resize's shape
  std::string missing;
  TaskRecord rec;
  for (int t = 0; t < kTasks; ++t) {
    const std::string task = "p" + std::to_string(t);
    if (!now->table().lookup(task, rec)) {
      missing += task + " (absent) ";
    } else if (rec.n < acked[static_cast<std::size_t>(t)]) {
      missing += fmt::format("{} (n {} < acknowledged {}) ", task, rec.n, acked[static_cast<std::size_t>(t)]);
    }
  }
  EXPECT_EQ(missing, "");
  EXPECT_EQ(now->table().check(), "");
  // Both ingest processes move to the final segment (on their 1 s timer at the latest).
  for (const DaemonProcess* d : {&ingest, second.get()}) {
    EXPECT_TRUE(eventually(
        [&] { return generation_of(d->port()) == now->segment().generation(); }, kWait))
        << d->log();
  }
  EXPECT_EQ(second->stop(), 0) << second->log();
  EXPECT_EQ(ingest.stop(), 0) << ingest.log();
}

}  // namespace
}  // namespace progressista
