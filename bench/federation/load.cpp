#include "load.hpp"

#include <algorithm>
#include <charconv>
#include <thread>

#include <fmt/format.h>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace fedbench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using error_code = boost::system::error_code;
using tcp = asio::ip::tcp;
using fanout::now_ns;

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr auto kTimeout = std::chrono::seconds(10);

// "accepted":N of a batch's answer; -1 when absent.
std::int64_t accepted_count(std::string_view body) {
  constexpr std::string_view kKey = "\"accepted\":";
  const std::size_t at = body.find(kKey);
  if (at == std::string_view::npos) return -1;
  std::int64_t n = -1;
  std::from_chars(body.data() + at + kKey.size(), body.data() + body.size(), n);
  return n;
}

// One lane: its own keep-alive connection, reopened after a failure.
class LaneRunner {
 public:
  LaneRunner(asio::any_io_executor ex, Lane& lane, const LoadPlan& plan)
      : lane_(lane), plan_(plan), stream_(ex), timer_(ex) {}

  asio::awaitable<void> run(std::chrono::steady_clock::time_point start,
                            std::chrono::steady_clock::time_point end,
                            std::chrono::nanoseconds interval) {
    std::uint64_t next_k = 0;
    for (std::uint64_t b = 0;; ++b) {
      // Paced: batch b leaves at start + b * interval (late ones at once); closed loop: now.
      const auto due = start + b * interval;
      if (due >= end) break;
      if (due > std::chrono::steady_clock::now()) {
        timer_.expires_at(due);
        auto [ec] = co_await timer_.async_wait(kUseTuple);
        (void)ec;
      }
      if (std::chrono::steady_clock::now() >= end) break;
      std::uint64_t count = plan_.batch;
      if (lane_.acks) count = std::min<std::uint64_t>(count, lane_.acks->capacity() - next_k);
      if (count == 0) break;
      co_await post(next_k, count);
      next_k += count;
    }
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
  }

 private:
  asio::awaitable<void> post(std::uint64_t first_k, std::uint64_t count) {
    body_.clear();
    for (std::uint64_t k = first_k; k < first_k + count; ++k) {
      // A RemoteTqdm-like update, without a timestamp: the node orders by arrival.
      fmt::format_to(std::back_inserter(body_),
                     R"({{"task_id":"{}","desc":"federation bench","n":{},"total":1000000000,)"
                     R"("unit":"it","status":"update"}})",
                     fanout::task_id(task_of(k)), k + 1);
      if (count > 1) body_.push_back('\n');
    }
    const std::int64_t sent = now_ns();
    if (lane_.acks)
      for (std::uint64_t k = first_k; k < first_k + count; ++k) lane_.acks->send(k, sent);
    const std::string why = co_await exchange(count);
    const std::int64_t acked = now_ns();
    ++lane_.posts;
    lane_.events_sent += count;
    lane_.round_trip.record(static_cast<std::uint64_t>((acked - sent) / 1000));
    for (std::uint64_t k = first_k; k < first_k + count; ++k) {
      if (lane_.acks) {
        if (why.empty())
          lane_.acks->acknowledge(k, acked);
        else
          lane_.acks->fail(k);
      }
      if (why.empty()) lane_.last_n[k % plan_.tasks_per_lane] = k + 1;
    }
    if (why.empty()) {
      lane_.events_acked += count;
    } else {
      ++lane_.failures;
      if (lane_.first_error.empty()) lane_.first_error = why;
    }
  }

  [[nodiscard]] std::uint32_t task_of(std::uint64_t k) const noexcept {
    return lane_.first_task + static_cast<std::uint32_t>(k % plan_.tasks_per_lane);
  }

  // Sends body_ and reads the answer: empty when it accepted every event, else why not.
  asio::awaitable<std::string> exchange(std::uint64_t count) {
    if (!open_) {
      const tcp::endpoint ep(asio::ip::make_address_v4("127.0.0.1"), lane_.port);
      stream_.expires_after(kTimeout);
      auto [ec] = co_await stream_.async_connect(ep, kUseTuple);
      if (ec) co_return fmt::format("connect to :{}: {}", lane_.port, ec.message());
      error_code ignored;
      stream_.socket().set_option(tcp::no_delay(true), ignored);
      open_ = true;
    }
    http::request<http::string_body> req{http::verb::post, "/progress", 11};
    req.set(http::field::host, fmt::format("127.0.0.1:{}", lane_.port));
    req.set(http::field::content_type, count > 1 ? "application/x-ndjson" : "application/json");
    req.keep_alive(true);
    req.body().assign(body_.data(), body_.size());
    req.prepare_payload();
    stream_.expires_after(kTimeout);
    auto [wec, wn] = co_await http::async_write(stream_, req, kUseTuple);
    (void)wn;
    if (wec) co_return broken("write", wec);
    http::response<http::string_body> res;
    auto [rec, rn] = co_await http::async_read(stream_, buffer_, res, kUseTuple);
    (void)rn;
    if (rec) co_return broken("read", rec);
    if (!res.keep_alive()) {
      error_code ignored;
      stream_.socket().close(ignored);
      buffer_.clear();
      open_ = false;
    }
    if (res.result_int() != 200)
      co_return fmt::format("HTTP {}: {:.200}", res.result_int(), res.body());
    if (count > 1 && accepted_count(res.body()) != static_cast<std::int64_t>(count))
      co_return fmt::format("{} events sent, answer {:.200}", count, res.body());
    co_return std::string{};
  }

  std::string broken(std::string_view what, const error_code& ec) {
    error_code ignored;
    stream_.socket().close(ignored);
    buffer_.clear();
    open_ = false;
    return fmt::format("{} on :{}: {}", what, lane_.port, ec.message());
  }

  Lane& lane_;
  const LoadPlan& plan_;
  beast::tcp_stream stream_;
  asio::steady_timer timer_;
  beast::flat_buffer buffer_;
  fmt::memory_buffer body_;
  bool open_ = false;
};

}  // namespace

Load::Load(LoadPlan plan) : plan_(std::move(plan)) {
  const std::size_t count = plan_.ports.size() * plan_.lanes_per_node;
  lanes_.resize(count);
  // Paced lanes keep every event's times: the events due in the duration, plus a batch.
  const double per_lane = plan_.rate / plan_.lanes_per_node;
  const auto capacity = static_cast<std::uint64_t>(per_lane * plan_.duration) + 2 * plan_.batch;
  for (std::size_t g = 0; g < count; ++g) {
    Lane& lane = lanes_[g];
    lane.port = plan_.ports[g / plan_.lanes_per_node];
    lane.first_task = static_cast<std::uint32_t>(g) * plan_.tasks_per_lane;
    lane.last_n.assign(plan_.tasks_per_lane, 0);
    if (plan_.rate > 0) lane.acks = std::make_unique<AckLog>(capacity);
  }
}

Load::~Load() = default;

void Load::run(std::chrono::steady_clock::time_point start) {
  asio::io_context io(static_cast<int>(plan_.threads));
  const auto end = start + std::chrono::nanoseconds(static_cast<std::int64_t>(plan_.duration * 1e9));
  // Paced: each lane sends a batch every lanes_per_node * batch / rate seconds, the lanes of a
  // node staggered evenly over that interval; closed loop: no interval.
  const auto interval =
      plan_.rate > 0 ? std::chrono::nanoseconds(static_cast<std::int64_t>(
                           1e9 * plan_.lanes_per_node * plan_.batch / plan_.rate))
                     : std::chrono::nanoseconds(0);
  std::vector<std::unique_ptr<LaneRunner>> runners;
  for (std::size_t g = 0; g < lanes_.size(); ++g) {
    auto strand = asio::make_strand(io);
    runners.push_back(std::make_unique<LaneRunner>(strand, lanes_[g], plan_));
    const auto offset = interval * static_cast<std::int64_t>(g % plan_.lanes_per_node) /
                        static_cast<std::int64_t>(plan_.lanes_per_node);
    asio::co_spawn(strand, runners.back()->run(start + offset, end, interval), asio::detached);
  }
  std::vector<std::thread> threads;
  for (unsigned i = 1; i < plan_.threads; ++i) threads.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& t : threads) t.join();
}

}  // namespace fedbench
