// Shared counters, per-process heartbeats and the janitor lease, all kept in the segment
// header so any attached process (or `progressista inspect`) can report on its peers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace progressista {

namespace detail {
struct Header;
}

inline constexpr std::size_t kCounterSlots = 64;  // room to add counters without a layout bump

enum class Counter : std::uint32_t {
  kEventsApplied,
  kEventsIgnoredOutOfOrder,  // client timestamp older than the task's last applied one
  kEventsIgnoredClosed,      // non-`start` event for a closed/failed task
  kTasksCreated,
  kTasksRemoved,
  kEvictions,                // closed tasks evicted to make room
  kRejectedTableFull,
  kRejectedMalformed,        // body is not JSON
  kRejectedValidation,       // an event failed validation
  kRejectedTooLarge,
  kRejectedUnsupportedMedia,
  kRejectedAuth,
  kRejectedNotFound,
  kRejectedMethod,
  kRejectedTimeout,          // slow or idle clients cut off
  kLockRecoveries,           // locks taken over from a dead owner
  kRejectedBadRequest,       // not HTTP, or a request line/header Beast refused (400)
  kRejectedOverload,         // over --max-connections (503)
  kPersistenceSaves,         // snapshots written to PROGRESSISTA_STORAGE_PATH
  kPersistenceFailures,      // snapshots that could not be written
  kRejectedFraming,          // Transfer-Encoding/Content-Length refused (400, 501)
  kTasksClosed,              // events that turned a task `close` (GET /summary's completions)
  kTasksFailed,              // events that turned a task `error` (its failures)
  kRejectedParentCycle,      // a parent whose chain leads back to the task (422)
  kRejectedParentDepth,      // a parent chain deeper than limits::kMaxParentDepth (422)
  kCount,
};
static_assert(static_cast<std::size_t>(Counter::kCount) <= kCounterSlots);

[[nodiscard]] std::string_view counter_name(Counter c) noexcept;

// Values that are set rather than added to, kept in the counter slots from the last one down
// (counters grow from the first), so every attached process can report them.
enum class Gauge : std::uint32_t {
  kPersistenceLastSaveNs,     // wall clock of the last snapshot written; 0: none yet
  kPersistenceFailingSinceNs, // first failure since the last good save; 0: not failing
  kPersistenceErrno,          // errno of the last failure
  // Federation (--redis): the id of the last log entry applied to this segment, its
  // millisecond and sequence parts (0-0: none; a new segment starts from the snapshot).
  kFederationAppliedMs,
  kFederationAppliedSeq,
  kCount,
};
static_assert(static_cast<std::size_t>(Counter::kCount) + static_cast<std::size_t>(Gauge::kCount) <=
              kCounterSlots);

class Counters {
 public:
  explicit Counters(detail::Header& h) noexcept : h_(h) {}
  void add(Counter c, std::uint64_t n = 1) noexcept;
  [[nodiscard]] std::uint64_t get(Counter c) const noexcept;
  void set(Gauge g, std::uint64_t v) noexcept;
  [[nodiscard]] std::uint64_t get(Gauge g) const noexcept;

 private:
  detail::Header& h_;
};

enum class Role : std::uint32_t { kNone = 0, kIngest, kBroadcast, kServe, kNginx, kTool };
[[nodiscard]] std::string_view role_name(Role r) noexcept;

// Wall-clock nanoseconds (CLOCK_REALTIME): comparable across processes and printable.
[[nodiscard]] std::int64_t now_ns() noexcept;
[[nodiscard]] double now_seconds() noexcept;
[[nodiscard]] bool process_alive(std::uint32_t pid) noexcept;

// One entry per attached process that registered; entries of dead processes are reused.
class ProcessRegistry {
 public:
  explicit ProcessRegistry(detail::Header& h) noexcept : h_(h) {}

  struct Info {
    std::uint32_t pid;
    Role role;
    std::int64_t started_ns;
    std::int64_t beat_ns;
    bool alive;
  };

  // Claims an entry for this process; -1 when all entries belong to live processes.
  [[nodiscard]] int enroll(Role role) noexcept;
  void beat(int entry) noexcept;
  void leave(int entry) noexcept;
  [[nodiscard]] std::vector<Info> list() const;
  // The most recent heartbeat of a live process with this role, if any.
  [[nodiscard]] std::optional<Info> freshest(Role role) const;

 private:
  detail::Header& h_;
};

// At most one attached process runs the janitor. The holder renews every cleanup interval
// with a lease of two intervals; a dead holder is replaced at once, a hung one when the
// lease runs out.
class JanitorLease {
 public:
  explicit JanitorLease(detail::Header& h) noexcept : h_(h) {}
  // True when this process holds (or has just taken, or renewed) the lease.
  [[nodiscard]] bool try_acquire(std::int64_t now, std::int64_t lease_ns) noexcept;
  void release() noexcept;
  [[nodiscard]] std::uint32_t holder() const noexcept;

 private:
  detail::Header& h_;
};

}  // namespace progressista
