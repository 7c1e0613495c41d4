// Transition detection, pure: the notifier hands it each task as the change feed shows it
// (and, once a second, every task for `stalled`); it answers which transitions fire. Each
// fires once per (task, transition, episode): a task reopened (back to a running status)
// starts a new episode, and a stalled task that gets an event may stall again.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "notify/rules.hpp"
#include "progressista/task.hpp"

namespace progressista::daemon::notify {

struct Fired {
  Transition transition;
  double time = 0;  // when it happened (Unix seconds): the task's updated_at, or the scan's now
  TaskRecord task;  // the task as it was seen
};

class TransitionDetector {
 public:
  // Learns a task without firing anything (what the table held when this process began to
  // deliver: those transitions were someone else's, or before any rule).
  void seed(const TaskRecord& t, double now, const StallRule& stall);
  // A task's new state from the change feed: appends what fired to `out`.
  void observe(const TaskRecord& t, std::vector<Fired>& out);
  // The periodic check: appends `stalled` for a task silent beyond the rule.
  void check_stalled(const TaskRecord& t, double now, const StallRule& stall,
                     std::vector<Fired>& out);
  void removed(std::string_view task_id);
  void clear() { known_.clear(); }
  [[nodiscard]] std::size_t size() const noexcept { return known_.size(); }

 private:
  struct Known {
    Status status = Status::kStart;
    double updated_at = 0;
    double created_at = 0;  // a reopen (`start` after a close or error) sets it anew
    unsigned fired = 0;  // bits (1 << Transition) fired in this episode
  };
  std::unordered_map<std::string, Known> known_;
};

// The transition a status change to `t.status` means (none for running statuses).
[[nodiscard]] std::optional<Transition> transition_of_status(const TaskRecord& t) noexcept;

}  // namespace progressista::daemon::notify
