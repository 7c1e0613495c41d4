// Inside `progressista inspect`: what its report states, gathered once (inspect_facts.cpp),
// and the report's two forms, text (inspect_text.cpp) and JSON (inspect_json.cpp), which
// therefore agree.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "progressista/bookkeeping.hpp"
#include "progressista/store.hpp"
#include "progressista/task.hpp"
#include "progressista/task_table.hpp"

namespace progressista::daemon {

inline constexpr std::string_view kShmDir = "/dev/shm";
inline constexpr std::size_t kCounterCount = static_cast<std::size_t>(Counter::kCount);

// Nanoseconds (now_ns(), heartbeats, their differences) as seconds.
[[nodiscard]] inline double seconds(std::int64_t ns) {
  return static_cast<double>(ns) / 1e9;
}

// A task picked for the listing. Its record is looked up again when printed, so that memory
// stays O(--limit) whatever the table's capacity.
struct TaskRef {
  double updated_at;
  std::string task_id;
};

// Everything the report states, gathered once so that the text and JSON forms agree.
struct Facts {
  std::string name;
  std::string path;
  bool created = false;   // by this run (--create)
  bool replaced = false;  // the name now leads to another segment, or to none
  bool have_file = false;
  unsigned file_mode = 0;
  std::uint32_t file_uid = 0;
  std::uint32_t layout_version = 0;
  std::uint32_t capacity = 0;
  std::size_t bytes = 0;
  std::uint32_t ring_size = 0;
  std::uint64_t generation = 0;
  double created_at = 0;
  std::uint32_t creator_pid = 0;
  bool creator_alive = false;
  std::uint32_t live_tasks = 0;
  MemoryUse memory;
  std::uint64_t feed_head = 0;
  std::array<std::uint64_t, kCounterCount> counters{};
  std::vector<ProcessRegistry::Info> processes;
  std::uint32_t janitor_pid = 0;
  bool janitor_alive = false;
  std::optional<std::string> problems;  // --check only; empty when the table is consistent
  std::uint32_t limit = 0;              // --limit
  std::vector<TaskRef> newest;          // newest first, at most `limit`
  std::int64_t now_ns = 0;
};

// Reads everything but the tasks' records from `store`; `problems` are TaskTable::check()'s
// (nullopt without --check). One pass over the slots picks the `limit` newest tasks.
[[nodiscard]] Facts gather(Store& store, std::optional<std::string> problems, std::uint32_t limit);

// Calls `fn(record)` for each task of `f.newest` still in `table`, newest first; a task
// removed since gather() is skipped. Returns how many were passed.
template <class Fn>
std::size_t for_each_listed(const Facts& f, const TaskTable& table, Fn&& fn) {
  std::size_t listed = 0;
  TaskRecord rec;
  for (const TaskRef& ref : f.newest) {
    if (table.lookup(ref.task_id, rec)) {
      fn(static_cast<const TaskRecord&>(rec));
      ++listed;
    }
  }
  return listed;
}

// The report for people: aligned sections, times as ages, client text made printable.
void render_text(fmt::memory_buffer& out, const Facts& f, const TaskTable& table);

// The report as one JSON object, tasks in the served shape ({"tasks": {id: task}}).
void render_json(fmt::memory_buffer& out, const Facts& f, const TaskTable& table);

}  // namespace progressista::daemon
