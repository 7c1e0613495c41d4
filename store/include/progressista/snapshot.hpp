// Progressista's snapshot shape, {"tasks": {task_id: task, ...}}, straight from the table, and
// a saved snapshot read back into records.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "progressista/task.hpp"
#include "progressista/task_table.hpp"

namespace progressista {

// Appends {"tasks":{...}} with every live task for which `keep` (if given) returns true.
// O(capacity); one consistent copy per task, not one consistent instant for the table.
void append_snapshot(fmt::memory_buffer& out, const TaskTable& table,
                     const std::function<bool(const TaskRecord&)>& keep = {});

// append_snapshot without the enclosing braces, "tasks":{...}, for a caller that writes an
// object of its own around it.
void append_tasks_member(fmt::memory_buffer& out, const TaskTable& table,
                         const std::function<bool(const TaskRecord&)>& keep = {});

// One entry of a saved snapshot: the record it restores, or why it is skipped.
struct SavedTask {
  std::string_view key;                // the entry's task_id as written
  const TaskRecord* record = nullptr;  // null: skipped; valid only during the call
  std::string_view problem;            // why, when skipped
};

// Reads the file at `path`, an object whose "tasks" member is a snapshot (other members are
// ignored), and hands `each` its entries in file order. A restored record is live and marked
// recovered at `now`; its status is close or stale as saved and recovered otherwise; a field
// of the wrong type or over its limit is left out (desc, message and error are truncated).
// Returns "" when the file was read, else why nothing was: "cannot read the file" or "not a
// Progressista task file (...)". One pass, O(file size) memory.
[[nodiscard]] std::string read_snapshot(const std::string& path, double now,
                                        const std::function<void(const SavedTask&)>& each);

}  // namespace progressista
