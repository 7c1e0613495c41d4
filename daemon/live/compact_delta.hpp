// The compact delta protocol (progressista.delta.v2, README.md "The compact delta protocol"):
// tasks named by handle, an update carrying only the members that changed since the task's
// previous state, under short keys, with times relative to the frame. CompactState is the
// broadcaster's memory of what every v2 client holds: the last state sent of each task and its
// handle. It is written by the tick thread only, as it hands out each Tick, so a client that
// took a snapshot of it at seq S and every frame after S holds exactly what it holds.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include <fmt/format.h>

#include "live/view.hpp"
#include "progressista/task_table.hpp"

namespace progressista::daemon {

// The members of `to` (a task object as append_task_json writes it) that differ from `from`,
// in compact form relative to `t_ms`, comma-separated without braces; a member gone from
// `to` is written as null. `from` empty: every member of `to` (the task's whole state, with
// its `id`). Empty when nothing differs.
void append_compact_members(fmt::memory_buffer& out, std::string_view from, std::string_view to,
                            std::int64_t t_ms);

// The delta frame of `tick` for `view`:
// {"type":"delta","v":2,"seq":S,"t":T,"u":{"<handle>":{...}},"x":[<handle>,...]}; null when the
// view matches nothing that changed. Items must have been annotated by CompactState::apply.
[[nodiscard]] Frame compact_frame(const Tick& tick, const View& view);

class CompactState {
 public:
  struct Entry {
    std::uint64_t handle = 0;
    std::string json;  // the task object last sent
    std::string project;
    bool has_project = false;
  };
  // Every task of a table scan, for replace().
  class Scan {
   public:
    void add(const TaskRecord& task);

   private:
    friend class CompactState;
    std::unordered_map<std::string, Entry> tasks_;
    fmt::memory_buffer scratch_;
  };

  // The tasks of `scan` in place of those held; one held already keeps its handle. Called by the change feed's
  // reader with the very scan it starts from (FeedWatcher::rescan), so that every later change
  // it reports applies to what is held here: a task created between two scans and removed
  // before the next poll would otherwise be held forever. Its clients get a snapshot: the
  // reset tick that follows.
  void replace(Scan&& scan);

  // Tick thread. Gives each item of `tick` its handle and its compact members (TickItem::handle,
  // ::compact) against the state held, and keeps the new states; a removal also gets the
  // project it had, so that narrowed views (of every protocol) see it. A reset tick labels the
  // state replace() set.
  void apply(Tick& tick);

  // Any thread. {"type":"snapshot","v":2,"seq":S,"t":T[,"reset":true],"tasks":{...}} of the
  // view at the last tick applied. The whole table's is built once per tick.
  [[nodiscard]] Frame snapshot(const View& view, bool reset);

  [[nodiscard]] std::size_t size() const;

 private:
  [[nodiscard]] Frame build_snapshot(const View& view, bool reset) const;  // with mutex_ held

  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> tasks_;
  std::uint64_t next_handle_ = 1;
  std::uint64_t seq_ = 0;
  std::int64_t t_ms_ = 0;  // the time of the last tick applied
  Frame all_[2];  // [reset]: the whole table's snapshot at seq_, built on demand
};

}  // namespace progressista::daemon
