// Notification rules (PROGRESSISTA_NOTIFY_FILE): which transitions of which tasks go to which
// target, and how often. Parsed and validated once at start; errors name line and column.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace progressista::daemon::notify {

// What happened to a task. `closed` is a close at or past its total (or without one),
// `ended_early` a close below its total; `lost` is the janitor marking it stale.
enum class Transition : std::uint8_t { kFailed, kClosed, kStalled, kEndedEarly, kLost };
inline constexpr int kTransitionCount = 5;

[[nodiscard]] std::string_view transition_name(Transition t) noexcept;
[[nodiscard]] std::optional<Transition> transition_of(std::string_view name) noexcept;

// How the message is written: a generic JSON webhook, a Slack/Mattermost incoming webhook
// ({"text": ...}), or an ntfy topic (plain text with a Title header).
enum class TargetKind : std::uint8_t { kWebhook, kSlack, kNtfy };
[[nodiscard]] std::string_view target_kind_name(TargetKind k) noexcept;

struct Url {
  bool tls = false;
  std::string host;    // without brackets
  std::string port;    // "80"/"443" when not given
  std::string target;  // path and query, at least "/"
};
// http:// or https:// URLs only; `why` says what is wrong otherwise.
[[nodiscard]] std::optional<Url> parse_url(std::string_view text, std::string& why);

// Quiet hours in UTC, minutes since midnight; from == to: off. A span may wrap midnight.
struct QuietHours {
  int from = 0;
  int to = 0;
  [[nodiscard]] bool enabled() const noexcept { return from != to; }
  [[nodiscard]] bool contains(double unix_seconds) const noexcept;
  // The first moment at or after `unix_seconds` outside the quiet hours.
  [[nodiscard]] double end_after(double unix_seconds) const noexcept;
};

struct Rule {
  std::string name;         // unique; labels the target in /metrics and /health
  std::string project;      // empty: any project
  std::string task_prefix;  // empty: any task
  std::uint32_t transitions = 0;  // bit (1 << Transition)
  TargetKind kind = TargetKind::kWebhook;
  std::string url_text;
  Url url;
  std::string secret;   // HMAC-SHA256 key for X-Progressista-Signature; empty: unsigned
  std::string ca_file;  // PEM bundle TLS targets are verified against; empty: the system store
  double digest_seconds = 0;  // 0: one message per transition
  double rate_limit = 0;      // messages a minute at most (0: no limit)
  QuietHours quiet;

  [[nodiscard]] bool wants(Transition t) const noexcept {
    return (transitions & (1u << static_cast<unsigned>(t))) != 0;
  }
  // True when this rule takes `t` of the task `task_id` in `project`.
  [[nodiscard]] bool matches(std::string_view task_id, std::string_view project,
                             Transition t) const noexcept;
};

struct RulesError {
  std::size_t line = 0;
  std::size_t column = 0;
  std::string message;
};

struct ParsedRules {
  std::vector<Rule> rules;
  std::optional<RulesError> error;
};

// Parses a rules document (JSON: {"rules": [ {...}, ... ]}). Every problem found first is
// returned with its 1-based line and column: syntax, unknown key, wrong type, bad URL,
// bad transition name, duplicate rule name. O(size of text).
[[nodiscard]] ParsedRules parse_rules(std::string_view text);
// Reads and parses `path`; on error, returns the message "PATH:LINE:COLUMN: what".
[[nodiscard]] std::vector<Rule> load_rules(const std::string& path, std::string& error);

}  // namespace progressista::daemon::notify
