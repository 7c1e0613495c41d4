// What the poster sends and when each event was acknowledged. Event k (0-based, in posting
// order) updates task k % tasks with n = k + 1: every event has its own n and a task's n only
// grows, so a client that sees (task, n) knows exactly which POST it came from.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace fanout {

// Nanoseconds on the steady clock: receipts and acknowledgements are compared on it.
inline std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

inline constexpr std::string_view kTaskPrefix = "fanout-";

inline std::string task_id(std::uint32_t task) {
  return fmt::format("fanout-{:05}", task);
}

// The index in "fanout-NNNNN", or -1 for any other id.
inline std::int64_t task_index(std::string_view id) noexcept {
  if (!id.starts_with(kTaskPrefix) || id.size() == kTaskPrefix.size() ||
      id.size() > kTaskPrefix.size() + 9)
    return -1;
  std::int64_t v = 0;
  for (const char c : id.substr(kTaskPrefix.size())) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

struct EventPlan {
  std::uint32_t tasks = 10000;

  [[nodiscard]] std::uint32_t task_of(std::uint64_t k) const noexcept {
    return static_cast<std::uint32_t>(k % tasks);
  }
  [[nodiscard]] static constexpr std::uint64_t n_of(std::uint64_t k) noexcept { return k + 1; }
};

// When the POST carrying event k was sent and acknowledged (steady ns); written by the poster
// thread, read by the client threads. Fixed size: the poster never sends more events than it
// holds.
class AckLog {
 public:
  static constexpr std::int64_t kPending = 0;  // not acknowledged (yet)
  static constexpr std::int64_t kFailed = -1;  // its POST failed: no latency can be measured

  explicit AckLog(std::uint64_t capacity)
      : capacity_(capacity),
        at_(std::make_unique<std::atomic<std::int64_t>[]>(capacity)),
        sent_(std::make_unique<std::atomic<std::int64_t>[]>(capacity)) {}

  [[nodiscard]] std::uint64_t capacity() const noexcept { return capacity_; }
  // The POST's first byte is about to be written.
  void send(std::uint64_t k, std::int64_t t) noexcept {
    sent_[k].store(t, std::memory_order_release);
  }
  void acknowledge(std::uint64_t k, std::int64_t t) noexcept {
    at_[k].store(t, std::memory_order_release);
  }
  void fail(std::uint64_t k) noexcept { at_[k].store(kFailed, std::memory_order_release); }
  [[nodiscard]] std::int64_t at(std::uint64_t k) const noexcept {
    return k < capacity_ ? at_[k].load(std::memory_order_acquire) : kFailed;
  }
  // When event k's POST was sent; 0 when it was not (yet).
  [[nodiscard]] std::int64_t sent_at(std::uint64_t k) const noexcept {
    return k < capacity_ ? sent_[k].load(std::memory_order_acquire) : 0;
  }

 private:
  std::uint64_t capacity_;
  std::unique_ptr<std::atomic<std::int64_t>[]> at_;
  std::unique_ptr<std::atomic<std::int64_t>[]> sent_;
};

}  // namespace fanout
