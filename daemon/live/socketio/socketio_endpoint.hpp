// Socket.IO v4 progress rooms at /socket.io/ (Engine.IO v4, transports polling and
// websocket): one Endpoint per I/O thread, owned by that thread's LiveClients. A WebSocket
// takes its connection (serve); a polling request is answered and the connection goes back to
// the HTTP session (answer), so polling requests pass through the session's request reading.
// Sessions are found by sid from any thread; each keeps its rooms on the thread that made it.
#pragma once

#include <memory>

#include "http/access.hpp"
#include "http/stream.hpp"
#include "live/broadcaster.hpp"

namespace progressista::daemon::socketio {

// True for /socket.io/ (and /socket.io).
[[nodiscard]] bool is_socketio_path(std::string_view path) noexcept;

class Endpoint : public ClientGroup {
 public:
  // The WebSocket transport (GET with transport=websocket): serve() takes the connection.
  [[nodiscard]] virtual bool takes(const HttpRequest& request) const = 0;
  virtual boost::asio::awaitable<void> serve(boost::beast::tcp_stream stream, StreamRequest request,
                                             std::string remote) = 0;
  // Everything else at the path (polling GET and POST, bad requests): answered here, may wait
  // (a long poll), then the HTTP session writes `response`.
  virtual boost::asio::awaitable<void> exchange(const HttpRequest& request,
                                                HttpResponse& response) = 0;
};

// `cors` may be null (no CORS headers on polling answers).
[[nodiscard]] std::unique_ptr<Endpoint> make_endpoint(Broadcaster& hub, const TokenSet& tokens,
                                                      const Cors* cors);

}  // namespace progressista::daemon::socketio
