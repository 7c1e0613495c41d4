#include "progressista/bookkeeping.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

#include "layout.hpp"

namespace progressista {

std::string_view counter_name(Counter c) noexcept {
  switch (c) {
    case Counter::kEventsApplied: return "events_applied";
    case Counter::kEventsIgnoredOutOfOrder: return "events_ignored_out_of_order";
    case Counter::kEventsIgnoredClosed: return "events_ignored_closed";
    case Counter::kTasksCreated: return "tasks_created";
    case Counter::kTasksRemoved: return "tasks_removed";
    case Counter::kEvictions: return "evictions";
    case Counter::kRejectedTableFull: return "rejected_table_full";
    case Counter::kRejectedMalformed: return "rejected_malformed_json";
    case Counter::kRejectedValidation: return "rejected_validation";
    case Counter::kRejectedTooLarge: return "rejected_too_large";
    case Counter::kRejectedUnsupportedMedia: return "rejected_unsupported_media";
    case Counter::kRejectedAuth: return "rejected_auth";
    case Counter::kRejectedNotFound: return "rejected_not_found";
    case Counter::kRejectedMethod: return "rejected_method";
    case Counter::kRejectedTimeout: return "rejected_timeout";
    case Counter::kLockRecoveries: return "lock_recoveries";
    case Counter::kRejectedBadRequest: return "rejected_bad_request";
    case Counter::kRejectedOverload: return "rejected_overload";
    case Counter::kPersistenceSaves: return "persistence_saves";
    case Counter::kPersistenceFailures: return "persistence_failures";
    case Counter::kRejectedFraming: return "rejected_framing";
    case Counter::kTasksClosed: return "tasks_closed";
    case Counter::kTasksFailed: return "tasks_failed";
    case Counter::kRejectedParentCycle: return "rejected_parent_cycle";
    case Counter::kRejectedParentDepth: return "rejected_parent_depth";
    case Counter::kCount: break;
  }
  return "unknown";
}

void Counters::add(Counter c, std::uint64_t n) noexcept {
  h_.counters[static_cast<std::size_t>(c)].fetch_add(n, std::memory_order_relaxed);
}

std::uint64_t Counters::get(Counter c) const noexcept {
  return h_.counters[static_cast<std::size_t>(c)].load(std::memory_order_relaxed);
}

void Counters::set(Gauge g, std::uint64_t v) noexcept {
  h_.counters[kCounterSlots - 1 - static_cast<std::size_t>(g)].store(v, std::memory_order_relaxed);
}

std::uint64_t Counters::get(Gauge g) const noexcept {
  return h_.counters[kCounterSlots - 1 - static_cast<std::size_t>(g)].load(
      std::memory_order_relaxed);
}

std::string_view role_name(Role r) noexcept {
  switch (r) {
    case Role::kNone: return "none";
    case Role::kIngest: return "ingest";
    case Role::kBroadcast: return "broadcast";
    case Role::kServe: return "serve";
    case Role::kNginx: return "nginx";
    case Role::kTool: return "tool";
  }
  return "unknown";
}

std::int64_t now_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

double now_seconds() noexcept { return static_cast<double>(now_ns()) / 1e9; }

bool process_alive(std::uint32_t pid) noexcept {
  if (pid == 0) return false;
  // EPERM: it exists but belongs to another user.
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

int ProcessRegistry::enroll(Role role) noexcept {
  const auto me = static_cast<std::uint32_t>(::getpid());
  for (std::size_t i = 0; i < detail::kMaxProcesses; ++i) {
    auto& e = h_.processes[i];
    std::uint32_t pid = e.pid.load(std::memory_order_acquire);
    if (pid != 0 && (pid == me || process_alive(pid))) continue;
    if (!e.pid.compare_exchange_strong(pid, me, std::memory_order_acq_rel)) continue;
    const std::int64_t now = now_ns();
    e.role.store(static_cast<std::uint32_t>(role), std::memory_order_relaxed);
    e.started_ns.store(now, std::memory_order_relaxed);
    e.beat_ns.store(now, std::memory_order_release);
    return static_cast<int>(i);
  }
  return -1;
}

void ProcessRegistry::beat(int entry) noexcept {
  if (entry < 0 || static_cast<std::size_t>(entry) >= detail::kMaxProcesses) return;
  h_.processes[entry].beat_ns.store(now_ns(), std::memory_order_release);
}

void ProcessRegistry::leave(int entry) noexcept {
  if (entry < 0 || static_cast<std::size_t>(entry) >= detail::kMaxProcesses) return;
  auto& e = h_.processes[entry];
  auto me = static_cast<std::uint32_t>(::getpid());
  e.pid.compare_exchange_strong(me, 0, std::memory_order_acq_rel);
}

std::vector<ProcessRegistry::Info> ProcessRegistry::list() const {
  std::vector<Info> out;
  for (const auto& e : h_.processes) {
    const std::uint32_t pid = e.pid.load(std::memory_order_acquire);
    if (pid == 0) continue;
    out.push_back(Info{pid, static_cast<Role>(e.role.load(std::memory_order_relaxed)),
                       e.started_ns.load(std::memory_order_relaxed),
                       e.beat_ns.load(std::memory_order_acquire), process_alive(pid)});
  }
  return out;
}

std::optional<ProcessRegistry::Info> ProcessRegistry::freshest(Role role) const {
  std::optional<Info> best;
  for (const Info& i : list()) {
    if (i.role == role && i.alive && (!best || i.beat_ns > best->beat_ns)) best = i;
  }
  return best;
}

namespace {
std::uint32_t lease_ms(const detail::Header& h, std::int64_t ns) noexcept {
  const auto created_ns = static_cast<std::int64_t>(h.created_at * 1e9);
  return static_cast<std::uint32_t>(static_cast<std::uint64_t>((ns - created_ns) / 1'000'000));
}
}  // namespace

bool JanitorLease::try_acquire(std::int64_t now, std::int64_t lease_ns) noexcept {
  const auto me = static_cast<std::uint32_t>(::getpid());
  const std::uint32_t now_ms = lease_ms(h_, now);
  const std::uint64_t mine = (std::uint64_t{me} << 32) | lease_ms(h_, now + lease_ns);
  std::uint64_t cur = h_.janitor.load(std::memory_order_acquire);
  for (;;) {
    const auto pid = static_cast<std::uint32_t>(cur >> 32);
    const auto expiry = static_cast<std::uint32_t>(cur);
    const bool expired = static_cast<std::int32_t>(now_ms - expiry) > 0;
    if (pid != me && pid != 0 && process_alive(pid) && !expired) return false;
    if (h_.janitor.compare_exchange_weak(cur, mine, std::memory_order_acq_rel)) return true;
  }
}

void JanitorLease::release() noexcept {
  std::uint64_t cur = h_.janitor.load(std::memory_order_acquire);
  if (static_cast<std::uint32_t>(cur >> 32) == static_cast<std::uint32_t>(::getpid())) {
    h_.janitor.compare_exchange_strong(cur, 0, std::memory_order_acq_rel);
  }
}

std::uint32_t JanitorLease::holder() const noexcept {
  return static_cast<std::uint32_t>(h_.janitor.load(std::memory_order_acquire) >> 32);
}

}  // namespace progressista
