#include "support/ws_client.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

namespace progressista::testing {

namespace beast = boost::beast;
namespace websocket = beast::websocket;

struct WsTestClient::Impl {
  boost::asio::io_context ioc;
  websocket::stream<beast::tcp_stream> ws{ioc};
  websocket::response_type response;
  beast::flat_buffer buffer;
  boost::system::error_code read_error;
  std::string error;
  bool open = false;
  bool reading = false;  // a read is outstanding
  bool ready = false;    // a read completed and its result is not consumed yet

  void start_read() {
    if (reading) return;
    reading = true;
    ws.async_read(buffer, [this](boost::system::error_code ec, std::size_t) {
      reading = false;
      ready = true;
      read_error = ec;
    });
  }
};

WsTestClient::WsTestClient(std::uint16_t port, std::string target, std::string subprotocol,
                           std::string authorization)
    : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  boost::system::error_code ec;
  beast::get_lowest_layer(s.ws).expires_after(std::chrono::seconds(10));
  beast::get_lowest_layer(s.ws).connect(
      boost::asio::ip::tcp::endpoint(boost::asio::ip::address_v4::loopback(), port), ec);
  if (ec) {
    s.error = ec.message();
    return;
  }
  s.ws.set_option(websocket::stream_base::decorator(
      [subprotocol, authorization](websocket::request_type& req) {
        if (!subprotocol.empty()) req.set(beast::http::field::sec_websocket_protocol, subprotocol);
        if (!authorization.empty()) req.set(beast::http::field::authorization, authorization);
      }));
  s.ws.handshake(s.response, "127.0.0.1", target, ec);
  beast::get_lowest_layer(s.ws).expires_never();
  if (ec) {
    s.error = ec.message();
    return;
  }
  s.open = true;
}

WsTestClient::~WsTestClient() = default;

bool WsTestClient::open() const { return impl_->open; }
const std::string& WsTestClient::error() const { return impl_->error; }
int WsTestClient::status() const { return static_cast<int>(impl_->response.result_int()); }
std::string WsTestClient::body() const { return impl_->response.body(); }

std::optional<std::string> WsTestClient::header(std::string_view name) const {
  const auto it = impl_->response.find(beast::string_view(name.data(), name.size()));
  if (it == impl_->response.end()) return std::nullopt;
  return std::string(it->value());
}

std::optional<std::string> WsTestClient::read(std::chrono::milliseconds timeout) {
  Impl& s = *impl_;
  if (!s.ready) {
    if (!s.open) return std::nullopt;
    s.start_read();
    s.ioc.restart();
    s.ioc.run_for(timeout);
    if (!s.ready) return std::nullopt;
  }
  s.ready = false;
  if (s.read_error) {
    s.open = false;
    return std::nullopt;
  }
  std::string text = beast::buffers_to_string(s.buffer.data());
  s.buffer.consume(s.buffer.size());
  return text;
}

bool WsTestClient::send(std::string_view text) {
  Impl& s = *impl_;
  bool done = false;
  boost::system::error_code ec;
  s.ws.text(true);
  s.ws.async_write(boost::asio::buffer(text.data(), text.size()),
                   [&](boost::system::error_code e, std::size_t) {
                     done = true;
                     ec = e;
                   });
  s.ioc.restart();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done && std::chrono::steady_clock::now() < deadline) {
    s.ioc.run_one_for(std::chrono::milliseconds(100));
  }
  return done && !ec;
}

int WsTestClient::close_code() const { return static_cast<int>(impl_->ws.reason().code); }

std::string WsTestClient::close_reason() const {
  const auto& r = impl_->ws.reason().reason;
  return std::string(r.data(), r.size());
}

bool WsTestClient::wait_closed(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (open() && std::chrono::steady_clock::now() < deadline) {
    (void)read(std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now()));
  }
  return !open();
}

}  // namespace progressista::testing
