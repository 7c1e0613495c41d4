// What the notifier last published about itself, for /health and /metrics of this process
// (a process-wide value: one notifier per process). Empty until a notifier starts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace progressista::daemon::notify {

struct TargetStatus {
  std::string name;  // the rule's name
  std::string kind;  // webhook, slack or ntfy
  std::string host;  // the target's host (never its path: a Slack URL's path is its secret)
  std::uint64_t sent = 0;     // messages acknowledged with a 2xx
  std::uint64_t failed = 0;   // attempts that failed (an error or a non-2xx)
  std::uint64_t dropped = 0;  // messages given up (24 h of retries, outbox full, digest overflow)
  std::uint64_t retrying = 0; // messages in the outbox that failed at least once
  std::uint64_t waiting = 0;  // messages in the outbox
  std::string last_error;     // empty when none yet
  double last_error_at = 0;   // Unix seconds
};

struct NotifyStatus {
  bool active = false;   // this process holds the janitor lease and delivers
  bool durable = false;  // the outbox is kept in a file
  std::uint64_t outbox_size = 0;
  std::vector<TargetStatus> targets;
};

void publish_status(NotifyStatus status);
[[nodiscard]] std::optional<NotifyStatus> current_status();

// `,"notify":{...}` for /health; nothing when no notifier runs.
void append_health(fmt::memory_buffer& out);
// The notify_* families in Prometheus text; nothing when no notifier runs.
void append_metrics(fmt::memory_buffer& out);

}  // namespace progressista::daemon::notify
