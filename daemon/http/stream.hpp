// Requests that keep their connection after the request (WebSocket upgrades, Server-Sent
// Events): the HTTP server hands such a connection over to a StreamTaker. Including this
// header pulls in Beast; only the server and the live-client code do.
#pragma once

#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "http/http_types.hpp"

namespace progressista::daemon {

using StreamRequest = boost::beast::http::request<boost::beast::http::string_body>;

// HttpRequest::lookup over Beast's header container (`fields` points at a StreamRequest or any
// other boost::beast::http::fields).
inline std::string_view beast_header(const void* fields, std::string_view name) {
  const auto& f = *static_cast<const boost::beast::http::fields*>(fields);
  const auto v = f[boost::beast::string_view(name.data(), name.size())];
  return {v.data(), v.size()};
}

class StreamTaker {
 public:
  virtual ~StreamTaker() = default;
  // True when this request should have the connection (checked before the handler's routes).
  [[nodiscard]] virtual bool wants(const HttpRequest& request) const = 0;
  // Owns the connection until it ends. `buffer` may already hold bytes the client sent after
  // the request. Runs on the connection's I/O thread.
  virtual boost::asio::awaitable<void> serve(boost::beast::tcp_stream stream,
                                             boost::beast::flat_buffer buffer,
                                             StreamRequest request, std::string remote) = 0;
};

}  // namespace progressista::daemon
