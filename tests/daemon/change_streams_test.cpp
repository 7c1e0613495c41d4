// The per-change protocols: the event streams (GET /tasks/stream over SSE, /tasks/ws over
// WebSocket) and the operations tracker's feed (/ws?protocol=operations), against a real
// `progressista serve` on loopback with raw SSE and Beast WebSocket clients; and the frame
// builders they share (change_frames.hpp), directly.
#include <map>
#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include "live/change_frames.hpp"
#include "support/daemon_process.hpp"
#include "support/http_client.hpp"
#include "support/json_doc.hpp"
#include "support/segment_fixture.hpp"
#include "support/sse_reader.hpp"
#include "support/ws_client.hpp"

namespace progressista {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing::DaemonProcess;
using testing::http;
using testing::ScopedSegmentName;
using testing::SseReader;
using testing::WsTestClient;
using Json = testing::JsonDoc;
using daemon::ChangeFraming;
using daemon::Frame;
using daemon::TaskEvent;
using daemon::Tick;
using daemon::TickItem;
using daemon::View;
using namespace std::chrono_literals;

int post(std::uint16_t port, const std::string& body) {
  return http(port, "POST", "/progress", body).status;
}

// "task.created t1" for an event stream message; the task's id read from "task".
std::string event_of(const std::string& message) {
  Json j(message);
  std::string_view id;
  if (!j.ok || j.root["task"]["task_id"].get_string().get(id) != simdjson::SUCCESS) return "?";
  return j.str("event") + " " + std::string(id);
}

class ChangeStreams : public ::testing::Test {
 protected:
  void start(std::vector<std::string> extra = {}, std::map<std::string, std::string> env = {}) {
    std::vector<std::string> args{"serve",     "--segment", seg_.str(), "--capacity", "4096",
                                  "--threads", "2"};
    if (std::find(extra.begin(), extra.end(), "--tick") == extra.end())
      args.insert(args.end(), {"--tick", "0.02"});
    args.insert(args.end(), extra.begin(), extra.end());
    daemon_ = std::make_unique<DaemonProcess>(std::move(args), std::move(env));
    ASSERT_TRUE(daemon_->running()) << daemon_->log();
  }
  std::uint16_t port() const { return daemon_->port(); }

  // Reads SSE messages until one is `wanted` ("task.closed t1"); every message read is kept.
  bool sse_until(SseReader& sse, const std::string& wanted) {
    std::string id, data;
    while (sse.next(id, data, 20s)) {
      messages.push_back(event_of(data));
      ids.push_back(id);
      datas.push_back(data);
      if (messages.back() == wanted) return true;
    }
    return false;
  }
  bool ws_until(WsTestClient& ws, const std::string& wanted) {
    while (auto m = ws.read(20s)) {
      messages.push_back(event_of(*m));
      datas.push_back(*m);
      if (messages.back() == wanted) return true;
    }
    return false;
  }

  ScopedSegmentName seg_;
  std::unique_ptr<DaemonProcess> daemon_;
  std::vector<std::string> messages, ids, datas;
};

TEST_F(ChangeStreams, SseStreamSendsOneMessagePerChangeWithTheWholeTask) {
  start();
  SseReader sse(port(), {}, "/tasks/stream");
  ASSERT_TRUE(sse.ok && sse.opened());
  // Each post is waited for, so that each change is its own tick.
  ASSERT_EQ(post(port(), R"({"task_id":"t1","status":"start","n":0,"total":5,"desc":"import"})"), 200);
  ASSERT_TRUE(sse_until(sse, "task.created t1")) << ::testing::PrintToString(messages);
  EXPECT_THAT(sse.head, HasSubstr("Content-Type: text/event-stream"));
  ASSERT_EQ(post(port(), R"({"task_id":"t1","n":2})"), 200);
  ASSERT_TRUE(sse_until(sse, "task.updated t1"));
  ASSERT_EQ(post(port(), R"({"task_id":"t1","n":5,"status":"close"})"), 200);
  ASSERT_TRUE(sse_until(sse, "task.closed t1"));
  ASSERT_EQ(post(port(), R"({"task_id":"t2","n":1})"), 200);
  ASSERT_TRUE(sse_until(sse, "task.created t2"));
  ASSERT_EQ(post(port(), R"({"task_id":"t2","status":"error","error":"disk full"})"), 200);
  ASSERT_TRUE(sse_until(sse, "task.failed t2"));
  ASSERT_EQ(http(port(), "DELETE", "/tasks/t2").status, 200);
  ASSERT_TRUE(sse_until(sse, "task.removed t2"));

  EXPECT_EQ(messages, (std::vector<std::string>{"task.created t1", "task.updated t1",
                                                "task.closed t1", "task.created t2",
                                                "task.failed t2", "task.removed t2"}));
  // No `event:` line by default: an EventSource's onmessage sees every message.
  EXPECT_EQ(sse.event, "");
  // Every message is one tick here, so each carries its id, growing.
  std::uint64_t previous = 0;
  for (const std::string& id : ids) {
    ASSERT_FALSE(id.empty());
    EXPECT_GT(std::stoull(id), previous);
    previous = std::stoull(id);
  }
  Json closed(datas[2]);
  EXPECT_EQ(closed.str("event"), "task.closed");
  double n = 0;
  ASSERT_EQ(closed.root["task"]["n"].get_double().get(n), simdjson::SUCCESS);
  EXPECT_EQ(n, 5);
  std::string_view desc;
  ASSERT_EQ(closed.root["task"]["desc"].get_string().get(desc), simdjson::SUCCESS);
  EXPECT_EQ(desc, "import");
  Json failed(datas[4]);
  std::string_view error;
  ASSERT_EQ(failed.root["task"]["error"].get_string().get(error), simdjson::SUCCESS);
  EXPECT_EQ(error, "disk full");
  // A removal carries the task's id alone.
  EXPECT_THAT(datas[5], HasSubstr(R"("task":{"task_id":"t2"})"));
}

TEST_F(ChangeStreams, NamedSseStreamAddsEventLines) {
  start();
  SseReader sse(port(), {}, "/tasks/stream?named=1");
  ASSERT_TRUE(sse.ok && sse.opened());
  ASSERT_EQ(post(port(), R"({"task_id":"a","n":1})"), 200);
  ASSERT_TRUE(sse_until(sse, "task.created a"));
  EXPECT_EQ(sse.event, "task.created");
}

TEST_F(ChangeStreams, SseStreamNarrowedToOneTask) {
  start();
  SseReader sse(port(), {}, "/tasks/stream?task_id=mine");
  ASSERT_TRUE(sse.ok && sse.opened());
  ASSERT_EQ(post(port(), R"({"task_id":"other","n":1})"), 200);
  ASSERT_EQ(post(port(), R"({"task_id":"mine","n":1})"), 200);
  ASSERT_TRUE(sse_until(sse, "task.created mine"));
  EXPECT_EQ(messages, std::vector<std::string>{"task.created mine"});
}

TEST_F(ChangeStreams, LastEventIdResumesWithTheChangesMissedOnly) {
  start();
  std::string resume_from;
  {
    SseReader sse(port(), {}, "/tasks/stream");
    ASSERT_TRUE(sse.ok && sse.opened());
    ASSERT_EQ(post(port(), R"({"task_id":"quiet","n":1})"), 200);
    ASSERT_EQ(post(port(), R"({"task_id":"busy","n":1})"), 200);
    ASSERT_TRUE(sse_until(sse, "task.created busy"));
    ASSERT_EQ(post(port(), R"({"task_id":"busy","n":2})"), 200);
    ASSERT_TRUE(sse_until(sse, "task.updated busy"));
    resume_from = ids.back();
  }
  // Missed while away: busy moves on, a task comes and one is removed.
  ASSERT_EQ(post(port(), R"({"task_id":"busy","n":3})"), 200);
  ASSERT_EQ(post(port(), R"({"task_id":"new","n":1})"), 200);
  ASSERT_EQ(http(port(), "DELETE", "/tasks/quiet").status, 200);
  messages.clear();
  SseReader back(port(), fmt::format("Last-Event-ID: {}\r\n", resume_from), "/tasks/stream");
  ASSERT_TRUE(back.ok);
  std::set<std::string> got;
  std::string id, data;
  while (got.size() < 3 && back.next(id, data, 20s)) got.insert(event_of(data));
  EXPECT_EQ(got, (std::set<std::string>{"task.updated busy", "task.created new",
                                        "task.removed quiet"}));
}

TEST_F(ChangeStreams, AnUnusableLastEventIdGetsEveryTaskAsAnUpdate) {
  start();
  {
    // Both posts delivered first, so that no tick of them can follow the re-sync (delivery
    // is at least once around a connect).
    SseReader watch(port(), {}, "/tasks/stream");
    ASSERT_TRUE(watch.ok && watch.opened());
    ASSERT_EQ(post(port(), R"({"task_id":"a","n":1})"), 200);
    ASSERT_EQ(post(port(), R"({"task_id":"b","n":1})"), 200);
    ASSERT_TRUE(sse_until(watch, "task.created b"));
  }
  SseReader sse(port(), "Last-Event-ID: not-a-number\r\n", "/tasks/stream");
  ASSERT_TRUE(sse.ok);
  std::set<std::string> got;
  std::string id, data;
  while (got.size() < 2 && sse.next(id, data, 20s)) got.insert(event_of(data));
  EXPECT_EQ(got, (std::set<std::string>{"task.updated a", "task.updated b"}));
  EXPECT_FALSE(id.empty());  // the last message of the re-sync carries the id to resume from
}

TEST_F(ChangeStreams, WebSocketStreamSendsOneMessagePerTaskWithItsSeq) {
  start({"--tick", "0.3"});
  ASSERT_EQ(post(port(), R"({"task_id":"before","n":1})"), 200);
  WsTestClient ws(port(), "/tasks/ws?snapshot=1", "progressista.events.v1");
  ASSERT_TRUE(ws.open()) << ws.error();
  EXPECT_EQ(ws.header("Sec-WebSocket-Protocol").value_or(""),
            "progressista.events.v1");
  // ?snapshot=1: the tasks there are first, as updates.
  ASSERT_TRUE(ws_until(ws, "task.updated before"));
  // Twenty tasks in one request, one tick: twenty messages, not one frame.
  std::string batch;
  for (int i = 0; i < 20; ++i) batch += fmt::format(R"({{"task_id":"k{:02}","n":1}})", i) + "\n";
  ASSERT_EQ(http(port(), "POST", "/progress", batch, {}, "application/x-ndjson").status, 200);
  messages.clear();
  datas.clear();
  ASSERT_TRUE(ws_until(ws, "task.created k19"));
  // "before" may come again, as created: a change is delivered at least once around a connect
  // (README), so only the batch is counted.
  std::vector<std::string> batch_messages;
  for (const std::string& m : datas)
    if (event_of(m).starts_with("task.created k")) batch_messages.push_back(m);
  ASSERT_EQ(batch_messages.size(), 20u) << ::testing::PrintToString(messages);
  std::set<std::uint64_t> seqs;
  for (const std::string& m : batch_messages) {
    Json j(m);
    EXPECT_THAT(m, StartsWith(R"({"event":"task.created","seq":)"));
    seqs.insert(j.u64("seq"));
  }
  EXPECT_LE(seqs.size(), 2u);  // one tick (two if a tick fell inside the request)
  EXPECT_GT(*seqs.begin(), 0u);
}

TEST_F(ChangeStreams, WebSocketStreamResumesFromLastEventId) {
  start();
  std::uint64_t seq = 0;
  {
    WsTestClient ws(port(), "/tasks/ws");
    ASSERT_TRUE(ws.open()) << ws.error();
    ASSERT_EQ(post(port(), R"({"task_id":"a","n":1})"), 200);
    ASSERT_TRUE(ws_until(ws, "task.created a"));
    seq = Json(datas.back()).u64("seq");
  }
  ASSERT_EQ(post(port(), R"({"task_id":"a","status":"close"})"), 200);
  WsTestClient back(port(), fmt::format("/tasks/ws?last_event_id={}", seq));
  ASSERT_TRUE(back.open()) << back.error();
  messages.clear();
  ASSERT_TRUE(ws_until(back, "task.closed a")) << ::testing::PrintToString(messages);
  EXPECT_EQ(messages, std::vector<std::string>{"task.closed a"});
}

TEST_F(ChangeStreams, OperationsFeedSpeaksTheTrackersVocabulary) {
  start();
  WsTestClient ops(port(), "/ws?protocol=operations&project=p");
  ASSERT_TRUE(ops.open()) << ops.error();
  WsTestClient by_subprotocol(port(), "/ws", "progressista.operations.v1");
  ASSERT_TRUE(by_subprotocol.open()) << by_subprotocol.error();
  EXPECT_EQ(by_subprotocol.header("Sec-WebSocket-Protocol").value_or(""),
            "progressista.operations.v1");

  // Another project's task first: the narrowed feed never sends it.
  ASSERT_EQ(post(port(), R"({"task_id":"q1","project":"q","n":1})"), 200);
  ASSERT_EQ(post(port(), R"({"task_id":"op1","project":"p","status":"start","desc":"Import",)"
                         R"("total":200,"n":50,"phase":"copy","message":"copying",)"
                         R"("meta":{"dataset":"cells","source":"s3://bucket"}})"),
            200);
  auto first = ops.read(20s);
  ASSERT_TRUE(first);
  Json j(*first);
  ASSERT_TRUE(j.ok) << *first;
  EXPECT_EQ(j.str("type"), "web:ingest:progress");
  EXPECT_EQ(j.str("project"), "p");
  EXPECT_THAT(j.str("timestamp"), ::testing::MatchesRegex(
                                      R"(^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{3}Z$)"));
  const auto data = [&](const Json& doc, const char* key) {
    std::string_view v;
    return doc.root["data"][key].get_string().get(v) == simdjson::SUCCESS ? std::string(v)
                                                                          : std::string("<none>");
  };
  EXPECT_EQ(data(j, "operationId"), "op1");
  EXPECT_EQ(data(j, "operation"), "Import");
  EXPECT_EQ(data(j, "dataset"), "cells");
  EXPECT_EQ(data(j, "source"), "s3://bucket");
  EXPECT_EQ(data(j, "phase"), "copy");
  EXPECT_EQ(data(j, "detail"), "copying");
  EXPECT_EQ(data(j, "status"), "started");
  double pct = 0;
  ASSERT_EQ(j.root["data"]["percentage"].get_double().get(pct), simdjson::SUCCESS);
  EXPECT_DOUBLE_EQ(pct, 25);
  EXPECT_TRUE(j.root["data"]["error"].is_null());

  ASSERT_EQ(post(port(), R"({"task_id":"op1","n":100})"), 200);
  ASSERT_EQ(post(port(), R"({"task_id":"op1","status":"error","error":"quota"})"), 200);
  std::vector<std::string> statuses;
  std::string last;
  ASSERT_TRUE(ops.read_until(
      [&](const std::string& m) {
        Json k(m);
        EXPECT_EQ(data(k, "operationId"), "op1") << m;
        statuses.push_back(data(k, "status"));
        return statuses.back() == "failed";
      },
      20s, &last));
  EXPECT_EQ(data(Json(last), "error"), "quota");
  // The whole feed (by subprotocol) had both projects' tasks.
  std::set<std::string> seen;
  ASSERT_TRUE(by_subprotocol.read_until(
      [&](const std::string& m) {
        seen.insert(Json(m).str("project"));
        return seen.size() == 2;
      },
      20s));
}

TEST_F(ChangeStreams, NeverReadingEventStreamClientIsDroppedWhileOthersContinue) {
  start({"--client-timeout", "0.5", "--tick", "0.02"});
  WsTestClient stuck(port(), "/tasks/ws");  // handshake done, then never reads
  ASSERT_TRUE(stuck.open());
  WsTestClient good(port(), "/tasks/ws");
  ASSERT_TRUE(good.open());
  // Big tasks, so that a reader that stops fills the socket buffers within a few rounds.
  bool dropped = false;
  for (int round = 1; round < 400 && !dropped; ++round) {
    std::string batch;
    for (int i = 0; i < 50; ++i) {
      batch += fmt::format(R"({{"task_id":"t{:02}","desc":"{}","n":{}}})", i,
                           std::string(500, 'd'), round) +
               "\n";
    }
    ASSERT_EQ(http(port(), "POST", "/progress", batch, {}, "application/x-ndjson").status, 200);
    // The reading client gets every task's latest state, whatever was coalesced.
    std::set<std::string> up_to_date;
    const std::string mark = fmt::format(R"("n":{},)", round);
    ASSERT_TRUE(good.read_until(
        [&](const std::string& m) {
          if (m.find(mark) != std::string::npos) up_to_date.insert(event_of(m));
          return up_to_date.size() == 50;
        },
        20s))
        << "round " << round;
    dropped = http(port(), "GET", "/metrics")
                  .body.find("progressista_slow_consumer_disconnects_total 1") != std::string::npos;
  }
  EXPECT_TRUE(dropped);
  EXPECT_THAT(http(port(), "GET", "/metrics").body,
              HasSubstr("progressista_ws_clients{protocol=\"events\"} 1"));
}

// Leading-edge delivery: with a 10 s tick, a change after a quiet spell still arrives at once.
// Without it the second round below would wait for a tick boundary, ten seconds after the
// first round's delivery.
TEST_F(ChangeStreams, AChangeAfterAQuietSpellGoesOutBeforeTheTick) {
  start({"--tick", "10", "--leading-edge", "0.005"});
  WsTestClient ws(port(), "/tasks/ws");
  ASSERT_TRUE(ws.open()) << ws.error();
  for (int round = 1; round <= 3; ++round) {
    // Quiet: no change for well over the leading edge (a sleep that makes the condition, not
    // one that waits for a result).
    std::this_thread::sleep_for(50ms);
    const auto posted = std::chrono::steady_clock::now();
    ASSERT_EQ(post(port(), fmt::format(R"({{"task_id":"q","n":{}}})", round)), 200);
    const std::string mark = fmt::format(R"("n":{},)", round);
    ASSERT_TRUE(ws.read_until(
        [&](const std::string& m) { return m.find(mark) != std::string::npos; }, 20s));
    EXPECT_LT(std::chrono::steady_clock::now() - posted, 5s) << "round " << round;
  }
  // Deliveries are only kept a leading edge apart: a change right after a delivery (within
  // 5 ms of it here, mostly) goes out once that has passed, not at the next tick.
  for (int n = 10; n < 13; ++n) {
    const auto posted = std::chrono::steady_clock::now();
    ASSERT_EQ(post(port(), fmt::format(R"({{"task_id":"q","n":{}}})", n)), 200);
    const std::string mark = fmt::format(R"("n":{},)", n);
    ASSERT_TRUE(ws.read_until(
        [&](const std::string& m) { return m.find(mark) != std::string::npos; }, 20s));
    EXPECT_LT(std::chrono::steady_clock::now() - posted, 5s) << "n " << n;
  }
}

TEST_F(ChangeStreams, TokensGuardTheStreams) {
  start({}, {{"PROGRESSISTA_API_TOKEN", "s3cret"}});
  EXPECT_EQ(http(port(), "GET", "/tasks/stream").status, 401);
  SseReader sse(port(), "Authorization: Bearer s3cret\r\n", "/tasks/stream");
  ASSERT_TRUE(sse.ok && sse.opened());
  ASSERT_EQ(http(port(), "POST", "/progress", R"({"task_id":"a","n":1})",
                 "Authorization: Bearer s3cret\r\n")
                .status,
            200);
  ASSERT_TRUE(sse_until(sse, "task.created a"));
  WsTestClient refused(port(), "/tasks/ws");
  ASSERT_TRUE(refused.open());
  EXPECT_TRUE(refused.wait_closed(20s));
  EXPECT_EQ(refused.close_code(), 4401);
}

// The frame builders alone.

TickItem item(std::string id, TaskEvent event, std::string json = "{}") {
  TickItem it;
  it.task_id = std::move(id);
  it.event = event;
  it.removed = event == TaskEvent::kRemoved;
  if (!it.removed) it.json = std::move(json);
  return it;
}

std::shared_ptr<const Tick> tick(std::uint64_t seq, std::vector<TickItem> items) {
  auto t = std::make_shared<Tick>();
  t->seq = seq;
  t->items = std::move(items);
  return t;
}

std::vector<std::string> events(const Tick& t) {
  std::vector<std::string> out;
  for (const TickItem& it : t.items)
    out.push_back(std::string(daemon::task_event_name(it.event)) + " " + it.task_id + " " + it.json);
  return out;
}

TEST(ChangeFrames, MergedTicksKeepEachTasksLatestStateAtItsLastPlace) {
  const Tick merged = daemon::merge_ticks({
      tick(1, {item("a", TaskEvent::kCreated, "a1"), item("b", TaskEvent::kUpdated, "b1")}),
      tick(2, {item("a", TaskEvent::kUpdated, "a2"), item("c", TaskEvent::kCreated, "c1")}),
      tick(3, {item("c", TaskEvent::kRemoved), item("b", TaskEvent::kClosed, "b2"),
               item("d", TaskEvent::kRemoved)}),
  });
  EXPECT_EQ(merged.seq, 3u);
  // a stays "created" (never seen by the client); c came and went; b's close is kept.
  EXPECT_EQ(events(merged), (std::vector<std::string>{"task.created a a2", "task.closed b b2",
                                                      "task.removed d "}));
}

TEST(ChangeFrames, SseFramingPutsTheIdInTheLastMessageOnly) {
  const auto t = tick(7, {item("a", TaskEvent::kCreated, R"({"task_id":"a"})"),
                          item("b", TaskEvent::kRemoved)});
  const Frame plain = daemon::events_frame(*t, View{}, ChangeFraming::kSse);
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain.text(),
            "data: {\"event\":\"task.created\",\"seq\":7,\"task\":{\"task_id\":\"a\"}}\n\n"
            "data: {\"event\":\"task.removed\",\"seq\":7,\"task\":{\"task_id\":\"b\"}}\nid: 7\n\n");
  const Frame named = daemon::events_frame(*t, View{View::Kind::kTask, "b"}, ChangeFraming::kSseNamed);
  EXPECT_EQ(named.text(),
            "event: task.removed\n"
            "data: {\"event\":\"task.removed\",\"seq\":7,\"task\":{\"task_id\":\"b\"}}\nid: 7\n\n");
  const Frame ws = daemon::events_frame(*t, View{}, ChangeFraming::kWebSocket);
  ASSERT_TRUE(ws.ends);
  EXPECT_EQ(ws.ends->size(), 2u);
  EXPECT_FALSE(daemon::events_frame(*t, View{View::Kind::kTask, "zzz"}, ChangeFraming::kSse));
}

}  // namespace
}  // namespace progressista
