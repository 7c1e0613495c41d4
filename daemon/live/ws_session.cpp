#include "live/ws_session.hpp"

#include <simdjson.h>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "live/control_message.hpp"
#include "live/live_client.hpp"
#include "live/live_clients.hpp"
#include "log.hpp"
#include "progressista/query.hpp"

namespace progressista::daemon {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using error_code = boost::system::error_code;

namespace {

using Protocol = LiveClient::Protocol;
constexpr std::size_t kMaxCloseReason = 123;  // a close frame's 125 bytes, less the code

// Every protocol /ws serves: its `?protocol=` name and its Sec-WebSocket-Protocol (empty: none).
// The first is the default. The one list the dispatch and the refusal's close reason read.
struct WsProtocol {
  std::string_view name;
  std::string_view subprotocol;
  Protocol protocol;
};
constexpr WsProtocol kWsProtocols[] = {
    {"progressista", "", Protocol::kProgressista},
    // Before v1: a client that offers both gets the compact one.
    {"delta2", "progressista.delta.v2", Protocol::kDeltaV2},
    {"delta", "progressista.delta.v1", Protocol::kDelta},
    {"operations", "progressista.operations.v1", Protocol::kOperations},
};
// /tasks/ws serves the event stream alone, and echoes this subprotocol when it is offered.
constexpr WsProtocol kEventsProtocol = {"events", "progressista.events.v1", Protocol::kEvents};

// What a handshake asked for: the protocol to serve (null: a `?protocol=` we do not serve) and
// the subprotocol to echo (empty: none).
struct WsChoice {
  const WsProtocol* served = &kWsProtocols[0];
  std::string_view echo;
};

// An offered subprotocol of ours wins and is echoed; else `?protocol=` (an unknown one is
// refused); else the default. Subprotocols we do not know are ignored and not echoed, as
// RFC 6455 4.2.2 allows: a client that cannot do without one fails the connection itself, so
// serving the default to everyone else is right.
// True when the Sec-WebSocket-Protocol list `offered` (comma-separated tokens) holds `token`.
bool offers(std::string_view offered, std::string_view wanted) {
  while (!offered.empty()) {
    const std::size_t comma = std::min(offered.find(','), offered.size());
    std::string_view token = offered.substr(0, comma);
    offered.remove_prefix(std::min(comma + 1, offered.size()));
    while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) token.remove_prefix(1);
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
    if (token == wanted) return true;
  }
  return false;
}

WsChoice choose_protocol(std::string_view offered, std::string_view query) {
  WsChoice c;
  std::string name;
  if (query_param(query, "protocol", name) && !name.empty()) {
    c.served = nullptr;
    for (const WsProtocol& p : kWsProtocols)
      if (p.name == name) c.served = &p;
  }
  if (!c.served) return c;
  for (const WsProtocol& p : kWsProtocols) {
    if (!p.subprotocol.empty() && offers(offered, p.subprotocol)) {
      c.served = &p;
      c.echo = p.subprotocol;
      return c;
    }
  }
  return c;
}

// The close reason for a `?protocol=` /ws does not serve.
std::string unknown_protocol_reason() {
  std::string r = "unknown protocol: /ws serves ";
  for (const WsProtocol& p : kWsProtocols) {
    if (&p != kWsProtocols) r += ", ";
    r += "protocol=";
    r += p.name;
  }
  r += " (";
  r += kWsProtocols[0].name;
  r += " when none is given)";
  return std::string(utf8_prefix(r, kMaxCloseReason));
}

Frame error_frame(std::string_view detail) {
  fmt::memory_buffer out;
  append_error_frame(out, detail);
  return Frame::of(0, out);
}

class WsSession final : public LiveClient {
 public:
  WsSession(LiveClients& group, Protocol protocol, View view, std::string remote,
            beast::tcp_stream&& stream)
      : LiveClient(group, protocol, std::move(view), std::move(remote), stream.get_executor()),
        ws_(std::move(stream)),
        budget_(group.hub().options().control_rate, 2 * group.hub().options().control_rate) {}

  // Handshake (echoing `subprotocol` when not empty), then this client's messages until it
  // goes away; the writer runs beside. `served` false: closed with 1008 after the handshake.
  asio::awaitable<void> run(StreamRequest request, std::string_view subprotocol, bool authorized,
                            bool served);

  // The event stream's start (LiveClient::start_changes).
  std::string last_event_id;
  bool snapshot = false;
  std::uint64_t arrived = 0;  // the broadcaster's seq when the request came

 protected:
  void close_transport() override {
    error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }
  asio::awaitable<error_code> send(const Frame& frame) override {
    ws_.text(true);
    const std::string& text = frame.text();
    if (!frame.ends) {
      auto [ec, n] = co_await ws_.async_write(asio::buffer(text), kUseTuple);
      (void)n;
      co_return ec;
    }
    std::size_t begin = 0;
    for (const std::size_t end : *frame.ends) {  // one message per task (change_frames.hpp)
      auto [ec, n] = co_await ws_.async_write(asio::buffer(text.data() + begin, end - begin),
                                              kUseTuple);
      (void)n;
      if (ec) co_return ec;
      begin = end;
    }
    co_return error_code{};
  }
  asio::awaitable<void> send_close(CloseCode code, std::string_view reason) override {
    auto [ec] = co_await ws_.async_close(
        websocket::close_reason(code, utf8_prefix(reason, kMaxCloseReason)), kUseTuple);
    (void)ec;
  }

 private:
  void configure(std::string_view subprotocol);
  // A delta client's control message: within the budget, a subscribe or unsubscribe (answered
  // by snapshot_soon) or an error frame; past it, an error frame and close 1008.
  void on_message(std::string_view text);

  // Owned here, not by the serving coroutine: the writer may still be using it after the
  // reader has returned.
  websocket::stream<beast::tcp_stream> ws_;
  simdjson::dom::parser parser_;
  ControlBudget budget_;
  bool over_budget_ = false;
};

void WsSession::configure(std::string_view subprotocol) {
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = std::chrono::seconds(30);
  // Beast pings after half the idle time without traffic and closes after the whole.
  timeouts.idle_timeout = group_.hub().options().ping_interval * 2;
  timeouts.keep_alive_pings = true;
  ws_.set_option(timeouts);
  ws_.read_message_max(kMaxControlMessage);
  // One frame per message: Beast's default cuts writes into 4 KiB frames, which multiplies
  // the work per snapshot (measured with bench/fanout).
  ws_.auto_fragment(false);
  ws_.set_option(
      websocket::stream_base::decorator([subprotocol](websocket::response_type& res) {
        res.set(http::field::server, "progressista");
        if (!subprotocol.empty()) res.set(http::field::sec_websocket_protocol, subprotocol);
      }));
}

asio::awaitable<void> WsSession::run(StreamRequest request, std::string_view subprotocol,
                                     bool authorized, bool served) {
  configure(subprotocol);
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
  if (!served) {
    hub.stats().ws_rejected(BroadcastStats::WsRejection::kUnknownProtocol);
    auto [cec] = co_await ws_.async_close(
        websocket::close_reason(websocket::close_code::policy_error, unknown_protocol_reason()),
        kUseTuple);
    (void)cec;
    co_return;
  }

  auto self = shared_from_this();
  group_.join(self, ws_.get_executor());
  // Registered first, then the snapshot: every change after it reaches the client as a delta.
  if (protocol == Protocol::kDeltaV2) {
    start_compact();
  } else if (per_change()) {
    start_changes(last_event_id, snapshot, arrived);
  } else {
    replace(protocol == Protocol::kDelta ? hub.snapshot_of(view, false) : hub.plain_snapshot());
  }
  asio::co_spawn(ws_.get_executor(), writer(), asio::detached);

  beast::flat_buffer in;
  for (;;) {
    auto [rec, n] = co_await ws_.async_read(in, kUseTuple);
    (void)n;
    if (rec) break;
    if (protocol != Protocol::kProgressista) {
      on_message({static_cast<const char*>(in.data().data()), in.size()});  // one contiguous buffer
    }
    in.consume(in.size());
  }
  end();
  group_.remove(this);
}

void WsSession::on_message(std::string_view text) {
  if (over_budget_) return;  // closing
  if (!budget_.take(std::chrono::steady_clock::now())) {
    // Every message costs a parse at least, and a subscribe a snapshot: a client past its
    // budget is told why and closed, once.
    over_budget_ = true;
    group_.hub().stats().ws_rejected(BroadcastStats::WsRejection::kControlRate);
    const std::string detail = fmt::format(
        "too many control messages: at most {} control messages a second (bursts of {}); closing",
        budget_.rate(), budget_.burst());
    static LogLimiter limiter;
    limited_log(limiter, Level::kInfo,
                "{}: over {} control messages a second (bursts of {}); closed with 1008", remote,
                budget_.rate(), budget_.burst());
    control(error_frame(detail));
    close(CloseCode::policy_error, "too many control messages");
    return;
  }
  if (protocol != Protocol::kDelta && protocol != Protocol::kDeltaV2) return;  // the others take none
  ControlParse parsed = parse_control_message(parser_, text);
  if (!parsed.ok()) {
    control(error_frame(parsed.error));
    return;
  }
  view = std::move(parsed.message.view);
  snapshot_soon();
}

}  // namespace

asio::awaitable<void> serve_websocket(LiveClients& group, bool authorized, beast::tcp_stream stream,
                                      StreamRequest request, std::string remote) {
  const std::uint64_t arrived = group.hub().seq();
  WsChoice choice;
  View view;
  std::string last_event_id;
  bool snapshot = false;
  {
    const BeastRequest adapter(request, remote);
    const HttpRequest& plain = adapter.view();
    if (plain.path == kTasksWs) {
      choice.served = &kEventsProtocol;
      if (offers(plain.header("sec-websocket-protocol"), kEventsProtocol.subprotocol))
        choice.echo = kEventsProtocol.subprotocol;
      (void)query_param(plain.query, "last_event_id", last_event_id);
      snapshot = query_flag(plain.query, "snapshot");
    } else {
      choice = choose_protocol(plain.header("sec-websocket-protocol"), plain.query);
    }
    if (choice.served && choice.served->protocol != Protocol::kProgressista)
      view = view_from_query(plain.query);
  }
  const bool served = choice.served != nullptr;
  auto session = std::make_shared<WsSession>(
      group, served ? choice.served->protocol : kWsProtocols[0].protocol, std::move(view),
      std::move(remote), std::move(stream));
  session->last_event_id = std::move(last_event_id);
  session->snapshot = snapshot;
  session->arrived = arrived;
  co_await session->run(std::move(request), choice.echo, authorized, served);
}

}  // namespace progressista::daemon
