// A notification as it is stored and sent: the body in the target's format (generic JSON
// webhook, Slack/Mattermost text, ntfy plain text with a title), its idempotency key and
// signature. Pure.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "notify/rules.hpp"
#include "notify/transitions.hpp"

namespace progressista::daemon::notify {

struct Message {
  std::uint64_t id = 0;  // the outbox's order
  std::string rule;      // the rule's name: its target, secret and ca_file
  std::string key;       // idempotency key: the same for every attempt, across restarts
  std::string title;     // ntfy's Title header; empty for other targets
  std::string body;      // the exact bytes sent (and signed)
  double created = 0;       // Unix seconds
  double next_attempt = 0;  // Unix seconds
  std::uint32_t attempts = 0;  // failed attempts so far
};

// 32 hex digits of SHA-256 over (task id, transition, time): one key per transition of one
// episode, whoever detects it.
[[nodiscard]] std::string idempotency_key(std::string_view task_id, Transition t, double time);
// The key of a digest: over its transitions' keys.
[[nodiscard]] std::string digest_key(const std::vector<std::string>& keys);
// "sha256=<hex of HMAC-SHA256(secret, body)>".
[[nodiscard]] std::string signature(std::string_view secret, std::string_view body);
// A one-line description: "task `ads/7` failed (project ads): disk full".
[[nodiscard]] std::string describe(const Fired& f, std::string_view project);
[[nodiscard]] std::string_view content_type(TargetKind k) noexcept;

// A task's project, by the board's rule (GET /summary's): its `project` field, else
// `meta.project` (what RemoteTqdm sends), else what the id rule gives (board_rules.hpp).
// Called per transition, not per event.
[[nodiscard]] std::string task_project(const TaskRecord& t, std::string_view separators);

// The message for one transition or a digest of several, at `now`. Generic webhook body:
//   {"rule", "transition", "time", "idempotency_key", "task"}               (one)
//   {"rule", "digest": true, "count", "idempotency_key", "transitions": [...]} (several, each
//    {"transition", "time", "idempotency_key", "task"})
[[nodiscard]] Message compose(const Rule& rule, const std::vector<Fired>& items, double now,
                              std::string_view separators);

}  // namespace progressista::daemon::notify
