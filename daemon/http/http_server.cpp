#include "http/http_server.hpp"

#include <sys/socket.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <unordered_set>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "log.hpp"
#include "progressista/codec.hpp"
#include "progressista/ingest.hpp"
#include "http/stream.hpp"

namespace progressista::daemon {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kHeaderLimit = 16 * 1024;
// After refusing a body we read (and drop) what the client still sends, so that it sees our
// answer instead of a connection reset; bounded in bytes and time.
constexpr std::size_t kDrainLimit = 8u << 20;
constexpr auto kDrainTime = std::chrono::seconds(2);

tcp::endpoint resolve(const std::string& host, std::uint16_t port) {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (!ec) return {address, port};
  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  const auto results = resolver.resolve(host, std::to_string(port), ec);
  if (ec || results.empty()) {
    throw std::runtime_error(fmt::format("cannot resolve --host '{}': {}", host, ec.message()));
  }
  return results.begin()->endpoint();
}

// Writes an answer's status line, headers and body into `out` in one piece, so it goes out
// in one write without Beast's buffer-sequence serializer (a visible cost per small answer).
// A header set twice keeps its last value, as Beast's `set` does. HEAD gets the headers of the
// GET answer, Content-Length included, and no body.
void serialize_response(std::string& out, unsigned version, const HttpResponse& response,
                        bool keep_alive, bool head) {
  out.clear();
  const auto status = static_cast<http::status>(response.status);
  const beast::string_view reason = http::obsolete_reason(status);
  fmt::format_to(std::back_inserter(out), "HTTP/1.{} {} {}\r\nServer: progressista\r\n",
                 version == 10 ? 0 : 1, response.status,
                 std::string_view(reason.data(), reason.size()));
  fmt::format_to(std::back_inserter(out), "Content-Type: {}\r\n", response.content_type);
  const auto& headers = response.headers;
  for (std::size_t i = 0; i < headers.size(); ++i) {
    bool later = false;
    for (std::size_t j = i + 1; j < headers.size() && !later; ++j) {
      later = beast::iequals(headers[i].first, headers[j].first);
    }
    if (later) continue;
    fmt::format_to(std::back_inserter(out), "{}: {}\r\n", headers[i].first, headers[i].second);
  }
  fmt::format_to(std::back_inserter(out), "Content-Length: {}\r\n", response.body.size());
  if (!keep_alive && version != 10) out.append("Connection: close\r\n");
  if (keep_alive && version == 10) out.append("Connection: keep-alive\r\n");
  out.append("\r\n");
  if (!head) out.append(response.body);
}

// The deadline for receiving one whole request. Unlike tcp_stream's own expiry, which closes
// the socket, this one only cancels the pending read, so the client can still be told 408.
// Shared with the timer's handler, which may run after the session has ended.
struct RequestDeadline {
  explicit RequestDeadline(asio::io_context& ioc) : timer(ioc) {}
  asio::steady_timer timer;
  tcp::socket* socket = nullptr;  // null once the session is over
  bool fired = false;

  static void arm(const std::shared_ptr<RequestDeadline>& d, tcp::socket& s,
                  std::chrono::milliseconds after) {
    d->socket = &s;
    d->fired = false;
    d->timer.expires_after(after);
    d->timer.async_wait([d](const boost::system::error_code& ec) {
      if (ec || d->socket == nullptr) return;
      d->fired = true;
      boost::system::error_code ignored;
      d->socket->cancel(ignored);
    });
  }
  void disarm() {
    socket = nullptr;
    timer.cancel();
  }
};

// One thread's share of the server.
struct Worker {
  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  std::unique_ptr<HttpHandler> handler;
  std::unordered_set<beast::tcp_stream*> idle;  // sessions waiting for their next request
  std::vector<std::unique_ptr<asio::steady_timer>> timers;
  std::unique_ptr<asio::steady_timer> grace;  // armed on stop: ends sessions that overstay
  std::size_t sessions = 0;
  bool stopping = false;
  std::thread thread;
};

}  // namespace

struct HttpServer::Impl {
  HttpServerOptions opt;
  HttpServer::Count count;
  std::vector<std::unique_ptr<Worker>> workers;
  std::atomic<std::size_t> connections{0};
  std::atomic<bool> stopped{false};
  std::uint16_t bound_port = 0;
  std::function<void()> shutdown_hook;
  asio::signal_set* signals = nullptr;

  Impl(const HttpServerOptions& o, HttpServer::Count c) : opt(o), count(std::move(c)) {}

  void listen(Worker& w, const tcp::endpoint& ep) {
    boost::system::error_code ec;
    w.acceptor.open(ep.protocol(), ec);
    if (!ec) w.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) {
      // Several acceptors (our threads, or a second ingest process) share the port.
      const int one = 1;
      if (::setsockopt(w.acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) !=
          0) {
        ec.assign(errno, boost::system::system_category());
      }
    }
    if (!ec) w.acceptor.bind(ep, ec);
    if (!ec) w.acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      throw std::runtime_error(fmt::format("cannot listen on {}:{}: {}", ep.address().to_string(),
                                           ep.port(), ec.message()));
    }
  }

  asio::awaitable<void> accept_loop(Worker& w) {
    asio::steady_timer backoff(w.ioc);
    for (;;) {
      auto [ec, socket] = co_await w.acceptor.async_accept(kUseTuple);
      if (w.stopping || ec == asio::error::operation_aborted) co_return;
      if (ec) {
        // Out of descriptors and the like: say so once per attempt and back off, never spin.
        log(Level::kWarn, "accept failed: {}", ec.message());
        backoff.expires_after(std::chrono::milliseconds(100));
        co_await backoff.async_wait(kUseTuple);
        continue;
      }
      if (connections.fetch_add(1, std::memory_order_relaxed) >= opt.max_connections) {
        connections.fetch_sub(1, std::memory_order_relaxed);
        count(Counter::kRejectedOverload);
        asio::co_spawn(w.ioc, refuse_busy(std::move(socket)), asio::detached);
        continue;
      }
      asio::co_spawn(w.ioc, session(w, std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> refuse_busy(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    stream.expires_after(std::chrono::seconds(1));
    http::response<http::string_body> res{http::status::service_unavailable, 11};
    res.set(http::field::server, "progressista");
    res.set(http::field::content_type, "application/json");
    res.set(http::field::retry_after, "1");
    res.keep_alive(false);
    res.body() =
        fmt::format(R"({{"detail":"too many connections (the limit is {}); retry later"}})",
                    opt.max_connections);
    res.prepare_payload();
    co_await http::async_write(stream, res, kUseTuple);
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  }

  // Answers an error the HTTP layer found itself (the handler never saw the request).
  asio::awaitable<void> refuse(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                               http::status status, std::string_view detail, bool drain) {
    http::response<http::string_body> res{status, 11};
    res.set(http::field::server, "progressista");
    res.set(http::field::content_type, "application/json");
    res.keep_alive(false);
    fmt::memory_buffer body;
    append_detail(body, detail);
    res.body().assign(body.data(), body.size());
    res.prepare_payload();
    stream.expires_after(opt.header_timeout);
    auto [ec, n] = co_await http::async_write(stream, res, kUseTuple);
    (void)n;
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    if (ec || !drain) co_return;
    stream.expires_after(kDrainTime);
    std::size_t drained = 0;
    while (drained < kDrainLimit) {
      buffer.clear();
      auto [rec, got] = co_await stream.async_read_some(buffer.prepare(64 * 1024), kUseTuple);
      if (rec) break;
      drained += got;
    }
  }

  struct ConnectionSlot {
    std::atomic<std::size_t>& n;
    Worker& w;
    ConnectionSlot(std::atomic<std::size_t>& total, Worker& worker) : n(total), w(worker) {
      ++w.sessions;
    }
    ~ConnectionSlot() {
      n.fetch_sub(1, std::memory_order_relaxed);
      // The last session of a stopping worker lets its loop end now instead of at the deadline.
      if (--w.sessions == 0 && w.stopping && w.grace) w.grace->cancel();
    }
  };

  asio::awaitable<void> session(Worker& w, tcp::socket socket) {
    ConnectionSlot slot{connections, w};
    boost::system::error_code ec;
    const auto peer = socket.remote_endpoint(ec);
    const std::string remote =
        ec ? std::string("?") : fmt::format("{}:{}", peer.address().to_string(), peer.port());
    socket.set_option(tcp::no_delay(true), ec);
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    std::string answer;  // the serialized response, its capacity reused across requests
    const auto deadline = std::make_shared<RequestDeadline>(w.ioc);
    struct Disarm {
      RequestDeadline& d;
      ~Disarm() { d.disarm(); }
    } disarm_on_exit{*deadline};

    for (;;) {
      if (buffer.size() == 0) {
        // Between requests: wait for the first byte of the next one, at most idle_timeout.
        if (w.stopping) break;
        stream.expires_after(opt.idle_timeout);
        w.idle.insert(&stream);
        auto [rec, n] = co_await stream.async_read_some(buffer.prepare(8192), kUseTuple);
        w.idle.erase(&stream);
        if (rec) break;  // closed by the peer, idle timeout, or shutdown: nothing to answer
        buffer.commit(n);
      }

      http::request_parser<http::string_body> parser;
      parser.header_limit(kHeaderLimit);
      parser.body_limit(opt.body_limit);
      stream.expires_never();
      RequestDeadline::arm(deadline, stream.socket(), opt.header_timeout);
      auto [hec, hn] = co_await http::async_read_header(stream, buffer, parser, kUseTuple);
      (void)hn;
      if (!hec && !parser.is_done() &&
          beast::iequals(parser.get()[http::field::expect], "100-continue")) {
        // curl asks before sending bodies over 1 KiB; answering saves it a one-second wait.
        http::response<http::empty_body> go{http::status::continue_, 11};
        auto [cec, cn] = co_await http::async_write(stream, go, kUseTuple);
        (void)cn;
        if (cec) break;
      }
      boost::system::error_code rec = hec;
      if (!rec && !parser.is_done()) {
        // Room for the parser's padding from the start: Beast would otherwise reserve
        // exactly Content-Length and the padding below would copy every body once more.
        if (const auto length = parser.content_length(); length && *length <= opt.body_limit) {
          parser.get().body().reserve(static_cast<std::size_t>(*length) + kParsePadding);
        }
        auto [bec, bn] = co_await http::async_read(stream, buffer, parser, kUseTuple);
        (void)bn;
        rec = bec;
      }
      const bool timed_out = deadline->fired;
      deadline->disarm();
      if (rec) {
        if (timed_out) {
          count(Counter::kRejectedTimeout);
          log(Level::kInfo, "{} too slow: request not received within {} ms; closed", remote,
              opt.header_timeout.count());
          co_await refuse(stream, buffer, http::status::request_timeout,
                          "request not received in time", false);
          break;
        }
        if (rec == http::error::end_of_stream || rec == asio::error::operation_aborted) break;
        if (rec == http::error::body_limit) {
          count(Counter::kRejectedTooLarge);
          co_await refuse(
              stream, buffer, http::status::payload_too_large,
              body_too_large_detail(opt.body_limit),
              true);
          break;
        }
        if (rec == http::error::header_limit) {
          count(Counter::kRejectedBadRequest);
          co_await refuse(stream, buffer, http::status::request_header_fields_too_large,
                          fmt::format("request headers are larger than {} bytes", kHeaderLimit),
                          false);
          break;
        }
        if (rec.category() == make_error_code(http::error::end_of_stream).category()) {
          count(Counter::kRejectedBadRequest);
          co_await refuse(stream, buffer, http::status::bad_request,
                          fmt::format("bad HTTP request: {}", rec.message()), false);
          break;
        }
        break;  // connection reset and the like
      }

      const auto started = std::chrono::steady_clock::now();
      http::request<http::string_body>& req = parser.get();
      std::string& body = req.body();
      body.reserve(body.size() + kParsePadding);  // chunked bodies; a no-op otherwise
      const BeastRequest adapter(req, remote);
      const HttpRequest& request = adapter.view();

      if (StreamTaker* taker = w.handler->streams(); taker != nullptr && taker->wants(request)) {
        // The connection is the taker's from here on; the slot above still counts it.
        std::string who = remote;
        co_await taker->serve(std::move(stream), std::move(buffer), parser.release(),
                              std::move(who));
        co_return;
      }

      HttpResponse response;
      try {
        w.handler->handle(request, response);
      } catch (const std::exception& e) {
        log(Level::kError, "{} {} {}: internal error: {}", remote, request.method, request.target,
            e.what());
        set_error(response, 500, "internal server error");
      }

      const bool keep_alive = req.keep_alive() && !response.close && !w.stopping;
      serialize_response(answer, req.version(), response, keep_alive,
                         req.method() == http::verb::head);
      const std::size_t bytes = response.body.size();
      stream.expires_after(opt.header_timeout);
      auto [wec, wn] = co_await asio::async_write(stream, asio::buffer(answer), kUseTuple);
      (void)wn;
      if (opt.access_log && log_enabled(Level::kInfo)) {
        const double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
                .count();
        log(Level::kInfo, "{} \"{} {}\" {} {} {:.3f}ms", remote, request.method, request.target,
            response.status, bytes, ms);
      }
      if (wec) break;
      if (!keep_alive) {
        stream.socket().shutdown(tcp::socket::shutdown_send, ec);
        break;
      }
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
  tcp::endpoint ep = resolve(options.host, options.port);
  const unsigned n = std::max(1u, options.threads);
  for (unsigned i = 0; i < n; ++i) {
    auto w = std::make_unique<Worker>();
    w->handler = make_handler();
    impl_->listen(*w, ep);
    if (i == 0) {
      // With port 0 the kernel picked one; the other threads join it.
      ep.port(w->acceptor.local_endpoint().port());
      impl_->bound_port = ep.port();
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
