// `progressista watch`'s picture of the fleet: the tasks a server streams (the delta protocol's
// snapshot and delta frames, over SSE), narrowed by the watcher's filters, drawn as terminal
// lines in tqdm's style with failures first. Pure: no sockets, no terminal, no clock of its
// own (callers pass `now`, epoch seconds), so the tests drive it with literal frames.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "progressista/task.hpp"  // StallRule

namespace progressista::daemon {

// A task as the delta protocol carries it (the members `watch` shows).
struct WatchedTask {
  std::string id, desc, unit, status, project, phase, message, error;
  std::optional<double> n, total, rate, eta, cadence;
  double created_at = 0, updated_at = 0, done_at = 0;
  // tqdm's unit_scale and unit_divisor, from meta (or inferred for byte units): 0 when unscaled.
  double unit_factor = 0;
  double unit_divisor = 1000;
};

// Which of the board's groups a task is in, in the order they are drawn. Stalled: running,
// but silent for longer than `rule` allows for its cadence (README.md, "Stalled tasks").
enum class WatchGroup : std::uint8_t { kFailed, kStalled, kStale, kRunning, kDone };
inline constexpr std::size_t kWatchGroups = 5;
[[nodiscard]] WatchGroup group_of(const WatchedTask& t, double now, const StallRule& rule) noexcept;
// "failed", "stalled", "stale", "running", "done": the words of --status.
[[nodiscard]] std::string_view group_name(WatchGroup g) noexcept;
// A --status word (those above, or the API's error/stale/start/update/recovered/close), or
// nullopt.
[[nodiscard]] std::optional<WatchGroup> parse_group(std::string_view word) noexcept;

struct WatchFilter {
  std::string project;              // the task's project, else its meta.project; empty: any
  std::string prefix;               // of the task id; empty: any
  std::vector<WatchGroup> groups;   // empty: every group
};

struct WatchLook {
  std::size_t width = 80, height = 24;  // the terminal's
  bool color = false;                   // SGR colours on the marks
  bool ascii = false;                   // '#' bars instead of Unicode blocks
  std::string server;                   // shown in the head line
  std::string state = "live";           // "live", "connecting…", "reconnecting in 2 s: …"
};

// tqdm's counts, clock and rate of one task: "42/100 [00:12<00:17, 3.41it/s]",
// "1.81G/3.17G [00:12<00:09, 155MB/s]", "7files [00:04, 2.00s/files]" (as tqdm writes them,
// without the space the dashboard puts before the unit).
[[nodiscard]] std::string tqdm_counts(const WatchedTask& t, double now);

class WatchBoard {
 public:
  explicit WatchBoard(WatchFilter filter = {});

  // Applies one frame's JSON (`{"type":"snapshot"|"delta", ...}`); false and `error` for a
  // frame that is not one. A snapshot replaces every task.
  bool apply(std::string_view frame, std::string& error);

  // The whole screen: a head line (the stream's state, then the server), the counts, then one
  // line per task (failed first, most recent first; then stalled and stale, silent longest
  // first; running in a stable order; done, most recent first), cut to
  // the height with a last line saying how many more there are. Every line fits `width`.
  [[nodiscard]] std::vector<std::string> render(const WatchLook& look, double now) const;

  // What "stalled" means: the server's rule (GET /summary's stalled_rule) when known, else
  // the default one.
  void set_rule(const StallRule& rule) noexcept { rule_ = rule; }

  [[nodiscard]] std::size_t size() const noexcept { return tasks_.size(); }  // before filters
  [[nodiscard]] std::uint64_t frames() const noexcept { return frames_; }

 private:
  [[nodiscard]] bool shown(const WatchedTask& t, WatchGroup g) const;

  WatchFilter filter_;
  StallRule rule_;
  simdjson::dom::parser parser_;  // kept: a snapshot's buffers are not allocated again per frame
  std::map<std::string, WatchedTask, std::less<>> tasks_;
  std::uint64_t frames_ = 0;
};

}  // namespace progressista::daemon
