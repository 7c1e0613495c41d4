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

// The one place an HttpRequest is made from a Beast request: its views point into `request`,
// which must outlive this object and not move meanwhile.
class BeastRequest final : private HeaderFields {
 public:
  BeastRequest(StreamRequest& request, std::string_view remote) : fields_(request) {
    const std::string_view target(request.target().data(), request.target().size());
    const std::size_t q = target.find('?');
    view_.method = std::string_view(request.method_string().data(), request.method_string().size());
    view_.target = target;
    view_.path = target.substr(0, q);
    view_.query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
    view_.remote = remote;
    view_.body = &request.body();
    view_.fields = this;
  }
  BeastRequest(const BeastRequest&) = delete;
  BeastRequest& operator=(const BeastRequest&) = delete;

  [[nodiscard]] const HttpRequest& view() const noexcept { return view_; }

 private:
  [[nodiscard]] std::string_view value(std::string_view name) const override {
    const auto v = fields_[boost::beast::string_view(name.data(), name.size())];
    return {v.data(), v.size()};
  }

  const boost::beast::http::fields& fields_;
  HttpRequest view_;
};

// A stream taker's refusal before its protocol starts (a WebSocket or SSE it will not serve):
// `body` (JSON) with `status`, `Connection: close`, then the connection is shut down.
boost::asio::awaitable<void> answer_and_close(boost::beast::tcp_stream& stream,
                                              boost::beast::http::status status, std::string body,
                                              unsigned version);

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

  // Requests answered one at a time whose answer may wait (Engine.IO's long poll): true when
  // exchange() should answer this one (checked after wants). The connection stays the HTTP
  // session's, which writes the answer and reads the next request as for any other.
  [[nodiscard]] virtual bool exchanges(const HttpRequest& request) const {
    (void)request;
    return false;
  }
  // Runs on the connection's I/O thread; `request` stays valid until it returns.
  virtual boost::asio::awaitable<void> exchange(const HttpRequest& request,
                                                HttpResponse& response) {
    (void)request;
    (void)response;
    co_return;
  }
};

}  // namespace progressista::daemon
