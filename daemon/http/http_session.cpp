#include "http/http_session.hpp"

#include <boost/beast/http.hpp>

#include "http/request_framing.hpp"
#include "http/stream.hpp"
#include "log.hpp"
#include "progressista/event_parser.hpp"
#include "progressista/ingest.hpp"

namespace progressista::daemon {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// After refusing a body we read (and drop) what the client still sends, so that it sees our
// answer instead of a connection reset; bounded in bytes and time.
constexpr std::size_t kDrainLimit = 8u << 20;
constexpr auto kDrainTime = std::chrono::seconds(2);
// The same over --max-connections, for a request that was never read: one ordinary request's
// worth, briefly. Past kBusyLingering such connections at once, they close at once instead.
constexpr std::size_t kBusyDrainLimit = 64u << 10;
constexpr auto kBusyDrainTime = std::chrono::seconds(1);
constexpr int kBusyLingering = 256;

// Reads and drops what the peer still sends, until it closes or `limit` bytes or `time` have
// gone by. Closing a socket with unread bytes makes the kernel reset the connection, and a
// client still writing its request would see the reset instead of the answer written before.
// Call it after shutting down the sending side.
asio::awaitable<void> discard_input(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                    std::size_t limit, std::chrono::steady_clock::duration time) {
  stream.expires_after(time);
  std::size_t drained = 0;
  while (drained < limit) {
    buffer.clear();
    auto [ec, got] = co_await stream.async_read_some(buffer.prepare(16 * 1024), kUseTuple);
    if (ec) break;
    drained += got;
  }
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

// One connection from accept to close: wait for a request, read it whole, then either refuse
// what could not be read, hand the connection to a stream taker, or dispatch the request to
// the thread's handler and write the answer; again while the connection is kept alive.
class Session {
 public:
  Session(SessionShared& shared, Worker& w, tcp::socket socket)
      : shared_(shared),
        opt_(shared.opt),
        w_(w),
        slot_(shared.connections, w),
        stream_(std::move(prepare(socket))),
        remote_(remote_of(stream_.socket())),
        deadline_(std::make_shared<RequestDeadline>(w.ioc)) {}
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  ~Session() { deadline_->disarm(); }

  asio::awaitable<void> run() {
    for (;;) {
      if (!co_await await_request()) co_return;
      RequestParser parser;
      const boost::system::error_code ec = co_await read(parser);
      if (ec || refused_) {
        co_await refuse_unread(ec);
        co_return;
      }
      if (!co_await dispatch(parser)) co_return;
    }
  }

 private:
  // Counts the connection for the server's limit and the worker's shutdown.
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

  static tcp::socket& prepare(tcp::socket& socket) {
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    return socket;
  }
  static std::string remote_of(const tcp::socket& socket) {
    boost::system::error_code ec;
    const auto peer = socket.remote_endpoint(ec);
    return ec ? std::string("?") : fmt::format("{}:{}", peer.address().to_string(), peer.port());
  }

  // Between requests: waits for the first byte of the next one, at most idle_timeout. False
  // when the connection is over (closed by the peer, idle timeout, shutdown): nothing to answer.
  asio::awaitable<bool> await_request() {
    if (buffer_.size() > 0) co_return true;  // pipelined: already here
    if (w_.stopping) co_return false;
    stream_.expires_after(opt_.idle_timeout);
    w_.idle.insert(&stream_);
    auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(8192), kUseTuple);
    w_.idle.erase(&stream_);
    if (ec) co_return false;
    buffer_.commit(n);
    co_return true;
  }

  // Reads one request's header and body, both within header_timeout of the first byte. A
  // header whose framing is refused (refused_ says why) ends the read before its body.
  asio::awaitable<boost::system::error_code> read(RequestParser& parser) {
    limit_request(parser, opt_.body_limit);
    stream_.expires_never();
    RequestDeadline::arm(deadline_, stream_.socket(), opt_.header_timeout);
    auto [ec, hn] = co_await http::async_read_header(stream_, buffer_, parser, kUseTuple);
    (void)hn;
    if (!ec) refused_ = check_framing(parser);
    if (refused_) {
      deadline_->disarm();
      co_return ec;
    }
    std::optional<http::fields> header = fields_before_body(parser);
    if (!ec && !parser.is_done() &&
        beast::iequals(parser.get()[http::field::expect], "100-continue")) {
      // curl asks before sending bodies over 1 KiB; answering saves it a one-second wait.
      http::response<http::empty_body> go{http::status::continue_, 11};
      auto [cec, cn] = co_await http::async_write(stream_, go, kUseTuple);
      (void)cn;
      ec = cec;
    }
    if (!ec && !parser.is_done()) {
      // Room for the parser's padding from the start: Beast would otherwise reserve
      // exactly Content-Length and the padding below would copy every body once more.
      if (const auto length = parser.content_length(); length && *length <= opt_.body_limit) {
        parser.get().body().reserve(static_cast<std::size_t>(*length) + kParsePadding);
      }
      auto [bec, bn] = co_await http::async_read(stream_, buffer_, parser, kUseTuple);
      (void)bn;
      ec = bec;
      if (!ec) drop_trailers(parser, std::move(header));
    }
    timed_out_ = deadline_->fired;
    deadline_->disarm();
    co_return ec;
  }

  // Answers (counted) what made a request unreadable, when the client can still be told.
  asio::awaitable<void> refuse_unread(boost::system::error_code ec) {
    if (!refused_) refused_ = framing_refusal(ec);
    if (refused_) {
      // Where this request ends is unknown: nothing after its header may be read as a request.
      shared_.count(refused_->counter);
      co_await refuse(static_cast<http::status>(refused_->status), refused_->detail, true);
    } else if (timed_out_) {
      shared_.count(Counter::kRejectedTimeout);
      static LogLimiter limiter;  // a thousand slow clients are one line a second
      limited_log(limiter, Level::kInfo, "{} too slow: request not received within {} ms; closed",
                  remote_, opt_.header_timeout.count());
      co_await refuse(http::status::request_timeout, "request not received in time", false);
    } else if (ec == http::error::end_of_stream || ec == asio::error::operation_aborted) {
      // the peer closed, or shutdown: nothing to answer
    } else if (ec == http::error::body_limit) {
      shared_.count(Counter::kRejectedTooLarge);
      co_await refuse(http::status::payload_too_large, body_too_large_detail(opt_.body_limit),
                      true);
    } else if (ec == http::error::header_limit) {
      shared_.count(Counter::kRejectedBadRequest);
      co_await refuse(http::status::request_header_fields_too_large,
                      fmt::format("request headers are larger than {} bytes", kHeaderLimit), false);
    } else if (ec.category() == make_error_code(http::error::end_of_stream).category()) {
      shared_.count(Counter::kRejectedBadRequest);
      co_await refuse(http::status::bad_request, fmt::format("bad HTTP request: {}", ec.message()),
                      false);
    }
    // else: connection reset and the like
  }

  // Answers an error the HTTP layer found itself (the handler never saw the request) and
  // closes. With `drain`, reads (and drops) what the client still sends, so that it sees the
  // answer instead of a connection reset; bounded in bytes and time.
  asio::awaitable<void> refuse(http::status status, std::string_view detail, bool drain) {
    http::response<http::string_body> res{status, 11};
    res.set(http::field::server, "progressista");
    res.set(http::field::content_type, "application/json");
    res.keep_alive(false);
    fmt::memory_buffer body;
    append_detail(body, detail);
    res.body().assign(body.data(), body.size());
    res.prepare_payload();
    stream_.expires_after(opt_.header_timeout);
    auto [ec, n] = co_await http::async_write(stream_, res, kUseTuple);
    (void)n;
    boost::system::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    if (ec || !drain) co_return;
    co_await discard_input(stream_, buffer_, kDrainLimit, kDrainTime);
  }

  // A deferred answer (http_types.hpp): the coroutine sleeps on a timer the completing thread
  // cancels through this connection's executor. The completer runs before the server's I/O
  // contexts are destroyed (the federation stops first and answers what it still holds).
  asio::awaitable<void> await_deferred(HttpResponse& response) {
    const std::shared_ptr<Deferred> deferred = std::move(response.deferred);
    auto timer = std::make_shared<asio::steady_timer>(stream_.get_executor(),
                                                      asio::steady_timer::time_point::max());
    deferred->when_complete([timer] {
      // An expiry in the past also ends a wait that has not begun yet.
      asio::post(timer->get_executor(),
                 [timer] { timer->expires_at(asio::steady_timer::time_point::min()); });
    });
    (void)co_await timer->async_wait(kUseTuple);
    HttpResponse answer = deferred->take();
    answer.headers.insert(answer.headers.begin(), response.headers.begin(), response.headers.end());
    response = std::move(answer);
  }

  // Hands the request to a stream taker (which keeps the connection) or to the handler, and
  // writes the handler's answer. False when the connection is over.
  asio::awaitable<bool> dispatch(RequestParser& parser) {
    const auto started = std::chrono::steady_clock::now();
    http::request<http::string_body>& req = parser.get();
    std::string& body = req.body();
    body.reserve(body.size() + kParsePadding);  // chunked bodies; a no-op otherwise
    const BeastRequest adapter(req, remote_);
    const HttpRequest& request = adapter.view();

    if (StreamTaker* taker = w_.handler->streams(); taker != nullptr && taker->wants(request)) {
      // The connection is the taker's from here on; the slot still counts it.
      co_await taker->serve(std::move(stream_), std::move(buffer_), parser.release(), remote_);
      co_return false;
    }

    HttpResponse response;
    try {
      if (StreamTaker* taker = w_.handler->streams();
          taker != nullptr && taker->exchanges(request)) {
        co_await taker->exchange(request, response);
      } else {
        w_.handler->handle(request, response);
        if (response.deferred) co_await await_deferred(response);
      }
    } catch (const std::exception& e) {
      log(Level::kError, "{} {} {}: internal error: {}", remote_, request.method,
          redact_url(request.target), e.what());
      set_error(response, 500, "internal server error");
    }

    const bool keep_alive = req.keep_alive() && !w_.stopping;
    serialize_response(answer_, req.version(), response, keep_alive,
                       req.method() == http::verb::head);
    stream_.expires_after(opt_.header_timeout);
    auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(answer_), kUseTuple);
    (void)n;
    if (opt_.access_log && log_enabled(Level::kInfo)) {
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
              .count();
      log(Level::kInfo, "{} \"{} {}\" {} {} {:.3f}ms", remote_, request.method,
          redact_url(request.target), response.status, response.body.size(), ms);
    }
    if (ec) co_return false;
    if (!keep_alive) {
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
      co_return false;
    }
    co_return true;
  }

  SessionShared& shared_;
  const HttpServerOptions& opt_;
  Worker& w_;
  ConnectionSlot slot_;
  beast::tcp_stream stream_;
  std::string remote_;
  beast::flat_buffer buffer_;
  std::string answer_;  // the serialized response, its capacity reused across requests
  std::shared_ptr<RequestDeadline> deadline_;
  bool timed_out_ = false;
  std::optional<FramingRefusal> refused_;  // the request's framing was refused: answer, close
};

}  // namespace

asio::awaitable<void> serve_connection(SessionShared& shared, Worker& w, tcp::socket socket) {
  Session session(shared, w, std::move(socket));
  co_await session.run();
}

asio::awaitable<void> answer_and_close(beast::tcp_stream& stream, http::status status,
                                       std::string body, unsigned version) {
  http::response<http::string_body> res{status, version};
  res.set(http::field::server, "progressista");
  res.set(http::field::content_type, "application/json");
  res.keep_alive(false);
  res.body() = std::move(body);
  res.prepare_payload();
  stream.expires_after(std::chrono::seconds(5));
  auto [ec, n] = co_await http::async_write(stream, res, kUseTuple);
  (void)ec;
  (void)n;
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

asio::awaitable<void> refuse_busy(tcp::socket socket, std::size_t max_connections) {
  beast::tcp_stream stream(std::move(socket));
  stream.expires_after(std::chrono::seconds(1));
  http::response<http::string_body> res{http::status::service_unavailable, 11};
  res.set(http::field::server, "progressista");
  res.set(http::field::content_type, "application/json");
  res.set(http::field::retry_after, "1");
  res.keep_alive(false);
  res.body() = fmt::format(R"({{"detail":"too many connections (the limit is {}); retry later"}})",
                           max_connections);
  res.prepare_payload();
  auto [ec, n] = co_await http::async_write(stream, res, kUseTuple);
  (void)n;
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  if (ec) co_return;
  // The request is still unread: read it, or closing would reset the connection under the
  // client before it reads the 503. Bounded: at most kBusyLingering such sockets at once.
  static std::atomic<int> lingering{0};
  struct Lingering {
    Lingering() { lingering.fetch_add(1, std::memory_order_relaxed); }
    ~Lingering() { lingering.fetch_sub(1, std::memory_order_relaxed); }
  } const self;
  if (lingering.load(std::memory_order_relaxed) > kBusyLingering) co_return;
  beast::flat_buffer buffer;
  co_await discard_input(stream, buffer, kBusyDrainLimit, kBusyDrainTime);
}

}  // namespace progressista::daemon
