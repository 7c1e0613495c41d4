// Progressista's rules for applying an event to a task, kept apart from the concurrency.
#pragma once

#include "progressista/event.hpp"
#include "progressista/task.hpp"

namespace progressista::detail {

enum class Verdict { kApply, kIgnoredOutOfOrder, kIgnoredClosed };

// Whether `event` may be applied to the existing task `current`.
[[nodiscard]] Verdict judge(const TaskRecord& current, const Event& event) noexcept;

// A new task as Progressista creates it: n = 0, total unknown, status start.
void init_record(TaskRecord& rec, std::string_view task_id, double now) noexcept;

// Merges `event` into `rec` (absent fields keep their value), maintains the writer-owned
// fields (updated_at, timestamp, done_at, stale_at, recovered) and the smoothed rate.
void apply_event(TaskRecord& rec, const Event& event, double now) noexcept;

// Nested progress. While `rec` has children (kids > 0) its n is their n's sum, its total their
// totals' sum (absent while any child's total is unknown) and its status derived: `error` when
// a child failed and `fails_with_child`, else `close` when no child runs, else running (a
// running status kept, a finished or stale one becomes `update`). `live`: a child changed now
// (rate sample, updated_at); false when only recounting restored tasks. No children: unchanged.
void derive_family(TaskRecord& rec, double now, bool fails_with_child, bool live) noexcept;

}  // namespace progressista::detail
