// Badges: GET /badge/task/{id}.svg and GET /badge/project/{project}.svg, a small SVG (label,
// percentage or status, coloured by status) or, with ?format=shields, shields.io's endpoint
// JSON. Guarded like the read API (API tokens, or a share link whose scope covers it).
// Behaviour: README.md, "Badges".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "http/routes.hpp"
#include "progressista/task.hpp"

namespace progressista::daemon {

enum class BadgeState : std::uint8_t { kRunning, kClosed, kFailed, kStalled, kUnknown };

struct Badge {
  std::string label;
  std::string message;
  BadgeState state = BadgeState::kUnknown;
};

// "#007ec6" (running, blue), "#4c1" (closed, green), "#e05d44" (failed, red), "#fe7d37"
// (stalled, orange), "#9f9f9f" (unknown, grey); shields.io's names for the same.
[[nodiscard]] std::string_view badge_color(BadgeState s) noexcept;
[[nodiscard]] std::string_view badge_shields_color(BadgeState s) noexcept;

// One task's badge: failed, stale or stalled, closed ("done" or 100%), else its percentage
// (or "running" without a total). Labelled with its desc, else its id.
[[nodiscard]] Badge task_badge(const TaskRecord& t, double now, const StallRule& stall);

// A project's tasks summed up, one task at a time (O(1) each), then the badge.
class ProjectTally {
 public:
  void add(const TaskRecord& t, double now, const StallRule& stall) noexcept;
  [[nodiscard]] bool empty() const noexcept { return tasks_ == 0; }
  // Failed when any task failed ("2 failed"), else stalled when any is ("1 stalled"), else
  // running while any runs (the percentage of the summed n over the summed totals of the tasks
  // with a total, else "3 running"), else closed ("done", or 100%).
  [[nodiscard]] Badge badge(std::string label) const;

 private:
  std::uint64_t tasks_ = 0, failed_ = 0, stalled_ = 0, running_ = 0;
  double n_ = 0, total_ = 0;
};

// The SVG (text XML-escaped, width from the text's length).
[[nodiscard]] std::string badge_svg(const Badge& b);
// {"schemaVersion":1,"label":...,"message":...,"color":...}
[[nodiscard]] std::string badge_shields_json(const Badge& b);

// The two badge routes (GET and HEAD; `Cache-Control: no-cache`). An unknown task or a project
// without tasks (or outside a share link's scope) gets 404 with a grey "not found" badge.
class BadgeRoutes final : public Routes {
 public:
  BadgeRoutes(ApiContext& ctx, StallRule stall = {}) : ctx_(ctx), stall_(stall) {}
  bool handle(const HttpRequest& request, HttpResponse& response) override;

 private:
  ApiContext& ctx_;
  const StallRule stall_;
};

}  // namespace progressista::daemon
