// What `pipe` and `run` share: one task's progress posted from a thread of its own, so the work
// it reports on (a copy, a child process) never waits for the server.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "cli/progress_client.hpp"

namespace progressista::daemon {

// Posts `start` at once and every interval until the server accepts one (a start is what
// reopens a task of the same id closed earlier), then an `update` every interval (kHeartbeat) or
// only at the intervals where the sampled fields changed (kOnChange: a copy that stops moving
// then falls silent, and the board's "stalled" says so); finish() posts the last event. Every event carries the task's fixed fields, so a server that comes back
// mid-way gets the whole task. A server that cannot be reached or refuses is reported once on
// stderr, then retried quietly.
class TaskReporter {
 public:
  // Fills the fields that change (n, ...) into the event about to be posted; called on the
  // reporter's thread, so it reads shared state through atomics.
  using Sample = std::function<void(EventFields&)>;
  enum class Cadence { kHeartbeat, kOnChange };

  // Starts the thread. `task` holds the fixed fields (task_id, desc, total, unit, ...).
  TaskReporter(const ClientOptions& client, std::string prefix, EventFields task,
               double interval_seconds, Cadence cadence, Sample sample);
  ~TaskReporter();  // stops the thread when finish() was not called; posts nothing
  TaskReporter(const TaskReporter&) = delete;
  TaskReporter& operator=(const TaskReporter&) = delete;

  // Stops the periodic posts (waiting for one in flight, at most --timeout), then posts one
  // last event: the task's fields, sample(), then `last` (status close or error, error, ...).
  // Returns that post's outcome. Called once.
  [[nodiscard]] ClientExit finish(const Sample& last);

  // The task id the events carry.
  [[nodiscard]] const std::string& task_id() const noexcept { return task_.task_id; }

 private:
  void loop();
  // kSent also when kOnChange found nothing new to post.
  ClientExit post(const char* status, const Sample& last = {});

  ProgressClient client_;
  std::string prefix_;
  EventFields task_;
  std::chrono::steady_clock::duration interval_;
  Cadence cadence_;
  Sample sample_;
  fmt::memory_buffer body_;
  std::string accepted_;  // the last accepted event without its timestamp (kOnChange)
  bool started_ = false;  // a start event was accepted
  bool noted_ = false;    // "carrying on without the server" was said

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

// "<verb>-<host>-<pid>": a default task id that is unique on a fleet and says where it runs.
[[nodiscard]] std::string default_task_id(std::string_view verb);

}  // namespace progressista::daemon
