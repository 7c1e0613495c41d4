#include "http/http_server.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <unordered_set>
#include <vector>

#include "http/http_session.hpp"
#include "http/port_owner.hpp"
#include "log.hpp"

namespace progressista::daemon {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct HttpServer::Impl {
  SessionShared shared;
  const HttpServerOptions& opt = shared.opt;
  std::vector<std::unique_ptr<Worker>> workers;
  std::atomic<bool> stopped{false};
  std::uint16_t bound_port = 0;
  std::function<void()> shutdown_hook;
  asio::signal_set* signals = nullptr;

  Impl(const HttpServerOptions& o, HttpServer::Count c) : shared(o, std::move(c)) {}

  // The first thread's socket. SO_REUSEPORT only where other processes may join the port
  // (ingest daemons of one segment); a port in use is refused with who holds it.
  void listen(Worker& w, const tcp::endpoint& ep) {
    boost::system::error_code ec;
    w.acceptor.open(ep.protocol(), ec);
    if (!ec) w.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec && opt.share_port) {
      const int one = 1;
      if (::setsockopt(w.acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) !=
          0) {
        ec.assign(errno, boost::system::system_category());
      }
    }
    if (!ec) w.acceptor.bind(ep, ec);
    if (!ec) w.acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec == asio::error::address_in_use) {
      throw std::runtime_error(fmt::format(
          "cannot listen on {}:{}: the port is in use by {}{}", ep.address().to_string(),
          ep.port(), describe_listeners(port_listeners(ep.port())),
          opt.share_port ? " (only ingest daemons of the same segment share a port)" : ""));
    }
    if (ec) {
      throw std::runtime_error(fmt::format("cannot listen on {}:{}: {}", ep.address().to_string(),
                                           ep.port(), ec.message()));
    }
  }

  // The other threads accept on the same listening socket (a descriptor of their own for
  // their own event loop), so no other process can slip into the port between them.
  void share_listener(Worker& w, Worker& first) {
    const int fd = ::dup(first.acceptor.native_handle());
    if (fd < 0) {
      throw std::runtime_error(
          fmt::format("cannot share the listening socket: {}", std::strerror(errno)));
    }
    boost::system::error_code ec;
    w.acceptor.assign(first.acceptor.local_endpoint().protocol(), fd, ec);
    if (ec) {
      ::close(fd);
      throw std::runtime_error(fmt::format("cannot share the listening socket: {}", ec.message()));
    }
  }

  asio::awaitable<void> accept_loop(Worker& w) {
    asio::steady_timer backoff(w.ioc);
    for (;;) {
      auto [ec, socket] = co_await w.acceptor.async_accept(kUseTuple);
      if (w.stopping || ec == asio::error::operation_aborted) co_return;
      if (ec) {
        // Out of descriptors and the like: say so once per attempt and back off, never spin.
        static LogLimiter limiter;
        limited_log(limiter, Level::kWarn, "accept failed: {}", ec.message());
        backoff.expires_after(std::chrono::milliseconds(100));
        co_await backoff.async_wait(kUseTuple);
        continue;
      }
      if (shared.connections.fetch_add(1, std::memory_order_relaxed) >= opt.max_connections) {
        shared.connections.fetch_sub(1, std::memory_order_relaxed);
        shared.count(Counter::kRejectedOverload);
        asio::co_spawn(w.ioc, refuse_busy(std::move(socket), opt.max_connections), asio::detached);
        continue;
      }
      asio::co_spawn(w.ioc, serve_connection(shared, w, std::move(socket)), asio::detached);
    }
  }

  void begin_stop() {
    if (stopped.exchange(true)) return;
    for (auto& w : workers) {
      asio::post(w->ioc, [this, wp = w.get()] {
        wp->stopping = true;
        boost::system::error_code ec;
        wp->acceptor.close(ec);
        for (auto* s : wp->idle) s->cancel();
        for (auto& t : wp->timers) t->cancel();
        if (wp->sessions > 0) {
          wp->grace = std::make_unique<asio::steady_timer>(wp->ioc, opt.shutdown_grace);
          wp->grace->async_wait([wp](const boost::system::error_code& ec) {
            if (!ec) {
              log(Level::kWarn, "shutdown grace period over; closing {} connection(s)",
                  wp->sessions);
              wp->ioc.stop();
            }
          });
        }
        if (signals) {
          if (wp == workers.front().get()) signals->cancel(ec);
        }
      });
    }
  }
};

HttpServer::HttpServer(const HttpServerOptions& options, const HandlerFactory& make_handler,
                       Count count)
    : impl_(std::make_unique<Impl>(options, std::move(count))) {
  const tcp::endpoint ep = listen_endpoint(options.host, options.port);
  const unsigned n = std::max(1u, options.threads);
  for (unsigned i = 0; i < n; ++i) {
    auto w = std::make_unique<Worker>();
    w->handler = make_handler();
    if (i == 0) {
      impl_->listen(*w, ep);
      // With port 0 the kernel picked one.
      impl_->bound_port = w->acceptor.local_endpoint().port();
    } else {
      impl_->share_listener(*w, *impl_->workers.front());
    }
    impl_->workers.push_back(std::move(w));
  }
}

HttpServer::~HttpServer() {
  stop();
  for (auto& w : impl_->workers) {
    if (w->thread.joinable()) w->thread.join();
  }
}

std::uint16_t HttpServer::port() const noexcept {
  return impl_->bound_port;
}

void HttpServer::every(std::chrono::milliseconds interval, std::function<void()> fn) {
  Worker& w = *impl_->workers.front();
  auto timer = std::make_unique<asio::steady_timer>(w.ioc);
  asio::steady_timer* t = timer.get();
  w.timers.push_back(std::move(timer));
  asio::co_spawn(
      w.ioc,
      [t, interval, fn = std::move(fn)]() -> asio::awaitable<void> {
        for (;;) {
          t->expires_after(interval);
          auto [ec] = co_await t->async_wait(kUseTuple);
          if (ec) co_return;
          try {
            fn();
          } catch (const std::exception& e) {
            log(Level::kError, "periodic task failed: {}", e.what());
          }
        }
      },
      asio::detached);
}

void HttpServer::on_shutdown(std::function<void()> fn) {
  impl_->shutdown_hook = std::move(fn);
}

void HttpServer::run() {
  Impl& im = *impl_;
  Worker& first = *im.workers.front();
  asio::signal_set signals(first.ioc, SIGTERM, SIGINT);
  im.signals = &signals;
  signals.async_wait([&im](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    log(Level::kInfo, "received {}; finishing in-flight requests",
        sig == SIGTERM ? "SIGTERM" : "SIGINT");
    if (im.shutdown_hook) im.shutdown_hook();
    im.begin_stop();
  });
  for (auto& w : im.workers) {
    asio::co_spawn(w->ioc, im.accept_loop(*w), asio::detached);
  }
  for (std::size_t i = 1; i < im.workers.size(); ++i) {
    Worker* w = im.workers[i].get();
    w->thread = std::thread([w] { w->ioc.run(); });
  }
  // The first worker runs here. Each loop ends once it stopped accepting and its last session
  // finished, or when the grace period runs out.
  first.ioc.run();
  for (std::size_t i = 1; i < im.workers.size(); ++i) {
    if (im.workers[i]->thread.joinable()) im.workers[i]->thread.join();
  }
  im.signals = nullptr;
}

void HttpServer::stop() {
  impl_->begin_stop();
}

}  // namespace progressista::daemon
