#include "cli/task_reporter.hpp"

#include <unistd.h>

#include <climits>
#include <cstdio>
#include <utility>

#include "progressista/bookkeeping.hpp"

namespace progressista::daemon {

TaskReporter::TaskReporter(const ClientOptions& client, std::string prefix, EventFields task,
                           double interval_seconds, Cadence cadence, Sample sample)
    : client_(client, prefix),
      prefix_(std::move(prefix)),
      task_(std::move(task)),
      interval_(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::duration<double>(interval_seconds))),
      cadence_(cadence),
      sample_(std::move(sample)) {
  client_.report_first_failure_only();
  thread_ = std::thread([this] { loop(); });
}

TaskReporter::~TaskReporter() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void TaskReporter::loop() {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point begin = Clock::now();
  for (std::uint64_t tick = 1;; ++tick) {
    (void)post(started_ ? "update" : "start");
    // Posts are due at fixed times from the start; one that took longer than an interval skips
    // the times it overran instead of sending a burst.
    Clock::time_point due = begin + static_cast<Clock::rep>(tick) * interval_;
    const Clock::time_point now = Clock::now();
    if (due < now) {
      tick += static_cast<std::uint64_t>((now - due) / interval_) + 1;
      due = begin + static_cast<Clock::rep>(tick) * interval_;
    }
    std::unique_lock lock(mutex_);
    if (wake_.wait_until(lock, due, [this] { return stop_; })) return;
  }
}

ClientExit TaskReporter::post(const char* status, const Sample& last) {
  EventFields e = task_;
  if (sample_) sample_(e);
  if (last) last(e);
  // What the event says, but for its status and time: kOnChange posts when that differs from
  // the last event the server took.
  body_.clear();
  append_event_json(body_, e);
  std::string said(body_.data(), body_.size());
  if (cadence_ == Cadence::kOnChange && !last && started_ && said == accepted_) return kSent;
  if (!e.status) e.status = status;  // `last` may have made it an error
  e.timestamp = now_seconds();
  body_.clear();
  append_event_json(body_, e);
  const ClientExit rc = client_.send({body_.data(), body_.size()});
  if (rc == kSent) {
    started_ = true;
    accepted_ = std::move(said);
  } else if (!noted_ && client_.failure_reported()) {
    noted_ = true;
    fmt::print(stderr, "{}: carrying on without the server; progress is retried quietly\n",
               prefix_);
  }
  return rc;
}

ClientExit TaskReporter::finish(const Sample& last) {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  return post("close", last);
}

std::string default_task_id(std::string_view verb) {
  char host[HOST_NAME_MAX + 1] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') {
    std::snprintf(host, sizeof host, "localhost");
  }
  std::string name;
  for (const char* c = host; *c != '\0'; ++c) {
    const bool plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                       (*c >= '0' && *c <= '9') || *c == '-' || *c == '.' || *c == '_';
    name.push_back(plain ? *c : '_');
  }
  return fmt::format("{}-{}-{}", verb, name.substr(0, 64), ::getpid());
}

}  // namespace progressista::daemon
