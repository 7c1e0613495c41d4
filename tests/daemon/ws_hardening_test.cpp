// The WebSocket side under hostile or confused clients, against a real `progressista serve`:
// a flood of control messages, a burst of subscribes, protocols and subprotocols /ws does not
// speak, frames RFC 6455 forbids, pings, the close handshake, a client that stops answering,
// a client whose socket is full.
#include <set>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/daemon_process.hpp"
#include "support/http_client.hpp"
#include "support/json_doc.hpp"
#include "support/raw_ws_client.hpp"
#include "support/wait.hpp"
#include "support/segment_fixture.hpp"
#include "support/ws_client.hpp"

namespace progressista {
namespace {

using testing::DaemonProcess;
using ::testing::HasSubstr;
using testing::http;
using testing::raw_ws_frame;
using testing::RawWsClient;
using testing::ScopedSegmentName;
using testing::WsTestClient;
using Json = testing::JsonDoc;
using namespace std::chrono_literals;

class WsHardening : public ::testing::Test {
 protected:
  void start(std::string tick = "0.02", std::vector<std::string> more = {}) {
    std::vector<std::string> args{"serve", "--segment", seg_.str(), "--threads", "2",
                                  "--tick", std::move(tick)};
    args.insert(args.end(), more.begin(), more.end());
    daemon_ = std::make_unique<DaemonProcess>(std::move(args));
    ASSERT_TRUE(daemon_->running()) << daemon_->log();
  }
  std::uint16_t port() const { return daemon_->port(); }
  int post(const std::string& body) { return http(port(), "POST", "/progress", body).status; }
  std::string metrics() { return http(port(), "GET", "/metrics").body; }

  ScopedSegmentName seg_;
  std::unique_ptr<DaemonProcess> daemon_;
};

std::size_t count_of(const std::string& text, std::string_view what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST_F(WsHardening, AControlMessageFloodGetsAnErrorAndClose1008WhileOthersKeepReceiving) {
  start();
  ASSERT_EQ(post(R"({"task_id":"good-1","n":1})"), 200);
  WsTestClient good(port(), "/ws?protocol=delta");
  ASSERT_TRUE(good.open()) << good.error();
  ASSERT_TRUE(good.read(20s));  // its snapshot

  // As fast as it can, reading nothing: each subscribe used to build a snapshot.
  WsTestClient flood(port(), "/ws?protocol=delta");
  ASSERT_TRUE(flood.open()) << flood.error();
  int sent = 0;
  for (int i = 0; i < 5000; ++i) {
    if (!flood.send(fmt::format(R"({{"op":"subscribe","prefix":"p-{}"}})", i))) break;
    ++sent;
  }
  EXPECT_GT(sent, 40);  // past the burst, whatever the server did with the rest

  std::string f;
  ASSERT_TRUE(flood.read_until([](const std::string& x) { return Json(x).str("type") == "error"; },
                               20s, &f))
      << "last frame: " << f.substr(0, 200);
  EXPECT_THAT(Json(f).str("detail"), HasSubstr("20 control messages a second"));
  ASSERT_TRUE(flood.wait_closed(20s));
  EXPECT_EQ(flood.close_code(), 1008);

  EXPECT_THAT(metrics(), HasSubstr(R"(progressista_ws_rejected_total{reason="control_rate"} 1)"));
  EXPECT_EQ(count_of(daemon_->log(), "control messages a second"), 1u) << daemon_->log();

  // The well-behaved client on the same daemon keeps getting its changes.
  ASSERT_EQ(post(R"({"task_id":"good-2","n":2})"), 200);
  ASSERT_TRUE(good.read_until(
      [](const std::string& x) { return Json(x).keys("upserts").count("good-2") > 0; }, 20s, &f))
      << f;
  EXPECT_TRUE(good.open());
}

TEST_F(WsHardening, ABurstOfSubscribesIsAnsweredOnceWithTheLastView) {
  // A subscribe is answered within a tick; a long tick makes the burst fall inside one.
  start("0.5");
  const std::string prefixes = "abcdefghij";
  for (char p : prefixes) ASSERT_EQ(post(fmt::format(R"({{"task_id":"{}-1"}})", p)), 200);
  WsTestClient ws(port(), "/ws", "progressista.delta.v1");
  ASSERT_TRUE(ws.open()) << ws.error();
  auto first = ws.read(20s);
  ASSERT_TRUE(first);
  ASSERT_EQ(Json(*first).keys("tasks").size(), prefixes.size()) << *first;

  for (char p : prefixes)
    ASSERT_TRUE(ws.send(fmt::format(R"({{"op":"subscribe","prefix":"{}-"}})", p)));
  std::string f;
  ASSERT_TRUE(ws.read_until([](const std::string& x) { return Json(x).str("type") == "snapshot"; },
                            20s, &f))
      << f;
  EXPECT_EQ(Json(f).keys("tasks"), std::set<std::string>{"j-1"}) << f;

  // Quiet marker: a change outside the last view, then one inside it; no other snapshot before.
  ASSERT_EQ(post(R"({"task_id":"a-2"})"), 200);
  ASSERT_EQ(post(R"({"task_id":"j-2"})"), 200);
  int more_snapshots = 0;
  ASSERT_TRUE(ws.read_until(
      [&](const std::string& x) {
        const Json j(x);
        if (j.str("type") == "snapshot") ++more_snapshots;
        EXPECT_EQ(j.keys("upserts").count("a-2") + j.keys("tasks").count("a-2"), 0u) << x;
        return j.keys("upserts").count("j-2") > 0;
      },
      20s, &f))
      << f;
  EXPECT_EQ(more_snapshots, 0);
  EXPECT_THAT(metrics(), HasSubstr(R"(progressista_ws_rejected_total{reason="control_rate"} 0)"));
}

TEST_F(WsHardening, AnUnknownProtocolIsClosedWith1008NamingTheProtocolsServed) {
  start();
  ASSERT_EQ(post(R"({"task_id":"t"})"), 200);
  WsTestClient ws(port(), "/ws?protocol=bogus");
  ASSERT_TRUE(ws.open()) << ws.error();  // the upgrade is accepted, then closed
  const auto frame = ws.read(20s);
  EXPECT_FALSE(frame) << *frame;
  ASSERT_TRUE(ws.closed());
  EXPECT_EQ(ws.close_code(), 1008);
  EXPECT_THAT(ws.close_reason(), HasSubstr("progressista"));
  EXPECT_THAT(ws.close_reason(), HasSubstr("delta"));
  EXPECT_THAT(metrics(),
              HasSubstr(R"(progressista_ws_rejected_total{reason="unknown_protocol"} 1)"));

  // The protocols served, by name.
  WsTestClient named(port(), "/ws?protocol=progressista");
  ASSERT_TRUE(named.open()) << named.error();
  const auto plain = named.read(20s);
  ASSERT_TRUE(plain);
  EXPECT_THAT(*plain, ::testing::StartsWith(R"({"tasks":{)"));
  WsTestClient delta(port(), "/ws?protocol=delta");
  ASSERT_TRUE(delta.open()) << delta.error();
  const auto snapshot = delta.read(20s);
  ASSERT_TRUE(snapshot);
  EXPECT_EQ(Json(*snapshot).str("type"), "snapshot");
}

// RFC 6455 4.2.2: the server picks one of the subprotocols offered, or none, and echoes only the
// one it picked; a client that needed one it did not get fails the connection itself.
TEST_F(WsHardening, AnUnknownSubprotocolGetsTheDefaultProtocolAndNoEcho) {
  start();
  ASSERT_EQ(post(R"({"task_id":"t"})"), 200);
  for (const std::string offered : {"chat.v2", "progressista.delta.v10"}) {
    WsTestClient ws(port(), "/ws", offered);
    ASSERT_TRUE(ws.open()) << offered << ": " << ws.error();
    EXPECT_EQ(ws.header("Sec-WebSocket-Protocol"), std::nullopt)
        << offered;
    const auto frame = ws.read(20s);
    ASSERT_TRUE(frame) << offered;
    EXPECT_THAT(*frame, ::testing::StartsWith(R"({"tasks":{)")) << offered;
  }
  // Ours among others is picked and echoed.
  WsTestClient ws(port(), "/ws", "chat.v2, progressista.delta.v1");
  ASSERT_TRUE(ws.open()) << ws.error();
  EXPECT_EQ(ws.header("Sec-WebSocket-Protocol").value_or(""),
            "progressista.delta.v1");
  const auto frame = ws.read(20s);
  ASSERT_TRUE(frame);
  EXPECT_EQ(Json(*frame).str("type"), "snapshot");
}

TEST_F(WsHardening, APingIsAnsweredWithItsPayloadAndTheStreamGoesOn) {
  start();
  ASSERT_EQ(post(R"({"task_id":"p-1","n":1})"), 200);
  RawWsClient ws(port(), "/ws?protocol=delta");
  ASSERT_TRUE(ws.open());
  auto f = ws.next();
  ASSERT_TRUE(f);
  EXPECT_EQ(Json(f->payload).str("type"), "snapshot") << f->payload;
  ASSERT_TRUE(ws.send(raw_ws_frame(0x89, "are you there")));
  // The pong, perhaps after deltas of the tick that was under way (a snapshot taken before
  // it, or the same change again: deltas are upserts).
  while ((f = ws.next()) && f->opcode == 0x1) {
  }
  ASSERT_TRUE(f);
  EXPECT_EQ(f->opcode, 0xA);
  EXPECT_EQ(f->payload, "are you there");

  ASSERT_EQ(post(R"({"task_id":"p-1","n":2})"), 200);
  for (;;) {
    f = ws.next();
    ASSERT_TRUE(f);
    ASSERT_EQ(f->opcode, 0x1);
    const Json j(f->payload);
    if (j.str("type") == "delta" && j.n_of("upserts", "p-1") == 2) break;
  }
}

TEST_F(WsHardening, ForbiddenFramesAreClosedWithTheirCodeCountedAndOthersUnaffected) {
  start();
  ASSERT_EQ(post(R"({"task_id":"b-1"})"), 200);
  WsTestClient good(port(), "/ws?protocol=delta");
  ASSERT_TRUE(good.open()) << good.error();
  ASSERT_TRUE(good.read(20s));

  struct Case {
    const char* what;
    std::string bytes;
    int code;
  };
  const Case cases[] = {
      {"unmasked", raw_ws_frame(0x81, R"({"op":"unsubscribe"})", false), 1002},
      {"over 64 KiB", raw_ws_frame(0x81, std::string(70000, ' ')), 1009},
      {"not UTF-8", raw_ws_frame(0x81, "\xff\xfe"), 1007},
  };
  for (const Case& c : cases) {
    RawWsClient ws(port(), "/ws?protocol=delta");
    ASSERT_TRUE(ws.open()) << c.what;
    auto f = ws.next();  // the snapshot
    ASSERT_TRUE(f) << c.what;
    ASSERT_TRUE(ws.send(c.bytes)) << c.what;
    while ((f = ws.next()) && f->opcode != 0x8) {
    }
    ASSERT_TRUE(f) << c.what << ": no close frame";
    EXPECT_EQ(f->close_code(), c.code) << c.what;
    EXPECT_TRUE(ws.closed_by_server(20s)) << c.what;
  }
  EXPECT_THAT(metrics(), HasSubstr(R"(progressista_ws_rejected_total{reason="bad_frame"} 3)"));

  ASSERT_EQ(post(R"({"task_id":"b-2"})"), 200);
  std::string f;
  ASSERT_TRUE(good.read_until(
      [](const std::string& x) { return Json(x).keys("upserts").count("b-2") > 0; }, 20s, &f))
      << f;
}

TEST_F(WsHardening, AClientsCloseIsEchoedAndTheConnectionEnds) {
  start();
  RawWsClient ws(port(), "/ws?protocol=delta");
  ASSERT_TRUE(ws.open());
  ASSERT_TRUE(ws.next());  // the snapshot
  ASSERT_TRUE(ws.send(raw_ws_frame(0x88, std::string("\x0f\xa0", 2) + "done")));  // 4000
  std::optional<testing::RawWsFrame> f;
  while ((f = ws.next()) && f->opcode != 0x8) {
  }
  ASSERT_TRUE(f) << "no close frame";
  EXPECT_EQ(f->close_code(), 4000);
  EXPECT_TRUE(ws.closed_by_server(20s));
  EXPECT_TRUE(testing::eventually(
      [&] {
        return metrics().find(R"(progressista_ws_clients{protocol="delta"} 0)") !=
               std::string::npos;
      },
      20s))
      << metrics();
}

TEST_F(WsHardening, AClientThatStopsAnsweringPingsIsDropped) {
  // Pings after 0.3 s without sending; dropped once nothing was heard for 0.6 s.
  start("0.02", {"--ping-interval", "0.3"});
  RawWsClient ws(port(), "/ws?protocol=delta");
  ASSERT_TRUE(ws.open());
  ASSERT_TRUE(ws.next());  // the snapshot
  // Answered, the pings keep coming: the client stays.
  for (int i = 0; i < 4; ++i) {
    const auto f = ws.next(20s);
    ASSERT_TRUE(f) << "ping " << i;
    ASSERT_EQ(f->opcode, 0x9) << "ping " << i;
    ASSERT_TRUE(ws.send(raw_ws_frame(0x8A, f->payload)));
  }
  EXPECT_FALSE(ws.eof());
  // Unanswered, the connection is dropped.
  EXPECT_TRUE(ws.closed_by_server(20s));
  EXPECT_THAT(daemon_->log(), HasSubstr("not even a pong"));
}

TEST_F(WsHardening, AClientWhoseSocketFillsGetsEveryFrameWhole) {
  // A small receive buffer and a client that does not read while large frames go out, one
  // delivery after another (a second client, reading, tells when each has happened): the
  // socket fills, so a delivery's non-blocking send is cut short (counted) and its rest must
  // follow, from the writer, before any other frame. Every frame read afterwards is whole
  // JSON, and the last state arrives.
  start();
  RawWsClient ws(port(), "/ws?protocol=delta", 4096);
  ASSERT_TRUE(ws.open());
  ASSERT_TRUE(ws.next());  // the snapshot
  WsTestClient pace(port(), "/ws?protocol=delta");
  ASSERT_TRUE(pace.open()) << pace.error();
  ASSERT_TRUE(pace.read(20s));  // its snapshot
  const auto partial_sends = [this] {
    const std::string m = metrics();
    const auto at = m.find("\nprogressista_partial_sends_total ");
    return at == std::string::npos ? -1.0 : std::stod(m.substr(at + 34));
  };
  // ~3 KB a task (desc, message and meta near their limits), ~900 KB a delivery: the loopback
  // send buffer (at most 4 MB here) fills in a few.
  const std::string text(500, 't');
  const std::string pad(1900, 'p');
  constexpr int kTasks = 300;
  int rounds = 0;
  while (partial_sends() == 0 && rounds < 60) {
    ++rounds;
    std::string body;
    for (int t = 0; t < kTasks; ++t)
      body += fmt::format(
                  R"({{"task_id":"fill-{}","n":{},"desc":"{}","message":"{}","meta":{{"pad":"{}"}}}})",
                  t, rounds, text, text, pad) +
              "\n";
    ASSERT_EQ(http(port(), "POST", "/progress", body, {}, "application/x-ndjson").status, 200);
    ASSERT_TRUE(pace.read_until(
        [&](const std::string& f) { return Json(f).n_of("upserts", "fill-299") == rounds; }, 20s))
        << "round " << rounds << " was not delivered";
  }
  ASSERT_GT(partial_sends(), 0) << "no send was cut short in " << rounds
                                << " deliveries: the test did not reach the path it is for";
  int frames = 0;
  bool last_seen = false;
  while (!last_seen) {
    const auto f = ws.next(20s);
    ASSERT_TRUE(f) << "after " << frames << " frames";
    ASSERT_EQ(f->opcode, 0x1);
    ++frames;
    const Json j(f->payload);
    ASSERT_TRUE(j.ok) << "frame " << frames << " is not JSON: " << f->payload.substr(0, 200);
    const std::string type = j.str("type");
    ASSERT_TRUE(type == "delta" || type == "snapshot") << f->payload.substr(0, 200);
    const std::string where = type == "delta" ? "upserts" : "tasks";
    if (j.n_of(where, "fill-299") == rounds) last_seen = true;
  }
}

}  // namespace
}  // namespace progressista
