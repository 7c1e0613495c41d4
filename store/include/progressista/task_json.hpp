// JSON out (fmt): strings, numbers and tasks in Progressista's served shape.
#pragma once

#include <string_view>

#include <fmt/format.h>

#include "progressista/task.hpp"

namespace progressista {

// Appends `s` as a JSON string literal (quotes included); control characters, quotes and
// backslashes are escaped, valid UTF-8 passes through unchanged.
void append_json_string(fmt::memory_buffer& out, std::string_view s);

// Appends a number the way JSON needs it: shortest round-trip form, never NaN or infinity
// (those become null).
void append_json_number(fmt::memory_buffer& out, double v);

// Appends one task in Progressista's served shape, plus rate/eta, cadence and
// acknowledged_at when known, `parent` and `children` ({"count","closed","failed","running"},
// while it has any) for nested progress, and "stalled":true when `stalled` (a reader's judgement at the
// moment it reads: the live frames never carry it).
void append_task_json(fmt::memory_buffer& out, const TaskRecord& task, bool stalled = false);

}  // namespace progressista
