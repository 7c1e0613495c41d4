// Progressista's snapshot shape, {"tasks": {task_id: task, ...}}, straight from the table.
#pragma once

#include <functional>

#include <fmt/format.h>

#include "progressista/task.hpp"
#include "progressista/task_table.hpp"

namespace progressista {

// Appends {"tasks":{...}} with every live task for which `keep` (if given) returns true.
// O(capacity); one consistent copy per task, not one consistent instant for the table.
void append_snapshot(fmt::memory_buffer& out, const TaskTable& table,
                     const std::function<bool(const TaskRecord&)>& keep = {});

}  // namespace progressista
