// Per rule, between detection and the outbox: the digest window, the rate limit and quiet
// hours, pure. Transitions wait here until the rule may send; then they leave as messages
// (one per transition, or one for all that waited: a digest).
#pragma once

#include <deque>
#include <vector>

#include "notify/rules.hpp"
#include "notify/transitions.hpp"

namespace progressista::daemon::notify {

class RuleQueue {
 public:
  static constexpr std::size_t kMaxWaiting = 10000;  // past this, the oldest are dropped

  explicit RuleQueue(const Rule& rule) : rule_(&rule) {}

  // A transition the rule matched, at `now` (Unix seconds).
  void add(Fired f, double now);
  // The messages the rule may send at `now`, each a list of transitions (one, or a digest).
  // Transitions held back by the rate limit or quiet hours leave together as one digest.
  [[nodiscard]] std::vector<std::vector<Fired>> take(double now);
  // When take() may next return something (Unix seconds; infinity when nothing waits).
  [[nodiscard]] double next_time(double now) const;
  [[nodiscard]] std::size_t waiting() const noexcept { return waiting_.size(); }
  // Transitions dropped because kMaxWaiting were waiting.
  [[nodiscard]] std::uint64_t dropped() const noexcept { return dropped_; }

 private:
  [[nodiscard]] bool rate_allows(double now);
  const Rule* rule_;
  std::deque<Fired> waiting_;
  double window_end_ = 0;  // the digest window of the oldest waiting transition
  bool held_ = false;      // something waited for the rate limit or quiet hours
  std::deque<double> sent_;  // send times within the last minute (rate limit)
  std::uint64_t dropped_ = 0;
};

}  // namespace progressista::daemon::notify
