// The Engine.IO/Socket.IO framing and the progress payload on their own (no sockets): the
// cases the protocol documents spell out, and the refusals the sessions rely on.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "live/socketio/engineio_packet.hpp"
#include "live/socketio/progress_payload.hpp"
#include "live/socketio/socketio_packet.hpp"

namespace progressista::daemon::socketio {
namespace {

using ::testing::HasSubstr;

TEST(EngineIoPacket, TypeDigitThenData) {
  const auto p = parse_eio_packet("2probe");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->type, EioType::kPing);
  EXPECT_EQ(p->data, "probe");
  EXPECT_EQ(parse_eio_packet("6")->type, EioType::kNoop);
  EXPECT_FALSE(parse_eio_packet(""));
  EXPECT_FALSE(parse_eio_packet("7"));
  EXPECT_FALSE(parse_eio_packet("bAQID"));  // base64 binary: not carried here
}

TEST(EngineIoPacket, PayloadSplitsOnTheRecordSeparator) {
  const auto parts = split_payload(
      "4hello\x1e"
      "2\x1e"
      "40",
      16);
  ASSERT_TRUE(parts);
  EXPECT_EQ(*parts, (std::vector<std::string_view>{"4hello", "2", "40"}));
  EXPECT_FALSE(split_payload("", 16));
  EXPECT_FALSE(
      split_payload("4a\x1e\x1e"
                    "4b",
                    16));  // an empty packet
  EXPECT_FALSE(
      split_payload("2\x1e"
                    "2\x1e"
                    "2",
                    2));  // over the count
}

TEST(EngineIoPacket, OpenPacketCarriesTheHandshake) {
  EXPECT_EQ(
      open_packet("abc", true, 25000, 20000, 1000000),
      R"(0{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000})");
  EXPECT_THAT(open_packet("abc", false, 1, 1, 1), HasSubstr(R"("upgrades":[])"));
}

TEST(SocketIoPacket, ConnectWithAuthToken) {
  simdjson::dom::parser parser;
  const SioParse p = parse_sio_packet(parser, R"(0{"token":"t0k"})");
  ASSERT_TRUE(p.ok()) << p.error;
  EXPECT_EQ(p.packet.type, SioType::kConnect);
  EXPECT_EQ(p.packet.nsp, "/");
  EXPECT_EQ(p.packet.token, "t0k");
  const SioParse admin = parse_sio_packet(parser, "0/admin,");
  ASSERT_TRUE(admin.ok());
  EXPECT_EQ(admin.packet.nsp, "/admin");
}

TEST(SocketIoPacket, EventWithAckIdAndArgument) {
  simdjson::dom::parser parser;
  const SioParse p = parse_sio_packet(parser, R"(212["join-progress","job-7"])");
  ASSERT_TRUE(p.ok()) << p.error;
  EXPECT_EQ(p.packet.type, SioType::kEvent);
  EXPECT_EQ(p.packet.ack, 12u);
  EXPECT_EQ(p.packet.event, "join-progress");
  EXPECT_EQ(p.packet.arg, "job-7");
  EXPECT_EQ(parse_sio_packet(parser, R"(2["join-progress",42])").packet.arg, "42");
  EXPECT_EQ(parse_sio_packet(parser, R"(2["join-progress",{"sessionId":"s"}])").packet.arg, "s");
  EXPECT_FALSE(parse_sio_packet(parser, R"(2["join-progress",[1]])").packet.arg);
}

TEST(SocketIoPacket, RefusesWhatBreaksTheProtocol) {
  simdjson::dom::parser parser;
  for (const char* bad : {"", "9", "2", "2{}", "2[]", "2[1]", R"(2["x")", "4{\"message\":\"x\"}",
                          R"(51-["x",{"_placeholder":true,"num":0}])", "0[1]", "3",
                          "2/a\"b,[\"x\"]", "21234567890123456[\"x\"]"}) {
    EXPECT_FALSE(parse_sio_packet(parser, bad).ok()) << bad;
  }
}

TEST(SocketIoPacket, ServerPackets) {
  EXPECT_EQ(sio_connect_ok("S"), R"(40{"sid":"S"})");
  EXPECT_EQ(sio_connect_error("/", "Invalid API token"), R"(44{"message":"Invalid API token"})");
  EXPECT_EQ(sio_connect_error("/x", "no"), R"(44/x,{"message":"no"})");
  EXPECT_EQ(sio_event("progress-update", "{}"), R"(42["progress-update",{}])");
  EXPECT_EQ(sio_ack(3, R"({"ok":true})"), R"(433[{"ok":true}])");
}

TEST(ProgressPayload, RunningTaskWithMetadata) {
  simdjson::dom::parser parser;
  const ProgressPayload p = progress_payload(
      parser,
      R"({"task_id":"j1","desc":"Import","n":3,"total":12,"status":"update","meta":{"file":"a.csv","operation":"shadowed"},"created_at":1,"updated_at":1700000000.25,"phase":"parse","message":"row 3"})");
  EXPECT_EQ(p.outcome, Outcome::kRunning);
  EXPECT_EQ(
      p.json,
      R"({"sessionId":"j1","progress":25,"message":"row 3","status":"processing","timestamp":1700000000250,"metadata":{"file":"a.csv","operation":"Import","phase":"parse","currentStep":3,"totalSteps":12}})");
}

TEST(ProgressPayload, CompletedAndFailed) {
  simdjson::dom::parser parser;
  const ProgressPayload done = progress_payload(
      parser, R"({"task_id":"j","n":10,"total":10,"status":"close","updated_at":2})");
  EXPECT_EQ(done.outcome, Outcome::kCompleted);
  EXPECT_THAT(done.json, HasSubstr(R"("progress":100,)"));
  EXPECT_THAT(done.json, HasSubstr(R"("status":"completed")"));
  const ProgressPayload failed = progress_payload(
      parser,
      R"({"task_id":"j","n":2.5,"total":10,"status":"error","error":"disk full","updated_at":2})");
  EXPECT_EQ(failed.outcome, Outcome::kFailed);
  EXPECT_THAT(failed.json, HasSubstr(R"("status":"error")"));
  EXPECT_THAT(failed.json, HasSubstr(R"("error":{"code":"TASK_FAILED","detail":"disk full"})"));
  EXPECT_THAT(failed.json, HasSubstr(R"("metadata":{})"));  // n is not whole: no steps
  EXPECT_TRUE(progress_payload(parser, "not json").json.empty());
}

}  // namespace
}  // namespace progressista::daemon::socketio
