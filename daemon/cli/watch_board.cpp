#include "cli/watch_board.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <iterator>

#include <fmt/format.h>
#include <simdjson.h>

#include "cli/terminal_text.hpp"

namespace progressista::daemon {

namespace {

namespace dom = simdjson::dom;

std::string str_of(dom::object o, std::string_view key) {
  std::string_view v;
  if (o[key].get(v) == simdjson::SUCCESS) return std::string(v);
  return {};
}

std::optional<double> num_of(dom::object o, std::string_view key) {
  dom::element e;
  if (o[key].get(e) != simdjson::SUCCESS) return std::nullopt;
  double d = 0;
  if (e.get(d) == simdjson::SUCCESS && std::isfinite(d)) return d;
  return std::nullopt;  // null, or not a number
}

bool is_byte_unit(std::string_view unit) {
  return unit == "B" || unit == "iB" || unit == "byte" || unit == "bytes";
}

WatchedTask task_of(std::string_view id, dom::object o) {
  WatchedTask t;
  t.id = id;
  t.desc = str_of(o, "desc");
  t.unit = str_of(o, "unit");
  t.status = str_of(o, "status");
  t.project = str_of(o, "project");
  t.phase = str_of(o, "phase");
  t.message = str_of(o, "message");
  t.error = str_of(o, "error");
  t.n = num_of(o, "n");
  t.total = num_of(o, "total");
  t.rate = num_of(o, "rate");
  t.eta = num_of(o, "eta");
  t.cadence = num_of(o, "cadence");
  t.created_at = num_of(o, "created_at").value_or(0);
  t.updated_at = num_of(o, "updated_at").value_or(0);
  t.done_at = num_of(o, "done_at").value_or(0);

  // tqdm's unit_scale / unit_divisor as RemoteTqdm users put them in meta; bytes inferred.
  dom::object meta;
  dom::element scale;
  const bool has_meta = o["meta"].get(meta) == simdjson::SUCCESS;
  if (has_meta && t.project.empty()) t.project = str_of(meta, "project");
  const double divisor = has_meta ? num_of(meta, "unit_divisor").value_or(0) : 0;
  if (has_meta && meta["unit_scale"].get(scale) == simdjson::SUCCESS) {
    bool on = false;
    double factor = 0;
    if (scale.get(on) == simdjson::SUCCESS) {
      t.unit_factor = on ? 1 : 0;
    } else if (scale.get(factor) == simdjson::SUCCESS && factor > 0 && std::isfinite(factor)) {
      t.unit_factor = factor;
    }
    t.unit_divisor = divisor > 1 ? divisor : 1000;
  } else if (is_byte_unit(t.unit)) {
    t.unit_factor = 1;
    t.unit_divisor = divisor > 1 ? divisor : 1024;
  }
  return t;
}

bool is_live(const WatchedTask& t) {
  return t.status != "close" && t.status != "error" && t.status != "stale";
}

std::string fmt_clock(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const auto total = static_cast<long long>(std::llround(s));
  const long long h = total / 3600, m = (total % 3600) / 60, sec = total % 60;
  return h ? fmt::format("{}:{:02}:{:02}", h, m, sec) : fmt::format("{:02}:{:02}", m, sec);
}

// A span of time for a sentence: "0.5 s", "12 s", then tqdm's clock ("04:10").
std::string fmt_span(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  if (s < 10) return fmt::format("{:.2g} s", s);
  if (s < 60) return fmt::format("{:.0f} s", s);
  return fmt_clock(s);
}

// tqdm's format_sizeof: three significant digits and an SI prefix.
std::string fmt_sizeof(double x, double divisor) {
  if (!std::isfinite(x)) return "?";
  static constexpr std::array<std::string_view, 8> kPrefixes = {"", "k", "M", "G",
                                                                "T", "P", "E", "Z"};
  for (const std::string_view prefix : kPrefixes) {
    const double a = std::fabs(x);
    if (a < 999.5) {
      if (a < 9.995) return fmt::format("{:.2f}{}", x, prefix);
      if (a < 99.95) return fmt::format("{:.1f}{}", x, prefix);
      return fmt::format("{:.0f}{}", x, prefix);
    }
    x /= divisor;
  }
  return fmt::format("{:.1f}Y", x);
}

// A count: whole when it is, or when it is large; two decimals at most below 100.
std::string fmt_count(double x) {
  if (!std::isfinite(x)) return "0";
  if (x == std::floor(x) || std::fabs(x) >= 100) return fmt::format("{:.0f}", x);
  std::string s = fmt::format("{:.2f}", x);
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

std::string fmt_rate(const WatchedTask& t, std::string_view unit) {
  if (!t.rate || !(*t.rate > 0)) return fmt::format("?{}/s", unit);
  const double r = *t.rate * (t.unit_factor > 0 ? t.unit_factor : 1);
  if (r < 1) return fmt::format("{:.2f}s/{}", 1 / r, unit);
  if (t.unit_factor > 0) return fmt::format("{}{}/s", fmt_sizeof(r, t.unit_divisor), unit);
  return fmt::format("{:.2f}{}/s", r, unit);
}

bool has_total(const WatchedTask& t) { return t.total && *t.total > 0; }

// 12345 -> "12,345".
std::string grouped(std::size_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

// "45%" of a task closed below its total, else empty.
std::string ended_early(const WatchedTask& t) {
  if (t.status != "close" || !has_total(t) || !(t.n.value_or(0) < *t.total)) return {};
  return fmt::format("{}%", static_cast<int>(std::floor(std::max(0.0, t.n.value_or(0)) / *t.total * 100)));
}

// `text` cut to `width` columns (an ellipsis in the last one when cut), never padded.
std::string fit(const std::string& text, std::size_t width) {
  if (width == 0) return {};
  return columns(text) <= width ? text : printable(text, width);
}

constexpr std::array<std::string_view, 8> kPartials = {"", "\u258f", "\u258e", "\u258d",
                                                       "\u258c", "\u258b", "\u258a", "\u2589"};

std::string bar(double frac, std::size_t width, bool ascii) {
  frac = std::clamp(frac, 0.0, 1.0);
  std::string out;
  const double cells = frac * static_cast<double>(width);
  auto full = static_cast<std::size_t>(std::floor(cells));
  for (std::size_t i = 0; i < full; ++i) out += ascii ? "#" : "\u2588";
  std::size_t used = full;
  if (used < width) {
    const auto eighth = static_cast<std::size_t>(std::floor((cells - static_cast<double>(full)) * 8));
    if (!ascii && eighth > 0) {
      out += kPartials[eighth];
      ++used;
    }
  }
  out.append(width - used, ' ');
  return out;
}

}  // namespace

WatchGroup group_of(const WatchedTask& t, double now, const StallRule& rule) noexcept {
  if (t.status == "error") return WatchGroup::kFailed;
  if (t.status == "stale") return WatchGroup::kStale;
  if (t.status == "close") return WatchGroup::kDone;
  // The server's is_stalled (progressista/task.hpp) over what the stream carries.
  if (rule.factor > 0 && (t.status == "start" || t.status == "update" || t.status == "recovered") &&
      t.updated_at > 0) {
    const double limit = std::max(t.cadence ? rule.factor * *t.cadence : 0.0, rule.min_seconds);
    if (now - t.updated_at > limit) return WatchGroup::kStalled;
  }
  return WatchGroup::kRunning;
}

std::string_view group_name(WatchGroup g) noexcept {
  switch (g) {
    case WatchGroup::kFailed: return "failed";
    case WatchGroup::kStalled: return "stalled";
    case WatchGroup::kStale: return "stale";
    case WatchGroup::kRunning: return "running";
    case WatchGroup::kDone: break;
  }
  return "done";
}

std::optional<WatchGroup> parse_group(std::string_view w) noexcept {
  if (w == "failed" || w == "error") return WatchGroup::kFailed;
  if (w == "stale") return WatchGroup::kStale;
  if (w == "stalled") return WatchGroup::kStalled;
  if (w == "running" || w == "start" || w == "update" || w == "recovered")
    return WatchGroup::kRunning;
  if (w == "done" || w == "close" || w == "closed") return WatchGroup::kDone;
  return std::nullopt;
}

std::string tqdm_counts(const WatchedTask& t, double now) {
  const std::string unit = t.unit.empty() ? "it" : printable(t.unit, 16);
  const bool scaled = t.unit_factor > 0;
  const auto count = [&](std::optional<double> x) {
    const double v = x.value_or(0);
    return scaled ? fmt_sizeof(v * t.unit_factor, t.unit_divisor) : fmt_count(v);
  };
  const double end = t.done_at > 0 ? t.done_at : is_live(t) ? now : t.updated_at;
  const std::string elapsed =
      fmt_clock(t.created_at > 0 && end > 0 ? std::max(0.0, end - t.created_at) : NAN);
  const std::string rate = fmt_rate(t, unit);
  if (!has_total(t)) return fmt::format("{}{} [{}, {}]", count(t.n), unit, elapsed, rate);
  std::string remaining = "?";
  if (t.status == "close") {
    remaining = "00:00";
  } else if (is_live(t) && t.eta) {
    const double left = *t.eta - std::max(0.0, now - (t.updated_at > 0 ? t.updated_at : now));
    remaining = left < -0.5 ? "overdue" : fmt_clock(std::max(0.0, left));
  }
  return fmt::format("{}/{} [{}<{}, {}]", count(t.n), count(t.total), elapsed, remaining, rate);
}

WatchBoard::WatchBoard(WatchFilter filter) : filter_(std::move(filter)) {}

bool WatchBoard::apply(std::string_view frame, std::string& error) {
  dom::object doc;
  if (parser_.parse(frame.data(), frame.size()).get(doc) != simdjson::SUCCESS) {
    error = "a frame that is not a JSON object";
    return false;
  }
  const std::string type = str_of(doc, "type");
  dom::object tasks;
  if (type == "snapshot") {
    if (doc["tasks"].get(tasks) != simdjson::SUCCESS) {
      error = "a snapshot without its tasks";
      return false;
    }
    tasks_.clear();
  } else if (type == "delta") {
    if (doc["upserts"].get(tasks) != simdjson::SUCCESS) {
      error = "a delta without upserts";
      return false;
    }
    dom::array removed;
    if (doc["removed"].get(removed) == simdjson::SUCCESS) {
      for (dom::element e : removed) {
        std::string_view id;
        if (e.get(id) == simdjson::SUCCESS) {
          if (auto it = tasks_.find(id); it != tasks_.end()) tasks_.erase(it);
        }
      }
    }
  } else {
    error = fmt::format("a frame of type '{}'", printable(type, 40));
    return false;
  }
  for (auto [key, value] : tasks) {
    dom::object o;
    if (value.get(o) != simdjson::SUCCESS) continue;
    WatchedTask t = task_of(key, o);
    tasks_.insert_or_assign(t.id, std::move(t));
  }
  ++frames_;
  return true;
}

bool WatchBoard::shown(const WatchedTask& t, WatchGroup g) const {
  if (!filter_.prefix.empty() && !t.id.starts_with(filter_.prefix)) return false;
  if (!filter_.project.empty() && t.project != filter_.project) return false;
  if (!filter_.groups.empty() &&
      std::find(filter_.groups.begin(), filter_.groups.end(), g) == filter_.groups.end())
    return false;
  return true;
}

std::vector<std::string> WatchBoard::render(const WatchLook& look, double now) const {
  const std::size_t width = std::max<std::size_t>(look.width, 20);
  std::vector<std::string> lines;
  // The stream's state before the server: on a narrow terminal it is what must stay visible.
  lines.push_back(fit(fmt::format("Progressista watch \u00b7 {} \u00b7 {}", look.state,
                                  printable(look.server, 200)),
                      width));

  // Each task's group, judged once for this screen.
  std::vector<std::pair<const WatchedTask*, WatchGroup>> rows;
  std::array<std::size_t, kWatchGroups> counts{};
  for (const auto& [id, t] : tasks_) {
    const WatchGroup g = group_of(t, now, rule_);
    if (!shown(t, g)) continue;
    rows.emplace_back(&t, g);
    ++counts[static_cast<std::size_t>(g)];
  }
  const auto count = [&counts](WatchGroup g) { return grouped(counts[static_cast<std::size_t>(g)]); };
  std::string head = fmt::format(
      "{} task{} \u00b7 {} running \u00b7 {} failed \u00b7 {} stalled \u00b7 {} stale \u00b7 {} done",
      grouped(rows.size()), rows.size() == 1 ? "" : "s", count(WatchGroup::kRunning),
      count(WatchGroup::kFailed), count(WatchGroup::kStalled), count(WatchGroup::kStale),
      count(WatchGroup::kDone));
  std::vector<std::string> narrowed;
  if (!filter_.project.empty()) narrowed.push_back("project=" + printable(filter_.project, 60));
  if (!filter_.prefix.empty()) narrowed.push_back("prefix=" + printable(filter_.prefix, 60));
  for (const WatchGroup g : filter_.groups) narrowed.push_back(fmt::format("status={}", group_name(g)));
  if (!narrowed.empty()) head += fmt::format(" ({})", fmt::join(narrowed, ", "));
  lines.push_back(fit(head, width));
  lines.emplace_back();

  // Failed, most recent first; stalled and stale, silent longest first; running in a stable
  // order (start time, then id); done, most recent first.
  const auto key = [](const WatchedTask& t, WatchGroup g) {
    switch (g) {
      case WatchGroup::kFailed:
      case WatchGroup::kDone:
        return -(t.done_at > 0 ? t.done_at : t.updated_at);
      case WatchGroup::kStalled:
      case WatchGroup::kStale:
        return t.updated_at;
      case WatchGroup::kRunning:
        break;
    }
    return t.created_at;
  };
  const std::size_t room = look.height > lines.size() ? look.height - lines.size() : 0;
  const std::size_t show = rows.size() <= room ? rows.size() : room > 0 ? room - 1 : 0;
  using Row = std::pair<const WatchedTask*, WatchGroup>;
  const auto before = [&key](const Row& a, const Row& b) {
    if (a.second != b.second) return a.second < b.second;
    const double ka = key(*a.first, a.second), kb = key(*b.first, b.second);
    if (ka != kb) return ka < kb;
    return a.first->id < b.first->id;
  };
  std::partial_sort(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(show), rows.end(), before);

  std::size_t name_width = 0;
  for (std::size_t i = 0; i < show; ++i) name_width = std::max(name_width, columns(printable(rows[i].first->id, 200)));
  name_width = std::min(name_width, std::max<std::size_t>(12, width / 3));
  const std::size_t bar_width = width >= 110 ? 20 : width >= 72 ? 10 : 0;

  for (std::size_t i = 0; i < show; ++i) {
    const WatchedTask& t = *rows[i].first;
    const WatchGroup g = rows[i].second;
    const std::string early = ended_early(t);
    std::string_view mark = look.ascii ? ">" : "\u25b8";
    std::string_view color;
    if (g == WatchGroup::kFailed) {
      mark = look.ascii ? "x" : "\u2717";
      color = "31";
    } else if (g == WatchGroup::kStale || g == WatchGroup::kStalled) {
      mark = "!";
      color = "33";
    } else if (g == WatchGroup::kDone) {
      mark = early.empty() ? (look.ascii ? "v" : "\u2713") : "~";
      color = early.empty() ? "32" : "33";
    }
    std::string line = pad(printable(t.id, name_width), name_width);
    if (has_total(t)) {
      const double frac = t.n.value_or(0) / *t.total;
      line += fmt::format(" {:>3}%", static_cast<int>(std::floor(std::clamp(frac, 0.0, 1.0) * 100)));
      if (bar_width > 0) line += fmt::format("|{}|", bar(frac, bar_width, look.ascii));
    } else {
      line += "     ";
      if (bar_width > 0) line.append(bar_width + 2, ' ');
    }
    line += " " + tqdm_counts(t, now);
    std::string note = g == WatchGroup::kFailed ? t.error
                       : g == WatchGroup::kStalled
                           ? fmt::format("stalled: no event for {}{}", fmt_span(now - t.updated_at),
                                         t.cadence ? fmt::format(", usually every {}",
                                                                 fmt_span(*t.cadence))
                                                   : "")
                       : !early.empty() ? "ended at " + early
                                        : t.message;
    if (note.empty()) note = t.desc;
    const std::size_t used = 2 + columns(line);
    if (!note.empty() && used + 2 < width) line += " " + printable(note, width - used - 1);
    line = fit(line, width - 2);
    lines.push_back(look.color && !color.empty()
                        ? fmt::format("\x1b[{}m{}\x1b[0m {}", color, mark, line)
                        : fmt::format("{} {}", mark, line));
  }
  if (show < rows.size() && room > 0) {
    lines.push_back(fit(fmt::format("\u2026 and {} more (narrow with --status, --project, --prefix)",
                                    grouped(rows.size() - show)),
                        width));
  }
  return lines;
}

}  // namespace progressista::daemon
