#include "notify/transitions.hpp"

namespace progressista::daemon::notify {

namespace {
constexpr unsigned bit(Transition t) noexcept { return 1u << static_cast<unsigned>(t); }
bool running(Status s) noexcept {
  return s == Status::kStart || s == Status::kUpdate || s == Status::kRecovered;
}
}  // namespace

std::optional<Transition> transition_of_status(const TaskRecord& t) noexcept {
  switch (t.status) {
    case Status::kError: return Transition::kFailed;
    case Status::kStale: return Transition::kLost;
    case Status::kClose:
      return t.has(kHasTotal) && t.total > 0 && t.n < t.total ? Transition::kEndedEarly
                                                              : Transition::kClosed;
    default: return std::nullopt;
  }
}

void TransitionDetector::seed(const TaskRecord& t, double now, const StallRule& stall) {
  Known k;
  k.status = t.status;
  k.updated_at = t.updated_at;
  k.created_at = t.created_at;
  // What the task already is counts as fired: a failed task seen at start is not news.
  if (const auto tr = transition_of_status(t)) k.fired |= bit(*tr);
  if (is_stalled(t, now, stall)) k.fired |= bit(Transition::kStalled);
  known_[std::string(t.task_id.view())] = k;
}

void TransitionDetector::observe(const TaskRecord& t, std::vector<Fired>& out) {
  auto [it, created] = known_.try_emplace(std::string(t.task_id.view()));
  Known& k = it->second;
  // Reopened: seen running again, or a new created_at (a reopen and a failure that came
  // between two reads of the feed show as one change).
  const bool new_episode = !created && t.created_at != k.created_at;
  if (new_episode || (running(t.status) && !running(k.status))) k.fired = 0;
  if (t.updated_at != k.updated_at) k.fired &= ~bit(Transition::kStalled);  // it spoke again
  const bool changed = created || new_episode || t.status != k.status;
  k.status = t.status;
  k.updated_at = t.updated_at;
  k.created_at = t.created_at;
  if (!changed) return;
  const auto tr = transition_of_status(t);
  if (!tr || (k.fired & bit(*tr)) != 0) return;
  k.fired |= bit(*tr);
  out.push_back(Fired{*tr, t.updated_at, t});
}

void TransitionDetector::check_stalled(const TaskRecord& t, double now, const StallRule& stall,
                                       std::vector<Fired>& out) {
  auto it = known_.find(std::string(t.task_id.view()));
  if (it == known_.end()) return;  // the feed brings it first
  Known& k = it->second;
  if ((k.fired & bit(Transition::kStalled)) != 0 || k.updated_at != t.updated_at) return;
  if (!is_stalled(t, now, stall)) return;
  k.fired |= bit(Transition::kStalled);
  out.push_back(Fired{Transition::kStalled, now, t});
}

void TransitionDetector::removed(std::string_view task_id) {
  known_.erase(std::string(task_id));
}

}  // namespace progressista::daemon::notify
