// The WebSocket wire of the live clients (daemon/live/ws_wire.hpp): the headers we send and
// what the reader makes of a client's frames, well-formed or not.
#include "live/ws_wire.hpp"

#include <string>

#include <gtest/gtest.h>

#include "support/raw_ws_client.hpp"

namespace progressista::daemon {
namespace {

using testing::raw_ws_frame;
using Kind = WsReader::Kind;

TEST(WsWire, HeadersUseTheShortestLengthForm) {
  EXPECT_EQ(ws_header(WsOpcode::kText, 0).view(), std::string("\x81\x00", 2));
  EXPECT_EQ(ws_header(WsOpcode::kText, 125).view(), std::string("\x81\x7d", 2));
  EXPECT_EQ(ws_header(WsOpcode::kText, 126).view(), std::string("\x81\x7e\x00\x7e", 4));
  EXPECT_EQ(ws_header(WsOpcode::kText, 65535).view(), std::string("\x81\x7e\xff\xff", 4));
  EXPECT_EQ(ws_header(WsOpcode::kPing, 65536).view(),
            std::string("\x89\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10));
}

TEST(WsWire, CloseFramesCarryTheCodeAndACutReason) {
  EXPECT_EQ(ws_close_frame(1008, "no"), std::string("\x88\x04\x03\xf0no", 6));
  const std::string long_reason(200, 'x');
  const std::string f = ws_close_frame(1000, long_reason);
  EXPECT_EQ(f.size(), 2u + 125u);  // a control frame's payload is at most 125 bytes
}

TEST(WsWire, AMaskedTextMessageIsUnmasked) {
  WsReader r(1024);
  const std::string bytes = raw_ws_frame(0x81, R"({"op":"unsubscribe"})");
  std::size_t used = 0;
  // Byte by byte: nothing until the frame is whole.
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_EQ(r.next(std::string_view(bytes).substr(0, n), used).kind, Kind::kNeedMore);
    EXPECT_EQ(used, 0u);
  }
  const WsReader::Item item = r.next(bytes, used);
  ASSERT_EQ(item.kind, Kind::kMessage);
  EXPECT_TRUE(item.text);
  EXPECT_EQ(item.payload, R"({"op":"unsubscribe"})");
  EXPECT_EQ(used, bytes.size());
}

TEST(WsWire, AFragmentedMessageIsJoinedAndAPingBetweenItsFragmentsAnswered) {
  WsReader r(1024);
  const std::string bytes = raw_ws_frame(0x01, "hel") + raw_ws_frame(0x89, "p") +
                            raw_ws_frame(0x00, "lo ") + raw_ws_frame(0x80, "world");
  std::string_view rest = bytes;
  std::size_t used = 0;
  WsReader::Item item = r.next(rest, used);
  EXPECT_EQ(item.kind, Kind::kNeedMore);
  ASSERT_GT(used, 0u);
  rest.remove_prefix(used);
  item = r.next(rest, used);
  ASSERT_EQ(item.kind, Kind::kPing);
  EXPECT_EQ(item.payload, "p");
  rest.remove_prefix(used);
  item = r.next(rest, used);
  EXPECT_EQ(item.kind, Kind::kNeedMore);
  rest.remove_prefix(used);
  item = r.next(rest, used);
  ASSERT_EQ(item.kind, Kind::kMessage);
  EXPECT_EQ(item.payload, "hello world");
  EXPECT_EQ(used, rest.size());
}

TEST(WsWire, ACloseGivesItsCodeAndReasonAndEndsTheReading) {
  WsReader r(1024);
  const std::string bytes = raw_ws_frame(0x88, std::string("\x03\xe8", 2) + "bye") +
                            raw_ws_frame(0x81, "after");
  std::size_t used = 0;
  const WsReader::Item item = r.next(bytes, used);
  ASSERT_EQ(item.kind, Kind::kClose);
  EXPECT_EQ(item.code, 1000);
  EXPECT_EQ(item.reason, "bye");
  EXPECT_EQ(r.next(std::string_view(bytes).substr(used), used).kind, Kind::kNeedMore);
  WsReader bare(1024);
  EXPECT_EQ(bare.next(raw_ws_frame(0x88, ""), used).code, ws_close::kNoStatus);
}

struct BadFrame {
  const char* what;
  std::string bytes;
  std::uint16_t code;
};

TEST(WsWire, FramesAServerMustRefuseAreErrorsWithTheirCloseCode) {
  const BadFrame cases[] = {
      {"unmasked", raw_ws_frame(0x81, "hi", false), ws_close::kProtocolError},
      {"reserved bit", raw_ws_frame(0xC1, "hi"), ws_close::kProtocolError},
      {"unknown opcode", raw_ws_frame(0x83, "hi"), ws_close::kProtocolError},
      {"fragmented ping", raw_ws_frame(0x09, "hi"), ws_close::kProtocolError},
      {"ping over 125", raw_ws_frame(0x89, std::string(126, 'p')), ws_close::kProtocolError},
      {"lone continuation", raw_ws_frame(0x80, "hi"), ws_close::kProtocolError},
      {"message in a message", raw_ws_frame(0x01, "a") + raw_ws_frame(0x81, "b"),
       ws_close::kProtocolError},
      {"close of one byte", raw_ws_frame(0x88, "x"), ws_close::kProtocolError},
      {"close code 1005", raw_ws_frame(0x88, std::string("\x03\xed", 2)), ws_close::kProtocolError},
      {"text not UTF-8", raw_ws_frame(0x81, "\xc3\x28"), ws_close::kBadPayload},
      {"too big", raw_ws_frame(0x81, std::string(1025, 'x')), ws_close::kTooBig},
      {"too big in fragments", raw_ws_frame(0x01, std::string(600, 'x')) +
                                   raw_ws_frame(0x80, std::string(600, 'x')),
       ws_close::kTooBig},
  };
  for (const BadFrame& c : cases) {
    WsReader r(1024);
    std::string_view rest = c.bytes;
    WsReader::Item item;
    std::size_t used = 0;
    do {
      item = r.next(rest, used);
      rest.remove_prefix(used);
    } while (item.kind == Kind::kNeedMore && used > 0);
    EXPECT_EQ(item.kind, Kind::kError) << c.what;
    EXPECT_EQ(item.code, c.code) << c.what;
    EXPECT_FALSE(item.reason.empty()) << c.what;
  }
}

TEST(WsWire, AnOversizeFrameIsRefusedFromItsHeaderAlone) {
  WsReader r(1024);
  const std::string bytes = raw_ws_frame(0x82, std::string(70000, 'x'));
  std::size_t used = 0;
  const WsReader::Item item = r.next(std::string_view(bytes).substr(0, 14), used);
  EXPECT_EQ(item.kind, Kind::kError);
  EXPECT_EQ(item.code, ws_close::kTooBig);
}

}  // namespace
}  // namespace progressista::daemon
