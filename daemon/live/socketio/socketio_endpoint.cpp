#include "live/socketio/socketio_endpoint.hpp"

#include <sys/random.h>

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "live/control_message.hpp"
#include "live/metrics.hpp"
#include "live/socketio/engineio_packet.hpp"
#include "live/socketio/progress_payload.hpp"
#include "live/socketio/socketio_packet.hpp"
#include "live/socketio/socketio_stats.hpp"
#include "log.hpp"
#include "progressista/task_json.hpp"

namespace progressista::daemon::socketio {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using Clock = std::chrono::steady_clock;
using Packet = std::shared_ptr<const std::string>;

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

// What the handshake announces; socket.io's defaults.
constexpr std::size_t kMaxPayload = 1'000'000;
constexpr std::size_t kMaxPacketsPerPost = 1024;
// Per socket: rooms joined at once, and messages a second (bursts of twice as many).
constexpr std::size_t kMaxRooms = 100;
constexpr double kMessageRate = 50;
// A room emits at most once per kThrottle (latest state wins).
constexpr auto kThrottle = std::chrono::milliseconds(100);
// A session whose outbox grows past this is not reading: closed.
constexpr std::size_t kOutboxPackets = 4096;
constexpr std::size_t kOutboxBytes = 4u << 20;
constexpr std::size_t kMaxTaskId = 256;

std::chrono::milliseconds env_millis(const char* name, std::chrono::milliseconds fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const long ms = std::strtol(v, &end, 10);
  if (end == v || *end != '\0' || ms < 50 || ms > 3'600'000) return fallback;
  return std::chrono::milliseconds(ms);
}

// 20 URL-safe random characters from the kernel's generator: a sid is what lets a request
// read a session's messages, so it must not be guessable.
std::string random_id() {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  unsigned char bytes[20];
  std::size_t got = 0;
  while (got < sizeof bytes) {
    const ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);
    if (n > 0) got += static_cast<std::size_t>(n);
  }
  std::string id(sizeof bytes, 'A');
  for (std::size_t i = 0; i < sizeof bytes; ++i) id[i] = kAlphabet[bytes[i] & 63];
  return id;
}

Packet packet(std::string text) {
  return std::make_shared<const std::string>(std::move(text));
}

std::string error_event(std::string_view message) {
  fmt::memory_buffer b;
  b.append(std::string_view{"{\"message\":"});
  append_json_string(b, message);
  b.push_back('}');
  return sio_event("error", {b.data(), b.size()});
}

// A wake-up for a transport waiting on its own thread: the timer it waits on, cancelled there.
struct Waiter {
  asio::any_io_executor ex;
  std::weak_ptr<asio::steady_timer> timer;
  void wake() const {
    if (!ex) return;
    asio::post(ex, [t = timer] {
      if (auto timer = t.lock()) timer->cancel();
    });
  }
};

class EndpointImpl;
class Session;

// Every session of the process by sid, shared by the threads' endpoints of one broadcaster.
struct Registry {
  std::mutex mutex;
  std::unordered_map<std::string, std::shared_ptr<Session>> sessions;
  std::chrono::milliseconds ping_interval =
      env_millis("PROGRESSISTA_SOCKETIO_PING_INTERVAL_MS", std::chrono::milliseconds(25'000));
  std::chrono::milliseconds ping_timeout =
      env_millis("PROGRESSISTA_SOCKETIO_PING_TIMEOUT_MS", std::chrono::milliseconds(20'000));

  std::shared_ptr<Session> find(const std::string& sid) {
    std::lock_guard lock(mutex);
    const auto it = sessions.find(sid);
    return it == sessions.end() ? nullptr : it->second;
  }
};

std::shared_ptr<Registry> registry_for(const Broadcaster* hub) {
  static std::mutex mutex;
  static std::unordered_map<const Broadcaster*, std::weak_ptr<Registry>> registries;
  std::lock_guard lock(mutex);
  auto& weak = registries[hub];
  auto r = weak.lock();
  if (!r) {
    r = std::make_shared<Registry>();
    if (r->ping_timeout > r->ping_interval) r->ping_timeout = r->ping_interval;
    weak = r;
  }
  return r;
}

enum class Transport : std::uint8_t { kPolling, kWebsocket };

// One Engine.IO session with its one Socket.IO socket on namespace "/". Its outbox and
// transport state are guarded by `mutex_` (polling requests and a WebSocket may be served on
// other threads than its home); its rooms and heartbeat live on its home thread.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(EndpointImpl& home, asio::any_io_executor home_ex, Registry& registry, Broadcaster& hub,
          const TokenSet& tokens, bool authenticated, Transport transport)
      : sid(random_id()),
        socket_id(random_id()),
        home(home),
        home_ex(std::move(home_ex)),
        registry_(registry),
        hub_(hub),
        tokens_(tokens),
        authenticated_(authenticated),
        transport_(transport),
        budget_(kMessageRate, 2 * kMessageRate) {
    socketio_stats().sessions.fetch_add(1, std::memory_order_relaxed);
  }
  ~Session() {
    socketio_stats().sessions.fetch_sub(1, std::memory_order_relaxed);
    hub_.release();
  }

  const std::string sid;
  const std::string socket_id;
  EndpointImpl& home;
  const asio::any_io_executor home_ex;
  // Home thread only.
  std::unordered_set<std::string> rooms;
  std::shared_ptr<asio::steady_timer> heartbeat;

  // Queues a packet for whichever transport carries the session now.
  void push(const Packet& p) {
    std::lock_guard lock(mutex_);
    push_locked(p);
  }
  // Closes the session: the transports send what is queued, then the close. Idempotent.
  void close(std::string_view why);
  [[nodiscard]] bool closed() {
    std::lock_guard lock(mutex_);
    return closed_;
  }

  // One Engine.IO packet from the client; false when it broke the protocol (the caller closes).
  bool on_packet(std::string_view text);
  // A polling GET: waits for packets (at most until the next ping is due) and answers them.
  asio::awaitable<void> poll(HttpResponse& response);
  // A polling POST: the packets of its body.
  void post(const std::string& body, HttpResponse& response);

  // The WebSocket transport (its own thread): an upgrade's probe, then the writer.
  [[nodiscard]] bool begin_upgrade();
  void end_upgrade(bool done);
  struct Batch {
    std::vector<Packet> packets;
    bool closed = false;
  };
  // What the WebSocket should write now; when nothing, registers `waiter` to be woken.
  Batch take_for_websocket(const Waiter& waiter);
  void pong() {
    std::lock_guard lock(mutex_);
    pong_due_ = false;
  }
  // Heartbeat (home thread): queues a ping; false when the previous one went unanswered.
  bool ping();
  bool pong_due() {
    std::lock_guard lock(mutex_);
    return pong_due_;
  }

 private:
  void push_locked(const Packet& p);
  void on_message(std::string_view data);
  void wake_locked() {
    poll_waiter_.wake();
    ws_waiter_.wake();
  }

  Registry& registry_;
  Broadcaster& hub_;
  const TokenSet& tokens_;
  const bool authenticated_;

  std::mutex mutex_;
  Transport transport_;
  bool upgrading_ = false;
  bool polling_ = false;  // a GET is waiting
  Waiter poll_waiter_;
  Waiter ws_waiter_;
  std::deque<Packet> outbox_;
  std::size_t outbox_bytes_ = 0;
  bool closed_ = false;
  bool close_sent_ = false;
  bool close_logged_ = false;
  bool pong_due_ = false;
  bool connected_ = false;  // Socket.IO CONNECT accepted
  ControlBudget budget_;
  bool over_budget_ = false;
};

// One room on one thread: the sockets of this thread that joined it.
struct Room {
  std::unordered_map<Session*, std::shared_ptr<Session>> members;
  std::unordered_set<Session*> waiting;  // joined before the task existed: owed a status
  Clock::time_point last_emit{};
  std::string pending;  // the latest task JSON not yet emitted (throttled); empty: none
  std::shared_ptr<asio::steady_timer> timer;
  bool armed = false;
};

class EndpointImpl final : public Endpoint {
 public:
  EndpointImpl(Broadcaster& hub, const TokenSet& tokens, const Cors* cors)
      : hub_(hub), tokens_(tokens), cors_(cors), registry_(registry_for(&hub)) {}
  ~EndpointImpl() override {
    for (auto& [id, room] : rooms_)
      if (room.timer) room.timer->cancel();
  }

  bool takes(const HttpRequest& request) const override {
    if (request.method != "GET" || !is_socketio_path(request.path)) return false;
    std::string transport;
    return query_param(request.query, "transport", transport) && transport == "websocket";
  }
  asio::awaitable<void> serve(beast::tcp_stream stream, StreamRequest request,
                              std::string remote) override;
  asio::awaitable<void> exchange(const HttpRequest& request, HttpResponse& response) override;
  void deliver(const std::shared_ptr<const Tick>& tick, const Frame& plain) override;
  void go_away() override;

  // Home thread: a socket joins or leaves a room (answered with an ACK when it asked for one).
  void join(const std::shared_ptr<Session>& s, const std::string& task_id,
            std::optional<std::uint64_t> ack);
  void leave(const std::shared_ptr<Session>& s, const std::string& task_id,
             std::optional<std::uint64_t> ack);
  // Home thread: a closed session leaves every room.
  void forget(const std::shared_ptr<Session>& s);

  Broadcaster& hub() noexcept { return hub_; }
  Registry& registry() noexcept { return *registry_; }

 private:
  std::shared_ptr<Session> open_session(const asio::any_io_executor& ex, bool authenticated,
                                        Transport transport);
  // The WebSocket transport of session `s`: its own (`upgrade` false) or an upgrade of a
  // polling session.
  asio::awaitable<void> websocket(beast::tcp_stream stream, StreamRequest request,
                                  std::shared_ptr<Session> s, bool upgrade);
  void emit(const std::string& task_id, Room& room, const std::string& task_json);
  void arm(const std::string& task_id, Room& room);
  void drop_member(const std::string& task_id, Session* s);

  Broadcaster& hub_;
  const TokenSet& tokens_;
  const Cors* cors_;
  std::shared_ptr<Registry> registry_;
  asio::any_io_executor ex_;  // this thread's, known from the first session
  bool registered_ = false;
  bool going_away_ = false;
  std::unordered_map<Session*, std::shared_ptr<Session>> homed_;
  std::unordered_map<std::string, Room> rooms_;
  simdjson::dom::parser parser_;
};

thread_local simdjson::dom::parser tl_parser;

asio::awaitable<void> heartbeat_loop(std::shared_ptr<Session> s, Registry& registry) {
  const auto timer = s->heartbeat;
  const auto interval = registry.ping_interval;
  const auto timeout = registry.ping_timeout;
  for (;;) {
    timer->expires_after(interval - timeout);
    auto [e1] = co_await timer->async_wait(kUseTuple);
    if (e1 || s->closed()) co_return;
    if (!s->ping()) co_return;
    timer->expires_after(timeout);
    auto [e2] = co_await timer->async_wait(kUseTuple);
    if (e2 || s->closed()) co_return;
    if (s->pong_due()) {
      socketio_stats().ping_timeouts.fetch_add(1, std::memory_order_relaxed);
      s->close("ping timeout");
      co_return;
    }
  }
}

void Session::push_locked(const Packet& p) {
  if (closed_) return;
  if (outbox_.size() >= kOutboxPackets || outbox_bytes_ + p->size() > kOutboxBytes) {
    // Not reading: dropping packets would lose a completion, so the client is closed and
    // reconnects (its status after the re-join is current).
    socketio_stats().slow_closed.fetch_add(1, std::memory_order_relaxed);
    outbox_.clear();
    outbox_bytes_ = 0;
    closed_ = true;
    wake_locked();
    asio::post(home_ex, [self = shared_from_this()] { self->close("slow consumer"); });
    return;
  }
  outbox_bytes_ += p->size();
  outbox_.push_back(p);
  wake_locked();
}

void Session::close(std::string_view why) {
  {
    std::lock_guard lock(mutex_);
    if (!close_logged_) {  // the first reason only (a close may follow another)
      close_logged_ = true;
      if (log_enabled(Level::kDebug))
        log(Level::kDebug, "socket.io session {} closed: {}", sid, why);
    }
    closed_ = true;
    wake_locked();
  }
  {
    std::lock_guard lock(registry_.mutex);
    registry_.sessions.erase(sid);
  }
  asio::post(home_ex, [self = shared_from_this()] { self->home.forget(self); });
}

bool Session::ping() {
  std::lock_guard lock(mutex_);
  if (closed_) return false;
  pong_due_ = true;
  static const Packet kPing = packet("2");
  push_locked(kPing);
  return true;
}

bool Session::begin_upgrade() {
  std::lock_guard lock(mutex_);
  if (closed_ || transport_ != Transport::kPolling || upgrading_) return false;
  upgrading_ = true;
  return true;
}

void Session::end_upgrade(bool done) {
  std::lock_guard lock(mutex_);
  upgrading_ = false;
  if (done) {
    transport_ = Transport::kWebsocket;
    socketio_stats().upgrades.fetch_add(1, std::memory_order_relaxed);
  }
  wake_locked();  // a GET still waiting answers now (with a noop when nothing is queued)
}

Session::Batch Session::take_for_websocket(const Waiter& waiter) {
  std::lock_guard lock(mutex_);
  Batch b;
  if (transport_ == Transport::kWebsocket) {
    b.packets.assign(outbox_.begin(), outbox_.end());
    outbox_.clear();
    outbox_bytes_ = 0;
  }
  b.closed = closed_;
  if (b.packets.empty() && !b.closed) ws_waiter_ = waiter;
  return b;
}

asio::awaitable<void> Session::poll(HttpResponse& response) {
  const auto ex = co_await asio::this_coro::executor;
  auto timer = std::make_shared<asio::steady_timer>(ex);
  // A ping is queued every interval, so a GET never waits much longer than that.
  timer->expires_after(registry_.ping_interval + std::chrono::seconds(1));
  bool wait = false;
  {
    std::lock_guard lock(mutex_);
    if (transport_ == Transport::kWebsocket || polling_) {
      // A second GET at once, or polling after the upgrade: the protocol's "bad request",
      // and the session is over.
      socketio_stats().bad_requests.fetch_add(1, std::memory_order_relaxed);
      response.status = 400;
      response.body = eio_error_body(3, "Bad request");
      wait = false;
      closed_ = true;
      wake_locked();
    } else if (outbox_.empty() && !closed_) {
      polling_ = true;
      poll_waiter_ = Waiter{ex, timer};
      wait = true;
    }
  }
  if (response.status == 400) {
    close("bad request");
    co_return;
  }
  if (wait) {
    auto [ec] = co_await timer->async_wait(kUseTuple);
    (void)ec;
  }
  std::string body;
  {
    std::lock_guard lock(mutex_);
    if (wait) {
      polling_ = false;
      poll_waiter_ = {};
    }
    // Upgraded while this GET waited: what is queued is the WebSocket's now.
    const bool moved = transport_ == Transport::kWebsocket;
    if (!moved) {
      for (const Packet& p : outbox_) {
        if (!body.empty()) body.push_back(kRecordSeparator);
        body += *p;
      }
      socketio_stats().packets_sent.fetch_add(outbox_.size(), std::memory_order_relaxed);
      outbox_.clear();
      outbox_bytes_ = 0;
    }
    if (closed_ && !close_sent_ && !moved) {
      close_sent_ = true;
      if (!body.empty()) body.push_back(kRecordSeparator);
      body += '1';
    }
    // An upgrade under way, or the long poll's bound reached: the client polls again.
    if (body.empty()) body = "6";
  }
  socketio_stats().bytes_sent.fetch_add(body.size(), std::memory_order_relaxed);
  response.status = 200;
  response.content_type = "text/plain; charset=UTF-8";
  response.body = std::move(body);
}

void Session::post(const std::string& body, HttpResponse& response) {
  response.content_type = "text/html";
  if (body.size() > kMaxPayload) {
    socketio_stats().oversize.fetch_add(1, std::memory_order_relaxed);
    response.status = 413;
    response.content_type = "application/json";
    response.body = eio_error_body(3, "Payload too large");
    close("payload too large");
    return;
  }
  const auto packets = split_payload(body, kMaxPacketsPerPost);
  bool ok = packets.has_value();
  if (ok) {
    for (const std::string_view p : *packets) {
      if (!on_packet(p)) {
        ok = false;
        break;
      }
    }
  }
  if (!ok) {
    socketio_stats().malformed.fetch_add(1, std::memory_order_relaxed);
    response.status = 400;
    response.content_type = "application/json";
    response.body = eio_error_body(3, "Bad request");
    close("malformed packet");
    return;
  }
  response.status = 200;
  response.body = "ok";
}

bool Session::on_packet(std::string_view text) {
  const auto p = parse_eio_packet(text);
  if (!p) return false;
  switch (p->type) {
    case EioType::kPong:
      pong();
      return true;
    case EioType::kMessage:
      on_message(p->data);
      return true;
    case EioType::kClose:
      close("closed by the client");
      return true;
    case EioType::kNoop:
      return true;
    case EioType::kPing:  // not sent by v4 clients but for the probe; answered all the same
      push(packet(fmt::format("3{}", p->data)));
      return true;
    default:
      return false;  // open, or an upgrade outside a WebSocket's probe
  }
}

void Session::on_message(std::string_view data) {
  SocketIoStats& stats = socketio_stats();
  bool over = false;
  {
    std::lock_guard lock(mutex_);
    if (over_budget_) return;
    if (!budget_.take(Clock::now())) {
      over_budget_ = over = true;
      stats.rate_limited.fetch_add(1, std::memory_order_relaxed);
      push_locked(packet(error_event(
          fmt::format("too many messages: at most {} a second (bursts of {}); disconnected",
                      kMessageRate, 2 * kMessageRate))));
      push_locked(packet(sio_disconnect()));
    }
  }
  if (over) {
    close("message rate");
    return;
  }
  const SioParse parsed = parse_sio_packet(tl_parser, data);
  if (!parsed.ok()) {
    stats.malformed.fetch_add(1, std::memory_order_relaxed);
    push(packet(error_event(parsed.error)));
    close("malformed Socket.IO packet");
    return;
  }
  const SioPacket& sp = parsed.packet;
  auto self = shared_from_this();
  switch (sp.type) {
    case SioType::kConnect: {
      if (sp.nsp != "/") {
        push(packet(sio_connect_error(sp.nsp, "Invalid namespace")));
        return;
      }
      if (!tokens_.empty() && !authenticated_ && !(sp.token && tokens_.contains(*sp.token))) {
        stats.auth_refused.fetch_add(1, std::memory_order_relaxed);
        hub_.store().counters().add(Counter::kRejectedAuth);
        push(packet(sio_connect_error("/", "Invalid API token")));
        return;
      }
      std::lock_guard lock(mutex_);
      connected_ = true;
      push_locked(packet(sio_connect_ok(socket_id)));
      return;
    }
    case SioType::kDisconnect: {
      {
        std::lock_guard lock(mutex_);
        connected_ = false;
      }
      asio::post(home_ex, [self] {
        const std::vector<std::string> all(self->rooms.begin(), self->rooms.end());
        for (const auto& id : all) self->home.leave(self, id, std::nullopt);
      });
      return;
    }
    case SioType::kAck:
      return;
    case SioType::kEvent:
      break;
    default:
      return;
  }
  bool connected = false;
  {
    std::lock_guard lock(mutex_);
    connected = connected_;
  }
  if (!connected || sp.nsp != "/") {
    // Events before CONNECT (or on a namespace never connected) break the protocol.
    stats.malformed.fetch_add(1, std::memory_order_relaxed);
    push(packet(error_event("an event before CONNECT")));
    close("event before CONNECT");
    return;
  }
  // An event refused: its ACK (when asked for) and an error event say why.
  const auto refuse_event = [&](const std::string& msg) {
    if (sp.ack) {
      fmt::memory_buffer b;
      b.append(std::string_view{"{\"ok\":false,\"error\":"});
      append_json_string(b, msg);
      b.push_back('}');
      push(packet(sio_ack(*sp.ack, {b.data(), b.size()})));
    }
    push(packet(error_event(msg)));
  };
  const bool join = sp.event == "join-progress";
  if (!join && sp.event != "leave-progress") {
    stats.unknown_events.fetch_add(1, std::memory_order_relaxed);
    refuse_event(fmt::format(
        "unknown event '{}': this server handles join-progress and leave-progress", sp.event));
    return;
  }
  if (!sp.arg || sp.arg->empty() || sp.arg->size() > kMaxTaskId) {
    refuse_event(
        fmt::format("{} takes a session id: a string of 1 to {} bytes", sp.event, kMaxTaskId));
    return;
  }
  asio::post(home_ex, [self, join, id = *sp.arg, ack = sp.ack] {
    if (join) {
      self->home.join(self, id, ack);
    } else {
      self->home.leave(self, id, ack);
    }
  });
}

std::string ack_body(bool ok, std::string_view task_id, std::string_view error = {}) {
  fmt::memory_buffer b;
  fmt::format_to(std::back_inserter(b), "{{\"ok\":{},\"room\":", ok ? "true" : "false");
  append_json_string(b, fmt::format("progress-{}", task_id));
  if (!error.empty()) {
    b.append(std::string_view{",\"error\":"});
    append_json_string(b, error);
  }
  b.push_back('}');
  return {b.data(), b.size()};
}

void EndpointImpl::join(const std::shared_ptr<Session>& s, const std::string& task_id,
                        std::optional<std::uint64_t> ack) {
  if (s->closed()) return;
  if (!s->rooms.contains(task_id)) {
    if (s->rooms.size() >= kMaxRooms) {
      socketio_stats().join_refused.fetch_add(1, std::memory_order_relaxed);
      const std::string msg =
          fmt::format("too many rooms: a socket joins at most {} rooms at once", kMaxRooms);
      if (ack) s->push(packet(sio_ack(*ack, ack_body(false, task_id, msg))));
      s->push(packet(error_event(msg)));
      return;
    }
    s->rooms.insert(task_id);
  }
  Room& room = rooms_[task_id];
  room.members[s.get()] = s;
  if (ack) s->push(packet(sio_ack(*ack, ack_body(true, task_id))));
  TaskRecord rec;
  if (!hub_.store().table().lookup(task_id, rec)) {
    room.waiting.insert(s.get());
    return;
  }
  fmt::memory_buffer json;
  append_task_json(json, rec);
  const ProgressPayload p = progress_payload(parser_, {json.data(), json.size()});
  if (p.json.empty()) return;
  s->push(packet(sio_event("progress-status", p.json)));
  // A task already over: its end too, which is what a progress modal waits for.
  if (p.outcome != Outcome::kRunning) s->push(packet(sio_event(change_event(p.outcome), p.json)));
}

void EndpointImpl::drop_member(const std::string& task_id, Session* s) {
  const auto it = rooms_.find(task_id);
  if (it == rooms_.end()) return;
  it->second.members.erase(s);
  it->second.waiting.erase(s);
  if (it->second.members.empty()) {
    if (it->second.timer) it->second.timer->cancel();
    rooms_.erase(it);
  }
}

void EndpointImpl::leave(const std::shared_ptr<Session>& s, const std::string& task_id,
                         std::optional<std::uint64_t> ack) {
  s->rooms.erase(task_id);
  drop_member(task_id, s.get());
  if (ack) s->push(packet(sio_ack(*ack, ack_body(true, task_id))));
}

void EndpointImpl::forget(const std::shared_ptr<Session>& s) {
  for (const auto& id : s->rooms) drop_member(id, s.get());
  s->rooms.clear();
  if (s->heartbeat) s->heartbeat->cancel();
  homed_.erase(s.get());
}

void EndpointImpl::emit(const std::string& task_id, Room& room, const std::string& task_json) {
  (void)task_id;
  const ProgressPayload p = progress_payload(parser_, task_json);
  if (p.json.empty()) return;
  room.last_emit = Clock::now();
  // One frame per room and emission, shared by every socket of the room on this thread.
  const Packet change = packet(sio_event(change_event(p.outcome), p.json));
  Packet status;
  socketio_stats().events_emitted.fetch_add(1, std::memory_order_relaxed);
  for (auto& [ptr, s] : room.members) {
    if (room.waiting.contains(ptr)) {
      if (!status) status = packet(sio_event("progress-status", p.json));
      s->push(status);
      if (p.outcome == Outcome::kRunning) continue;
    }
    s->push(change);
  }
  room.waiting.clear();
}

void EndpointImpl::arm(const std::string& task_id, Room& room) {
  if (room.armed) return;
  if (!room.timer) room.timer = std::make_shared<asio::steady_timer>(ex_);
  room.armed = true;
  room.timer->expires_at(room.last_emit + kThrottle);
  room.timer->async_wait([this, task_id, t = room.timer](const boost::system::error_code& ec) {
    if (ec) return;
    const auto it = rooms_.find(task_id);
    if (it == rooms_.end() || it->second.timer != t) return;
    Room& r = it->second;
    r.armed = false;
    if (r.pending.empty()) return;
    const std::string json = std::move(r.pending);
    r.pending.clear();
    emit(task_id, r, json);
  });
}

void EndpointImpl::deliver(const std::shared_ptr<const Tick>& tick, const Frame& plain) {
  (void)plain;
  if (rooms_.empty()) return;
  const auto now = Clock::now();
  for (const TickItem& item : tick->items) {
    if (item.removed || item.json.empty()) continue;
    const auto it = rooms_.find(item.task_id);
    if (it == rooms_.end()) continue;
    Room& room = it->second;
    const bool final = item.event == TaskEvent::kClosed || item.event == TaskEvent::kFailed;
    // Leading edge: a room quiet for the throttle emits at once; an end is never held back.
    if (final || !room.waiting.empty() || now - room.last_emit >= kThrottle) {
      room.pending.clear();
      emit(item.task_id, room, item.json);
    } else {
      room.pending = item.json;  // latest wins
      arm(item.task_id, room);
    }
  }
}

void EndpointImpl::go_away() {
  going_away_ = true;
  std::vector<std::shared_ptr<Session>> all;
  for (auto& [ptr, s] : homed_) all.push_back(s);
  for (auto& s : all) s->close("server going away");
}

std::shared_ptr<Session> EndpointImpl::open_session(const asio::any_io_executor& ex,
                                                    bool authenticated, Transport transport) {
  if (!ex_) ex_ = ex;
  if (!registered_) {
    registered_ = true;
    hub_.add_group(this, [ex](std::function<void()> fn) { asio::post(ex, std::move(fn)); });
  }
  auto s =
      std::make_shared<Session>(*this, ex, *registry_, hub_, tokens_, authenticated, transport);
  {
    std::lock_guard lock(registry_->mutex);
    registry_->sessions.emplace(s->sid, s);
  }
  homed_.emplace(s.get(), s);
  s->heartbeat = std::make_shared<asio::steady_timer>(ex);
  asio::co_spawn(ex, heartbeat_loop(s, *registry_), asio::detached);
  (transport == Transport::kPolling ? socketio_stats().handshakes_polling
                                    : socketio_stats().handshakes_websocket)
      .fetch_add(1, std::memory_order_relaxed);
  if (going_away_) s->close("server going away");
  return s;
}

void set_eio_error(HttpResponse& response, int status, int code, std::string_view message) {
  socketio_stats().bad_requests.fetch_add(1, std::memory_order_relaxed);
  response.status = status;
  response.content_type = "application/json";
  response.body = eio_error_body(code, message);
}

asio::awaitable<void> EndpointImpl::exchange(const HttpRequest& request, HttpResponse& response) {
  const EioQuery q = parse_eio_query(request.query);
  std::shared_ptr<Session> s;
  if (q.eio != "4") {
    set_eio_error(response, 400, 5, "Unsupported protocol version");
  } else if (q.transport != "polling" && q.transport != "websocket") {
    set_eio_error(response, 400, 0, "Transport unknown");
  } else if (q.transport == "websocket") {
    set_eio_error(response, 400, 3, "Bad request");  // a websocket transport without upgrade
  } else if (q.sid.empty()) {
    if (request.method != "GET") {
      set_eio_error(response, 400, 2, "Bad handshake method");
    } else if (!hub_.admit()) {
      hub_.store().counters().add(Counter::kRejectedOverload);
      set_eio_error(response, 503, 3, "too many live clients; retry later");
    } else {
      const auto ex = co_await asio::this_coro::executor;
      s = open_session(ex, access_of(tokens_, request).open(), Transport::kPolling);
      response.status = 200;
      response.content_type = "text/plain; charset=UTF-8";
      response.body =
          open_packet(s->sid, true, static_cast<std::uint32_t>(registry_->ping_interval.count()),
                      static_cast<std::uint32_t>(registry_->ping_timeout.count()), kMaxPayload);
      socketio_stats().bytes_sent.fetch_add(response.body.size(), std::memory_order_relaxed);
    }
  } else if (s = registry_->find(q.sid); !s) {
    set_eio_error(response, 400, 1, "Session ID unknown");
  } else if (request.method == "GET") {
    co_await s->poll(response);
  } else if (request.method == "POST") {
    s->post(request.body != nullptr ? *request.body : std::string{}, response);
  } else {
    set_eio_error(response, 400, 3, "Bad request");
  }
  if (cors_ != nullptr) cors_->decorate(request, response);
  response.set_header("Cache-Control", "no-store");
}

// A refusal before the WebSocket handshake: {"code","message"} with `status`, then the end.
asio::awaitable<void> refuse_upgrade(beast::tcp_stream& stream, unsigned version, int code,
                                     std::string_view message) {
  socketio_stats().bad_requests.fetch_add(1, std::memory_order_relaxed);
  co_await answer_and_close(stream, http::status::bad_request, eio_error_body(code, message),
                            version);
}

asio::awaitable<void> EndpointImpl::serve(beast::tcp_stream stream, StreamRequest request,
                                          std::string remote) {
  (void)remote;
  EioQuery q;
  bool authenticated = false;
  {
    const BeastRequest adapter(request, remote);
    q = parse_eio_query(adapter.view().query);
    authenticated = access_of(tokens_, adapter.view()).open();
  }
  if (q.eio != "4") {
    co_await refuse_upgrade(stream, request.version(), 5, "Unsupported protocol version");
    co_return;
  }
  if (!websocket::is_upgrade(request)) {
    co_await refuse_upgrade(stream, request.version(), 3, "Bad request");
    co_return;
  }
  std::shared_ptr<Session> s;
  if (!q.sid.empty()) {
    s = registry_->find(q.sid);
    if (!s || !s->begin_upgrade()) {
      co_await refuse_upgrade(stream, request.version(), 1, "Session ID unknown");
      co_return;
    }
  } else {
    if (!hub_.admit()) {
      hub_.store().counters().add(Counter::kRejectedOverload);
      co_await refuse_upgrade(stream, request.version(), 3, "too many live clients; retry later");
      co_return;
    }
    s = open_session(stream.get_executor(), authenticated, Transport::kWebsocket);
  }
  co_await websocket(std::move(stream), std::move(request), s, !q.sid.empty());
}

using WsStream = websocket::stream<beast::tcp_stream>;

asio::awaitable<void> ws_writer(std::shared_ptr<Session> s, std::shared_ptr<WsStream> ws) {
  const auto ex = co_await asio::this_coro::executor;
  auto timer = std::make_shared<asio::steady_timer>(ex);
  const Waiter waiter{ex, timer};
  SocketIoStats& stats = socketio_stats();
  for (;;) {
    timer->expires_after(std::chrono::hours(1));
    Session::Batch b = s->take_for_websocket(waiter);
    if (b.packets.empty()) {
      if (b.closed) break;
      auto [ec] = co_await timer->async_wait(kUseTuple);
      (void)ec;
      continue;
    }
    for (const Packet& p : b.packets) {
      ws->text(true);
      auto [ec, n] = co_await ws->async_write(asio::buffer(*p), kUseTuple);
      if (ec) {
        s->close("write failed");
        co_return;
      }
      stats.packets_sent.fetch_add(1, std::memory_order_relaxed);
      stats.bytes_sent.fetch_add(n, std::memory_order_relaxed);
    }
  }
  // Closed: what was queued went out above; now the close packet and the WebSocket's close.
  static const std::string kClose = "1";
  auto [ec1, n1] = co_await ws->async_write(asio::buffer(kClose), kUseTuple);
  (void)n1;
  if (!ec1) {
    auto [ec2] = co_await ws->async_close(websocket::close_code::normal, kUseTuple);
    (void)ec2;
  }
}

asio::awaitable<void> EndpointImpl::websocket(beast::tcp_stream stream, StreamRequest request,
                                              std::shared_ptr<Session> s, bool upgrade) {
  auto ws = std::make_shared<WsStream>(std::move(stream));
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = std::chrono::seconds(30);
  timeouts.idle_timeout = websocket::stream_base::none();  // Engine.IO's own heartbeat
  timeouts.keep_alive_pings = false;
  ws->set_option(timeouts);
  ws->read_message_max(kMaxPayload);
  ws->auto_fragment(false);
  ws->set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(http::field::server, "progressista"); }));
  auto [aec] = co_await ws->async_accept(request, kUseTuple);
  if (aec) {
    if (upgrade) {
      s->end_upgrade(false);
    } else {
      s->close("handshake failed");
    }
    co_return;
  }
  SocketIoStats& stats = socketio_stats();
  beast::flat_buffer in;
  const auto text_of = [&in] {
    return std::string_view(static_cast<const char*>(in.data().data()), in.size());
  };
  if (upgrade) {
    // The probe: 2probe → 3probe, then the client's 5 (upgrade) moves the session here. A
    // GET still waiting is answered meanwhile (noop), so the client can pause polling.
    bool done = false;
    for (int step = 0; step < 2 && !done; ++step) {
      in.consume(in.size());
      auto [rec, n] = co_await ws->async_read(in, kUseTuple);
      (void)n;
      if (rec) break;
      const std::string_view t = text_of();
      if (step == 0 && t == "2probe") {
        static const std::string kProbe = "3probe";
        auto [wec, wn] = co_await ws->async_write(asio::buffer(kProbe), kUseTuple);
        (void)wn;
        if (wec) break;
        s->push(packet("6"));
      } else if (step == 1 && t == "5") {
        done = true;
      } else {
        break;
      }
    }
    s->end_upgrade(done);
    if (!done) {
      auto [cec] = co_await ws->async_close(websocket::close_code::protocol_error, kUseTuple);
      (void)cec;
      co_return;
    }
  } else {
    const std::string open =
        open_packet(s->sid, false, static_cast<std::uint32_t>(registry_->ping_interval.count()),
                    static_cast<std::uint32_t>(registry_->ping_timeout.count()), kMaxPayload);
    ws->text(true);
    auto [wec, wn] = co_await ws->async_write(asio::buffer(open), kUseTuple);
    if (wec) {
      s->close("write failed");
      co_return;
    }
    stats.bytes_sent.fetch_add(wn, std::memory_order_relaxed);
  }
  asio::co_spawn(ws->get_executor(), ws_writer(s, ws), asio::detached);
  for (;;) {
    in.consume(in.size());
    auto [rec, n] = co_await ws->async_read(in, kUseTuple);
    (void)n;
    if (rec) {
      if (rec == websocket::error::message_too_big) {
        stats.oversize.fetch_add(1, std::memory_order_relaxed);
      }
      break;
    }
    if (!ws->got_text() || !s->on_packet(text_of())) {
      stats.malformed.fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }
  s->close("transport closed");
}

}  // namespace

bool is_socketio_path(std::string_view path) noexcept {
  return path == "/socket.io/" || path == "/socket.io";
}

std::unique_ptr<Endpoint> make_endpoint(Broadcaster& hub, const TokenSet& tokens,
                                        const Cors* cors) {
  return std::make_unique<EndpointImpl>(hub, tokens, cors);
}

SocketIoStats& socketio_stats() noexcept {
  static SocketIoStats stats;
  return stats;
}

void socketio_families(PromText& p) {
  const SocketIoStats& s = socketio_stats();
  const auto load = [](const std::atomic<std::uint64_t>& v) {
    return v.load(std::memory_order_relaxed);
  };
  p.family("progressista_socketio_sessions", "gauge", "Open Socket.IO (Engine.IO) sessions.");
  p.sample("progressista_socketio_sessions", {}, load(s.sessions));
  p.family("progressista_socketio_handshakes_total", "counter",
           "Engine.IO sessions opened, by the transport they started on.");
  p.sample("progressista_socketio_handshakes_total", {{"transport", "polling"}},
           load(s.handshakes_polling));
  p.sample("progressista_socketio_handshakes_total", {{"transport", "websocket"}},
           load(s.handshakes_websocket));
  const auto counter = [&](std::string_view name, std::string_view help,
                           const std::atomic<std::uint64_t>& v) {
    p.family(name, "counter", help);
    p.sample(name, {}, load(v));
  };
  counter("progressista_socketio_upgrades_total", "Polling sessions upgraded to a WebSocket.",
          s.upgrades);
  counter("progressista_socketio_packets_sent_total", "Engine.IO packets written to clients.",
          s.packets_sent);
  counter("progressista_socketio_bytes_sent_total", "Bytes written to Socket.IO clients.",
          s.bytes_sent);
  counter("progressista_socketio_room_emissions_total",
          "Room emissions (one frame shared by the room's sockets on a thread).", s.events_emitted);
  p.family("progressista_socketio_rejected_total", "counter",
           "Socket.IO input refused, by reason; malformed, oversize and rate close the session.");
  p.sample("progressista_socketio_rejected_total", {{"reason", "malformed"}}, load(s.malformed));
  p.sample("progressista_socketio_rejected_total", {{"reason", "oversize"}}, load(s.oversize));
  p.sample("progressista_socketio_rejected_total", {{"reason", "unknown_event"}},
           load(s.unknown_events));
  p.sample("progressista_socketio_rejected_total", {{"reason", "join_limit"}},
           load(s.join_refused));
  p.sample("progressista_socketio_rejected_total", {{"reason", "message_rate"}},
           load(s.rate_limited));
  p.sample("progressista_socketio_rejected_total", {{"reason", "auth"}}, load(s.auth_refused));
  p.sample("progressista_socketio_rejected_total", {{"reason", "bad_request"}},
           load(s.bad_requests));
  counter("progressista_socketio_ping_timeouts_total",
          "Sessions closed because the client did not answer a ping in time.", s.ping_timeouts);
  counter("progressista_socketio_slow_disconnects_total",
          "Sessions closed because their queued packets passed the budget.", s.slow_closed);
}

}  // namespace progressista::daemon::socketio
