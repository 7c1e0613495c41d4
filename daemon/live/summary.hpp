// GET /summary: an operator's overview of the fleet from the segment's counters and one pass
// over the table: tasks by status (and stalled, acknowledged), overall and per project; each
// project's progress by tasks and, when its tasks agree on a unit, by units with its
// throughput and ETA; events per second, completions and failures per minute, and their last
// ten minutes in 10-second buckets; the last failure per project; the ingest heartbeat; the
// board's rules (stalled, project from the task id). Computed at most once per
// tick and shared by every I/O thread. Behaviour: README.md, "GET /summary".
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "http/routes.hpp"
#include "live/board_rules.hpp"
#include "progressista/status.hpp"
#include "progressista/store.hpp"
#include "progressista/task.hpp"

namespace simdjson::dom {
class parser;
}

namespace progressista::daemon {

// The segment's counters the rates are made of, at one moment (`at`: steady clock, seconds).
struct CounterSample {
  double at = 0;
  std::uint64_t generation = 0;
  std::uint64_t events = 0;  // accepted: applied, or ignored by the ordering rules
  std::uint64_t closed = 0;  // events that closed a task
  std::uint64_t failed = 0;  // events that failed one
};

// What the counters did over a window that ends now; `seconds` is the time actually covered
// (less than asked while the process is younger than the window; 0 when nothing is known).
struct CounterWindow {
  double seconds = 0;
  std::uint64_t events = 0;
  std::uint64_t closed = 0;
  std::uint64_t failed = 0;
};

// The last minute or so of samples, one about every second, oldest dropped first.
class SampleRing {
 public:
  static constexpr std::size_t kSize = 72;  // 60 s of history plus room for late timers

  // A sample of another segment generation, or with a counter lower than the newest one's
  // (a segment re-created under the same generation), starts the history again.
  void push(const CounterSample& s) noexcept;
  // From the newest sample at least `seconds` before `now` (else the oldest) to `now`. O(kSize).
  [[nodiscard]] CounterWindow window(const CounterSample& now, double seconds) const noexcept;
  [[nodiscard]] std::size_t size() const noexcept { return count_; }

 private:
  [[nodiscard]] const CounterSample& at(std::size_t i) const noexcept;  // 0: oldest
  std::array<CounterSample, kSize> ring_{};
  std::size_t next_ = 0;
  std::size_t count_ = 0;
};

// The last ten minutes in 10-second steps for the board's charts: a sample kept whenever
// `kStep` seconds have passed since the last one kept.
class HistoryRing {
 public:
  static constexpr double kStep = 10.0;
  static constexpr std::size_t kPoints = 60;  // buckets served: ten minutes

  // As SampleRing::push: another generation or a counter going back starts again.
  void push(const CounterSample& s) noexcept;
  // The buckets between consecutive samples kept, then the one from the last kept to `now`
  // (when at least a second long), oldest first; the last kPoints of them.
  [[nodiscard]] std::vector<CounterWindow> buckets(const CounterSample& now) const;

 private:
  [[nodiscard]] const CounterSample& at(std::size_t i) const noexcept;  // 0: oldest
  std::array<CounterSample, kPoints + 1> ring_{};
  std::size_t next_ = 0;
  std::size_t count_ = 0;
};

class Summary {
 public:
  // `max_age`: how long one computed summary is served (the broadcaster's tick; 100 ms at
  // the least). Takes the first sample.
  Summary(const Store& store, std::chrono::microseconds max_age, BoardRules rules = {});
  ~Summary();
  Summary(const Summary&) = delete;
  Summary& operator=(const Summary&) = delete;

  // Records the counters for the rates; call about once a second. Thread-safe, O(1).
  void sample();
  // The summary's JSON, computed when the last one is older than max_age (O(capacity): one
  // pass over the table), else shared. Thread-safe: one thread computes, others wait for it.
  [[nodiscard]] std::shared_ptr<const std::string> current();
  // The summary of a share link's scope only, computed for each call (O(capacity), never
  // cached: links differ); its rates and history are empty, the counters being the fleet's.
  [[nodiscard]] std::string scoped(const ShareScope& scope);

 private:
  // One project's (or the project-less tasks') tally over the pass.
  struct Tally {
    std::array<std::uint64_t, kStatusCount> by_status{};
    std::uint64_t tasks = 0;
    std::uint64_t stalled = 0;
    std::uint64_t acknowledged = 0;  // failures an operator acknowledged
    std::uint64_t with_total = 0;  // tasks with a total > 0: the units' progress
    double n = 0;
    double total = 0;
    double rate = 0;     // units a second of the running ones among them
    double remaining = 0;  // their units still to go
    bool has_unit = false;  // of the first task with a total
    bool units_differ = false;
    std::string unit;        // the first task's unit
    std::string other_unit;  // the first one that differs (empty: that task had none)
    bool other_has_unit = false;
    double last_failure = -1;  // server time, seconds; < 0: none
  };

  [[nodiscard]] CounterSample read_counters() const;
  [[nodiscard]] std::string compute(const ShareScope* scope);
  // True, with `project` (valid until the next call), when meta is an object whose
  // `project` is a string.
  [[nodiscard]] bool meta_project(const TaskRecord& t, std::string_view& project);
  void count(Tally& tally, const TaskRecord& t, double now) const;
  void append_tally(const Tally& tally);
  void append_window(const CounterWindow& w, bool per_minute);
  void append_history(const std::vector<CounterWindow>& buckets);

  const Store& store_;
  const std::chrono::microseconds max_age_;

  const BoardRules rules_;

  std::mutex samples_mutex_;
  SampleRing samples_;
  HistoryRing history_;

  std::mutex cache_mutex_;
  std::shared_ptr<const std::string> cached_;
  std::chrono::steady_clock::time_point cached_at_;

  // Held while computing; what it guards is used only then.
  std::mutex compute_mutex_;
  std::map<std::string, Tally, std::less<>> projects_;
  fmt::memory_buffer out_;
  std::string meta_;  // meta text with simdjson's padding
  std::unique_ptr<simdjson::dom::parser> parser_;
};

// GET/HEAD /summary behind the API token (when tokens are configured), like the read API.
class SummaryRoutes final : public Routes {
 public:
  SummaryRoutes(ApiContext& ctx, Summary& summary) : ctx_(ctx), summary_(summary) {}
  // True when the path is /summary.
  bool handle(const HttpRequest& request, HttpResponse& response) override;

 private:
  ApiContext& ctx_;
  Summary& summary_;
};

}  // namespace progressista::daemon
