#include "notify/digest.hpp"

#include <limits>

namespace progressista::daemon::notify {

void RuleQueue::add(Fired f, double now) {
  if (waiting_.empty()) window_end_ = now + rule_->digest_seconds;
  if (waiting_.size() >= kMaxWaiting) {
    waiting_.pop_front();
    ++dropped_;
  }
  waiting_.push_back(std::move(f));
}

bool RuleQueue::rate_allows(double now) {
  while (!sent_.empty() && sent_.front() <= now - 60.0) sent_.pop_front();
  return rule_->rate_limit <= 0 || static_cast<double>(sent_.size()) < rule_->rate_limit;
}

std::vector<std::vector<Fired>> RuleQueue::take(double now) {
  std::vector<std::vector<Fired>> out;
  if (waiting_.empty() || now < window_end_) return out;
  if (rule_->quiet.contains(now)) {
    held_ = true;
    return out;
  }
  const bool one_message = rule_->digest_seconds > 0 || held_;
  while (!waiting_.empty()) {
    if (!rate_allows(now)) {
      held_ = true;
      return out;
    }
    sent_.push_back(now);
    if (one_message) {
      out.emplace_back(std::make_move_iterator(waiting_.begin()),
                       std::make_move_iterator(waiting_.end()));
      waiting_.clear();
    } else {
      out.emplace_back();
      out.back().push_back(std::move(waiting_.front()));
      waiting_.pop_front();
    }
  }
  held_ = false;
  return out;
}

double RuleQueue::next_time(double now) const {
  if (waiting_.empty()) return std::numeric_limits<double>::infinity();
  double t = std::max(now, window_end_);
  t = rule_->quiet.end_after(t);
  if (rule_->rate_limit > 0 && static_cast<double>(sent_.size()) >= rule_->rate_limit &&
      !sent_.empty())
    t = std::max(t, sent_.front() + 60.0);
  return t;
}

}  // namespace progressista::daemon::notify
