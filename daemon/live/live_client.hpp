// One live client of either transport: its pending-frame policy and its writer loop. It has at
// most one frame in flight and one pending; a newer frame replaces the pending one, so a slow
// reader costs memory for two frames at most (a per-change client: the ticks it fell behind on,
// merged to one per task every kMaxBacklog; a compact-delta client that far behind gets a
// shared snapshot instead), and one blocked past the client timeout is
// disconnected. The transport (WebSocket, SSE) is a subclass's (ws_session.cpp,
// sse_session.cpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/system/error_code.hpp>

#include "live/broadcast_stats.hpp"
#include "live/view.hpp"

namespace progressista::daemon {

class LiveClients;

inline constexpr auto kUseTuple = boost::asio::as_tuple(boost::asio::use_awaitable);

class LiveClient : public std::enable_shared_from_this<LiveClient> {
 public:
  using Protocol = BroadcastStats::Protocol;
  using CloseCode = boost::beast::websocket::close_code;

  LiveClient(LiveClients& group, Protocol protocol, View view, std::string remote,
             const boost::asio::any_io_executor& ex);
  virtual ~LiveClient() = default;

  const Protocol protocol;
  View view;
  const std::string remote;
  // The sequence number of the newest state queued for this client (delta protocol and
  // SSE): a tick at or below it holds nothing the client has not got, and is skipped.
  std::uint64_t seq = 0;
  bool named = false;  // an SSE event stream with `event:` lines (?named=1)

  // The event streams and the operations feed: every change is delivered, and a client that
  // falls behind gets the latest state of each task that changed meanwhile (offer_change).
  // The compact delta protocol is one too: each frame builds on the one before, so none may
  // be dropped, and a lagging client gets whole states of the tasks that changed.
  [[nodiscard]] bool per_change() const noexcept {
    return protocol == Protocol::kEvents || protocol == Protocol::kEventsSse ||
           protocol == Protocol::kOperations || protocol == Protocol::kDeltaV2;
  }
  [[nodiscard]] bool sse() const noexcept {
    return protocol == Protocol::kSse || protocol == Protocol::kEventsSse;
  }
  // This client's frame of `tick` (its protocol, framing and view). Per-change protocols and
  // the delta protocol.
  [[nodiscard]] Frame encode(const Tick& tick) const;
  // What clients that can share this one's frames have in common: protocol, framing, view.
  [[nodiscard]] std::string frame_key() const;

  // A newer state replaces the pending one. A delta cannot replace another (the changes of
  // the first would be lost), so the client is sent a fresh snapshot of its view instead.
  void offer(const Frame& frame);
  // A per-change client's frame of `tick` (null: the view matched nothing in it). Behind a
  // pending frame, the ticks are kept and merged at the next write (merge_ticks); a reset tick
  // makes the next write every task of the view, read from the table then.
  void offer_change(const std::shared_ptr<const Tick>& tick, const Frame& frame);
  // A per-change client's start, once joined: with `last_event_id`, the changes after it
  // (every task of the view when they cannot be told); else every task with `snapshot`; else
  // the changes since `arrived` (the broadcaster's seq when the request came: what changed
  // during the handshake) and, over SSE, the current id.
  void start_changes(std::string_view last_event_id, bool snapshot, std::uint64_t arrived);
  // A compact delta client's start, once joined: its view's snapshot, sent before any tick
  // after it.
  void start_compact();
  // Replaces whatever is pending (a snapshot of a new view covers every earlier change).
  void replace(const Frame& frame);
  // A snapshot of `view` (just changed by the client), built one tick from the first call:
  // the calls in between are answered by that one snapshot of the last view, and the frames
  // offered meanwhile are dropped (the snapshot covers them).
  void snapshot_soon();
  // A frame outside the state's sequence (an error), sent before it; a few at most.
  void control(const Frame& frame);
  // Sends the control frames queued, then the close (`reason`: at most 123 bytes).
  void close(CloseCode code, std::string reason = {});
  // Drops the connection at once and ends the writer.
  void end();
  // Something of this client's waits to be written: it did not take the last frame at once.
  [[nodiscard]] bool behind() const {
    return !writer_idle_ || pending_ || !backlog_.empty() || needs_reset_ || transport_pending();
  }
  // Sends until the client is closed or fails, then leaves the group. Holds the client.
  boost::asio::awaitable<void> writer();

 protected:
  virtual void close_transport() = 0;
  virtual boost::asio::awaitable<boost::system::error_code> send(const Frame& frame) = 0;
  virtual boost::asio::awaitable<void> send_close(CloseCode code, std::string_view reason) = 0;
  // The frame written at once, from the delivery, when the writer has nothing in flight and
  // nothing waiting: true when the transport took it (written whole, or the rest kept for
  // flush_transport, the writer woken); false when nothing was written (the socket is full,
  // or the transport cannot), and the frame is queued as usual.
  virtual bool send_now(const Frame& frame) {
    (void)frame;
    return false;
  }
  // What the transport has to write before anything else (the rest of a send_now, a pong).
  [[nodiscard]] virtual bool transport_pending() const { return false; }
  virtual boost::asio::awaitable<boost::system::error_code> flush_transport() {
    co_return boost::system::error_code{};
  }
  // Nothing was sent for a ping interval: keeps the connection alive (an SSE comment, a
  // WebSocket ping). True when the connection failed or is to be dropped.
  virtual boost::asio::awaitable<bool> on_idle() { co_return false; }
  void wake() { wake_.cancel(); }

  LiveClients& group_;

 private:
  // The frame goes out through send_now when the writer is idle with nothing waiting.
  [[nodiscard]] bool sent_now(const Frame& frame);
  void arm_write_timeout();
  // The snapshot a client of the delta protocols is sent (a subscribe, a reset): it covers
  // every frame of this client's still waiting, which are dropped.
  [[nodiscard]] Frame take_snapshot(bool reset);

  boost::asio::steady_timer wake_;
  boost::asio::steady_timer write_timer_;
  Frame pending_;
  std::shared_ptr<const Tick> pending_tick_;  // what a per-change pending_ was built from
  std::vector<std::shared_ptr<const Tick>> backlog_;  // per-change ticks not yet sent, in order
  std::deque<Frame> control_;
  bool needs_reset_ = false;
  bool needs_snapshot_ = false;  // snapshot_soon() called, due at snapshot_at_
  std::chrono::steady_clock::time_point snapshot_at_{};
  bool closing_ = false;
  bool ended_ = false;
  bool writer_idle_ = false;  // the writer waits for work: nothing in flight
  CloseCode close_code_ = CloseCode::going_away;
  std::string close_reason_;
};

// ?task_id= / ?prefix= / ?project= narrow a view from the URL (SSE, and the delta WebSocket).
[[nodiscard]] View view_from_query(std::string_view query);
// ?name=1 (or true, yes) in the URL.
[[nodiscard]] bool query_flag(std::string_view query, std::string_view name);

}  // namespace progressista::daemon
