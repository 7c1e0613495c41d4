// A WebSocket test client on Beast: connect, read frames with a deadline, send, and see how
// the server closed. One pending read is kept across calls, so a read that times out loses
// nothing and never leaves the stream half-cancelled. Beast stays in ws_client.cpp, compiled
// once into test_support: a test that includes this header does not compile Beast.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace progressista::testing {

class WsTestClient {
 public:
  // Connects to 127.0.0.1:port and opens `target` ("/ws?protocol=delta"); `subprotocol`, when
  // not empty, is asked for with Sec-WebSocket-Protocol.
  WsTestClient(std::uint16_t port, std::string target, std::string subprotocol = {},
               std::string authorization = {});
  ~WsTestClient();
  WsTestClient(const WsTestClient&) = delete;
  WsTestClient& operator=(const WsTestClient&) = delete;

  [[nodiscard]] bool open() const;
  [[nodiscard]] const std::string& error() const;
  // The handshake answer: 101, or the refusal's status with its body and headers.
  [[nodiscard]] int status() const;
  [[nodiscard]] std::string body() const;
  // A header of the handshake answer (case-insensitive name), nullopt when absent.
  [[nodiscard]] std::optional<std::string> header(std::string_view name) const;

  // The next text frame, or nullopt when none arrived in time or the connection ended.
  std::optional<std::string> read(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // Reads until `pred(frame)` holds; the last frame read is kept in `last`.
  template <class Pred>
  bool read_until(Pred pred, std::chrono::milliseconds timeout, std::string* last = nullptr) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      auto f = read(left);
      if (!f) {
        if (!open()) return false;
        continue;
      }
      if (last) *last = *f;
      if (pred(*f)) return true;
    }
    return false;
  }

  bool send(std::string_view text);

  // After the server closed: its close code (1001 going away, 4401 unauthorized...).
  [[nodiscard]] int close_code() const;
  [[nodiscard]] std::string close_reason() const;
  [[nodiscard]] bool closed() const { return !open(); }

  // Waits for the server to end the connection; true when it did within `timeout`.
  bool wait_closed(std::chrono::milliseconds timeout);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace progressista::testing
