// The HTTP/1.1 server both daemon roles share: listener, sessions, limits and timeouts.
// Routes live in handlers (http_types.hpp); this file knows nothing about progress events.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "http/http_types.hpp"
#include "progressista/bookkeeping.hpp"

namespace progressista::daemon {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8000;  // 0: any free port (see HttpServer::port())
  unsigned threads = 1;
  std::size_t body_limit = 1 << 20;
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds idle_timeout{60'000};
  std::size_t max_connections = 10000;
  bool access_log = true;
  std::chrono::milliseconds shutdown_grace{10'000};  // in-flight requests get this long on SIGTERM
  // SO_REUSEPORT: other processes of the same user may listen on the port too and get a share
  // of its connections. Only for ingest daemons of one segment (daemon_runner.cpp checks who
  // holds a port before joining it); otherwise a port in use is refused.
  bool share_port = false;
};

// N threads, each with its own event loop, handler and descriptor of one listening socket.
// Keep-alive and pipelining; a request's header and body must arrive within header_timeout
// of its first byte; idle connections close after idle_timeout; bodies over body_limit get
// 413, connections over max_connections 503. Every rejection is counted through `count`.
class HttpServer {
 public:
  using HandlerFactory = std::function<std::unique_ptr<HttpHandler>()>;
  // Adds one to a counter. A function rather than a Counters&: the store's counters live in
  // the segment attached now, which changes when the store follows a resize.
  using Count = std::function<void(Counter)>;

  // Binds at once; throws std::runtime_error naming the address when it cannot listen.
  HttpServer(const HttpServerOptions& options, const HandlerFactory& make_handler, Count count);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  [[nodiscard]] std::uint16_t port() const noexcept;

  // Runs `fn` every `interval` on the first I/O thread (keep it short: heartbeats, watchdog).
  void every(std::chrono::milliseconds interval, std::function<void()> fn);
  // Called once when SIGTERM or SIGINT arrives, before the server stops.
  void on_shutdown(std::function<void()> fn);

  // Serves until SIGTERM/SIGINT or stop(); then stops accepting, closes idle connections,
  // lets in-flight requests finish (at most shutdown_grace) and returns.
  void run();
  // Thread-safe.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace progressista::daemon
