// The outbox: messages waiting for a 2xx, bounded, kept in a file (JSON lines, rewritten
// with fsync + rename) so that a restart resumes them, or in memory only when no path is
// set. Single-threaded: the notifier's thread owns it.
#pragma once

#include <cstdint>
#include <deque>
#include <string>

#include "notify/message.hpp"

namespace progressista::daemon::notify {

class Outbox {
 public:
  Outbox(std::string path, std::size_t max_messages)
      : path_(std::move(path)), max_(max_messages) {}

  // Replaces what it holds with the file (missing: empty; in memory only: kept). Returns a problem to log, else empty; a damaged line
  // is skipped and counted in the problem, the rest kept.
  [[nodiscard]] std::string load();
  // Adds a message (its id assigned); when full, the oldest is dropped and returned through
  // `dropped` (its rule name), else dropped is left empty.
  void push(Message m, std::string& dropped);
  // The message due first at `now`, or null.
  [[nodiscard]] Message* due(double now);
  // The earliest next_attempt (infinity when empty).
  [[nodiscard]] double next_due() const;
  [[nodiscard]] Message* find(std::uint64_t id);
  void remove(std::uint64_t id);
  // Marks a failed attempt: next_attempt moves by exponential backoff with jitter
  // (1 s, 2 s, 4 s ... capped at 10 min, ×0.5–1.5). `unit` in [0, 1) is the jitter's draw.
  void retry_later(Message& m, double now, double unit);
  // Writes the file if anything changed since the last write (no-op in memory). Throws
  // std::runtime_error with errno's text on failure.
  void save();
  [[nodiscard]] std::size_t size() const noexcept { return messages_.size(); }
  [[nodiscard]] const std::deque<Message>& messages() const noexcept { return messages_; }
  [[nodiscard]] bool durable() const noexcept { return !path_.empty(); }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
  std::size_t max_;
  std::deque<Message> messages_;  // in id order
  std::uint64_t next_id_ = 1;
  bool dirty_ = false;
};

// Backoff before attempt `attempts` + 1 (seconds), before jitter.
[[nodiscard]] double backoff_seconds(std::uint32_t attempts) noexcept;

}  // namespace progressista::daemon::notify
