// The live side as real processes: `progressista serve` (and `ingest` + `broadcast` split)
// on loopback ports, WebSocket and SSE clients, checked frame by frame.
#include <atomic>
#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include "progressista/store.hpp"
#include "support/daemon_process.hpp"
#include "support/http_client.hpp"
#include "support/json_doc.hpp"
#include "support/segment_fixture.hpp"
#include "support/sse_reader.hpp"
#include "support/ws_client.hpp"

namespace progressista {
namespace {

using testing::Connection;
using testing::DaemonProcess;
using ::testing::HasSubstr;
using testing::http;
using testing::http_request;
using testing::ScopedSegmentName;
using testing::SseReader;
using testing::WsTestClient;
using namespace std::chrono_literals;

std::vector<std::string> role_args(std::string role, const ScopedSegmentName& seg,
                                   std::vector<std::string> extra = {}) {
  std::vector<std::string> a{std::move(role), "--segment", seg.str(), "--capacity",
                             "16384",         "--threads", "2"};
  if (std::find(extra.begin(), extra.end(), "--tick") == extra.end()) {
    a.insert(a.end(), {"--tick", "0.02"});
  }
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

using Json = testing::JsonDoc;

int post(std::uint16_t port, const std::string& body, std::string_view extra = {}) {
  return http(port, "POST", "/progress", body, extra).status;
}

class Serve : public ::testing::Test {
 protected:
  void start(std::vector<std::string> extra = {}, std::map<std::string, std::string> env = {}) {
    daemon_ =
        std::make_unique<DaemonProcess>(role_args("serve", seg_, std::move(extra)), std::move(env));
    ASSERT_TRUE(daemon_->running()) << daemon_->log();
  }
  std::uint16_t port() const { return daemon_->port(); }

  ScopedSegmentName seg_;
  std::unique_ptr<DaemonProcess> daemon_;
};

TEST_F(Serve, ProgressistaProtocolSendsWholeSnapshotsCoalescedPerTick) {
  start({"--tick", "0.2"});
  ASSERT_EQ(post(port(), R"({"task_id":"a","n":1,"total":100})"), 200);
  WsTestClient ws(port(), "/ws");
  ASSERT_TRUE(ws.open()) << ws.error();
  auto first = ws.read();
  ASSERT_TRUE(first);
  Json j(*first);
  ASSERT_TRUE(j.ok);
  EXPECT_EQ(j.keys("tasks"), std::set<std::string>{"a"});
  EXPECT_EQ(j.n_of("tasks", "a"), 1);
  // 50 events inside about one tick arrive as far fewer frames, the last one complete.
  std::string body;
  for (int i = 2; i <= 51; ++i) body += fmt::format(R"({{"task_id":"a","n":{}}})", i) + "\n";
  body += R"({"task_id":"b","status":"close"})";
  ASSERT_EQ(http(port(), "POST", "/progress", body, {}, "application/x-ndjson").status, 200);
  int frames = 0;
  std::string last;
  ASSERT_TRUE(ws.read_until(
      [&](const std::string& f) {
        ++frames;
        Json k(f);
        return k.n_of("tasks", "a") == 51 && k.keys("tasks").count("b");
      },
      10s, &last))
      << last;
  EXPECT_LE(frames, 3);
  EXPECT_THAT(last, ::testing::StartsWith(R"({"tasks":{)"));
}

TEST_F(Serve, DeltaProtocolSendsSnapshotThenChangesAndLifecycleEvents) {
  start();
  ASSERT_EQ(post(port(), R"({"task_id":"old","n":1})"), 200);
  WsTestClient ws(port(), "/ws?protocol=delta");
  ASSERT_TRUE(ws.open()) << ws.error();
  auto snap = ws.read();
  ASSERT_TRUE(snap);
  Json s(*snap);
  EXPECT_EQ(s.str("type"), "snapshot");
  EXPECT_EQ(s.keys("tasks"), std::set<std::string>{"old"});

  std::vector<std::string> events;
  const auto collect_until = [&](const std::string& wanted) {
    return ws.read_until(
        [&](const std::string& f) {
          Json d(f);
          EXPECT_EQ(d.str("type"), "delta") << f;
          for (auto& e : d.events()) events.push_back(e);
          return std::find(events.begin(), events.end(), wanted) != events.end();
        },
        10s);
  };
  ASSERT_EQ(post(port(), R"({"task_id":"t1","status":"start","n":0,"total":5})"), 200);
  ASSERT_TRUE(collect_until("task.created t1"));
  ASSERT_EQ(post(port(), R"({"task_id":"t1","n":2})"), 200);
  ASSERT_TRUE(collect_until("task.updated t1"));
  ASSERT_EQ(post(port(), R"({"task_id":"t1","n":5,"status":"done"})"), 200);
  ASSERT_TRUE(collect_until("task.closed t1"));
  ASSERT_EQ(post(port(), R"({"task_id":"old","status":"failed","error":"disk full"})"), 200);
  ASSERT_TRUE(collect_until("task.failed old"));
  events.clear();
  // A failed task only reopens with start; then it can go stale.
  ASSERT_EQ(post(port(), R"({"task_id":"old","status":"start"})"), 200);
  ASSERT_EQ(post(port(), R"({"task_id":"old","status":"stale"})"), 200);
  ASSERT_TRUE(collect_until("task.stale old"));
  std::string removed;
  ASSERT_EQ(http(port(), "DELETE", "/tasks/t1").status, 200);
  ASSERT_TRUE(ws.read_until(
      [&](const std::string& f) { return f.find(R"("removed":["t1"])") != std::string::npos; }, 10s,
      &removed));
  EXPECT_THAT(removed, HasSubstr(R"({"event":"task.removed","task_id":"t1"})"));
}

TEST_F(Serve, SubscriptionsNarrowTheViewAndBadMessagesGetAnErrorFrame) {
  start();
  ASSERT_EQ(post(port(), R"({"task_id":"job-1","project":"p1"})"), 200);
  ASSERT_EQ(post(port(), R"({"task_id":"other","project":"p2"})"), 200);
  WsTestClient ws(port(), "/ws", "progressista.delta.v1");
  ASSERT_TRUE(ws.open()) << ws.error();
  EXPECT_EQ(ws.header("Sec-WebSocket-Protocol").value_or(""),
            "progressista.delta.v1");
  ASSERT_TRUE(ws.read());  // the snapshot of everything

  ASSERT_TRUE(ws.send(R"({"op":"subscribe","prefix":"job-"})"));
  std::string f;
  ASSERT_TRUE(ws.read_until([](const std::string& x) { return Json(x).str("type") == "snapshot"; },
                            10s, &f));
  EXPECT_EQ(Json(f).keys("tasks"), std::set<std::string>{"job-1"});
  // Changes outside the view are not sent; inside, they are.
  ASSERT_EQ(post(port(), R"({"task_id":"other","n":7})"), 200);
  ASSERT_EQ(post(port(), R"({"task_id":"job-2","n":1})"), 200);
  ASSERT_TRUE(ws.read_until(
      [](const std::string& x) {
        EXPECT_EQ(Json(x).keys("upserts").count("other"), 0u) << x;
        return Json(x).keys("upserts").count("job-2") > 0;
      },
      10s, &f));

  ASSERT_TRUE(ws.send("not json"));
  ASSERT_TRUE(
      ws.read_until([](const std::string& x) { return Json(x).str("type") == "error"; }, 10s, &f));
  EXPECT_THAT(f, HasSubstr("JSON"));
  ASSERT_TRUE(ws.send(R"({"op":"dance"})"));
  ASSERT_TRUE(
      ws.read_until([](const std::string& x) { return Json(x).str("type") == "error"; }, 10s, &f));
  EXPECT_THAT(f, HasSubstr("unknown op 'dance'"));

  ASSERT_TRUE(ws.send(R"({"op":"subscribe","project":"p2"})"));
  ASSERT_TRUE(ws.read_until([](const std::string& x) { return Json(x).str("type") == "snapshot"; },
                            10s, &f));
  EXPECT_EQ(Json(f).keys("tasks"), std::set<std::string>{"other"});
  ASSERT_TRUE(ws.send(R"({"op":"unsubscribe"})"));
  ASSERT_TRUE(ws.read_until([](const std::string& x) { return Json(x).str("type") == "snapshot"; },
                            10s, &f));
  EXPECT_EQ(Json(f).keys("tasks"), (std::set<std::string>{"job-1", "job-2", "other"}));
  EXPECT_TRUE(ws.open());
}

TEST_F(Serve, ServerSentEventsResumeFromLastEventId) {
  start();
  ASSERT_EQ(post(port(), R"({"task_id":"a","n":1})"), 200);
  std::string resume_id;
  {
    SseReader sse(port());
    ASSERT_TRUE(sse.ok);
    std::string id, data;
    ASSERT_TRUE(sse.next(id, data));
    EXPECT_THAT(sse.head, HasSubstr("text/event-stream"));
    EXPECT_EQ(Json(data).str("type"), "snapshot");
    ASSERT_EQ(post(port(), R"({"task_id":"a","n":2})"), 200);
    // The snapshot is labelled with the last tick's seq, so a tick already on its way may
    // still repeat n=1 before the change to n=2 arrives; ids only grow.
    std::string last_id = id;
    for (int frames = 0; frames < 3; ++frames) {
      ASSERT_TRUE(sse.next(id, data));
      EXPECT_EQ(Json(data).str("type"), "delta") << data;
      EXPECT_GT(std::stoull(id), std::stoull(last_id));
      last_id = id;
      if (Json(data).n_of("upserts", "a") == 2) break;
    }
    ASSERT_EQ(Json(data).n_of("upserts", "a"), 2) << data;
    resume_id = id;
  }
  // Missed while away: resumed with exactly those changes.
  ASSERT_EQ(post(port(), R"({"task_id":"b","n":1})"), 200);
  ASSERT_EQ(post(port(), R"({"task_id":"a","n":3})"), 200);
  {
    SseReader sse(port(), "Last-Event-ID: " + resume_id + "\r\n");
    std::string id, data;
    ASSERT_TRUE(sse.next(id, data));
    Json d(data);
    EXPECT_EQ(d.str("type"), "delta") << data;
    EXPECT_EQ(d.keys("upserts"), (std::set<std::string>{"a", "b"})) << data;
    EXPECT_EQ(d.n_of("upserts", "a"), 3);
    EXPECT_GT(std::stoull(id), std::stoull(resume_id));
  }
  // Beyond the change feed (its ring holds the last ring_size() changes): a snapshot with
  // "reset".
  const auto store = Store::open(testing::options(seg_, 16384));
  const int rounds = static_cast<int>(store->feed().ring_size() / 100 + 2);
  std::string batch;
  for (int k = 0; k < rounds; ++k) {
    batch.clear();
    for (int i = 0; i < 100; ++i)
      batch += fmt::format(R"({{"task_id":"x{}","n":{}}})", i, k) + "\n";
    ASSERT_EQ(http(port(), "POST", "/progress", batch, {}, "application/x-ndjson").status, 200);
  }
  {
    SseReader sse(port(), "Last-Event-ID: " + resume_id + "\r\n");
    std::string id, data;
    ASSERT_TRUE(sse.next(id, data));
    EXPECT_EQ(Json(data).str("type"), "snapshot") << data.substr(0, 200);
    EXPECT_THAT(data.substr(0, 100), HasSubstr(R"("reset":true)"));
    EXPECT_EQ(Json(data).keys("tasks").size(), 102u);
  }
}

TEST_F(Serve, TokensGuardReadsAndLiveClientsButNotHealthOrStatic) {
  start({}, {{"PROGRESSISTA_API_TOKEN", "s3cret"}});
  EXPECT_EQ(http(port(), "GET", "/tasks").status, 401);
  EXPECT_EQ(http(port(), "GET", "/tasks?token=s3cret").status, 200);
  EXPECT_EQ(http(port(), "GET", "/tasks", {}, "Authorization: Bearer s3cret\r\n").status, 200);
  EXPECT_EQ(http(port(), "GET", "/metrics").status, 401);
  EXPECT_EQ(http(port(), "GET", "/health").status, 200);
  EXPECT_EQ(http(port(), "GET", "/events").status, 401);

  WsTestClient denied(port(), "/ws");
  ASSERT_TRUE(denied.open()) << denied.error();
  EXPECT_TRUE(denied.wait_closed(5s));
  EXPECT_EQ(denied.close_code(), 4401);
  WsTestClient wrong(port(), "/ws?token=nope");
  EXPECT_TRUE(wrong.wait_closed(5s));
  EXPECT_EQ(wrong.close_code(), 4401);

  WsTestClient allowed(port(), "/ws?token=s3cret");
  ASSERT_TRUE(allowed.open());
  auto f = allowed.read();
  ASSERT_TRUE(f);
  EXPECT_EQ(*f, R"({"tasks":{}})");
  WsTestClient bearer(port(), "/ws?protocol=delta", {}, "Bearer s3cret");
  ASSERT_TRUE(bearer.open());
  ASSERT_TRUE(bearer.read());
}

TEST_F(Serve, TwoHundredClientsReachTheSameFinalState) {
  start({"--tick", "0.05"});
  constexpr int kClients = 200;
  std::vector<std::unique_ptr<WsTestClient>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<WsTestClient>(port(), i % 2 ? "/ws" : "/ws?protocol=delta"));
    ASSERT_TRUE(clients.back()->open()) << i << " " << clients.back()->error();
  }
  for (int n = 1; n <= 50; ++n) {
    ASSERT_EQ(post(port(), fmt::format(R"({{"task_id":"job","n":{},"total":50}})", n)), 200);
  }
  ASSERT_EQ(post(port(), R"({"task_id":"job","n":50,"status":"close"})"), 200);
  std::atomic<int> reached{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      for (int i = t; i < kClients; i += 4) {
        const bool ok = clients[i]->read_until(
            [](const std::string& f) {
              return f.find(R"("n":50,"total":50,"status":"close")") != std::string::npos;
            },
            20s);
        if (ok) ++reached;
      }
    });
  }
  for (auto& r : readers) r.join();
  EXPECT_EQ(reached.load(), kClients);
  const auto metrics = http(port(), "GET", "/metrics").body;
  EXPECT_THAT(metrics, HasSubstr("progressista_ws_clients{protocol=\"delta\"} 100"));
  EXPECT_THAT(metrics, HasSubstr("progressista_ws_clients{protocol=\"progressista\"} 100"));
}

TEST_F(Serve, AClientThatNeverReadsIsDroppedWhileOthersKeepReceiving) {
  start({"--client-timeout", "0.5", "--tick", "0.02"});
  // About 2 MB per whole-table frame, so that a reader that stops fills every buffer.
  std::string batch;
  for (int k = 0; k < 100; ++k) {
    batch.clear();
    for (int i = 0; i < 100; ++i) {
      batch += fmt::format(R"({{"task_id":"t{:05}","desc":"{}","n":1,"total":10}})", k * 100 + i,
                           std::string(120, 'd')) +
               "\n";
    }
    ASSERT_EQ(http(port(), "POST", "/progress", batch, {}, "application/x-ndjson").status, 200);
  }
  WsTestClient stuck(port(), "/ws");  // handshake done, then never reads
  ASSERT_TRUE(stuck.open());
  WsTestClient good(port(), "/ws?protocol=delta");
  ASSERT_TRUE(good.open());
  ASSERT_TRUE(good.read(20s));
  bool dropped = false;
  for (int round = 2; round < 400 && !dropped; ++round) {
    ASSERT_EQ(post(port(), fmt::format(R"({{"task_id":"t00000","n":{}}})", round)), 200);
    std::string f;
    ASSERT_TRUE(good.read_until(
        [&](const std::string& x) {
          return x.find(fmt::format(R"("n":{},)", round)) != std::string::npos;
        },
        10s, &f))
        << "round " << round;
    dropped = http(port(), "GET", "/metrics")
                  .body.find("progressista_slow_consumer_disconnects_total 1") != std::string::npos;
  }
  EXPECT_TRUE(dropped);
  EXPECT_THAT(http(port(), "GET", "/metrics").body,
              HasSubstr("progressista_ws_clients{protocol=\"progressista\"} 0"));
}

TEST_F(Serve, LiveClientsOverTheLimitGet503) {
  start({"--max-clients", "2"});
  WsTestClient a(port(), "/ws"), b(port(), "/ws?protocol=delta");
  ASSERT_TRUE(a.open() && b.open());
  WsTestClient c(port(), "/ws");
  EXPECT_FALSE(c.open());
  EXPECT_EQ(c.status(), 503);
  EXPECT_THAT(c.body(), HasSubstr("too many live clients (the limit is 2)"));
  const auto sse = http(port(), "GET", "/events");
  EXPECT_EQ(sse.status, 503);
}

TEST_F(Serve, DashboardRoutesAndHealth) {
  start();
  const auto root = http(port(), "GET", "/");
  EXPECT_EQ(root.status, 307);
  EXPECT_EQ(root.header("location"), "/static/index.html");
  EXPECT_EQ(http(port(), "GET", "/static/../CMakeLists.txt").status, 404);
  const auto health = http(port(), "GET", "/health");
  EXPECT_THAT(health.body, HasSubstr(R"("role":"serve")"));
  // HEAD: the headers of GET, its Content-Length, and not one byte of body, so the next
  // answer on a keep-alive connection is not mistaken for one.
  Connection c(port());
  ASSERT_TRUE(c.send(http_request("HEAD", "/health") + http_request("GET", "/health")));
  std::string raw;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline &&
         raw.find(R"("role":"serve"})") == std::string::npos) {
    pollfd p{c.fd(), POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char tmp[4096];
    const ssize_t n = ::recv(c.fd(), tmp, sizeof tmp, 0);
    if (n <= 0) break;
    raw.append(tmp, static_cast<std::size_t>(n));
  }
  const std::size_t second = raw.find("HTTP/1.1 200", 1);
  ASSERT_NE(second, std::string::npos) << raw;
  const std::string head_answer = raw.substr(0, second);
  EXPECT_THAT(head_answer, HasSubstr("Content-Length: "));
  EXPECT_TRUE(head_answer.ends_with("\r\n\r\n")) << head_answer;
  EXPECT_EQ(http(port(), "GET", "/ws").status, 426);
  EXPECT_EQ(http(port(), "POST", "/ws").status, 405);
}

// The production layout: ingest and broadcast as separate processes on one segment.
class Split : public ::testing::Test {
 protected:
  ScopedSegmentName seg_;
};

TEST_F(Split, BroadcasterRestartsWhileIngestKeepsAccepting) {
  DaemonProcess ingest(role_args("ingest", seg_));
  ASSERT_TRUE(ingest.running()) << ingest.log();
  auto broadcast = std::make_unique<DaemonProcess>(role_args("broadcast", seg_));
  ASSERT_TRUE(broadcast->running()) << broadcast->log();
  ASSERT_EQ(post(ingest.port(), R"({"task_id":"a","n":1})"), 200);

  WsTestClient ws(broadcast->port(), "/ws?protocol=delta");
  ASSERT_TRUE(ws.open());
  std::string f;
  ASSERT_TRUE(ws.read_until(
      [](const std::string& x) { return x.find("\"a\"") != std::string::npos; }, 10s, &f));
  ASSERT_EQ(broadcast->stop(), 0) << broadcast->log();
  EXPECT_TRUE(ws.wait_closed(5s));
  EXPECT_EQ(ws.close_code(), 1001);  // going away: dashboards reconnect

  ASSERT_EQ(post(ingest.port(), R"({"task_id":"b","n":1})"), 200);  // nobody broadcasting
  broadcast = std::make_unique<DaemonProcess>(role_args("broadcast", seg_));
  ASSERT_TRUE(broadcast->running()) << broadcast->log();
  WsTestClient again(broadcast->port(), "/ws");
  auto snap = again.read();
  ASSERT_TRUE(snap);
  EXPECT_EQ(Json(*snap).keys("tasks"), (std::set<std::string>{"a", "b"}));
  ASSERT_EQ(post(ingest.port(), R"({"task_id":"c","n":1})"), 200);
  ASSERT_TRUE(again.read_until(
      [](const std::string& x) { return x.find("\"c\"") != std::string::npos; }, 10s));
  const auto health = http(broadcast->port(), "GET", "/health").body;
  EXPECT_THAT(health, HasSubstr(R"("ingest":{"alive":true)"));
}

TEST_F(Split, AKilledIngestDoesNotDisturbTheBroadcaster) {
  auto ingest = std::make_unique<DaemonProcess>(role_args("ingest", seg_));
  ASSERT_TRUE(ingest->running()) << ingest->log();
  DaemonProcess broadcast(role_args("broadcast", seg_));
  ASSERT_TRUE(broadcast.running()) << broadcast.log();
  ASSERT_EQ(post(ingest->port(), R"({"task_id":"a","n":1})"), 200);
  ::kill(ingest->pid(), SIGKILL);
  ingest.reset();
  // The broadcaster keeps serving, and says the ingest heartbeat went stale.
  const auto tasks = http(broadcast.port(), "GET", "/tasks");
  EXPECT_EQ(tasks.status, 200);
  EXPECT_THAT(tasks.body, HasSubstr(R"("a":{)"));
  WsTestClient ws(broadcast.port(), "/ws");
  ASSERT_TRUE(ws.read());
  bool stale = false;
  for (int i = 0; i < 100 && !stale; ++i) {
    stale = http(broadcast.port(), "GET", "/health").body.find(R"("ingest":{"alive":false)") !=
            std::string::npos;
    if (!stale) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(stale) << http(broadcast.port(), "GET", "/health").body;
  EXPECT_TRUE(ws.open());
}

// The broadcaster is paused (SIGSTOP) while ingest applies the changes of the gap, so its
// next tick reads all of them at once: the live stream gets them as one delta, and a stream
// resumed from the id before the gap must get the same lifecycle events for the same tasks.
TEST_F(Split, AResumedEventStreamGetsTheEventsALiveStreamGot) {
  DaemonProcess ingest(role_args("ingest", seg_));
  ASSERT_TRUE(ingest.running()) << ingest.log();
  DaemonProcess broadcast(role_args("broadcast", seg_));
  ASSERT_TRUE(broadcast.running()) << broadcast.log();
  for (const char* id : {"kept", "gone"}) {
    ASSERT_EQ(post(ingest.port(), fmt::format(R"({{"task_id":"{}","n":1,"total":9}})", id)), 200);
  }
  SseReader live(broadcast.port());
  ASSERT_TRUE(live.ok);
  std::string id, data;
  ASSERT_TRUE(live.next(id, data));
  // Every change before the marker is delivered by the time the marker is.
  ASSERT_EQ(post(ingest.port(), R"({"task_id":"marker","n":1})"), 200);
  std::string resume_id;
  for (int frames = 0; frames < 10 && resume_id.empty(); ++frames) {
    ASSERT_TRUE(live.next(id, data));
    if (Json(data).keys(Json(data).str("type") == "delta" ? "upserts" : "tasks").count("marker"))
      resume_id = id;
  }
  ASSERT_FALSE(resume_id.empty());

  ASSERT_EQ(::kill(broadcast.pid(), SIGSTOP), 0);
  const std::vector<std::string> gap{
      R"({"task_id":"fresh","status":"start","n":0})",  // created and closed in the gap
      R"({"task_id":"kept","n":2})",                    // three updates of one task
      R"({"task_id":"fresh","status":"close"})",
      R"({"task_id":"kept","n":3})",
      R"({"task_id":"ghost","n":1})",  // created and removed in the gap
      R"({"task_id":"newborn","n":1})",
      R"({"task_id":"kept","n":4})",
  };
  for (const auto& body : gap) ASSERT_EQ(post(ingest.port(), body), 200) << body;
  ASSERT_EQ(http(ingest.port(), "DELETE", "/tasks/ghost").status, 200);
  ASSERT_EQ(http(ingest.port(), "DELETE", "/tasks/gone").status, 200);
  ASSERT_EQ(::kill(broadcast.pid(), SIGCONT), 0);

  // The live stream: the gap's changes, merged into the tick that read them.
  ASSERT_TRUE(live.next(id, data));
  const Json got_live(data);
  ASSERT_EQ(got_live.str("type"), "delta") << data;
  std::vector<std::string> live_events = got_live.events();
  std::sort(live_events.begin(), live_events.end());
  EXPECT_EQ(live_events, (std::vector<std::string>{"task.created fresh", "task.created newborn",
                                                   "task.removed gone", "task.updated kept"}))
      << data;

  SseReader resumed(broadcast.port(), "Last-Event-ID: " + resume_id + "\r\n");
  std::string resumed_id, resumed_data;
  ASSERT_TRUE(resumed.next(resumed_id, resumed_data));
  const Json got_resumed(resumed_data);
  ASSERT_EQ(got_resumed.str("type"), "delta") << resumed_data;
  std::vector<std::string> resumed_events = got_resumed.events();
  std::sort(resumed_events.begin(), resumed_events.end());
  EXPECT_EQ(resumed_events, live_events) << resumed_data;
  EXPECT_EQ(got_resumed.keys("upserts"), got_live.keys("upserts")) << resumed_data;
  EXPECT_EQ(got_resumed.n_of("upserts", "kept"), 4);
  EXPECT_EQ(resumed_id, id);
}

}  // namespace
}  // namespace progressista
