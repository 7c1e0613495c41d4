// The broadcaster's own counters (this process only, unlike the segment's Counters, which
// every attached process shares): clients, frames, slow consumers and tick durations.
// Every field is a relaxed atomic: written from I/O threads and the tick loop, read by
// /metrics, which needs no cross-field consistency.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace progressista::daemon {

// A fixed-bucket histogram of durations in seconds, updated lock-free.
class DurationHistogram {
 public:
  // Upper bounds (inclusive, as Prometheus' `le`), in seconds: 0.5 ms .. 250 ms around the
  // 100 ms default tick.
  static constexpr std::array<double, 9> kBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                    0.025,  0.05,  0.1,    0.25};

  void observe(double seconds) noexcept {
    if (!(seconds >= 0)) seconds = 0;  // NaN and clock steps backwards count as 0
    std::size_t i = 0;
    while (i < kBounds.size() && seconds > kBounds[i]) ++i;
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    const double us = std::min(std::round(seconds * 1e6), 1e15);
    sum_us_.fetch_add(static_cast<std::uint64_t>(us), std::memory_order_relaxed);
  }

  // Observations in bucket `i` alone (not cumulative); i == kBounds.size() is (last, +Inf).
  [[nodiscard]] std::uint64_t bucket(std::size_t i) const noexcept {
    return counts_[i].load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t sum_microseconds() const noexcept {
    return sum_us_.load(std::memory_order_relaxed);
  }

 private:
  std::array<std::atomic<std::uint64_t>, kBounds.size() + 1> counts_{};
  std::atomic<std::uint64_t> sum_us_{0};
};

struct BroadcastStats {
  // kSse: the delta protocol over SSE (/events); kEvents, kEventsSse: the event streams
  // (/tasks/ws, /tasks/stream); kOperations: the operations feed (/ws?protocol=operations).
  // kDeltaV2: the compact delta protocol (/ws?protocol=delta2).
  enum class Protocol : std::uint8_t {
    kProgressista, kDelta, kSse, kEvents, kEventsSse, kOperations, kDeltaV2
  };
  static constexpr std::size_t kProtocols = 7;
  [[nodiscard]] static constexpr std::string_view protocol_name(Protocol p) noexcept {
    switch (p) {
      case Protocol::kProgressista:
        return "progressista";
      case Protocol::kDelta:
        return "delta";
      case Protocol::kSse:
        return "sse";
      case Protocol::kEvents:
        return "events";
      case Protocol::kEventsSse:
        return "events_sse";
      case Protocol::kOperations:
        return "operations";
      case Protocol::kDeltaV2:
        return "delta2";
    }
    return "progressista";
  }

  // Why a WebSocket was closed by policy after its upgrade (close code 1008).
  // kBadFrame: a frame RFC 6455 forbids (unmasked, reserved bits, a control frame cut or
  // over 125 bytes, text not UTF-8, a message over 64 KiB...), closed with 1002/1007/1009.
  enum class WsRejection : std::uint8_t { kControlRate, kUnknownProtocol, kBadFrame };
  static constexpr std::size_t kWsRejections = 3;
  [[nodiscard]] static constexpr std::string_view ws_rejection_name(WsRejection r) noexcept {
    switch (r) {
      case WsRejection::kControlRate:
        return "control_rate";
      case WsRejection::kUnknownProtocol:
        return "unknown_protocol";
      case WsRejection::kBadFrame:
        break;
    }
    return "bad_frame";
  }
  void ws_rejected(WsRejection r) noexcept {
    ws_rejections[static_cast<std::size_t>(r)].fetch_add(1, std::memory_order_relaxed);
  }

  void connected(Protocol p) noexcept {
    clients[static_cast<std::size_t>(p)].fetch_add(1, std::memory_order_relaxed);
  }
  void disconnected(Protocol p) noexcept {
    clients[static_cast<std::size_t>(p)].fetch_sub(1, std::memory_order_relaxed);
  }
  void sent(std::uint64_t bytes) noexcept {
    frames_sent.fetch_add(1, std::memory_order_relaxed);
    bytes_sent.fetch_add(bytes, std::memory_order_relaxed);
  }

  std::array<std::atomic<std::uint64_t>, kProtocols> clients{};  // connected now, by Protocol
  std::atomic<std::uint64_t> frames_sent{0};
  std::atomic<std::uint64_t> bytes_sent{0};
  std::atomic<std::uint64_t> coalesced{0};         // queued frames replaced by newer state
  std::atomic<std::uint64_t> slow_disconnects{0};  // clients closed for lagging too far
  // Frames the delivery's one non-blocking send could write only in part (the client's
  // socket was nearly full): the writer sent the rest before anything else.
  std::atomic<std::uint64_t> partial_sends{0};
  std::atomic<std::uint64_t> ws_rejected_auth{0};  // WebSocket/SSE upgrades refused for the token
  std::array<std::atomic<std::uint64_t>, kWsRejections> ws_rejections{};  // by WsRejection
  DurationHistogram tick_duration;

  // A group's part of a delivery (on its thread): how long its offering loop took and how
  // many of its clients could not be written at once. The tick thread takes them (and resets
  // them) to space the next delivery (Broadcaster::run).
  void delivered(std::chrono::nanoseconds took, std::uint64_t behind) noexcept {
    std::int64_t seen = delivery_ns.load(std::memory_order_relaxed);
    while (took.count() > seen &&
           !delivery_ns.compare_exchange_weak(seen, took.count(), std::memory_order_relaxed)) {
    }
    delivery_behind.fetch_add(behind, std::memory_order_relaxed);
  }
  std::atomic<std::int64_t> delivery_ns{0};      // the slowest group's loop, since taken
  std::atomic<std::uint64_t> delivery_behind{0};  // clients queued, since taken
  std::atomic<std::int64_t> spacing_us{0};        // deliveries are at least this far apart now
};

}  // namespace progressista::daemon
