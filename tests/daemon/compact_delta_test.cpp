// The compact delta protocol (progressista.delta.v2): its member encoding and frames directly,
// and a real `progressista serve` whose v2 stream, applied by a client as the README says,
// must end in exactly the state GET /tasks shows, while tasks are created, updated, moved,
// closed, failed and removed; with narrowed views and a client that falls behind.
#include <map>
#include <random>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include "live/change_frames.hpp"
#include "live/compact_delta.hpp"
#include "support/daemon_process.hpp"
#include "support/http_client.hpp"
#include "support/json_doc.hpp"
#include "support/segment_fixture.hpp"
#include "support/ws_client.hpp"

namespace progressista {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::DaemonProcess;
using testing::http;
using testing::ScopedSegmentName;
using testing::WsTestClient;
using Json = testing::JsonDoc;
using daemon::Frame;
using daemon::Tick;
using daemon::TickItem;
using daemon::View;
using namespace std::chrono_literals;
namespace od = simdjson::ondemand;

std::string members(std::string_view from, std::string_view to, std::int64_t t_ms) {
  fmt::memory_buffer out;
  daemon::append_compact_members(out, from, to, t_ms);
  return {out.data(), out.size()};
}

TEST(CompactMembers, WholeStateUsesShortKeysAndTimesRelativeToTheFrame) {
  const std::string task =
      R"({"task_id":"w:1","desc":"Epochs","n":42,"total":100,"unit":"it","status":"active",)"
      R"("timestamp":1764567890.25,"meta":{"a":"x}\"{","b":[1,{"c":2}]},)"
      R"("created_at":1764567880,"updated_at":1764567890.2,"rate":12.3456789,"eta":4.71234})";
  EXPECT_EQ(members("", task, 1764567890300),
            R"("id":"w:1","d":"Epochs","n":42,"N":100,"un":"it","s":"active","ts":-50,)"
            R"("m":{"a":"x}\"{","b":[1,{"c":2}]},"ca":-10300,"ua":-100,"r":12.35,"e":4.712)");
}

TEST(CompactMembers, AnUpdateCarriesOnlyWhatChangedAndNullForWhatWentAway) {
  const std::string before =
      R"({"task_id":"w:1","n":41,"total":100,"status":"active","created_at":10,)"
      R"("updated_at":11.5,"message":"hi","rate":2,"eta":29.5})";
  const std::string after =
      R"({"task_id":"w:1","n":42,"total":100,"status":"active","created_at":10,)"
      R"("updated_at":12,"rate":2,"eta":29})";
  EXPECT_EQ(members(before, after, 12000), R"("n":42,"ua":0,"e":29,"msg":null)");
  EXPECT_EQ(members(after, after, 12000), "");
  // A member the table does not know keeps its name; null stays null.
  EXPECT_EQ(members(R"({"task_id":"a","total":5})", R"({"task_id":"a","total":null,"zz":1})", 0),
            R"("N":null,"zz":1)");
}

TEST(CompactMembers, AnUpdateOfATypicalRemoteTqdmTaskIsUnderEightyBytes) {
  // What the issue measures: a RemoteTqdm update changes n, timestamp, updated_at, rate, eta.
  const std::string before =
      R"({"task_id":"worker-17.cluster.example.org:1764567000:140234567890123","desc":"train",)"
      R"("n":5000,"total":100000,"unit":"it","status":"active","timestamp":1764567890.123456,)"
      R"("created_at":1764567000.5,"updated_at":1764567890.125,"rate":812.3456,"eta":116.9432})";
  const std::string after =
      R"({"task_id":"worker-17.cluster.example.org:1764567000:140234567890123","desc":"train",)"
      R"("n":5010,"total":100000,"unit":"it","status":"active","timestamp":1764567890.135611,)"
      R"("created_at":1764567000.5,"updated_at":1764567890.138,"rate":812.9,"eta":115.2512})";
  const std::string m = members(before, after, 1764567890180);
  EXPECT_EQ(m, R"("n":5010,"ts":-44,"ua":-42,"r":812.9,"e":115.3)");
  const std::size_t per_update = std::string(R"("123456":{})").size() + m.size() + 1;  // + ','
  EXPECT_LE(per_update, 80u) << m;
}

TEST(CompactMembers, RenderedTheSameIsNotSentAgainAndHugeTimesKeepTheirName) {
  const std::string before = R"({"task_id":"a","updated_at":10.0001,"rate":812.31})";
  const std::string after = R"({"task_id":"a","updated_at":10.0002,"rate":812.34})";
  EXPECT_EQ(members(before, after, 0), "");  // 10000 ms and 812.3 both times
  // A timestamp in nanoseconds: not a millisecond count a double holds exactly.
  EXPECT_EQ(members("", R"({"task_id":"a","timestamp":1.764567890123e+18})", 5),
            R"("id":"a","timestamp":1.764567890123e+18)");
}

TickItem upsert(std::string id, std::string json, std::string project = {}) {
  TickItem it;
  it.task_id = std::move(id);
  it.json = std::move(json);
  it.has_project = !project.empty();
  it.project = std::move(project);
  return it;
}

TEST(CompactFrames, HandlesStayATasksAndMergedTicksCarryWholeStates) {
  daemon::CompactState state;

  Tick t1;
  t1.seq = 1;
  t1.items = {upsert("a", R"({"task_id":"a","n":1})"), upsert("b", R"({"task_id":"b","n":1})")};
  state.apply(t1);
  ASSERT_NE(t1.items[0].handle, 0u);
  ASSERT_NE(t1.items[0].handle, t1.items[1].handle);
  const std::uint64_t a = t1.items[0].handle;
  EXPECT_EQ(t1.items[0].compact, R"("id":"a","n":1)");

  Tick t2;
  t2.seq = 2;
  t2.items = {upsert("a", R"({"task_id":"a","n":2})"), daemon::removed_item("b")};
  state.apply(t2);
  EXPECT_EQ(t2.items[0].handle, a);
  EXPECT_EQ(t2.items[0].compact, R"("n":2)");
  const Frame f2 = daemon::compact_frame(t2, View{});
  ASSERT_TRUE(f2);
  EXPECT_EQ(f2.text(), fmt::format(R"({{"type":"delta","v":2,"seq":2,"t":{},"u":{{"{}":{{"n":2}}}},"x":[{}]}})",
                                   t2.t_ms, a, t1.items[1].handle));
  // A view that matches nothing of the tick: no frame.
  EXPECT_FALSE(daemon::compact_frame(t2, View{View::Kind::kTask, "zz"}));

  // "b" created again: a new handle, never the old one.
  Tick t3;
  t3.seq = 3;
  t3.items = {upsert("b", R"({"task_id":"b","n":7})", "p1")};
  state.apply(t3);
  EXPECT_NE(t3.items[0].handle, t1.items[1].handle);
  EXPECT_EQ(t3.items[0].compact, R"("id":"b","n":7)");

  // Moving "a" to a project: its whole state, for the clients of that project's view.
  Tick t4;
  t4.seq = 4;
  t4.items = {upsert("a", R"({"task_id":"a","n":3,"project":"p1"})", "p1")};
  state.apply(t4);
  EXPECT_EQ(t4.items[0].compact, R"("id":"a","n":3,"p":"p1")");

  // A client behind by t2..t4 gets them merged: whole states, relative to t4's time; b's
  // old handle removed and its new one whole.
  const Tick merged = daemon::merge_ticks({std::make_shared<const Tick>(t2),
                                           std::make_shared<const Tick>(t3),
                                           std::make_shared<const Tick>(t4)});
  const Frame fm = daemon::compact_frame(merged, View{});
  ASSERT_TRUE(fm);
  EXPECT_THAT(fm.text(), HasSubstr(fmt::format(R"("{}":{{"id":"a","n":3,"p":"p1"}})", a)));
  EXPECT_THAT(fm.text(), HasSubstr(fmt::format(R"("{}":{{"id":"b","n":7}})",
                                               t3.items[0].handle)));
  EXPECT_THAT(fm.text(), HasSubstr(fmt::format(R"("x":[{}])", t1.items[1].handle)));

  // "a" moves on to p2: a client of p1's view is told it is gone, one of p2's gets it whole;
  // the same when that tick is merged with one before it.
  Tick t5;
  t5.seq = 5;
  t5.items = {upsert("a", R"({"task_id":"a","n":4,"project":"p2"})", "p2")};
  state.apply(t5);
  EXPECT_THAT(daemon::compact_frame(t5, View{View::Kind::kProject, "p1"}).text(),
              HasSubstr(fmt::format(R"("u":{{}},"x":[{}])", a)));
  EXPECT_THAT(daemon::compact_frame(t5, View{View::Kind::kProject, "p2"}).text(),
              HasSubstr(fmt::format(R"("{}":{{"id":"a","n":4,"p":"p2"}})", a)));
  Tick t6;
  t6.seq = 6;
  t6.items = {upsert("a", R"({"task_id":"a","n":5,"project":"p2"})", "p2"),
              daemon::removed_item("b")};
  state.apply(t6);
  // A removal carries the project the task had: project views see it.
  EXPECT_THAT(daemon::compact_frame(t6, View{View::Kind::kProject, "p1"}).text(),
              HasSubstr(fmt::format(R"("x":[{}])", t3.items[0].handle)));
  const Tick merged56 =
      daemon::merge_ticks({std::make_shared<const Tick>(t5), std::make_shared<const Tick>(t6)});
  EXPECT_THAT(daemon::compact_frame(merged56, View{View::Kind::kProject, "p1"}).text(),
              HasSubstr(fmt::format(R"("x":[{},{}])", a, t3.items[0].handle)));
  Tick t7;  // put back as they were for the snapshot below
  t7.seq = 4;
  t7.items = {upsert("a", R"({"task_id":"a","n":3,"project":"p1"})", "p1"),
              upsert("b", R"({"task_id":"b","n":7})", "p1")};
  state.apply(t7);

  // The snapshot is the state held: both tasks, whole, labelled with the last tick.
  const Frame snap = state.snapshot(View{}, false);
  Json s(snap.text());
  ASSERT_TRUE(s.ok) << snap.text();
  EXPECT_EQ(s.str("type"), "snapshot");
  EXPECT_EQ(s.u64("seq"), 4u);
  EXPECT_EQ(s.keys("tasks").size(), 2u);
  EXPECT_THAT(state.snapshot(View{View::Kind::kTask, "a"}, true).text(),
              HasSubstr(R"("reset":true)"));
  EXPECT_EQ(state.size(), 2u);
}

// A v2 client as the README describes it: handles to tasks of compact members, absolute
// times. Each member's value is kept as its JSON text (times as absolute milliseconds).
class CompactClient {
 public:
  // False when a frame broke the protocol (`error` says how).
  bool apply(const std::string& text) {
    ++frames;
    bytes += text.size();
    simdjson::padded_string padded(text);
    od::document doc;
    od::object root;
    if (parser_.iterate(padded).get(doc) || doc.get_object().get(root)) return fail("not JSON");
    std::string type;
    std::int64_t t = 0;
    for (auto field : root) {
      std::string_view key;
      if (field.unescaped_key().get(key)) return fail("key");
      if (key == "type") {
        std::string_view v;
        if (field.value().get_string().get(v)) return fail("type");
        type = v;
        if (type == "snapshot") tasks.clear();
      } else if (key == "t") {
        if (field.value().get_int64().get(t)) return fail("t");
      } else if (key == "seq") {
        std::uint64_t seq = 0;
        if (field.value().get_uint64().get(seq)) return fail("seq");
        if (seq <= last_seq && type == "delta") return fail("seq went back");
        last_seq = seq;
      } else if (key == "reset") {
        ++resets;
      } else if (key == "tasks" || key == "u") {
        od::object entries;
        if (field.value().get_object().get(entries)) return fail("u");
        for (auto entry : entries) {
          std::string_view h;
          if (entry.unescaped_key().get(h)) return fail("handle");
          od::object body;
          if (entry.value().get_object().get(body)) return fail("entry");
          std::map<std::string, std::string> got;
          for (auto m : body) {
            std::string_view k;
            if (m.unescaped_key().get(k)) return fail("member key");
            std::string raw = raw_of(m.value());
            if (is_time(k) && raw != "null") raw = std::to_string(t + std::stoll(raw));
            got.emplace(std::string(k), std::move(raw));
          }
          const std::uint64_t handle = std::stoull(std::string(h));
          if (got.contains("id")) {
            ++updates;
            tasks[handle] = std::move(got);
            continue;
          }
          const auto held = tasks.find(handle);
          if (held == tasks.end()) return fail("an update of a handle never sent whole");
          ++updates;
          for (auto& [k, v] : got) {
            if (v == "null") {
              held->second.erase(k);
            } else {
              held->second[k] = std::move(v);
            }
          }
        }
      } else if (key == "x") {
        od::array handles;
        if (field.value().get_array().get(handles)) return fail("x");
        for (auto h : handles) {
          std::uint64_t v = 0;
          if (h.get_uint64().get(v)) return fail("x handle");
          tasks.erase(v);
        }
      }
    }
    return true;
  }

  // task_id -> members, as GET /tasks' answer would encode whole (id included).
  // Empty when two handles hold the same task (a removal the client was never told).
  [[nodiscard]] std::map<std::string, std::map<std::string, std::string>> by_id() const {
    std::map<std::string, std::map<std::string, std::string>> out;
    for (const auto& [h, m] : tasks) {
      if (out.contains(m.at("id"))) {
        ADD_FAILURE() << "two handles hold " << m.at("id");
        return {};
      }
      auto copy = m;
      copy.erase("N");  // total: null and absent are the same to a client
      if (auto it = m.find("N"); it != m.end() && it->second != "null") copy["N"] = it->second;
      out[m.at("id")] = std::move(copy);
    }
    return out;
  }

  std::map<std::uint64_t, std::map<std::string, std::string>> tasks;
  std::uint64_t last_seq = 0, frames = 0, bytes = 0, updates = 0, resets = 0;
  std::string error;

  static std::string raw_of(od::value v) {
    od::json_type type;
    if (v.type().get(type)) return "?";
    std::string_view raw;
    if (type == od::json_type::object) {
      od::object o;
      if (v.get_object().get(o) || o.raw_json().get(raw)) return "?";
    } else if (type == od::json_type::array) {
      od::array a;
      if (v.get_array().get(a) || a.raw_json().get(raw)) return "?";
    } else {
      raw = v.raw_json_token();
      while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\n')) raw.remove_suffix(1);
    }
    return std::string(raw);
  }
  static bool is_time(std::string_view k) {
    return k == "ts" || k == "ca" || k == "ua" || k == "da" || k == "sa" || k == "ra";
  }

 private:
  bool fail(std::string what) {
    error = std::move(what);
    return false;
  }
  od::parser parser_;
};

// GET /tasks?... (the table now), each task encoded whole with frame time 0 (absolute times),
// as the client holds it.
std::map<std::string, std::map<std::string, std::string>> table_now(std::uint16_t port,
                                                                    const std::string& target) {
  std::map<std::string, std::map<std::string, std::string>> out;
  const auto r = http(port, "GET", target);
  Json body(r.body);
  simdjson::dom::object tasks;
  if (!body.ok || body.root["tasks"].get_object().get(tasks)) {
    ADD_FAILURE() << "GET " << target << ": " << r.status << " " << r.body;
    return out;
  }
  for (auto [id, task] : tasks) {
    const std::string json = simdjson::minify(task);
    std::string text = "{" + members("", json, 0) + "}";
    CompactClient c;
    const std::string frame = R"({"type":"snapshot","seq":1,"t":0,"tasks":{"1":)" + text + "}}";
    if (!c.apply(frame)) {
      ADD_FAILURE() << c.error << " in " << frame;
      continue;
    }
    for (auto& [k, v] : c.by_id()) out[k] = std::move(v);
  }
  return out;
}

class CompactStream : public ::testing::Test {
 protected:
  void start() {
    daemon_ = std::make_unique<DaemonProcess>(std::vector<std::string>{
        "serve", "--segment", seg_.str(), "--capacity", "4096", "--threads", "2", "--tick", "0.02"});
    ASSERT_TRUE(daemon_->running()) << daemon_->log();
  }
  std::uint16_t port() const { return daemon_->port(); }
  int post(const std::string& body) { return http(port(), "POST", "/progress", body).status; }

  // Reads frames into `client` until its state is the table's (GET `table_target`), or 30 s.
  ::testing::AssertionResult converges(WsTestClient& ws, CompactClient& client,
                                       const std::string& table_target = "/tasks") {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    std::map<std::string, std::map<std::string, std::string>> want;
    while (std::chrono::steady_clock::now() < deadline) {
      while (auto frame = ws.read(100ms)) {
        if (!client.apply(*frame))
          return ::testing::AssertionFailure() << client.error << " in " << *frame;
      }
      want = table_now(port(), table_target);
      if (client.by_id() == want) return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure()
           << "held " << ::testing::PrintToString(client.by_id()) << "\nbut the table has "
           << ::testing::PrintToString(want);
  }

  ScopedSegmentName seg_;
  std::unique_ptr<DaemonProcess> daemon_;
};

TEST_F(CompactStream, AppliedFramesEndInTheTablesStateThroughEveryKindOfChange) {
  start();
  ASSERT_EQ(post(R"({"task_id":"before","n":3,"total":9,"desc":"there at connect"})"), 200);
  WsTestClient ws(port(), "/ws?protocol=delta2");
  ASSERT_TRUE(ws.open()) << ws.error();
  CompactClient client;
  const auto first = ws.read(10s);
  ASSERT_TRUE(first);
  ASSERT_TRUE(client.apply(*first)) << client.error;
  // The snapshot is the state as of the last tick: "before" is in it or in a frame soon after.
  EXPECT_THAT(*first, HasSubstr(R"("type":"snapshot","v":2)"));
  ASSERT_TRUE(converges(ws, client));
  ASSERT_TRUE(client.by_id().contains("\"before\""));  // ids are kept as their JSON text

  // A seeded mix of every kind of change over 40 tasks, some within one tick, some apart.
  std::mt19937 rng(7);
  for (int i = 0; i < 600; ++i) {
    const std::string id = fmt::format("t{}", rng() % 40);
    switch (rng() % 10) {
      case 0:
        ASSERT_EQ(post(fmt::format(R"({{"task_id":"{}","status":"close"}})", id)), 200);
        break;
      case 1:
        ASSERT_EQ(post(fmt::format(R"({{"task_id":"{}","status":"error","error":"disk {}"}})", id, i)), 200);
        break;
      case 2:
        (void)http(port(), "DELETE", "/tasks/" + id);
        break;
      case 3:
        ASSERT_EQ(post(fmt::format(R"({{"task_id":"{}","meta":{{"k":"v{}","nest":[{}]}},"message":"m{}"}})",
                                   id, i, i, i)), 200);
        break;
      case 4:
        ASSERT_EQ(post(fmt::format(R"({{"task_id":"{}","project":"p{}","phase":"ph{}"}})", id, rng() % 3, i)), 200);
        break;
      default:
        ASSERT_EQ(post(fmt::format(R"({{"task_id":"{}","n":{},"total":{},"status":"update","timestamp":{}.5}})",
                                   id, i, i % 2 ? "1000" : "null", 1764567000 + i)), 200);
    }
    if (i % 50 == 0) std::this_thread::sleep_for(30ms);  // let some changes be their own ticks
  }
  EXPECT_TRUE(converges(ws, client));
  EXPECT_EQ(client.resets, 0u);
  EXPECT_GT(client.updates, 40u);
}

TEST_F(CompactStream, AProjectViewGetsATaskThatMovesIntoItWhole) {
  start();
  ASSERT_EQ(post(R"({"task_id":"mover","n":1})"), 200);
  ASSERT_EQ(post(R"({"task_id":"stay","n":1,"project":"p1"})"), 200);
  WsTestClient ws(port(), "/ws?protocol=delta2&project=p1");
  ASSERT_TRUE(ws.open()) << ws.error();
  CompactClient client;
  ASSERT_TRUE(converges(ws, client, "/tasks?project=p1"));
  ASSERT_EQ(client.tasks.size(), 1u);
  ASSERT_EQ(post(R"({"task_id":"mover","n":2,"project":"p1"})"), 200);
  EXPECT_TRUE(converges(ws, client, "/tasks?project=p1"));
  EXPECT_EQ(client.tasks.size(), 2u);
  // Moving out of the view and being removed: both leave the client.
  ASSERT_EQ(post(R"({"task_id":"mover","n":3,"project":"p9"})"), 200);
  EXPECT_TRUE(converges(ws, client, "/tasks?project=p1"));
  EXPECT_EQ(client.tasks.size(), 1u);
  ASSERT_EQ(http(port(), "DELETE", "/tasks/stay").status, 200);
  EXPECT_TRUE(converges(ws, client, "/tasks?project=p1"));
  EXPECT_EQ(client.tasks.size(), 0u);
}

TEST_F(CompactStream, ASubscribeGetsASnapshotOfTheNewViewAndNothingOfTheOld) {
  start();
  ASSERT_EQ(post(R"({"task_id":"a1","n":1})"), 200);
  ASSERT_EQ(post(R"({"task_id":"b1","n":1})"), 200);
  WsTestClient ws(port(), "/ws?protocol=delta2");
  ASSERT_TRUE(ws.open()) << ws.error();
  CompactClient client;
  ASSERT_TRUE(converges(ws, client));
  ASSERT_TRUE(ws.send(R"({"op":"subscribe","prefix":"b"})"));
  // Changes to both while the new view settles: only b's reach the client.
  for (int i = 2; i < 30; ++i) {
    ASSERT_EQ(post(fmt::format(R"({{"task_id":"a1","n":{}}})", i)), 200);
    ASSERT_EQ(post(fmt::format(R"({{"task_id":"b1","n":{}}})", i)), 200);
  }
  EXPECT_TRUE(converges(ws, client, "/tasks?prefix=b"));
  EXPECT_EQ(client.tasks.size(), 1u);
}

// Behind by a few ticks it gets them merged, by 16 a shared reset snapshot; either way it ends
// holding the table.
TEST_F(CompactStream, AClientThatFallsBehindCatchesUp) {
  start();
  WsTestClient ws(port(), "/ws?protocol=delta2");
  ASSERT_TRUE(ws.open()) << ws.error();
  CompactClient client;
  ASSERT_TRUE(converges(ws, client));
  // Frames of ~200 KB per tick (a 500-byte message changing on 400 tasks), not read for a
  // while: past the sockets' buffers (4 MB at most on each side here) the server holds the
  // ticks behind the one in flight, merged.
  const std::string pad(480, 'x');
  std::mt19937 rng(11);
  for (int round = 0; round < 60; ++round) {
    std::string batch = "[";
    for (int i = 0; i < 400; ++i) {
      if (i) batch += ',';
      batch += fmt::format(R"({{"task_id":"s{}","n":{},"message":"{}{}"}})", i, round,
                           pad, rng());
    }
    batch += "]";
    ASSERT_EQ(http(port(), "POST", "/progress", batch).status, 200);
    std::this_thread::sleep_for(25ms);  // about a tick apart
  }
  EXPECT_TRUE(converges(ws, client));
  const auto metrics = http(port(), "GET", "/metrics").body;
  EXPECT_THAT(metrics, HasSubstr(R"(progressista_ws_clients{protocol="delta2"} 1)"));
  // It did fall behind: ticks were held and merged for it.
  EXPECT_THAT(metrics, Not(HasSubstr("progressista_slow_consumer_coalesced_total 0\n")));
}

TEST_F(CompactStream, BothSubprotocolsOfferedGetTheCompactOne) {
  start();
  WsTestClient ws(port(), "/ws", "progressista.delta.v1, progressista.delta.v2");
  ASSERT_TRUE(ws.open()) << ws.error();
  EXPECT_EQ(ws.header("Sec-WebSocket-Protocol").value_or(""),
            "progressista.delta.v2");
  const auto first = ws.read(10s);
  ASSERT_TRUE(first);
  EXPECT_THAT(*first, HasSubstr(R"("v":2)"));
  WsTestClient v1(port(), "/ws", "progressista.delta.v1");
  const auto f1 = v1.read(10s);
  ASSERT_TRUE(f1);
  EXPECT_THAT(*f1, Not(HasSubstr(R"("v":2)")));
}

}  // namespace
}  // namespace progressista
