#include "live/ws_session.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <vector>

#include <simdjson.h>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "live/control_message.hpp"
#include "live/live_client.hpp"
#include "live/live_clients.hpp"
#include "live/ws_wire.hpp"
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
// How long a client has to answer our close with its own before it is dropped.
constexpr std::chrono::seconds kCloseWait{5};

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
        close_wait_(ws_.get_executor()),
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
    socket().close(ignored);
    close_wait_.cancel();
  }
  asio::awaitable<error_code> send(const Frame& frame) override;
  bool send_now(const Frame& frame) override;
  [[nodiscard]] bool transport_pending() const override { return !rest_.empty() || pong_due_; }
  asio::awaitable<error_code> flush_transport() override;
  asio::awaitable<void> send_close(CloseCode code, std::string_view reason) override;
  asio::awaitable<bool> on_idle() override;

 private:
  void configure(std::string_view subprotocol);
  asio::ip::tcp::socket& socket() { return beast::get_lowest_layer(ws_).socket(); }
  // The client's frames until the connection ends (ws_wire.hpp reads them).
  asio::awaitable<void> read_frames();
  // A delta client's control message: within the budget, a subscribe or unsubscribe (answered
  // by snapshot_soon) or an error frame; past it, an error frame and close 1008.
  void on_message(std::string_view text);
  asio::awaitable<error_code> write_bytes(std::string_view bytes) {
    auto [ec, n] = co_await asio::async_write(socket(), asio::buffer(bytes), kUseTuple);
    (void)n;
    co_return ec;
  }

  // Owned here, not by the serving coroutine: the writer may still be using it after the
  // reader has returned. Beast answers the handshake (and refuses before a client joins);
  // after that the frames both ways are ours (ws_wire.hpp), on its socket.
  websocket::stream<beast::tcp_stream> ws_;
  asio::steady_timer close_wait_;  // our close sent: waiting for the client's
  simdjson::dom::parser parser_;
  ControlBudget budget_;
  bool over_budget_ = false;
  std::string rest_;       // what a send_now could not write: written first
  std::string pong_;       // the payload of the last ping, answered by the writer
  bool pong_due_ = false;
  bool peer_closed_ = false;
  bool failed_ = false;  // a frame RFC 6455 forbids was read
  std::chrono::steady_clock::time_point heard_ = std::chrono::steady_clock::now();
};

// Calls `fn(data, size)` for each of the frame's messages: one, or one per task
// (change_frames.hpp).
template <typename Fn>
void for_each_message(const Frame& frame, Fn&& fn) {
  const std::string& text = frame.text();
  if (!frame.ends) {
    fn(text.data(), text.size());
    return;
  }
  std::size_t begin = 0;
  for (const std::size_t end : *frame.ends) {
    fn(text.data() + begin, end - begin);
    begin = end;
  }
}

asio::awaitable<error_code> WsSession::send(const Frame& frame) {
  std::vector<WsHeader> headers;
  headers.reserve(frame.ends ? frame.ends->size() : 1);  // the buffers point into it
  std::vector<asio::const_buffer> buffers;
  for_each_message(frame, [&](const char* data, std::size_t size) {
    headers.push_back(ws_header(WsOpcode::kText, size));
    buffers.emplace_back(headers.back().bytes.data(), headers.back().size);
    buffers.emplace_back(data, size);
  });
  auto [ec, n] = co_await asio::async_write(socket(), buffers, kUseTuple);
  (void)n;
  co_return ec;
}

bool WsSession::send_now(const Frame& frame) {
  // At most this many messages in one sendmsg; a frame of more goes through the writer.
  constexpr std::size_t kMaxMessages = 32;
  if (frame.ends && frame.ends->size() > kMaxMessages) return false;
  std::array<WsHeader, kMaxMessages> headers;
  std::array<iovec, 2 * kMaxMessages> iov;
  std::size_t messages = 0, total = 0;
  for_each_message(frame, [&](const char* data, std::size_t size) {
    WsHeader& h = headers[messages];
    h = ws_header(WsOpcode::kText, size);
    iov[2 * messages] = {h.bytes.data(), h.size};
    iov[2 * messages + 1] = {const_cast<char*>(data), size};  // sendmsg only reads it
    total += h.size + size;
    ++messages;
  });
  msghdr msg{};
  msg.msg_iov = iov.data();
  msg.msg_iovlen = 2 * messages;
  const ssize_t sent = ::sendmsg(socket().native_handle(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (sent <= 0) return false;  // full, or failed: the writer's send finds out which
  if (static_cast<std::size_t>(sent) == total) return true;
  // Part of it: the rest goes first, from the writer.
  group_.hub().stats().partial_sends.fetch_add(1, std::memory_order_relaxed);
  std::size_t skip = static_cast<std::size_t>(sent);
  for (std::size_t i = 0; i < 2 * messages; ++i) {
    const std::size_t len = iov[i].iov_len;
    if (skip >= len) {
      skip -= len;
      continue;
    }
    rest_.append(static_cast<const char*>(iov[i].iov_base) + skip, len - skip);
    skip = 0;
  }
  wake();
  return true;
}

asio::awaitable<error_code> WsSession::flush_transport() {
  if (!rest_.empty()) {
    const error_code ec = co_await write_bytes(rest_);
    rest_.clear();
    if (ec) co_return ec;
  }
  if (pong_due_) {
    pong_due_ = false;
    co_return co_await write_bytes(ws_control_frame(WsOpcode::kPong, pong_));
  }
  co_return error_code{};
}

asio::awaitable<void> WsSession::send_close(CloseCode code, std::string_view reason) {
  const error_code ec =
      co_await write_bytes(ws_close_frame(static_cast<std::uint16_t>(code), reason));
  // Failing the connection for a bad frame, the TCP connection is closed at once (RFC 6455,
  // 7.1.7): what follows cannot be read.
  if (ec || peer_closed_ || failed_) co_return;
  // The client answers with its close (read_frames wakes us); a client that does not is
  // dropped after a while.
  close_wait_.expires_after(kCloseWait);
  auto [wec] = co_await close_wait_.async_wait(kUseTuple);
  (void)wec;
}

asio::awaitable<bool> WsSession::on_idle() {
  const auto interval = group_.hub().options().ping_interval;
  if (std::chrono::steady_clock::now() - heard_ >= 2 * interval) {
    static LogLimiter limiter;
    limited_log(limiter, Level::kInfo, "{} sent nothing, not even a pong, for {} ms; disconnected",
                remote, std::chrono::duration_cast<std::chrono::milliseconds>(2 * interval).count());
    co_return true;
  }
  const error_code ec = co_await write_bytes(ws_control_frame(WsOpcode::kPing, {}));
  co_return static_cast<bool>(ec);
}

asio::awaitable<void> WsSession::read_frames() {
  WsReader reader(kMaxControlMessage);
  std::string in;
  std::array<char, 4096> chunk;
  bool finished = false;  // after a close or a bad frame, what comes is not read
  for (;;) {
    auto [ec, n] = co_await socket().async_read_some(asio::buffer(chunk), kUseTuple);
    if (ec) break;
    heard_ = std::chrono::steady_clock::now();
    if (finished) continue;
    in.append(chunk.data(), n);
    std::size_t at = 0;
    for (;;) {
      std::size_t used = 0;
      const WsReader::Item item = reader.next(std::string_view(in).substr(at), used);
      at += used;
      if (item.kind == WsReader::Kind::kNeedMore) {
        if (used == 0) break;
        continue;  // a fragment taken: the next one may be in the buffer
      }
      if (item.kind == WsReader::Kind::kMessage) {
        if (protocol != Protocol::kProgressista) on_message(item.payload);
      } else if (item.kind == WsReader::Kind::kPing) {
        pong_.assign(item.payload);  // the newest ping is the one answered
        pong_due_ = true;
        wake();
      } else if (item.kind == WsReader::Kind::kClose) {
        finished = true;
        peer_closed_ = true;
        close_wait_.cancel();
        // Its code echoed (a close without one is answered with 1000).
        close(static_cast<CloseCode>(item.code == ws_close::kNoStatus ? ws_close::kNormal
                                                                      : item.code));
      } else if (item.kind == WsReader::Kind::kError) {
        finished = true;
        failed_ = true;
        group_.hub().stats().ws_rejected(BroadcastStats::WsRejection::kBadFrame);
        static LogLimiter limiter;
        limited_log(limiter, Level::kInfo, "{}: {}; closed with {}", remote, item.reason,
                    item.code);
        close(static_cast<CloseCode>(item.code), std::string(item.reason));
      }
    }
    in.erase(0, at);  // at most a frame's start is left: the reader refuses one over the limit
  }
}

void WsSession::configure(std::string_view subprotocol) {
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = std::chrono::seconds(30);
  // After the handshake Beast does nothing: the keep-alive pings are ours (on_idle), so
  // that no frame of Beast's is written between ours.
  timeouts.idle_timeout = websocket::stream_base::none();
  timeouts.keep_alive_pings = false;
  ws_.set_option(timeouts);
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
    replace(protocol == Protocol::kDelta ? hub.snapshot_of(view, false)
            : view.scope                 ? scoped_plain_frame(hub.store().table(), view)
                                         : hub.plain_snapshot());
  }
  asio::co_spawn(ws_.get_executor(), writer(), asio::detached);
  co_await read_frames();
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
  parsed.message.view.scope = std::move(view.scope);  // a share link's scope stays
  view = std::move(parsed.message.view);
  snapshot_soon();
}

}  // namespace

asio::awaitable<void> serve_websocket(LiveClients& group, bool authorized, beast::tcp_stream stream,
                                      StreamRequest request, std::string remote,
                                      std::optional<ShareScope> scope) {
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
    view.scope = std::move(scope);
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
