#include "live/live_clients.hpp"

#include <algorithm>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "live/live_client.hpp"
#include "live/socketio/socketio_endpoint.hpp"
#include "live/sse_session.hpp"
#include "live/ws_session.hpp"
#include "progressista/task_json.hpp"

namespace progressista::daemon {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Protocol = LiveClient::Protocol;

namespace {

// Releases the client's admission when the serving coroutine ends, however it ends.
struct Admission {
  Broadcaster& hub;
  ~Admission() { hub.release(); }
};

// A refusal's body before a live client is set up: {"detail": ...}.
std::string detail_body(std::string_view detail) {
  fmt::memory_buffer body;
  body.append(std::string_view{"{\"detail\":"});
  append_json_string(body, detail);
  body.push_back('}');
  return std::string(body.data(), body.size());
}

}  // namespace

LiveClients::LiveClients(Broadcaster& hub, const TokenSet& tokens, const Cors* cors,
                         const ShareLinks* share)
    : hub_(hub), tokens_(tokens), share_(share), socketio_(socketio::make_endpoint(hub, tokens, cors)) {}

LiveClients::~LiveClients() = default;

bool LiveClients::wants(const HttpRequest& request) const {
  if (socketio_->takes(request)) return true;
  if (request.method != "GET") return false;
  // A plain GET of a WebSocket path gets 426 from serve.
  return request.path == "/ws" || request.path == "/events" || request.path == kTasksWs ||
         request.path == kTasksStream;
}

void LiveClients::join(const std::shared_ptr<LiveClient>& client, asio::any_io_executor ex) {
  if (!registered_) {
    registered_ = true;
    hub_.add_group(this, [ex](std::function<void()> fn) { asio::post(ex, std::move(fn)); });
  }
  clients_.emplace(client.get(), client);
  hub_.stats().connected(client->protocol);
  if (going_away_) client->close(LiveClient::CloseCode::going_away);
}

void LiveClients::remove(LiveClient* client) {
  const auto it = clients_.find(client);
  if (it == clients_.end()) return;
  hub_.stats().disconnected(client->protocol);
  clients_.erase(it);  // the writer coroutine still holds its own reference
}

Frame LiveClients::frame_for(const LiveClient& client) {
  if (!tick_) return {};
  const View& view = client.view;
  if (client.per_change()) {
    if (tick_->reset) return {};  // offer_change reads the table at the next write instead
  } else if (view.all() && !tick_->reset) {
    return tick_->all_delta;
  }
  std::string key = client.frame_key();
  if (const auto it = frames_.find(key); it != frames_.end()) return it->second;
  Frame f = tick_->reset ? hub_.snapshot_of(view, true) : client.encode(*tick_);
  frames_.emplace(std::move(key), f);
  return f;
}

Frame LiveClients::plain_for(const LiveClient& client, const Frame& plain) {
  if (!plain) return {};  // nothing for Progressista's clients this tick
  std::string key = "plain " + client.view.key();
  if (const auto it = frames_.find(key); it != frames_.end()) return it->second;
  Frame f = scoped_plain_frame(hub_.store().table(), client.view);
  frames_.emplace(std::move(key), f);
  return f;
}

void LiveClients::deliver(const std::shared_ptr<const Tick>& tick, const Frame& plain) {
  const auto started = std::chrono::steady_clock::now();
  tick_ = tick;
  frames_.clear();
  std::uint64_t behind = 0;
  for (auto& [ptr, client] : clients_) {
    if (client->protocol == Protocol::kProgressista) {
      client->offer(client->view.scope ? plain_for(*client, plain) : plain);
    } else if (tick->seq > client->seq || tick->reset) {
      // A reset (lapped feed, or another segment) reaches every client, whatever it has.
      if (client->per_change()) {
        client->offer_change(tick, frame_for(*client));
      } else {
        client->offer(frame_for(*client));
      }
      client->seq = std::max(client->seq, tick->seq);
    }
    if (client->behind()) ++behind;
  }
  tick_.reset();
  frames_.clear();
  hub_.stats().delivered(std::chrono::steady_clock::now() - started, behind);
}

bool LiveClients::exchanges(const HttpRequest& request) const {
  // A CORS preflight (OPTIONS) goes to the routes' CORS answer.
  return socketio::is_socketio_path(request.path) && request.method != "OPTIONS" &&
         !socketio_->takes(request);
}

asio::awaitable<void> LiveClients::exchange(const HttpRequest& request, HttpResponse& response) {
  co_await socketio_->exchange(request, response);
}

void LiveClients::go_away() {
  going_away_ = true;
  for (auto& [ptr, client] : clients_) client->close(LiveClient::CloseCode::going_away);
}

asio::awaitable<void> LiveClients::serve(beast::tcp_stream stream, beast::flat_buffer buffer,
                                         StreamRequest request, std::string remote) {
  if (socketio::is_socketio_path(BeastRequest(request, remote).view().path)) {
    co_await socketio_->serve(std::move(stream), std::move(request), std::move(remote));
    co_return;
  }
  if (!hub_.admit()) {
    hub_.store().counters().add(Counter::kRejectedOverload);
    co_await answer_and_close(
        stream, http::status::service_unavailable,
        detail_body(fmt::format("too many live clients (the limit is {}); retry later",
                                hub_.options().max_clients)),
        request.version());
    co_return;
  }
  Admission admission{hub_};
  bool sse = false, authenticated = false;
  ShareAccess share;
  {
    const BeastRequest adapter(request, remote);
    sse = adapter.view().path == "/events" || adapter.view().path == kTasksStream;
    // A share link, valid, admits the client to its scope only; refused, it is refused.
    if (share_ != nullptr) share = share_->of(adapter.view());
    authenticated = share.scoped() || (share.none() && access_of(tokens_, adapter.view()).open());
  }
  std::optional<ShareScope> scope;
  if (share.scoped()) scope = std::move(share.scope);
  if (sse) {
    if (!authenticated) {
      hub_.store().counters().add(Counter::kRejectedAuth);
      // Built before the co_await: GCC destroys a conditional's temporary twice inside one.
      std::string body = detail_body(share.refused() ? share.detail : "Invalid API token");
      co_await answer_and_close(stream, http::status::unauthorized, std::move(body),
                                request.version());
      co_return;
    }
    co_await serve_events(*this, std::move(stream), std::move(request), std::move(remote),
                          std::move(scope));
    co_return;
  }
  if (!beast::websocket::is_upgrade(request)) {
    co_await answer_and_close(
        stream, http::status::upgrade_required,
        detail_body("this is a WebSocket endpoint: connect with a WebSocket client"),
        request.version());
    co_return;
  }
  // A client does not send frames before the handshake answer, so `buffer` holds nothing
  // the WebSocket needs.
  (void)buffer;
  co_await serve_websocket(*this, authenticated, std::move(stream), std::move(request),
                           std::move(remote), std::move(scope));
}

}  // namespace progressista::daemon
