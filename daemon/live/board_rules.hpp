// What the board's flags mean, the same for every reader: when a running task counts as
// stalled (GET /tasks, GET /summary) and which project a task without `project` or
// `meta.project` is counted under. Served in GET /summary, so the dashboard applies the same.
#pragma once

#include <string>
#include <string_view>

#include "progressista/task.hpp"  // StallRule

namespace progressista::daemon {

struct BoardRules {
  StallRule stall;
  // A task's id up to the first of these characters is its project, when that is not its
  // first character (`ads/shard-007` -> `ads`); empty: no such rule.
  std::string project_id_separators = "/:";
};

// The project the id rule gives `task_id`; empty when it gives none.
[[nodiscard]] inline std::string_view project_from_id(std::string_view task_id,
                                                      std::string_view separators) noexcept {
  if (separators.empty()) return {};
  const std::size_t cut = task_id.find_first_of(separators);
  if (cut == std::string_view::npos || cut == 0) return {};
  return task_id.substr(0, cut);
}

}  // namespace progressista::daemon
