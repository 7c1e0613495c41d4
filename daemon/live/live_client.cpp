#include "live/live_client.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

#include "live/live_clients.hpp"
#include "log.hpp"
#include "progressista/query.hpp"

namespace progressista::daemon {

namespace {
constexpr std::size_t kMaxControlFrames = 8;  // error frames waiting to be sent
}  // namespace

LiveClient::LiveClient(LiveClients& group, Protocol protocol, View view, std::string remote,
                       const boost::asio::any_io_executor& ex)
    : protocol(protocol),
      view(std::move(view)),
      remote(std::move(remote)),
      group_(group),
      wake_(ex),
      write_timer_(ex) {}

void LiveClient::offer(const Frame& frame) {
  if (closing_ || !frame || needs_snapshot_) return;
  if (pending_ || needs_reset_) {
    group_.hub().stats().coalesced.fetch_add(1, std::memory_order_relaxed);
    if (protocol != Protocol::kProgressista) {
      pending_ = {};
      needs_reset_ = true;
      wake();
      return;
    }
  }
  pending_ = frame;
  wake();
}

void LiveClient::replace(const Frame& frame) {
  needs_reset_ = false;
  pending_ = frame;
  seq = std::max(seq, frame.seq);
  wake();
}

void LiveClient::snapshot_soon() {
  needs_reset_ = false;
  pending_ = {};
  if (needs_snapshot_) return;
  needs_snapshot_ = true;
  snapshot_at_ = std::chrono::steady_clock::now() + group_.hub().options().tick;
  wake();
}

void LiveClient::control(const Frame& frame) {
  if (control_.size() < kMaxControlFrames) control_.push_back(frame);
  wake();
}

void LiveClient::close(CloseCode code, std::string reason) {
  if (closing_) return;
  closing_ = true;
  close_code_ = code;
  close_reason_ = std::move(reason);
  wake();
}

void LiveClient::end() {
  closing_ = true;
  ended_ = true;
  wake();
  write_timer_.cancel();
  close_transport();
}

boost::asio::awaitable<void> LiveClient::writer() {
  auto self = shared_from_this();
  Broadcaster& hub = group_.hub();
  for (;;) {
    // A closing client still gets its error frames: they say why it is closed.
    if (closing_ && (ended_ || control_.empty())) {
      if (!ended_) co_await send_close(close_code_, close_reason_);
      break;
    }
    Frame f;
    if (!control_.empty()) {
      f = std::move(control_.front());
      control_.pop_front();
    } else if (needs_snapshot_ && std::chrono::steady_clock::now() >= snapshot_at_) {
      needs_snapshot_ = false;
      f = hub.snapshot_of(view, false);
      seq = std::max(seq, f.seq);
    } else if (needs_reset_) {
      needs_reset_ = false;
      // Shared by every lagging client of the same view in this tick.
      f = hub.snapshot_of(view, true);
      seq = std::max(seq, f.seq);
    } else if (pending_) {
      f = std::exchange(pending_, {});
    } else {
      const bool settling = needs_snapshot_;
      if (settling) {
        wake_.expires_at(snapshot_at_);
      } else {
        wake_.expires_after(protocol == Protocol::kSse
                                ? std::chrono::steady_clock::duration(hub.options().ping_interval)
                                : std::chrono::hours(24 * 365));
      }
      auto [ec] = co_await wake_.async_wait(kUseTuple);
      if (!ec && !settling && protocol == Protocol::kSse && !closing_) {
        // A comment keeps proxies from timing the stream out.
        if (co_await send_comment()) break;
      }
      continue;
    }
    arm_write_timeout();
    const boost::system::error_code ec = co_await send(f);
    write_timer_.cancel();
    if (ec) break;
    hub.stats().sent(f.text().size());
  }
  end();
  group_.remove(this);
}

void LiveClient::arm_write_timeout() {
  write_timer_.expires_after(group_.hub().options().client_timeout);
  write_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    if (ec) return;
    if (auto self = weak.lock()) {
      self->group_.hub().stats().slow_disconnects.fetch_add(1, std::memory_order_relaxed);
      static LogLimiter limiter;  // a thousand stuck dashboards are one line a second
      limited_log(limiter, Level::kInfo, "{} did not take a frame within {} ms; disconnected",
                  self->remote, self->group_.hub().options().client_timeout.count());
      self->end();
    }
  });
}

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

}  // namespace progressista::daemon
