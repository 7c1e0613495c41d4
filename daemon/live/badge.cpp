#include "live/badge.hpp"

#include <algorithm>
#include <cmath>
#include <optional>

#include <fmt/format.h>

#include "http/share_token.hpp"
#include "progressista/bookkeeping.hpp"
#include "progressista/task_json.hpp"

namespace progressista::daemon {

namespace {

constexpr std::string_view kTaskPrefix = "/badge/task/";
constexpr std::string_view kProjectPrefix = "/badge/project/";
constexpr std::string_view kSuffix = ".svg";
constexpr std::size_t kMaxLabel = 40;  // characters; a longer label is cut with "…"

// "42%": whole percent, the badge has no room for more.
std::string percent(double n, double total) {
  return fmt::format("{}%", static_cast<int>(std::floor(std::clamp(n / total * 100.0, 0.0, 100.0))));
}

bool has_total(const TaskRecord& t) {
  return t.has(kHasTotal) && t.total > 0 && std::isfinite(t.total) && std::isfinite(t.n);
}

// Code points, for the width: a UTF-8 continuation byte adds none.
std::size_t characters(std::string_view s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xc0) != 0x80; }));
}

// At most kMaxLabel characters, cut on a character boundary.
std::string clip(std::string_view s) {
  std::size_t count = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xc0) == 0x80) continue;
    if (count++ == kMaxLabel) return std::string(s.substr(0, i)) + "\u2026";
  }
  return std::string(s);
}

void append_xml(std::string& out, std::string_view s) {
  for (const char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        // Control characters are not allowed in XML 1.0 text.
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\t') out.push_back(c);
        break;
    }
  }
}

// Verdana 11 px is about 7 px a character; 10 px of margin each side of a text.
int text_width(std::string_view s) {
  return static_cast<int>(characters(s)) * 7 + 10;
}

// The route's argument: "{x}.svg" percent-decoded, or nullopt.
std::optional<std::string> argument(std::string_view path, std::string_view prefix) {
  if (!path.starts_with(prefix) || !path.ends_with(kSuffix) ||
      path.size() <= prefix.size() + kSuffix.size())
    return std::nullopt;
  std::string value;
  if (!url_decode(path.substr(prefix.size(), path.size() - prefix.size() - kSuffix.size()), value,
                  false))
    return std::nullopt;
  return value;
}

bool in_scope(const std::optional<ShareScope>& scope, const TaskRecord& t) {
  return !scope || scope->matches(t.task_id.view(), t.project.view(), t.has(kHasProject));
}

}  // namespace

std::string_view badge_color(BadgeState s) noexcept {
  switch (s) {
    case BadgeState::kRunning:
      return "#007ec6";
    case BadgeState::kClosed:
      return "#4c1";
    case BadgeState::kFailed:
      return "#e05d44";
    case BadgeState::kStalled:
      return "#fe7d37";
    case BadgeState::kUnknown:
      break;
  }
  return "#9f9f9f";
}

std::string_view badge_shields_color(BadgeState s) noexcept {
  switch (s) {
    case BadgeState::kRunning:
      return "blue";
    case BadgeState::kClosed:
      return "brightgreen";
    case BadgeState::kFailed:
      return "red";
    case BadgeState::kStalled:
      return "orange";
    case BadgeState::kUnknown:
      break;
  }
  return "lightgrey";
}

Badge task_badge(const TaskRecord& t, double now, const StallRule& stall) {
  Badge b;
  b.label = clip(t.has(kHasDesc) && t.desc.size() > 0 ? t.desc.view() : t.task_id.view());
  switch (t.status) {
    case Status::kError:
      b.state = BadgeState::kFailed;
      b.message = "failed";
      return b;
    case Status::kClose:
      b.state = BadgeState::kClosed;
      b.message = has_total(t) ? percent(t.n, t.total) : "done";
      return b;
    case Status::kStale:
      b.state = BadgeState::kStalled;
      b.message = "stale";
      return b;
    case Status::kStart:
    case Status::kUpdate:
    case Status::kRecovered:
      break;
  }
  if (is_stalled(t, now, stall)) {
    b.state = BadgeState::kStalled;
    b.message = has_total(t) ? "stalled at " + percent(t.n, t.total) : "stalled";
    return b;
  }
  b.state = BadgeState::kRunning;
  b.message = has_total(t) ? percent(t.n, t.total) : "running";
  return b;
}

void ProjectTally::add(const TaskRecord& t, double now, const StallRule& stall) noexcept {
  ++tasks_;
  if (t.status == Status::kError) {
    ++failed_;
  } else if (t.status == Status::kStale || is_stalled(t, now, stall)) {
    ++stalled_;
  } else if (t.status != Status::kClose) {
    ++running_;
  }
  if (has_total(t)) {
    n_ += std::min(t.n, t.total);
    total_ += t.total;
  }
}

Badge ProjectTally::badge(std::string label) const {
  Badge b;
  b.label = clip(label);
  if (failed_ > 0) {
    b.state = BadgeState::kFailed;
    b.message = fmt::format("{} failed", failed_);
  } else if (stalled_ > 0) {
    b.state = BadgeState::kStalled;
    b.message = fmt::format("{} stalled", stalled_);
  } else if (running_ > 0) {
    b.state = BadgeState::kRunning;
    b.message = total_ > 0 ? percent(n_, total_) : fmt::format("{} running", running_);
  } else {
    b.state = BadgeState::kClosed;
    b.message = total_ > 0 ? percent(n_, total_) : "done";
  }
  return b;
}

std::string badge_svg(const Badge& b) {
  const int lw = text_width(b.label);
  const int mw = text_width(b.message);
  const int w = lw + mw;
  std::string label, message;
  append_xml(label, b.label);
  append_xml(message, b.message);
  std::string out = fmt::format(
      R"svg(<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20" role="img" aria-label="{l}: {m}">)svg"
      R"svg(<title>{l}: {m}</title>)svg"
      R"svg(<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/>)svg"
      R"svg(<stop offset="1" stop-opacity=".1"/></linearGradient>)svg"
      R"svg(<clipPath id="r"><rect width="{w}" height="20" rx="3" fill="#fff"/></clipPath>)svg"
      R"svg(<g clip-path="url(#r)"><rect width="{lw}" height="20" fill="#555"/>)svg"
      R"svg(<rect x="{lw}" width="{mw}" height="20" fill="{c}"/><rect width="{w}" height="20" fill="url(#s)"/></g>)svg"
      R"svg(<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">)svg"
      R"svg(<text x="{lx}" y="14">{l}</text><text x="{mx}" y="14">{m}</text></g></svg>)svg",
      fmt::arg("w", w), fmt::arg("lw", lw), fmt::arg("mw", mw), fmt::arg("c", badge_color(b.state)),
      fmt::arg("l", label), fmt::arg("m", message), fmt::arg("lx", lw / 2),
      fmt::arg("mx", lw + mw / 2));
  return out;
}

std::string badge_shields_json(const Badge& b) {
  fmt::memory_buffer out;
  out.append(std::string_view{"{\"schemaVersion\":1,\"label\":"});
  append_json_string(out, b.label);
  out.append(std::string_view{",\"message\":"});
  append_json_string(out, b.message);
  out.append(std::string_view{",\"color\":\""});
  out.append(badge_shields_color(b.state));
  out.append(std::string_view{"\"}"});
  return fmt::to_string(out);
}

bool BadgeRoutes::handle(const HttpRequest& request, HttpResponse& response) {
  const std::string_view path = request.path;
  if (!path.starts_with("/badge/")) return false;
  const std::optional<std::string> task_id = argument(path, kTaskPrefix);
  const std::optional<std::string> project = task_id ? std::nullopt : argument(path, kProjectPrefix);
  if (!task_id && !project) return false;  // 404 from the handler

  std::optional<ShareScope> scope;
  if (request.method != "GET" && request.method != "HEAD") {
    method_not_allowed(ctx_, "GET, HEAD", response);
    return true;
  }
  if (!authorize_read(ctx_, request, response, scope)) return true;

  const double now = now_seconds();
  Badge badge;
  bool found = false;
  if (task_id) {
    TaskRecord t;
    found = ctx_.store.table().lookup(*task_id, t) && in_scope(scope, t);
    if (found) badge = task_badge(t, now, stall_);
    badge.label = found ? badge.label : clip(*task_id);
  } else {
    ProjectTally tally;
    // A share link's project other than this one shows nothing; O(capacity) otherwise.
    if (!scope || scope->project.empty() || scope->project == *project) {
      ctx_.store.table().for_each([&](const TaskRecord& t) {
        if (t.has(kHasProject) && t.project.view() == *project && in_scope(scope, t))
          tally.add(t, now, stall_);
      });
    }
    found = !tally.empty();
    badge = found ? tally.badge(*project) : Badge{clip(*project), {}, BadgeState::kUnknown};
  }
  if (!found) {
    badge.state = BadgeState::kUnknown;
    badge.message = "not found";
  }
  std::string format;
  const bool shields = query_param(request.query, "format", format) && format == "shields";
  response.status = found ? 200 : 404;
  response.content_type = shields ? "application/json" : "image/svg+xml; charset=utf-8";
  response.body = shields ? badge_shields_json(badge) : badge_svg(badge);
  response.set_header("Cache-Control", "no-cache");
  return true;
}

}  // namespace progressista::daemon
