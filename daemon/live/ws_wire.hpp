// The WebSocket wire (RFC 6455, section 5) of a server after its handshake: the headers of the
// frames it sends, and a reader of the frames a client sends. Beast does the handshake
// (ws_session.cpp); the frames are ours so that a frame built once for a view can be written
// to each client's socket straight from the delivery, with one non-blocking send and no
// asynchronous operation when the socket takes it (the common case), which is what lets
// deliveries follow each other a few milliseconds apart (bench/README.md, "Side by side with
// Nchan").
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace progressista::daemon {

enum class WsOpcode : std::uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

// The close codes this side sends or checks (RFC 6455, 7.4.1).
namespace ws_close {
inline constexpr std::uint16_t kNormal = 1000;
inline constexpr std::uint16_t kGoingAway = 1001;
inline constexpr std::uint16_t kProtocolError = 1002;
inline constexpr std::uint16_t kNoStatus = 1005;  // never on the wire: a close without a code
inline constexpr std::uint16_t kBadPayload = 1007;
inline constexpr std::uint16_t kPolicyError = 1008;
inline constexpr std::uint16_t kTooBig = 1009;
}  // namespace ws_close

// An unmasked frame header with FIN set (a server's frames are never masked): 2, 4 or 10 bytes.
struct WsHeader {
  std::array<char, 10> bytes{};
  std::size_t size = 0;
  [[nodiscard]] std::string_view view() const noexcept { return {bytes.data(), size}; }
};
[[nodiscard]] WsHeader ws_header(WsOpcode opcode, std::size_t payload_size) noexcept;

// A whole control frame: a close with `code` and `reason` (cut to a valid UTF-8 prefix of at
// most 123 bytes), or a ping/pong with `payload` (at most 125 bytes; longer is cut).
[[nodiscard]] std::string ws_close_frame(std::uint16_t code, std::string_view reason);
[[nodiscard]] std::string ws_control_frame(WsOpcode opcode, std::string_view payload);

// Reads a client's frames from the bytes received, in order. Enforces what a server must:
// frames masked, no reserved bits (no extension is negotiated), known opcodes, control frames
// short and whole, continuations only inside a fragmented message, text valid UTF-8, a
// message at most `max_message` bytes. A violation is an error with the close code to send.
class WsReader {
 public:
  explicit WsReader(std::size_t max_message) : max_message_(max_message) {}

  enum class Kind : std::uint8_t { kNeedMore, kMessage, kPing, kPong, kClose, kError };
  struct Item {
    Kind kind = Kind::kNeedMore;
    bool text = false;          // kMessage: a text message (else binary)
    std::string_view payload;   // kMessage, kPing, kPong: valid until the next call
    std::uint16_t code = 0;     // kClose: the peer's code (kNoStatus without one);
                                // kError: the code to close with
    std::string_view reason;    // kClose: the peer's reason; kError: what was wrong
  };

  // The next item from `buffer` (the bytes received and not yet consumed). Sets `consumed` to
  // the bytes it used (to drop from the front of the buffer before the next call); kNeedMore
  // when the buffer holds no whole frame yet. After kError or kClose, nothing more is read.
  Item next(std::string_view buffer, std::size_t& consumed);

 private:
  std::size_t max_message_;
  std::string message_;      // a fragmented message so far
  bool in_message_ = false;  // a data frame without FIN was read
  bool message_text_ = false;
  std::string control_;      // the unmasked payload of the last control frame
  bool done_ = false;
};

}  // namespace progressista::daemon
