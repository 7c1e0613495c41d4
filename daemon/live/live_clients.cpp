#include "live/live_clients.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <deque>
#include <limits>

#include <simdjson.h>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "log.hpp"
#include "progressista/change_feed.hpp"
#include "progressista/codec.hpp"

namespace progressista::daemon {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using error_code = boost::system::error_code;

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::string_view kDeltaSubprotocol = "progressista.delta.v1";
constexpr std::size_t kMaxControlFrames = 8;  // error frames waiting to be sent
constexpr std::size_t kMaxClientMessage = 64 * 1024;

using Protocol = BroadcastStats::Protocol;

// ?task_id= / ?prefix= / ?project= narrow a view from the URL (SSE, and the delta WebSocket).
View view_from_query(std::string_view query) {
  View v;
  std::string value;
  if (query_param(query, "task_id", value))
    v = {View::Kind::kTask, value};
  else if (query_param(query, "prefix", value))
    v = {View::Kind::kPrefix, value};
  else if (query_param(query, "project", value))
    v = {View::Kind::kProject, value};
  return v;
}

// The sequence number inside a frame ({"type":"...","seq":N,...}); 0 for Progressista's.
std::uint64_t frame_seq(const std::string& frame) {
  const std::size_t at = frame.find("\"seq\":");
  if (at == std::string::npos || at > 32) return 0;
  std::uint64_t n = 0;
  for (std::size_t i = at + 6; i < frame.size() && frame[i] >= '0' && frame[i] <= '9'; ++i) {
    n = n * 10 + static_cast<std::uint64_t>(frame[i] - '0');
  }
  return n;
}

Frame error_frame(std::string_view detail) {
  fmt::memory_buffer out;
  out.append(std::string_view{"{\"type\":\"error\",\"detail\":"});
  append_json_string(out, detail);
  out.push_back('}');
  return std::make_shared<const std::string>(out.data(), out.size());
}

}  // namespace

// One client: the pending-frame policy and the writer loop; the transport is a subclass's.
class LiveClient : public std::enable_shared_from_this<LiveClient> {
 public:
  LiveClient(LiveClients& group, Protocol protocol, View view, std::string remote,
             const asio::any_io_executor& ex)
      : protocol(protocol),
        view(std::move(view)),
        remote(std::move(remote)),
        group_(group),
        wake_(ex),
        write_timer_(ex) {}
  virtual ~LiveClient() = default;

  const Protocol protocol;
  View view;
  const std::string remote;
  // The sequence number of the newest state queued for this client (delta protocol and
  // SSE): a tick at or below it holds nothing the client has not got, and is skipped.
  std::uint64_t seq = 0;

  // A newer state replaces the pending one. A delta cannot replace another (the changes of
  // the first would be lost), so the client is sent a fresh snapshot of its view instead.
  void offer(const Frame& frame) {
    if (closing_ || !frame) return;
    if (pending_ || needs_reset_) {
      group_.hub().stats().coalesced.fetch_add(1, std::memory_order_relaxed);
      if (protocol != Protocol::kProgressista) {
        pending_.reset();
        needs_reset_ = true;
        wake();
        return;
      }
    }
    pending_ = frame;
    wake();
  }
  // Replaces whatever is pending (a snapshot of a new view covers every earlier change).
  void replace(const Frame& frame) {
    needs_reset_ = false;
    pending_ = frame;
    if (frame) seq = std::max(seq, frame_seq(*frame));
    wake();
  }
  void control(const Frame& frame) {
    if (control_.size() < kMaxControlFrames) control_.push_back(frame);
    wake();
  }
  void close(websocket::close_code code) {
    if (closing_) return;
    closing_ = true;
    close_code_ = code;
    wake();
  }
  // Drops the connection at once and ends the writer.
  void end() {
    closing_ = true;
    ended_ = true;
    wake();
    write_timer_.cancel();
    close_transport();
  }

  asio::awaitable<void> writer() {
    auto self = shared_from_this();
    Broadcaster& hub = group_.hub();
    for (;;) {
      if (closing_) {
        if (!ended_) co_await send_close(close_code_);
        break;
      }
      Frame f;
      if (!control_.empty()) {
        f = std::move(control_.front());
        control_.pop_front();
      } else if (needs_reset_) {
        needs_reset_ = false;
        // Shared by every lagging client of the same view in this tick.
        f = hub.snapshot_of(view, true);
        seq = std::max(seq, frame_seq(*f));
      } else if (pending_) {
        f = std::move(pending_);
      } else {
        wake_.expires_after(protocol == Protocol::kSse
                                ? std::chrono::steady_clock::duration(hub.options().ping_interval)
                                : std::chrono::hours(24 * 365));
        auto [ec] = co_await wake_.async_wait(kUseTuple);
        if (!ec && protocol == Protocol::kSse && !closing_) {
          // A comment keeps proxies from timing the stream out.
          if (co_await send_comment()) break;
        }
        continue;
      }
      arm_write_timeout();
      const error_code ec = co_await send(*f);
      write_timer_.cancel();
      if (ec) break;
      hub.stats().sent(f->size());
    }
    end();
    group_.remove(this);
  }

 protected:
  virtual void close_transport() = 0;
  virtual asio::awaitable<error_code> send(const std::string& frame) = 0;
  virtual asio::awaitable<void> send_close(websocket::close_code code) = 0;
  // True when the connection failed.
  virtual asio::awaitable<bool> send_comment() { co_return false; }

 private:
  void wake() { wake_.cancel(); }
  void arm_write_timeout() {
    write_timer_.expires_after(group_.hub().options().client_timeout);
    write_timer_.async_wait([weak = weak_from_this()](const error_code& ec) {
      if (ec) return;
      if (auto self = weak.lock()) {
        self->group_.hub().stats().slow_disconnects.fetch_add(1, std::memory_order_relaxed);
        log(Level::kInfo, "{} did not take a frame within {} ms; disconnected", self->remote,
            self->group_.hub().options().client_timeout.count());
        self->end();
      }
    });
  }

  LiveClients& group_;
  asio::steady_timer wake_;
  asio::steady_timer write_timer_;
  Frame pending_;
  std::deque<Frame> control_;
  bool needs_reset_ = false;
  bool closing_ = false;
  bool ended_ = false;
  websocket::close_code close_code_ = websocket::close_code::going_away;
};

namespace {

class WsClient final : public LiveClient {
 public:
  WsClient(LiveClients& group, Protocol protocol, View view, std::string remote,
           beast::tcp_stream&& stream)
      : LiveClient(group, protocol, std::move(view), std::move(remote), stream.get_executor()),
        ws_(std::move(stream)) {}
  websocket::stream<beast::tcp_stream>& ws() noexcept { return ws_; }

 protected:
  void close_transport() override {
    error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

 protected:
  asio::awaitable<error_code> send(const std::string& frame) override {
    ws_.text(true);
    auto [ec, n] = co_await ws_.async_write(asio::buffer(frame), kUseTuple);
    (void)n;
    co_return ec;
  }
  asio::awaitable<void> send_close(websocket::close_code code) override {
    auto [ec] = co_await ws_.async_close(websocket::close_reason(code), kUseTuple);
    (void)ec;
  }

 private:
  // Owned here, not by the serving coroutine: the writer may still be using it after the
  // reader has returned.
  websocket::stream<beast::tcp_stream> ws_;
};

class SseClient final : public LiveClient {
 public:
  SseClient(LiveClients& group, View view, std::string remote, beast::tcp_stream&& stream)
      : LiveClient(group, Protocol::kSse, std::move(view), std::move(remote),
                   stream.get_executor()),
        stream_(std::move(stream)) {}
  beast::tcp_stream& stream() noexcept { return stream_; }

 protected:
  void close_transport() override {
    error_code ignored;
    stream_.socket().close(ignored);
  }

  asio::awaitable<error_code> send(const std::string& frame) override {
    const std::string head = fmt::format("id: {}\ndata: ", frame_seq(frame));
    const std::array<asio::const_buffer, 3> parts{asio::buffer(head), asio::buffer(frame),
                                                  asio::buffer("\n\n", 2)};
    auto [ec, n] = co_await asio::async_write(stream_.socket(), parts, kUseTuple);
    (void)n;
    co_return ec;
  }
  asio::awaitable<void> send_close(websocket::close_code) override {
    error_code ignored;
    stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    co_return;
  }
  asio::awaitable<bool> send_comment() override {
    auto [ec, n] =
        co_await asio::async_write(stream_.socket(), asio::buffer(": ping\n\n", 8), kUseTuple);
    (void)n;
    co_return static_cast<bool>(ec);
  }

 private:
  beast::tcp_stream stream_;
};

// Releases the client's admission when the serving coroutine ends, however it ends.
struct Admission {
  Broadcaster& hub;
  ~Admission() { hub.release(); }
};

asio::awaitable<void> answer(beast::tcp_stream& stream, http::status status,
                             std::string_view detail, unsigned version) {
  http::response<http::string_body> res{status, version};
  res.set(http::field::server, "progressista");
  res.set(http::field::content_type, "application/json");
  res.keep_alive(false);
  fmt::memory_buffer body;
  body.append(std::string_view{"{\"detail\":"});
  append_json_string(body, detail);
  body.push_back('}');
  res.body().assign(body.data(), body.size());
  res.prepare_payload();
  stream.expires_after(std::chrono::seconds(5));
  auto [ec, n] = co_await http::async_write(stream, res, kUseTuple);
  (void)ec;
  (void)n;
  error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
}

}  // namespace

LiveClients::LiveClients(Broadcaster& hub, const TokenSet& tokens) : hub_(hub), tokens_(tokens) {}

LiveClients::~LiveClients() = default;

bool LiveClients::wants(const HttpRequest& request) const {
  if (request.method != "GET") return false;
  if (request.path == "/ws") return true;  // a plain GET gets 426 from serve_ws
  return request.path == "/events";
}

void LiveClients::join(const std::shared_ptr<LiveClient>& client, asio::any_io_executor ex) {
  if (!registered_) {
    registered_ = true;
    hub_.add_group(this, [ex](std::function<void()> fn) { asio::post(ex, std::move(fn)); });
  }
  clients_.emplace(client.get(), client);
  hub_.stats().connected(client->protocol);
  if (going_away_) client->close(websocket::close_code::going_away);
}

void LiveClients::remove(LiveClient* client) {
  const auto it = clients_.find(client);
  if (it == clients_.end()) return;
  hub_.stats().disconnected(client->protocol);
  clients_.erase(it);  // the writer coroutine still holds its own reference
}

Frame LiveClients::frame_for(const View& view) {
  if (!tick_) return nullptr;
  if (view.all() && !tick_->reset) return tick_->all_delta;
  const std::string key = view.key();
  if (const auto it = frames_.find(key); it != frames_.end()) return it->second;
  Frame f = tick_->reset ? hub_.snapshot_of(view, true) : delta_frame(*tick_, view);
  frames_.emplace(key, f);
  return f;
}

void LiveClients::deliver(const std::shared_ptr<const Tick>& tick, const Frame& plain) {
  tick_ = tick;
  frames_.clear();
  for (auto& [ptr, client] : clients_) {
    if (client->protocol == Protocol::kProgressista) {
      client->offer(plain);
    } else if (tick->seq > client->seq || tick->reset) {
      // A reset (lapped feed, or another segment) reaches every client, whatever it has.
      client->offer(frame_for(client->view));
      client->seq = std::max(client->seq, tick->seq);
    }
  }
  tick_.reset();
  frames_.clear();
}

void LiveClients::go_away() {
  going_away_ = true;
  for (auto& [ptr, client] : clients_) client->close(websocket::close_code::going_away);
}

asio::awaitable<void> LiveClients::serve(beast::tcp_stream stream, beast::flat_buffer buffer,
                                         StreamRequest request, std::string remote) {
  if (!hub_.admit()) {
    hub_.store().counters().add(Counter::kRejectedOverload);
    co_await answer(stream, http::status::service_unavailable,
                    fmt::format("too many live clients (the limit is {}); retry later",
                                hub_.options().max_clients),
                    request.version());
    co_return;
  }
  Admission admission{hub_};
  const BeastRequest adapter(request, remote);
  const HttpRequest& plain = adapter.view();
  if (plain.path == "/events") {
    if (!request_authenticated(plain, tokens_)) {
      hub_.store().counters().add(Counter::kRejectedAuth);
      co_await answer(stream, http::status::unauthorized, "Invalid API token", request.version());
      co_return;
    }
    co_await serve_sse(std::move(stream), std::move(request), std::move(remote));
    co_return;
  }
  co_await serve_ws(std::move(stream), std::move(buffer), std::move(request), std::move(remote));
}

asio::awaitable<void> LiveClients::serve_ws(beast::tcp_stream stream, beast::flat_buffer buffer,
                                            StreamRequest request, std::string remote) {
  if (!websocket::is_upgrade(request)) {
    co_await answer(stream, http::status::upgrade_required,
                    "this is a WebSocket endpoint: connect with a WebSocket client",
                    request.version());
    co_return;
  }
  const BeastRequest adapter(request, remote);
  const HttpRequest& plain = adapter.view();
  std::string protocol_param;
  const bool asked_subprotocol =
      plain.header("sec-websocket-protocol").find(kDeltaSubprotocol) != std::string_view::npos;
  const bool delta = asked_subprotocol || (query_param(plain.query, "protocol", protocol_param) &&
                                           protocol_param == "delta");
  const bool authorized = request_authenticated(plain, tokens_);
  View view = delta ? view_from_query(plain.query) : View{};

  auto client = std::make_shared<WsClient>(
      *this, delta ? Protocol::kDelta : Protocol::kProgressista, view, remote, std::move(stream));
  websocket::stream<beast::tcp_stream>& ws = client->ws();
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = std::chrono::seconds(30);
  // Beast pings after half the idle time without traffic and closes after the whole.
  timeouts.idle_timeout = hub_.options().ping_interval * 2;
  timeouts.keep_alive_pings = true;
  ws.set_option(timeouts);
  ws.read_message_max(kMaxClientMessage);
  // One frame per message: Beast's default cuts writes into 4 KiB frames, which multiplies
  // the work per snapshot (measured with bench/fanout).
  ws.auto_fragment(false);
  ws.set_option(
      websocket::stream_base::decorator([asked_subprotocol](websocket::response_type& res) {
        res.set(http::field::server, "progressista");
        if (asked_subprotocol) res.set(http::field::sec_websocket_protocol, kDeltaSubprotocol);
      }));
  // A client does not send frames before the handshake answer, so `buffer` holds nothing
  // the WebSocket needs.
  (void)buffer;
  auto [aec] = co_await ws.async_accept(request, kUseTuple);
  if (aec) co_return;

  if (!authorized) {
    // Progressista's code: the dashboard tells "wrong token" from "server down" by it.
    hub_.stats().ws_rejected_auth.fetch_add(1, std::memory_order_relaxed);
    hub_.store().counters().add(Counter::kRejectedAuth);
    auto [cec] = co_await ws.async_close(
        websocket::close_reason(static_cast<websocket::close_code>(4401), "Unauthorized"),
        kUseTuple);
    (void)cec;
    co_return;
  }

  join(client, ws.get_executor());
  // Registered first, then the snapshot: every change after it reaches the client as a delta.
  if (delta) {
    client->replace(hub_.snapshot_of(view, false));
  } else {
    client->replace(hub_.plain_snapshot());
  }
  asio::co_spawn(ws.get_executor(), client->writer(), asio::detached);

  beast::flat_buffer in;
  simdjson::dom::parser parser;
  for (;;) {
    auto [rec, n] = co_await ws.async_read(in, kUseTuple);
    (void)n;
    if (rec) break;
    if (delta) {
      const std::string text = beast::buffers_to_string(in.data());
      simdjson::dom::element msg;
      std::string_view op;
      if (parser.parse(text).get(msg) != simdjson::SUCCESS || !msg.is_object()) {
        client->control(error_frame(
            "messages must be JSON objects such as {\"op\":\"subscribe\",\"prefix\":\"job-\"}"));
      } else if (msg["op"].get_string().get(op) != simdjson::SUCCESS) {
        client->control(error_frame("\"op\" is required: subscribe or unsubscribe"));
      } else if (op == "unsubscribe") {
        client->view = View{};
        client->replace(hub_.delta_snapshot());
      } else if (op == "subscribe") {
        std::string_view value;
        View next;
        if (msg["task_id"].get_string().get(value) == simdjson::SUCCESS) {
          next = {View::Kind::kTask, std::string(value)};
        } else if (msg["prefix"].get_string().get(value) == simdjson::SUCCESS) {
          next = {View::Kind::kPrefix, std::string(value)};
        } else if (msg["project"].get_string().get(value) == simdjson::SUCCESS) {
          next = {View::Kind::kProject, std::string(value)};
        } else {
          client->control(
              error_frame("subscribe needs a string \"task_id\", \"prefix\" or \"project\""));
          in.consume(in.size());
          continue;
        }
        client->view = std::move(next);
        client->replace(hub_.snapshot_of(client->view, false));
      } else {
        client->control(error_frame(
            fmt::format("unknown op '{}': use subscribe or unsubscribe", utf8_prefix(op, 64))));
      }
    }
    in.consume(in.size());
  }
  client->end();
  remove(client.get());
}

asio::awaitable<void> LiveClients::serve_sse(beast::tcp_stream stream, StreamRequest request,
                                             std::string remote) {
  const BeastRequest adapter(request, remote);
  const HttpRequest& plain = adapter.view();
  const View view = view_from_query(plain.query);
  std::string last_id(plain.header("last-event-id"));
  if (last_id.empty()) (void)query_param(plain.query, "last_event_id", last_id);

  const std::string head =
      "HTTP/1.1 200 OK\r\nServer: progressista\r\nContent-Type: text/event-stream\r\n"
      "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\nConnection: close\r\n\r\n"
      "retry: 2000\n\n";
  auto [hec, hn] = co_await asio::async_write(stream.socket(), asio::buffer(head), kUseTuple);
  (void)hn;
  if (hec) co_return;

  auto client = std::make_shared<SseClient>(*this, view, remote, std::move(stream));
  join(client, client->stream().get_executor());

  // Resume: the changes after Last-Event-ID when the feed still holds them, else a snapshot
  // with "reset" (the client's state is too old to patch).
  Frame first;
  if (!last_id.empty()) {
    // Resumed only when the id belongs to the segment read now and its feed still holds
    // every change after it; an id from before a resize or re-creation gets the snapshot.
    std::uint64_t after = 0;
    const auto [ptr, ec] = std::from_chars(last_id.data(), last_id.data() + last_id.size(), after);
    bool resumed = false;
    if (ec == std::errc() && ptr == last_id.data() + last_id.size())
      first = hub_.resume(after, view, resumed);
    if (!resumed) first = hub_.snapshot_of(view, true);
  } else {
    first = hub_.snapshot_of(view, false);
  }
  if (first) client->replace(first);
  asio::co_spawn(client->stream().get_executor(), client->writer(), asio::detached);

  // The client never speaks again; a read ends when it goes away.
  std::array<char, 512> sink{};
  for (;;) {
    auto [rec, n] =
        co_await client->stream().socket().async_read_some(asio::buffer(sink), kUseTuple);
    (void)n;
    if (rec) break;
  }
  client->end();
  remove(client.get());
}

}  // namespace progressista::daemon
