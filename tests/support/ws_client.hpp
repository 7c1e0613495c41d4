// A WebSocket test client on Beast: connect, read frames with a deadline, send, and see how
// the server closed. One pending read is kept across calls, so a read that times out loses
// nothing and never leaves the stream half-cancelled.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

namespace progressista::testing {

class WsTestClient {
 public:
  // Connects to 127.0.0.1:port and opens `target` ("/ws?protocol=delta"); `subprotocol`, when
  // not empty, is asked for with Sec-WebSocket-Protocol.
  WsTestClient(std::uint16_t port, std::string target, std::string subprotocol = {},
               std::string authorization = {}) {
    namespace beast = boost::beast;
    namespace websocket = beast::websocket;
    boost::system::error_code ec;
    beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(10));
    beast::get_lowest_layer(ws_).connect(
        boost::asio::ip::tcp::endpoint(boost::asio::ip::address_v4::loopback(), port), ec);
    if (ec) {
      error_ = ec.message();
      return;
    }
    ws_.set_option(websocket::stream_base::decorator(
        [subprotocol, authorization](websocket::request_type& req) {
          if (!subprotocol.empty())
            req.set(boost::beast::http::field::sec_websocket_protocol, subprotocol);
          if (!authorization.empty())
            req.set(boost::beast::http::field::authorization, authorization);
        }));
    ws_.handshake(response_, "127.0.0.1", target, ec);
    beast::get_lowest_layer(ws_).expires_never();
    if (ec) {
      error_ = ec.message();
      return;
    }
    open_ = true;
  }

  [[nodiscard]] bool open() const { return open_; }
  [[nodiscard]] const std::string& error() const { return error_; }
  // The handshake answer (status 101, or the refusal and its body).
  [[nodiscard]] const boost::beast::websocket::response_type& response() const { return response_; }

  // The next text frame, or nullopt when none arrived in time or the connection ended.
  std::optional<std::string> read(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    if (!ready_) {
      if (!open_) return std::nullopt;
      start_read();
      ioc_.restart();
      ioc_.run_for(timeout);
      if (!ready_) return std::nullopt;
    }
    ready_ = false;
    if (read_error_) {
      open_ = false;
      return std::nullopt;
    }
    std::string text = boost::beast::buffers_to_string(buffer_.data());
    buffer_.consume(buffer_.size());
    return text;
  }

  // Reads until `pred(frame)` holds; the last frame read is kept in `last`.
  template <class Pred>
  bool read_until(Pred pred, std::chrono::milliseconds timeout, std::string* last = nullptr) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      auto f = read(left);
      if (!f) {
        if (!open_) return false;
        continue;
      }
      if (last) *last = *f;
      if (pred(*f)) return true;
    }
    return false;
  }

  bool send(std::string_view text) {
    bool done = false;
    boost::system::error_code ec;
    ws_.text(true);
    ws_.async_write(boost::asio::buffer(text.data(), text.size()),
                    [&](boost::system::error_code e, std::size_t) {
                      done = true;
                      ec = e;
                    });
    ioc_.restart();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done && std::chrono::steady_clock::now() < deadline) {
      ioc_.run_one_for(std::chrono::milliseconds(100));
    }
    return done && !ec;
  }

  // After the server closed: its close code (1001 going away, 4401 unauthorized...).
  [[nodiscard]] int close_code() const { return static_cast<int>(ws_.reason().code); }
  [[nodiscard]] std::string close_reason() const {
    const auto& r = ws_.reason().reason;
    return std::string(r.data(), r.size());
  }
  [[nodiscard]] bool closed() const { return !open_; }

  // Waits for the server to end the connection; true when it did within `timeout`.
  bool wait_closed(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (open_ && std::chrono::steady_clock::now() < deadline) {
      (void)read(std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now()));
    }
    return !open_;
  }

 private:
  boost::asio::io_context ioc_;
  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_{ioc_};
  boost::beast::websocket::response_type response_;
  boost::beast::flat_buffer buffer_;
  boost::system::error_code read_error_;
  std::string error_;
  bool open_ = false;
  bool reading_ = false;  // a read is outstanding
  bool ready_ = false;    // a read completed and its result is not consumed yet

  void start_read() {
    if (reading_) return;
    reading_ = true;
    ws_.async_read(buffer_, [this](boost::system::error_code ec, std::size_t) {
      reading_ = false;
      ready_ = true;
      read_error_ = ec;
    });
  }
};

}  // namespace progressista::testing
