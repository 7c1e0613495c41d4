// The WebSocket side under hostile or confused clients, against a real `progressista serve`:
// a flood of control messages, a burst of subscribes, protocols and subprotocols /ws does not
// speak.
#include <set>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/daemon_process.hpp"
#include "support/http_client.hpp"
#include "support/json_doc.hpp"
#include "support/segment_fixture.hpp"
#include "support/ws_client.hpp"

namespace progressista {
namespace {

using testing::DaemonProcess;
using ::testing::HasSubstr;
using testing::http;
using testing::ScopedSegmentName;
using testing::WsTestClient;
using Json = testing::JsonDoc;
using namespace std::chrono_literals;

class WsHardening : public ::testing::Test {
 protected:
  void start(std::string tick = "0.02") {
    daemon_ = std::make_unique<DaemonProcess>(std::vector<std::string>{
        "serve", "--segment", seg_.str(), "--threads", "2", "--tick", std::move(tick)});
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
    EXPECT_EQ(ws.response().count(boost::beast::http::field::sec_websocket_protocol), 0u)
        << offered;
    const auto frame = ws.read(20s);
    ASSERT_TRUE(frame) << offered;
    EXPECT_THAT(*frame, ::testing::StartsWith(R"({"tasks":{)")) << offered;
  }
  // Ours among others is picked and echoed.
  WsTestClient ws(port(), "/ws", "chat.v2, progressista.delta.v1");
  ASSERT_TRUE(ws.open()) << ws.error();
  EXPECT_EQ(ws.response()[boost::beast::http::field::sec_websocket_protocol],
            "progressista.delta.v1");
  const auto frame = ws.read(20s);
  ASSERT_TRUE(frame);
  EXPECT_EQ(Json(*frame).str("type"), "snapshot");
}

}  // namespace
}  // namespace progressista
