// PROGRESSISTA_STORAGE_PATH: the tasks saved as Progressista's JSON file
// ({"tasks": {id: task}, "version": ..., "saved_at": ...}) and restored into a new segment.
#pragma once

#include <cstddef>
#include <string>

#include "progressista/store.hpp"
#include "progressista/task_table.hpp"

namespace progressista::daemon {

// Writes every task atomically: a temporary file beside `path`, fsync, rename, fsync of the
// directory. Throws std::runtime_error naming the path and the system error (errno is left
// set), after removing the temporary file.
void save_tasks(const TaskTable& table, const std::string& path);

struct RestoreResult {
  std::size_t restored = 0;
  std::size_t skipped = 0;  // entries that are not tasks, break a limit, or did not fit
  bool missing = false;     // no file: a first start
  std::string set_aside;    // unreadable file renamed to this path (never overwritten silently)
  std::string problem;      // why it was unreadable
};

// Loads the file into the store's table (meant for a freshly created segment). Progressista's rules:
// closed and stale tasks keep their status, every other becomes `recovered`; all are marked
// recovered at `now` until their next event.
// Puts through `store`, following it when another process resizes the segment meanwhile.
[[nodiscard]] RestoreResult restore_tasks(Store& store, const std::string& path, double now);

}  // namespace progressista::daemon
