#include "ingest/janitor.hpp"

#include <algorithm>
#include <chrono>
#include <vector>

#include "log.hpp"
#include "ingest/persistence.hpp"

namespace progressista::daemon {

Janitor::Janitor(Store& store, JanitorOptions options)
    : store_(store), opt_(std::move(options)), generation_(store.segment().generation()) {}

Janitor::~Janitor() {
  stop();
}

void Janitor::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { loop(); });
}

void Janitor::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

namespace {

// The three decisions of a sweep at `now`, each re-checked under the task's lock.
struct SweepRules {
  const JanitorOptions& opt;
  double now;
  [[nodiscard]] double idle(const TaskRecord& t) const { return now - t.updated_at; }
  // Progressista 0.2.1: retention removes closed tasks only; failed (`error`) ones stay until
  // --max-task-age, or until the memory budget evicts them.
  [[nodiscard]] bool expired_closed(const TaskRecord& t) const {
    return opt.retention_seconds > 0 && t.status == Status::kClose &&
           idle(t) > opt.retention_seconds;
  }
  [[nodiscard]] bool too_old(const TaskRecord& t) const {
    return opt.max_task_age > 0 && idle(t) > opt.max_task_age;
  }
  [[nodiscard]] bool goes_stale(const TaskRecord& t) const {
    return opt.stale_seconds > 0 && !is_terminal(t.status) && t.status != Status::kStale &&
           idle(t) > opt.stale_seconds;
  }
};

}  // namespace

bool Janitor::due(double now) const {
  const SweepRules rules{opt_, now};
  bool any = false;
  store_.table().for_each([&](const TaskRecord& t) {
    any = any || rules.too_old(t) || rules.expired_closed(t) || rules.goes_stale(t);
  });
  return any;
}

Janitor::Sweep Janitor::sweep(double now) {
  Sweep done;
  const SweepRules rules{opt_, now};
  const auto too_old = [&](const TaskRecord& t) { return rules.too_old(t); };
  const auto expired_closed = [&](const TaskRecord& t) { return rules.expired_closed(t); };
  const auto goes_stale = [&](const TaskRecord& t) { return rules.goes_stale(t); };
  std::vector<std::string> closed, old, stale;
  store_.table().for_each([&](const TaskRecord& t) {
    if (too_old(t))
      old.emplace_back(t.task_id.view());
    else if (expired_closed(t))
      closed.emplace_back(t.task_id.view());
    else if (goes_stale(t))
      stale.emplace_back(t.task_id.view());
  });
  // Each decision is checked again under the task's lock: an event that arrived since the
  // scan wins.
  for (const auto& id : old) done.removed_old += store_.table().remove_if(id, too_old);
  for (const auto& id : closed) done.removed_closed += store_.table().remove_if(id, expired_closed);
  for (const auto& id : stale) {
    done.marked_stale += store_.table().modify(id, [&](TaskRecord& t) {
      if (!goes_stale(t)) return false;
      t.status = Status::kStale;
      if (!t.has(kHasStaleAt)) {
        t.stale_at = now;
        t.set(kHasStaleAt);
      }
      return true;
    });
  }
  return done;
}

void Janitor::follow() {
  try {
    store_.follow();
  } catch (const std::exception& e) {
    log(Level::kWarn, "janitor: {}", e.what());
  }
  const std::uint64_t g = store_.segment().generation();
  if (g != generation_) {
    // Another segment: its lease is taken afresh, and its tasks are saved once.
    generation_ = g;
    holder_ = false;
    saved_head_ = ~std::uint64_t{0};
  }
}

bool Janitor::save_if_changed() {
  if (opt_.storage_path.empty()) return false;
  const std::uint64_t head = store_.feed().head();
  if (head == saved_head_) return false;
  // The outcome goes into the segment, so /health and /metrics of every process tell it.
  Counters& c = store_.counters();
  try {
    save_tasks(store_.table(), opt_.storage_path);
  } catch (const std::runtime_error&) {
    c.add(Counter::kPersistenceFailures);
    c.set(Gauge::kPersistenceErrno, static_cast<std::uint64_t>(errno));
    if (c.get(Gauge::kPersistenceFailingSinceNs) == 0)
      c.set(Gauge::kPersistenceFailingSinceNs, static_cast<std::uint64_t>(now_ns()));
    throw;
  }
  c.add(Counter::kPersistenceSaves);
  c.set(Gauge::kPersistenceLastSaveNs, static_cast<std::uint64_t>(now_ns()));
  c.set(Gauge::kPersistenceFailingSinceNs, 0);
  c.set(Gauge::kPersistenceErrno, 0);
  saved_head_ = head;
  return true;
}

void Janitor::loop() {
  using namespace std::chrono;
  const auto interval = duration<double>(opt_.cleanup_interval);
  // Wake often enough to save within the debounce window, and to sweep on time.
  const auto tick =
      duration_cast<milliseconds>(std::min(interval, duration<double>(opt_.save_debounce)));
  const auto lease = duration_cast<nanoseconds>(interval * 2);
  auto next_sweep = steady_clock::now() + duration_cast<steady_clock::duration>(interval);
  std::unique_lock lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, std::max(tick, milliseconds(1)));
    if (stop_) break;
    follow();
    const bool holder = store_.janitor().try_acquire(now_ns(), lease.count());
    if (holder != holder_) {
      if (holder) {
        log(Level::kInfo, "janitor lease taken: this process now runs cleanup and persistence");
      } else {
        log(Level::kInfo, "janitor lease held by pid {}", store_.janitor().holder());
      }
      holder_ = holder;
    }
    if (!holder) continue;
    try {
      if (opt_.sweeps && steady_clock::now() >= next_sweep) {
        next_sweep = steady_clock::now() + duration_cast<steady_clock::duration>(interval);
        const Sweep s = sweep(now_seconds());
        if (s.removed_closed + s.removed_old + s.marked_stale > 0) {
          log(Level::kInfo, "janitor: removed {} closed and {} expired tasks, marked {} stale",
              s.removed_closed, s.removed_old, s.marked_stale);
        }
      }
      save_if_changed();
    } catch (const std::exception& e) {
      log(Level::kWarn, "janitor: {}", e.what());
    }
  }
  if (holder_) {
    try {
      if (save_if_changed()) log(Level::kInfo, "saved the tasks to {}", opt_.storage_path);
    } catch (const std::exception& e) {
      log(Level::kError, "final save failed: {}", e.what());
    }
    store_.janitor().release();
  }
}

}  // namespace progressista::daemon
