#include "poster.hpp"

#include <charconv>

#include <fmt/format.h>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace fanout {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using error_code = boost::system::error_code;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr auto kTimeout = std::chrono::seconds(10);
constexpr std::uint64_t kPrecreateBatch = 500;

struct Answer {
  std::string error;  // empty when an HTTP answer came back
  unsigned status = 0;
  std::string body;
};

// One keep-alive HTTP/1.1 connection, opened on first use and again after a failure.
class HttpConnection {
 public:
  HttpConnection(asio::any_io_executor ex, Endpoint server)
      : server_(std::move(server)), stream_(std::move(ex)) {}

  asio::awaitable<Answer> request(http::verb verb, std::string_view target, std::string body,
                                  std::string_view content_type) {
    Answer a;
    if (!open_) {
      error_code ec;
      const tcp::endpoint ep(asio::ip::make_address(server_.host, ec), server_.port);
      if (ec) {
        a.error = fmt::format("bad address '{}': {}", server_.host, ec.message());
        co_return a;
      }
      stream_.expires_after(kTimeout);
      auto [cec] = co_await stream_.async_connect(ep, kUseTuple);
      if (cec) {
        a.error = fmt::format("connect to {}:{}: {}", server_.host, server_.port, cec.message());
        co_return a;
      }
      stream_.socket().set_option(tcp::no_delay(true), ec);
      open_ = true;
    }
    http::request<http::string_body> req{verb, std::string(target), 11};
    req.set(http::field::host, fmt::format("{}:{}", server_.host, server_.port));
    req.set(http::field::user_agent, "fanout_bench");
    req.keep_alive(true);
    if (!body.empty()) {
      req.set(http::field::content_type, content_type);
      req.body() = std::move(body);
    }
    req.prepare_payload();
    stream_.expires_after(kTimeout);
    auto [wec, wn] = co_await http::async_write(stream_, req, kUseTuple);
    (void)wn;
    if (wec) co_return broken(std::move(a), "write", wec);
    http::response<http::string_body> res;
    auto [rec, rn] = co_await http::async_read(stream_, buffer_, res, kUseTuple);
    (void)rn;
    if (rec) co_return broken(std::move(a), "read", rec);
    a.status = res.result_int();
    a.body = std::move(res.body());
    if (!res.keep_alive()) close();
    co_return a;
  }

  void close() {
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
    buffer_.clear();
    open_ = false;
  }

 private:
  Answer broken(Answer a, std::string_view what, const error_code& ec) {
    a.error = fmt::format("{} on {}:{}: {}", what, server_.host, server_.port, ec.message());
    close();
    return a;
  }

  Endpoint server_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  bool open_ = false;
};

// Runs `task` on `io` until it finishes and returns its result (blocking).
template <class T>
T run_blocking(asio::io_context& io, asio::awaitable<T> task) {
  auto result = asio::co_spawn(io, std::move(task), asio::use_future);
  io.restart();
  io.run();
  return result.get();
}

void append_event(fmt::memory_buffer& out, std::uint32_t task, std::uint64_t n,
                  std::string_view status) {
  // A RemoteTqdm-like update: the frames carry what dashboards really get.
  fmt::format_to(std::back_inserter(out),
                 R"({{"task_id":"fanout-{:05}","desc":"fanout bench","n":{},"total":1000000000,)"
                 R"("unit":"it","status":"{}"}})",
                 task, n, status);
}

// "accepted":N of an NDJSON answer; -1 when absent.
std::int64_t accepted_count(std::string_view body) {
  constexpr std::string_view kKey = "\"accepted\":";
  const std::size_t at = body.find(kKey);
  if (at == std::string_view::npos) return -1;
  std::int64_t n = -1;
  const char* first = body.data() + at + kKey.size();
  std::from_chars(first, body.data() + body.size(), n);
  return n;
}

// Empty when the answer acknowledges all `count` events, else why not. Nchan answers 201 when
// the channel has subscribers, 202 when it has none; either way the message is stored.
std::string check_answer(const Answer& a, std::uint64_t count, bool nchan) {
  if (!a.error.empty()) return a.error;
  const bool ok = nchan ? a.status == 200 || a.status == 201 || a.status == 202 : a.status == 200;
  if (!ok) return fmt::format("HTTP {}: {}", a.status, a.body.substr(0, 200));
  if (count > 1 && accepted_count(a.body) != static_cast<std::int64_t>(count))
    return fmt::format("{} events sent, answer {}", count, a.body.substr(0, 200));
  return {};
}

}  // namespace

struct Poster::Impl {
  Impl(Endpoint server, EventPlan plan, AckLog& acks, PostTarget target)
      : server(std::move(server)),
        plan(plan),
        acks(acks),
        target(std::move(target)),
        connection(io.get_executor(), this->server) {}

  asio::awaitable<std::string> precreate() {
    fmt::memory_buffer body;
    for (std::uint32_t first = 0; first < plan.tasks; first += kPrecreateBatch) {
      body.clear();
      const std::uint32_t last =
          static_cast<std::uint32_t>(std::min<std::uint64_t>(plan.tasks, first + kPrecreateBatch));
      for (std::uint32_t t = first; t < last; ++t) {
        append_event(body, t, 0, "start");
        body.push_back('\n');
      }
      const Answer a = co_await connection.request(http::verb::post, "/progress",
                                                   fmt::to_string(body), "application/x-ndjson");
      if (std::string why = check_answer(a, last - first, false); !why.empty()) co_return why;
    }
    co_return std::string{};
  }

  asio::awaitable<void> pace(PostReport& report, std::chrono::steady_clock::time_point start,
                             std::chrono::steady_clock::time_point end, std::uint64_t batch,
                             std::chrono::nanoseconds interval) {
    asio::steady_timer timer(io);
    fmt::memory_buffer body;
    std::uint64_t next_k = 0;
    for (std::uint64_t b = 0;; ++b) {
      const auto due = start + b * interval;
      if (due >= end) break;
      if (due > std::chrono::steady_clock::now()) {
        timer.expires_at(due);
        auto [ec] = co_await timer.async_wait(kUseTuple);
        (void)ec;
      }
      const auto left = std::chrono::steady_clock::now();
      if (left >= end) break;
      report.behind_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left - due).count();
      const std::uint64_t count = std::min(batch, acks.capacity() - next_k);
      if (count == 0) break;
      body.clear();
      for (std::uint64_t k = next_k; k < next_k + count; ++k) {
        append_event(body, plan.task_of(k), EventPlan::n_of(k), "update");
        if (count > 1) body.push_back('\n');
      }
      const std::int64_t sent = now_ns();
      for (std::uint64_t k = next_k; k < next_k + count; ++k) acks.send(k, sent);
      const Answer a =
          co_await connection.request(http::verb::post, target.path, fmt::to_string(body),
                                      count > 1 ? "application/x-ndjson" : "application/json");
      const std::int64_t acked = now_ns();
      ++report.posts;
      report.events_sent += count;
      report.round_trip.record(static_cast<std::uint64_t>((acked - sent) / 1000));
      const std::string why = check_answer(a, count, target.nchan);
      for (std::uint64_t k = next_k; k < next_k + count; ++k) {
        if (why.empty())
          acks.acknowledge(k, acked);
        else
          acks.fail(k);
      }
      if (why.empty()) {
        report.events_acked += count;
      } else {
        ++report.failures;
        if (report.first_error.empty()) report.first_error = why;
      }
      next_k += count;
    }
  }

  asio::io_context io;
  Endpoint server;
  EventPlan plan;
  AckLog& acks;
  PostTarget target;
  HttpConnection connection;
};

Poster::Poster(Endpoint server, EventPlan plan, AckLog& acks, PostTarget target)
    : impl_(std::make_unique<Impl>(std::move(server), plan, acks, std::move(target))) {}

Poster::~Poster() {
  join();
}

std::string Poster::precreate() {
  return run_blocking(impl_->io, impl_->precreate());
}

void Poster::start(std::chrono::steady_clock::time_point start,
                   std::chrono::steady_clock::time_point end, std::uint64_t batch,
                   std::chrono::nanoseconds interval) {
  thread_ = std::thread([this, start, end, batch, interval] {
    run_blocking(impl_->io, impl_->pace(report_, start, end, batch, interval));
  });
}

void Poster::join() {
  if (thread_.joinable()) thread_.join();
}

std::optional<std::string> http_get(const Endpoint& server, const std::string& target) {
  asio::io_context io;
  HttpConnection connection(io.get_executor(), server);
  const Answer a = run_blocking(io, connection.request(http::verb::get, target, {}, {}));
  if (!a.error.empty() || a.status != 200) return std::nullopt;
  return a.body;
}

}  // namespace fanout
