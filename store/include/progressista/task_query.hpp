// GET /tasks's query (?status= ?project= ?prefix= ?active= ?stalled= ?parent=) and its answer, shared by the
// broadcaster's read API and the nginx module's `progressista_tasks`.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "progressista/bookkeeping.hpp"
#include "progressista/status.hpp"
#include "progressista/store.hpp"
#include "progressista/task.hpp"

namespace progressista {

// Filters on the table's tasks, combined with AND.
struct TaskFilter {
  std::optional<Status> status;
  std::string project;  // empty: any
  std::string prefix;   // empty: any
  // Nested progress: the children of this task; "" (?parent= with no value): top-level tasks
  // only; absent: any.
  std::optional<std::string> parent;
  bool active = false;  // only tasks that are not closed or failed
  std::optional<bool> stalled;  // only tasks that are (true) or are not (false) stalled
  StallRule rule;               // what stalled means
  double now = 0;               // as of when

  [[nodiscard]] bool matches(const TaskRecord& t) const;
};

// Reads ?active= (FastAPI's boolean spellings) into `filter`; false with the 422 detail.
[[nodiscard]] bool read_active(std::string_view query, TaskFilter& filter, std::string& detail);

// Reads every GET /tasks filter from the raw query string; false with the 422 detail.
[[nodiscard]] bool read_task_filter(std::string_view query, TaskFilter& filter,
                                    std::string& detail);

// GET /tasks: 200 with {"tasks":{...}} of the matching tasks, each stalled one marked
// "stalled":true by `rule` as of `now`, or 422 {"detail":...} for a bad filter (counted as
// rejected_validation). `out` is cleared first. O(capacity).
[[nodiscard]] int answer_task_list(Store& store, std::string_view query, fmt::memory_buffer& out,
                                   const StallRule& rule = {}, double now = now_seconds());

}  // namespace progressista
