// A WebSocket client that writes and reads frames byte by byte, for tests of what a server
// must do with frames a library would never send (unmasked, oversize, fragmented), of
// pings and pongs, and of the close handshake. ws_client.hpp is the ordinary client.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "support/http_client.hpp"

namespace progressista::testing {

struct RawWsFrame {
  bool fin = true;
  std::uint8_t opcode = 0;
  std::string payload;
  // A close frame's code (0 without one).
  [[nodiscard]] int close_code() const {
    if (opcode != 0x8 || payload.size() < 2) return 0;
    return (static_cast<std::uint8_t>(payload[0]) << 8) | static_cast<std::uint8_t>(payload[1]);
  }
};

// A client frame: FIN and opcode in the first byte as given, the payload masked with a fixed
// key unless `masked` is false.
inline std::string raw_ws_frame(std::uint8_t first_byte, std::string_view payload,
                                bool masked = true) {
  std::string f;
  f.push_back(static_cast<char>(first_byte));
  const char mask_bit = masked ? static_cast<char>(0x80) : 0;
  if (payload.size() < 126) {
    f.push_back(static_cast<char>(mask_bit | static_cast<char>(payload.size())));
  } else if (payload.size() <= 0xFFFF) {
    f.push_back(static_cast<char>(mask_bit | 126));
    f.push_back(static_cast<char>(payload.size() >> 8));
    f.push_back(static_cast<char>(payload.size() & 0xFF));
  } else {
    f.push_back(static_cast<char>(mask_bit | 127));
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>((payload.size() >> (8 * i)) & 0xFF));
  }
  const char key[4] = {0x12, 0x34, 0x56, 0x78};
  if (masked) f.append(key, 4);
  for (std::size_t i = 0; i < payload.size(); ++i)
    f.push_back(masked ? static_cast<char>(payload[i] ^ key[i % 4]) : payload[i]);
  return f;
}

class RawWsClient {
 public:
  // Connects and sends the upgrade for `target`; `receive_buffer` (bytes, 0: the default) is
  // set before connecting, for a client whose socket fills quickly.
  RawWsClient(std::uint16_t port, std::string_view target, int receive_buffer = 0)
      : conn_(port, receive_buffer) {
    if (!conn_.connected()) return;
    const std::string upgrade = fmt::format(
        "GET {} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        target);
    if (!conn_.send(upgrade)) return;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    std::string& in = conn_.received();
    std::size_t end;
    while ((end = in.find("\r\n\r\n")) == std::string::npos) {
      if (std::chrono::steady_clock::now() > deadline || !conn_.receive(std::chrono::seconds(1))) {
        if (conn_.eof()) return;
      }
    }
    open_ = in.compare(0, 12, "HTTP/1.1 101") == 0;
    in.erase(0, end + 4);  // the frames that came with it stay
  }

  [[nodiscard]] bool open() const { return open_; }
  bool send(std::string_view bytes) { return conn_.send(bytes); }
  // A masked text message in one frame.
  bool send_text(std::string_view text) { return send(raw_ws_frame(0x81, text)); }

  // The next frame within `timeout`; nullopt when none came (or the connection ended: eof()).
  std::optional<RawWsFrame> next(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (auto f = parse()) return f;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || conn_.eof()) return std::nullopt;
      (void)conn_.receive(left);
    }
  }
  // True when the server closed the TCP connection within `timeout` (frames before it are
  // read and dropped).
  bool closed_by_server(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!conn_.eof()) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      (void)conn_.receive(left);
      conn_.received().clear();
    }
    return true;
  }
  [[nodiscard]] bool eof() const { return conn_.eof(); }
  [[nodiscard]] int fd() const { return conn_.fd(); }

 private:
  // A server frame from the bytes received (unmasked, as a server's are), or nullopt.
  std::optional<RawWsFrame> parse() {
    std::string& in = conn_.received();
    if (in.size() < 2) return std::nullopt;
    RawWsFrame f;
    f.fin = (static_cast<std::uint8_t>(in[0]) & 0x80) != 0;
    f.opcode = static_cast<std::uint8_t>(in[0]) & 0x0F;
    std::size_t at = 2;
    std::uint64_t length = static_cast<std::uint8_t>(in[1]) & 0x7F;
    if (length == 126) {
      if (in.size() < 4) return std::nullopt;
      length = (static_cast<std::uint8_t>(in[2]) << 8) | static_cast<std::uint8_t>(in[3]);
      at = 4;
    } else if (length == 127) {
      if (in.size() < 10) return std::nullopt;
      length = 0;
      for (int i = 0; i < 8; ++i) length = (length << 8) | static_cast<std::uint8_t>(in[2 + i]);
      at = 10;
    }
    if (in.size() - at < length) return std::nullopt;
    f.payload = in.substr(at, static_cast<std::size_t>(length));
    in.erase(0, at + static_cast<std::size_t>(length));
    return f;
  }

  Connection conn_;
  bool open_ = false;
};

}  // namespace progressista::testing
