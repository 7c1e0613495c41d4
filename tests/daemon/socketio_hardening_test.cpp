// Socket.IO progress rooms (/socket.io/) under hostile or broken clients, against a real
// `progressista serve`, spoken raw (Engine.IO over a WebSocket, and polling over plain HTTP):
// malformed packets, oversize payloads, unknown events, join floods and a client that stops
// polling. Each costs that session only; the daemon and the other clients carry on; /metrics
// counts it.
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/daemon_process.hpp"
#include "support/http_client.hpp"
#include "support/segment_fixture.hpp"
#include "support/ws_client.hpp"

namespace progressista {
namespace {

using testing::DaemonProcess;
using ::testing::HasSubstr;
using testing::http;
using testing::ScopedSegmentName;
using ::testing::StartsWith;
using testing::WsTestClient;
using namespace std::chrono_literals;

constexpr auto kWait = 30s;  // generous: the sanitizer build is several times slower
constexpr const char* kWsTarget = "/socket.io/?EIO=4&transport=websocket";

class SocketIoHardening : public ::testing::Test {
 protected:
  void start(std::map<std::string, std::string> env = {}) {
    daemon_ = std::make_unique<DaemonProcess>(
        std::vector<std::string>{"serve", "--segment", seg_.str(), "--threads", "2", "--tick",
                                 "0.02"},
        std::move(env));
    ASSERT_TRUE(daemon_->running()) << daemon_->log();
  }
  std::uint16_t port() const { return daemon_->port(); }
  int post(const std::string& body) { return http(port(), "POST", "/progress", body).status; }
  std::string metrics() { return http(port(), "GET", "/metrics").body; }

  // A WebSocket session through CONNECT: its open packet read, "40" answered.
  std::unique_ptr<WsTestClient> connected() {
    auto ws = std::make_unique<WsTestClient>(port(), kWsTarget);
    EXPECT_TRUE(ws->open()) << ws->error();
    const auto open = ws->read(kWait);
    EXPECT_TRUE(open && open->rfind("0{\"sid\":", 0) == 0) << open.value_or("(nothing)");
    EXPECT_TRUE(ws->send("40"));
    std::string f;
    EXPECT_TRUE(
        ws->read_until([](const std::string& x) { return x.rfind("40{", 0) == 0; }, kWait, &f))
        << f;
    return ws;
  }
  // A well-behaved socket in room `task`, which must keep getting its events.
  std::unique_ptr<WsTestClient> watcher(const std::string& task) {
    auto ws = connected();
    EXPECT_TRUE(ws->send(fmt::format(R"(42["join-progress","{}"])", task)));
    std::string f;
    EXPECT_TRUE(ws->read_until(
        [](const std::string& x) { return x.find("progress-status") != std::string::npos; }, kWait,
        &f))
        << f;
    return ws;
  }
  void still_served(WsTestClient& ws, const std::string& task, int n) {
    ASSERT_EQ(post(fmt::format(R"({{"task_id":"{}","n":{}}})", task, n)), 200);
    std::string f;
    EXPECT_TRUE(ws.read_until(
        [&](const std::string& x) {
          return x.find("progress-update") != std::string::npos &&
                 x.find(fmt::format("\"currentStep\":{},", n)) != std::string::npos;
        },
        kWait, &f))
        << f;
  }

  ScopedSegmentName seg_;
  std::unique_ptr<DaemonProcess> daemon_;
};

TEST_F(SocketIoHardening, MalformedPacketsCloseThatSessionOnly) {
  start();
  ASSERT_EQ(post(R"({"task_id":"good","n":1,"total":100})"), 200);
  auto good = watcher("good");
  const std::vector<std::string> bad = {
      "9nonsense",                                   // no such Engine.IO packet type
      "4",                                           // a message without a Socket.IO packet
      R"(42["join-progress")",                       // JSON cut short
      R"(42{"not":"an array"})",                     // an event that is not an array
      R"(451-["x",{"_placeholder":true,"num":0}])",  // binary events: not here
      "0",                                           // open is the server's
  };
  for (const std::string& packet : bad) {
    auto ws = connected();
    ASSERT_TRUE(ws->send(packet)) << packet;
    EXPECT_TRUE(ws->wait_closed(kWait)) << packet;
  }
  // An event before CONNECT breaks the protocol too.
  WsTestClient early(port(), kWsTarget);
  ASSERT_TRUE(early.open());
  ASSERT_TRUE(early.read(kWait));
  ASSERT_TRUE(early.send(R"(42["join-progress","good"])"));
  EXPECT_TRUE(early.wait_closed(kWait));

  still_served(*good, "good", 2);
  EXPECT_THAT(metrics(),
              HasSubstr(R"(progressista_socketio_rejected_total{reason="malformed"} 7)"));
}

TEST_F(SocketIoHardening, OversizePayloadsAreRefusedAndCounted) {
  start();
  ASSERT_EQ(post(R"({"task_id":"good","n":1,"total":100})"), 200);
  auto good = watcher("good");
  {
    auto ws = connected();
    const std::string big = "42[\"join-progress\",\"" + std::string(1'100'000, 'x') + "\"]";
    (void)ws->send(big);  // the server may close while it is still being written
    EXPECT_TRUE(ws->wait_closed(kWait));
  }
  // Polling: a body over maxPayload gets 413 and ends the session.
  const auto hs = http(port(), "GET", "/socket.io/?EIO=4&transport=polling");
  ASSERT_EQ(hs.status, 200) << hs.body;
  const std::string sid = hs.body.substr(9, 20);
  const std::string target = "/socket.io/?EIO=4&transport=polling&sid=" + sid;
  const auto big = http(port(), "POST", target, "4" + std::string(1'000'001, 'x'), {},
                        "text/plain;charset=UTF-8");
  EXPECT_EQ(big.status, 413) << big.body;
  const auto after = http(port(), "GET", target);
  EXPECT_EQ(after.status, 400);
  EXPECT_THAT(after.body, HasSubstr("Session ID unknown"));

  still_served(*good, "good", 3);
  EXPECT_THAT(metrics(), HasSubstr(R"(progressista_socketio_rejected_total{reason="oversize"} 2)"));
}

TEST_F(SocketIoHardening, AnUnknownEventGetsAnErrorAndTheSessionStays) {
  start();
  ASSERT_EQ(post(R"({"task_id":"t1","n":1,"total":4})"), 200);
  auto ws = connected();
  ASSERT_TRUE(ws->send(R"(42["subscribe-everything",{"all":true}])"));
  std::string f;
  ASSERT_TRUE(ws->read_until([](const std::string& x) { return x.rfind("42[\"error\"", 0) == 0; },
                             kWait, &f));
  EXPECT_THAT(f, HasSubstr("unknown event 'subscribe-everything'"));
  ASSERT_TRUE(ws->send(R"(4211["also-unknown"])"));  // with an ACK id: answered by the ACK
  ASSERT_TRUE(
      ws->read_until([](const std::string& x) { return x.rfind("4311[", 0) == 0; }, kWait, &f));
  EXPECT_THAT(f, HasSubstr(R"("ok":false)"));
  // Still a working socket.
  ASSERT_TRUE(ws->send(R"(42["join-progress","t1"])"));
  ASSERT_TRUE(ws->read_until(
      [](const std::string& x) { return x.find("progress-status") != std::string::npos; }, kWait,
      &f));
  EXPECT_THAT(f, HasSubstr(R"("sessionId":"t1")"));
  EXPECT_THAT(metrics(),
              HasSubstr(R"(progressista_socketio_rejected_total{reason="unknown_event"} 2)"));
}

TEST_F(SocketIoHardening, AJoinFloodGetsAClearErrorAndAClose) {
  start();
  ASSERT_EQ(post(R"({"task_id":"good","n":1,"total":100})"), 200);
  auto good = watcher("good");
  auto flood = connected();
  int sent = 0;
  for (int i = 0; i < 1000; ++i) {
    if (!flood->send(fmt::format(R"(42["join-progress","flood-{}"])", i))) break;
    ++sent;
  }
  EXPECT_GT(sent, 100);
  std::string f;
  ASSERT_TRUE(flood->read_until(
      [](const std::string& x) { return x.find("too many messages") != std::string::npos; }, kWait,
      &f))
      << f;
  EXPECT_THAT(f, HasSubstr("at most 50 a second"));
  EXPECT_TRUE(flood->wait_closed(kWait));
  still_served(*good, "good", 4);
  EXPECT_THAT(metrics(),
              HasSubstr(R"(progressista_socketio_rejected_total{reason="message_rate"} 1)"));
}

TEST_F(SocketIoHardening, APastTheRoomLimitJoinIsRefusedWithAClearError) {
  start();
  auto ws = connected();
  // Within the message rate (50 a second): 101 joins, 25 ms apart.
  for (int i = 0; i <= 100; ++i) {
    ASSERT_TRUE(ws->send(fmt::format(R"(42["join-progress","room-{}"])", i)));
    std::this_thread::sleep_for(25ms);  // pacing the sender, not waiting for a result
  }
  std::string f;
  ASSERT_TRUE(ws->read_until(
      [](const std::string& x) { return x.find("too many rooms") != std::string::npos; }, kWait,
      &f))
      << f;
  EXPECT_THAT(f, HasSubstr("at most 100 rooms"));
  EXPECT_TRUE(ws->open());
  EXPECT_THAT(metrics(),
              HasSubstr(R"(progressista_socketio_rejected_total{reason="join_limit"} 1)"));
}

TEST_F(SocketIoHardening, PollingErrorsAndAClientThatStopsPollingIsClosedAfterThePingTimeout) {
  start({{"PROGRESSISTA_SOCKETIO_PING_INTERVAL_MS", "300"},
         {"PROGRESSISTA_SOCKETIO_PING_TIMEOUT_MS", "200"}});
  EXPECT_THAT(http(port(), "GET", "/socket.io/?EIO=3&transport=polling").body,
              HasSubstr(R"("code":5)"));
  EXPECT_THAT(http(port(), "GET", "/socket.io/?EIO=4&transport=carrier-pigeon").body,
              HasSubstr(R"("code":0)"));
  const auto unknown = http(port(), "GET", "/socket.io/?EIO=4&transport=polling&sid=nope");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_THAT(unknown.body, HasSubstr(R"({"code":1,"message":"Session ID unknown"})"));

  const auto hs = http(port(), "GET", "/socket.io/?EIO=4&transport=polling");
  ASSERT_EQ(hs.status, 200) << hs.body;
  EXPECT_THAT(hs.body, StartsWith(R"(0{"sid":")"));
  EXPECT_THAT(hs.body,
              HasSubstr(R"("upgrades":["websocket"],"pingInterval":300,"pingTimeout":200)"));
  const std::string sid = hs.body.substr(9, 20);
  const std::string target = "/socket.io/?EIO=4&transport=polling&sid=" + sid;
  // Garbage in a POST: 400, and the session is gone.
  EXPECT_EQ(http(port(), "POST", target, "\x1e\x1e", {}, "text/plain").status, 400);
  EXPECT_EQ(http(port(), "GET", target).status, 400);

  // A session that never polls again: closed once its ping goes unanswered.
  const auto hs2 = http(port(), "GET", "/socket.io/?EIO=4&transport=polling");
  ASSERT_EQ(hs2.status, 200);
  const std::string target2 = "/socket.io/?EIO=4&transport=polling&sid=" + hs2.body.substr(9, 20);
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  std::string m;
  while (std::chrono::steady_clock::now() < deadline) {
    m = metrics();
    if (m.find("progressista_socketio_ping_timeouts_total 1") != std::string::npos) break;
    std::this_thread::sleep_for(50ms);  // polling /metrics for the condition
  }
  EXPECT_THAT(m, HasSubstr("progressista_socketio_ping_timeouts_total 1"));
  EXPECT_THAT(http(port(), "GET", target2).body, HasSubstr("Session ID unknown"));
  EXPECT_THAT(m, HasSubstr("progressista_socketio_sessions 0"));
}

}  // namespace
}  // namespace progressista
