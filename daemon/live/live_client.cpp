#include "live/live_client.hpp"

#include <algorithm>
#include <charconv>
#include <optional>
#include <chrono>
#include <utility>

#include "live/change_frames.hpp"
#include "live/compact_delta.hpp"
#include "live/live_clients.hpp"
#include "log.hpp"
#include "progressista/query.hpp"

namespace progressista::daemon {

namespace {
constexpr std::size_t kMaxControlFrames = 8;  // error frames waiting to be sent
// A per-change client's ticks waiting behind its pending frame are merged into one this often:
// what a slow client holds is bounded by the tasks that changed, not by the time it lags.
constexpr std::size_t kMaxBacklog = 16;
}  // namespace

Frame LiveClient::encode(const Tick& tick) const {
  switch (protocol) {
    case Protocol::kEvents:
      return events_frame(tick, view, ChangeFraming::kWebSocket);
    case Protocol::kEventsSse:
      return events_frame(tick, view, named ? ChangeFraming::kSseNamed : ChangeFraming::kSse);
    case Protocol::kOperations:
      return operations_frame(tick, view);
    case Protocol::kDeltaV2:
      return compact_frame(tick, view);
    case Protocol::kProgressista:
    case Protocol::kDelta:
    case Protocol::kSse:
      break;
  }
  return delta_frame(tick, view);
}

std::string LiveClient::frame_key() const {
  std::string key;
  switch (protocol) {
    case Protocol::kEvents:
      key = "events ";
      break;
    case Protocol::kEventsSse:
      key = named ? "events-sse-named " : "events-sse ";
      break;
    case Protocol::kOperations:
      key = "operations ";
      break;
    case Protocol::kDeltaV2:
      key = "delta2 ";
      break;
    case Protocol::kProgressista:
    case Protocol::kDelta:
    case Protocol::kSse:
      key = "delta ";  // the same frame over WebSocket and SSE
      break;
  }
  return key + view.key();
}

void LiveClient::offer_change(const std::shared_ptr<const Tick>& tick, const Frame& frame) {
  if (closing_) return;
  Broadcaster& hub = group_.hub();
  if (tick->reset) {
    // What changed is unknown: the next write reads every task of the view from the table.
    pending_ = {};
    pending_tick_.reset();
    backlog_.clear();
    needs_reset_ = true;
    wake();
    return;
  }
  if (!frame) return;
  if (needs_reset_ || needs_snapshot_) {
    // The table read (or the snapshot due) covers it.
    hub.stats().coalesced.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (pending_) {
    hub.stats().coalesced.fetch_add(1, std::memory_order_relaxed);
    if (pending_tick_) backlog_.push_back(std::move(pending_tick_));  // else an `id:` line only
    pending_ = {};
    pending_tick_.reset();
    backlog_.push_back(tick);
  } else if (!backlog_.empty()) {
    hub.stats().coalesced.fetch_add(1, std::memory_order_relaxed);
    backlog_.push_back(tick);
    if (backlog_.size() >= kMaxBacklog && protocol == Protocol::kDeltaV2) {
      // A compact client this far behind gets the snapshot every such client of its view
      // shares (one per tick), as a v1 client does at once: a merge of its own would be
      // rendered for it alone, and a thousand of them cost the server gigabytes (bench/README.md).
      backlog_.clear();
      needs_reset_ = true;
    } else if (backlog_.size() >= kMaxBacklog) {
      auto merged = std::make_shared<const Tick>(merge_ticks(backlog_));
      backlog_.assign(1, std::move(merged));
    }
  } else {
    if (sent_now(frame)) return;
    pending_ = frame;
    pending_tick_ = tick;
  }
  wake();
}

bool LiveClient::sent_now(const Frame& frame) {
  if (!writer_idle_ || closing_ || pending_ || !backlog_.empty() || !control_.empty() ||
      needs_reset_ || needs_snapshot_ || transport_pending() || !send_now(frame))
    return false;
  group_.hub().stats().sent(frame.text().size());
  return true;
}

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
  if (sent_now(frame)) return;
  pending_ = frame;
  wake();
}

void LiveClient::start_changes(std::string_view last_event_id, bool snapshot,
                               std::uint64_t arrived) {
  Broadcaster& hub = group_.hub();
  std::shared_ptr<const Tick> first;
  if (!last_event_id.empty()) {
    std::uint64_t after = 0;
    const char* end = last_event_id.data() + last_event_id.size();
    const auto [ptr, ec] = std::from_chars(last_event_id.data(), end, after);
    std::optional<Tick> missed;
    if (ec == std::errc() && ptr == end) missed = hub.missed(after);
    first = std::make_shared<const Tick>(
        missed ? std::move(*missed) : table_tick(hub.store().table(), view, hub.seq()));
  } else if (snapshot) {
    first = std::make_shared<const Tick>(table_tick(hub.store().table(), view, hub.seq()));
  } else {
    // A client that acts once its stream is open (EventSource.onopen, a WebSocket's open)
    // must see what it caused, even when a tick went out before it joined; and read now, its
    // seq is past any tick folded before it counted as a client (the operations feed's
    // messages are built only while it has clients).
    if (std::optional<Tick> missed = hub.missed(arrived))
      first = std::make_shared<const Tick>(std::move(*missed));
  }
  seq = first ? first->seq : hub.seq();
  const Frame f = first ? encode(*first) : Frame{};
  if (f) {
    offer_change(first, f);
  } else if (sse()) {
    replace(sse_id_frame(seq));  // an EventSource resumes from here
  }
}

void LiveClient::start_compact() {
  // A control frame goes out before anything pending, and the ticks after the snapshot's seq
  // queue behind it.
  const Frame f = group_.hub().compact_snapshot(view, false);
  seq = std::max(seq, f.seq);
  control_.push_front(f);
  wake();
}

Frame LiveClient::take_snapshot(bool reset) {
  Broadcaster& hub = group_.hub();
  if (protocol != Protocol::kDeltaV2) return hub.snapshot_of(view, reset);
  // What waits was offered before now, so at or below the snapshot's seq; sent after it, a
  // compact frame would take members back to older values.
  pending_ = {};
  pending_tick_.reset();
  backlog_.clear();
  return hub.compact_snapshot(view, reset);
}

void LiveClient::replace(const Frame& frame) {
  needs_reset_ = false;
  pending_ = frame;
  pending_tick_.reset();
  backlog_.clear();
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
    if (transport_pending() && !ended_) {  // before anything else: it is part of the stream
      arm_write_timeout();
      const boost::system::error_code ec = co_await flush_transport();
      write_timer_.cancel();
      if (ec) break;
      continue;
    }
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
      f = take_snapshot(false);
      seq = std::max(seq, f.seq);
    } else if (needs_reset_) {
      needs_reset_ = false;
      if (per_change() && protocol != Protocol::kDeltaV2) {
        f = encode(table_tick(hub.store().table(), view, hub.seq()));
        if (!f) continue;  // the view holds no task
      } else {
        // Shared by every lagging client of the same view in this tick.
        f = take_snapshot(true);
      }
      seq = std::max(seq, f.seq);
    } else if (!backlog_.empty()) {
      f = encode(merge_ticks(backlog_));
      backlog_.clear();
      if (!f) continue;  // what changed came and went
    } else if (pending_) {
      f = std::exchange(pending_, {});
      pending_tick_.reset();
    } else {
      const bool settling = needs_snapshot_;
      if (settling) {
        wake_.expires_at(snapshot_at_);
      } else {
        wake_.expires_after(hub.options().ping_interval);
      }
      writer_idle_ = true;
      auto [ec] = co_await wake_.async_wait(kUseTuple);
      writer_idle_ = false;
      if (!ec && !settling && !closing_ && !transport_pending()) {
        // Nothing sent for a ping interval: the transport keeps the connection alive.
        if (co_await on_idle()) break;
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

bool query_flag(std::string_view query, std::string_view name) {
  std::string value;
  if (!query_param(query, name, value)) return false;
  return value == "1" || value == "true" || value == "yes";
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
