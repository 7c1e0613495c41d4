// The task as stored in a shared-memory slot: a fixed-size, trivially copyable record.
// Byte limits per field are part of the wire contract and documented in README.md, "Field limits".
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>

#include "progressista/status.hpp"

namespace progressista {

namespace limits {
inline constexpr std::size_t kTaskId = 256;   // over the limit: rejected
inline constexpr std::size_t kDesc = 512;     // over the limit: truncated at a UTF-8 boundary
inline constexpr std::size_t kUnit = 32;      // rejected
inline constexpr std::size_t kProject = 128;  // rejected
inline constexpr std::size_t kPhase = 128;    // rejected
inline constexpr std::size_t kMessage = 512;  // truncated at a UTF-8 boundary
inline constexpr std::size_t kError = 512;    // truncated at a UTF-8 boundary
inline constexpr std::size_t kMeta = 2048;    // minified JSON text; rejected
// A task's ancestors (parent, its parent, ...): a longer chain, or one that leads back to the
// task, is refused (422). README.md, "Nested progress".
inline constexpr int kMaxParentDepth = 16;
}  // namespace limits

// The longest prefix of valid UTF-8 `s` of at most `limit` bytes that ends on a character
// boundary (how desc, message and error are truncated). `s` being valid UTF-8, backing off
// continuation bytes suffices.
[[nodiscard]] constexpr std::string_view utf8_prefix(std::string_view s,
                                                     std::size_t limit) noexcept {
  if (s.size() <= limit) return s;
  std::size_t cut = limit;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0u) == 0x80u) --cut;
  return s.substr(0, cut);
}

// A string of at most N bytes stored inline. `size()` is clamped on read so that a
// record copied while a writer was busy (and then discarded by the seqlock) never
// makes anyone read past the buffer.
template <std::size_t N>
struct FixedString {
  std::uint16_t len = 0;
  char data[N];

  static constexpr std::size_t capacity() noexcept { return N; }
  [[nodiscard]] std::size_t size() const noexcept { return std::min<std::size_t>(len, N); }
  [[nodiscard]] std::string_view view() const noexcept { return {data, size()}; }
  // Caller guarantees s.size() <= N (the codec enforces the limits).
  void assign(std::string_view s) noexcept {
    const std::size_t n = std::min(s.size(), N);
    std::memcpy(data, s.data(), n);
    len = static_cast<std::uint16_t>(n);
  }
  // Copies only the used bytes: records are copied on every update and every read.
  void copy_from(const FixedString& other) noexcept {
    const std::size_t n = other.size();
    std::memcpy(data, other.data, n);
    len = static_cast<std::uint16_t>(n);
  }
};

// Which optional fields a record carries (a field absent on the wire stays absent when served).
enum Field : std::uint32_t {
  kHasDesc = 1u << 0,
  kHasUnit = 1u << 1,
  kHasTotal = 1u << 2,
  kHasMeta = 1u << 3,
  kHasProject = 1u << 4,
  kHasPhase = 1u << 5,
  kHasMessage = 1u << 6,
  kHasError = 1u << 7,
  kHasDoneAt = 1u << 8,
  kHasStaleAt = 1u << 9,
  kHasRecovered = 1u << 10,  // restored from persistence and not updated since
  kHasRate = 1u << 11,
  kHasTimestamp = 1u << 12,
  kHasRatePoint = 1u << 13,  // rate_n/rate_t hold the last sample used for the rate
  kHasCadence = 1u << 14,    // cadence holds an estimate (the task had two events or more)
  kHasAcknowledged = 1u << 15,  // an operator acknowledged the failure (acknowledged_at)
  kHasParent = 1u << 16,        // parent names the task this one counts towards
  kHasFamily = 1u << 17,        // stored: the record's encoding carries the children's sums
};

// Times are Unix epoch seconds (doubles), as Progressista serves them.
struct TaskRecord {
  std::uint32_t fields = 0;  // bitmask of Field
  Status status = Status::kStart;
  std::uint8_t live = 0;  // 0: the slot is free
  std::uint16_t reserved = 0;
  std::uint64_t change_seq = 0;  // change-feed sequence of the last change to this task

  double n = 0;
  double total = 0;
  double timestamp = 0;  // client's timestamp of the last applied event (or server time)
  double created_at = 0;
  double updated_at = 0;
  double done_at = 0;
  double stale_at = 0;
  double recovered_at = 0;
  double rate = 0;    // smoothed units per second
  double rate_n = 0;  // last (n, time) sample feeding the rate
  double rate_t = 0;
  // The task's typical interval between events (server time): an estimate of their median
  // that steps 1/8 towards each interval far from it (event_rules.cpp), so one long pause or
  // a burst moves it little. What "stalled" is judged against (README.md, "Stalled tasks").
  double cadence = 0;
  double acknowledged_at = 0;  // when an operator acknowledged the failure; any event clears it

  FixedString<limits::kTaskId> task_id;
  FixedString<limits::kDesc> desc;
  FixedString<limits::kUnit> unit;
  FixedString<limits::kProject> project;
  FixedString<limits::kPhase> phase;
  FixedString<limits::kMessage> message;
  FixedString<limits::kError> error;
  FixedString<limits::kMeta> meta;
  FixedString<limits::kTaskId> parent;  // with kHasParent

  // Nested progress: the sums of the children's shares (Share below), kept incrementally by
  // TaskTable. While kids > 0, n, total and status are derived from them (derive_family).
  // Stored only when one is not zero (kHasFamily), so a task without children costs nothing.
  double kid_n = 0;
  double kid_total = 0;     // of the children whose total is known
  std::int32_t kids = 0;
  std::int32_t kids_closed = 0;
  std::int32_t kids_failed = 0;
  std::int32_t kids_untotalled = 0;  // children whose total is unknown

  [[nodiscard]] bool has(Field f) const noexcept { return (fields & f) != 0; }
  void set(Field f, bool on = true) noexcept { fields = on ? (fields | f) : (fields & ~f); }

  // Copies the record touching only the used bytes of each string.
  void copy_from(const TaskRecord& o) noexcept {
    std::memcpy(static_cast<void*>(this), &o, offsetof(TaskRecord, task_id));
    task_id.copy_from(o.task_id);
    desc.copy_from(o.desc);
    unit.copy_from(o.unit);
    project.copy_from(o.project);
    phase.copy_from(o.phase);
    message.copy_from(o.message);
    error.copy_from(o.error);
    meta.copy_from(o.meta);
    parent.copy_from(o.parent);
    kid_n = o.kid_n;
    kid_total = o.kid_total;
    kids = o.kids;
    kids_closed = o.kids_closed;
    kids_failed = o.kids_failed;
    kids_untotalled = o.kids_untotalled;
  }
  [[nodiscard]] bool has_family() const noexcept {
    return kids != 0 || kids_closed != 0 || kids_failed != 0 || kids_untotalled != 0 ||
           kid_n != 0 || kid_total != 0;
  }
  void clear_family() noexcept {
    kid_n = kid_total = 0;
    kids = kids_closed = kids_failed = kids_untotalled = 0;
  }

  // The parent this task counts towards; empty when none.
  [[nodiscard]] std::string_view parent_id() const noexcept {
    return has(kHasParent) ? parent.view() : std::string_view{};
  }
  [[nodiscard]] std::int32_t kids_running() const noexcept {
    return kids - kids_closed - kids_failed;
  }

  // Estimated seconds to completion, or a negative value when it cannot be estimated.
  [[nodiscard]] double eta() const noexcept {
    if (!has(kHasTotal) || !has(kHasRate) || rate <= 0 || total <= 0 || n >= total) return -1;
    return (total - n) / rate;
  }
};

static_assert(std::is_trivially_copyable_v<TaskRecord>);

// What one task adds to its parent's sums: itself as a child (its n, its total or "unknown",
// its status bucket). Differences of shares move a parent's sums; sums commute, so two
// children's writers may apply theirs to a parent in either order.
struct Share {
  double n = 0;
  double total = 0;
  std::int32_t kids = 0;
  std::int32_t closed = 0;
  std::int32_t failed = 0;
  std::int32_t untotalled = 0;

  [[nodiscard]] static Share of(const TaskRecord& t) noexcept {
    Share s;
    s.n = t.n;
    s.total = t.has(kHasTotal) ? t.total : 0;
    s.kids = 1;
    s.closed = t.status == Status::kClose ? 1 : 0;
    s.failed = t.status == Status::kError ? 1 : 0;
    s.untotalled = t.has(kHasTotal) ? 0 : 1;
    return s;
  }
  [[nodiscard]] Share minus(const Share& o) const noexcept {
    return Share{n - o.n, total - o.total, kids - o.kids, closed - o.closed, failed - o.failed,
                 untotalled - o.untotalled};
  }
  [[nodiscard]] bool zero() const noexcept {
    return n == 0 && total == 0 && kids == 0 && closed == 0 && failed == 0 && untotalled == 0;
  }
  void add_to(TaskRecord& parent) const noexcept {
    parent.kid_n += n;
    parent.kid_total += total;
    parent.kids += kids;
    parent.kids_closed += closed;
    parent.kids_failed += failed;
    parent.kids_untotalled += untotalled;
  }
};

// When a running task counts as stalled: no event for max(factor × its cadence, min_seconds)
// (min_seconds alone before it has a cadence). A flag beside the status, never a status: the
// janitor's `stale` and Progressista's clients are unchanged. factor <= 0 turns it off.
struct StallRule {
  double factor = 10;
  double min_seconds = 60;
};

// True for a task in `start`, `update` or `recovered` silent for longer than the rule allows.
[[nodiscard]] inline bool is_stalled(const TaskRecord& t, double now, const StallRule& rule) noexcept {
  if (rule.factor <= 0) return false;
  if (t.status != Status::kStart && t.status != Status::kUpdate && t.status != Status::kRecovered) {
    return false;
  }
  const double limit = std::max(t.has(kHasCadence) ? rule.factor * t.cadence : 0.0, rule.min_seconds);
  return now - t.updated_at > limit;
}

}  // namespace progressista
