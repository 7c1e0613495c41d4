#include "live/ws_session.hpp"

#include <simdjson.h>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "live/live_client.hpp"
#include "live/live_clients.hpp"
#include "progressista/query.hpp"
#include "progressista/task_json.hpp"

namespace progressista::daemon {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using error_code = boost::system::error_code;

namespace {

constexpr std::string_view kDeltaSubprotocol = "progressista.delta.v1";
constexpr std::size_t kMaxClientMessage = 64 * 1024;

Frame error_frame(std::string_view detail) {
  fmt::memory_buffer out;
  out.append(std::string_view{"{\"type\":\"error\",\"detail\":"});
  append_json_string(out, detail);
  out.push_back('}');
  return Frame::of(0, out);
}

class WsSession final : public LiveClient {
 public:
  WsSession(LiveClients& group, Protocol protocol, View view, std::string remote,
            beast::tcp_stream&& stream)
      : LiveClient(group, protocol, std::move(view), std::move(remote), stream.get_executor()),
        ws_(std::move(stream)) {}

  // Handshake, then this client's messages until it goes away; the writer runs beside.
  asio::awaitable<void> run(StreamRequest request, bool asked_subprotocol, bool authorized);

 protected:
  void close_transport() override {
    error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }
  asio::awaitable<error_code> send(const Frame& frame) override {
    ws_.text(true);
    auto [ec, n] = co_await ws_.async_write(asio::buffer(frame.text()), kUseTuple);
    (void)n;
    co_return ec;
  }
  asio::awaitable<void> send_close(CloseCode code) override {
    auto [ec] = co_await ws_.async_close(websocket::close_reason(code), kUseTuple);
    (void)ec;
  }

 private:
  void configure(bool asked_subprotocol);
  // A delta client's subscribe/unsubscribe message; anything else gets an error frame.
  void on_message(const std::string& text);

  // Owned here, not by the serving coroutine: the writer may still be using it after the
  // reader has returned.
  websocket::stream<beast::tcp_stream> ws_;
  simdjson::dom::parser parser_;
};

void WsSession::configure(bool asked_subprotocol) {
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = std::chrono::seconds(30);
  // Beast pings after half the idle time without traffic and closes after the whole.
  timeouts.idle_timeout = group_.hub().options().ping_interval * 2;
  timeouts.keep_alive_pings = true;
  ws_.set_option(timeouts);
  ws_.read_message_max(kMaxClientMessage);
  // One frame per message: Beast's default cuts writes into 4 KiB frames, which multiplies
  // the work per snapshot (measured with bench/fanout).
  ws_.auto_fragment(false);
  ws_.set_option(
      websocket::stream_base::decorator([asked_subprotocol](websocket::response_type& res) {
        res.set(http::field::server, "progressista");
        if (asked_subprotocol) res.set(http::field::sec_websocket_protocol, kDeltaSubprotocol);
      }));
}

asio::awaitable<void> WsSession::run(StreamRequest request, bool asked_subprotocol,
                                     bool authorized) {
  configure(asked_subprotocol);
  auto [aec] = co_await ws_.async_accept(request, kUseTuple);
  if (aec) co_return;

  Broadcaster& hub = group_.hub();
  if (!authorized) {
    // Progressista's code: the dashboard tells "wrong token" from "server down" by it.
    hub.stats().ws_rejected_auth.fetch_add(1, std::memory_order_relaxed);
    hub.store().counters().add(Counter::kRejectedAuth);
    auto [cec] = co_await ws_.async_close(
        websocket::close_reason(static_cast<websocket::close_code>(4401), "Unauthorized"),
        kUseTuple);
    (void)cec;
    co_return;
  }

  auto self = shared_from_this();
  group_.join(self, ws_.get_executor());
  // Registered first, then the snapshot: every change after it reaches the client as a delta.
  replace(protocol == Protocol::kDelta ? hub.snapshot_of(view, false) : hub.plain_snapshot());
  asio::co_spawn(ws_.get_executor(), writer(), asio::detached);

  beast::flat_buffer in;
  for (;;) {
    auto [rec, n] = co_await ws_.async_read(in, kUseTuple);
    (void)n;
    if (rec) break;
    if (protocol == Protocol::kDelta) on_message(beast::buffers_to_string(in.data()));
    in.consume(in.size());
  }
  end();
  group_.remove(this);
}

void WsSession::on_message(const std::string& text) {
  Broadcaster& hub = group_.hub();
  simdjson::dom::element msg;
  std::string_view op;
  if (parser_.parse(text).get(msg) != simdjson::SUCCESS || !msg.is_object()) {
    control(error_frame(
        "messages must be JSON objects such as {\"op\":\"subscribe\",\"prefix\":\"job-\"}"));
  } else if (msg["op"].get_string().get(op) != simdjson::SUCCESS) {
    control(error_frame("\"op\" is required: subscribe or unsubscribe"));
  } else if (op == "unsubscribe") {
    view = View{};
    replace(hub.delta_snapshot());
  } else if (op == "subscribe") {
    std::string_view value;
    if (msg["task_id"].get_string().get(value) == simdjson::SUCCESS) {
      view = {View::Kind::kTask, std::string(value)};
    } else if (msg["prefix"].get_string().get(value) == simdjson::SUCCESS) {
      view = {View::Kind::kPrefix, std::string(value)};
    } else if (msg["project"].get_string().get(value) == simdjson::SUCCESS) {
      view = {View::Kind::kProject, std::string(value)};
    } else {
      control(error_frame("subscribe needs a string \"task_id\", \"prefix\" or \"project\""));
      return;
    }
    replace(hub.snapshot_of(view, false));
  } else {
    control(error_frame(
        fmt::format("unknown op '{}': use subscribe or unsubscribe", utf8_prefix(op, 64))));
  }
}

}  // namespace

asio::awaitable<void> serve_websocket(LiveClients& group, bool authorized, beast::tcp_stream stream,
                                      StreamRequest request, std::string remote) {
  bool asked_subprotocol = false, delta = false;
  View view;
  {
    const BeastRequest adapter(request, remote);
    const HttpRequest& plain = adapter.view();
    std::string protocol_param;
    asked_subprotocol =
        plain.header("sec-websocket-protocol").find(kDeltaSubprotocol) != std::string_view::npos;
    delta = asked_subprotocol ||
            (query_param(plain.query, "protocol", protocol_param) && protocol_param == "delta");
    if (delta) view = view_from_query(plain.query);
  }
  auto session = std::make_shared<WsSession>(
      group, delta ? LiveClient::Protocol::kDelta : LiveClient::Protocol::kProgressista,
      std::move(view), std::move(remote), std::move(stream));
  co_await session->run(std::move(request), asked_subprotocol, authorized);
}

}  // namespace progressista::daemon
