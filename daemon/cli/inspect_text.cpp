// The text form of `progressista inspect`'s report.
#include "cli/inspect_report.hpp"

#include <pwd.h>

#include <algorithm>
#include <array>
#include <ctime>
#include <iterator>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "cli/terminal_text.hpp"
#include "progressista/status.hpp"

namespace progressista::daemon {
namespace {

// Longer task ids are cut in the text table; the JSON output always has them whole.
constexpr std::size_t kIdColumnMax = 48;

std::string ago(double seconds) {
  if (!(seconds >= 0)) {
    return "in the future (clock skew?)";
  }
  if (seconds < 10) {
    return fmt::format("{:.1f}s ago", seconds);
  }
  const auto s = static_cast<std::uint64_t>(seconds);
  if (s < 60) {
    return fmt::format("{}s ago", s);
  }
  if (s < 3600) {
    return fmt::format("{}m{:02}s ago", s / 60, s % 60);
  }
  if (s < 86400) {
    return fmt::format("{}h{:02}m ago", s / 3600, s % 3600 / 60);
  }
  return fmt::format("{}d{:02}h ago", s / 86400, s % 86400 / 3600);
}

std::string utc(double epoch_seconds) {
  return fmt::format("{:%Y-%m-%d %H:%M:%S} UTC",
                     fmt::gmtime(static_cast<std::time_t>(epoch_seconds)));
}

std::string mib(std::size_t bytes) {
  return fmt::format("{:.1f} MiB", bytes / (1024.0 * 1024.0));
}

std::string owner(std::uint32_t uid) {
  passwd pw{};
  passwd* found = nullptr;
  std::array<char, 4096> buf{};
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
    return found->pw_name;
  }
  return fmt::format("uid {}", uid);
}

// Progress amounts are usually counts: print them without a fraction when they have none.
std::string amount(double v) {
  if (v == static_cast<double>(static_cast<std::int64_t>(v)) && v > -1e15 && v < 1e15) {
    return fmt::format("{}", static_cast<std::int64_t>(v));
  }
  return fmt::format("{:.2f}", v);
}

std::string progress(const TaskRecord& t) {
  std::string s = amount(t.n);
  if (t.has(kHasTotal)) {
    s += "/" + amount(t.total);
  }
  if (t.has(kHasUnit)) {
    s += " ";
    s += printable(t.unit.view(), limits::kUnit);
  }
  if (t.has(kHasTotal) && t.total > 0) {
    s += fmt::format(" ({:.0f}%)", 100.0 * t.n / t.total);
  }
  return s;
}

}  // namespace

void render_text(fmt::memory_buffer& out, const Facts& f, const TaskTable& table) {
  auto it = std::back_inserter(out);
  const double now = seconds(f.now_ns);

  fmt::format_to(it, "{:<12}{}\n", "segment", f.name);
  if (f.have_file) {
    fmt::format_to(it, "{:<12}{} (mode {:04o}, owner {})\n", "path", f.path, f.file_mode,
                   owner(f.file_uid));
  } else {
    fmt::format_to(it,
                   "{:<12}{} (removed or re-created since inspect attached: what follows "
                   "describes the old segment)\n",
                   "path", f.path);
  }
  fmt::format_to(it, "{:<12}version {}\n", "layout", f.layout_version);
  fmt::format_to(it, "{:<12}{} tasks, {} ({} bytes), change-feed ring of {} entries\n", "capacity",
                 f.capacity, mib(f.bytes), f.bytes, f.ring_size);
  const MemoryUse& m = f.memory;
  fmt::format_to(it,
                 "{:<12}{} bytes ({}) for at most {} tasks; {} of {} record blocks free "
                 "({} bytes each)\n",
                 "budget", m.budget_bytes, mib(m.budget_bytes), m.max_tasks, m.free_blocks,
                 m.blocks, m.block_bytes);
  fmt::format_to(it, "{:<12}{:#018x}{}\n", "generation", f.generation,
                 f.created ? " (created by this run)" : "");
  fmt::format_to(it, "{:<12}{} ({}) by pid {} ({})\n", "created", utc(f.created_at),
                 ago(now - f.created_at), f.creator_pid, f.creator_alive ? "running" : "exited");
  fmt::format_to(it, "{:<12}{} live ({:.1f}% of capacity), {} finished (evicted first when full)\n",
                 "tasks", f.live_tasks, f.capacity ? 100.0 * f.live_tasks / f.capacity : 0.0,
                 m.finished);
  fmt::format_to(it, "{:<12}{}\n", "feed head", f.feed_head);
  if (f.problems) {
    fmt::format_to(it, "{:<12}{}\n", "check",
                   f.problems->empty() ? "ok" : "INCONSISTENT: " + *f.problems);
  }

  out.append(std::string_view{"\ncounters\n"});
  for (std::size_t i = 0; i < kCounterCount; ++i) {
    fmt::format_to(it, "  {:<30}{:>12}\n", counter_name(static_cast<Counter>(i)), f.counters[i]);
  }

  if (f.processes.empty()) {
    out.append(std::string_view{"\nprocesses   none registered\n"});
  } else {
    fmt::format_to(it, "\nprocesses\n  {:<9}{:<11}{:<7}{}\n", "PID", "ROLE", "ALIVE", "LAST BEAT");
    for (const auto& p : f.processes) {
      fmt::format_to(it, "  {:<9}{:<11}{:<7}{}\n", p.pid, role_name(p.role), p.alive ? "yes" : "no",
                     ago(seconds(f.now_ns - p.beat_ns)));
    }
  }
  if (f.janitor_pid == 0) {
    fmt::format_to(it, "{:<12}{}\n", "janitor", "none");
  } else {
    fmt::format_to(it, "{:<12}pid {} ({})\n", "janitor", f.janitor_pid,
                   f.janitor_alive ? "alive" : "dead: the next janitor takes over");
  }

  // Rows are formatted first so that the id column fits the longest id shown.
  struct Row {
    std::string id, status, progress, updated;
  };
  std::vector<Row> rows;
  rows.reserve(f.newest.size());
  for_each_listed(f, table, [&](const TaskRecord& rec) {
    rows.push_back(Row{printable(rec.task_id.view(), kIdColumnMax),
                       std::string(status_name(rec.status)), progress(rec),
                       ago(now - rec.updated_at)});
  });
  if (rows.empty()) {
    fmt::format_to(it, "\n{:<12}{}\n", "tasks",
                   f.limit == 0 && f.live_tasks > 0 ? "not listed (--limit 0)" : "none");
    return;
  }
  fmt::format_to(it, "\ntasks: {} of {} live, most recently updated first\n", rows.size(),
                 f.live_tasks);
  std::size_t id_width = columns("TASK_ID");
  std::size_t progress_width = columns("PROGRESS");
  for (const Row& r : rows) {
    id_width = std::max(id_width, columns(r.id));
    progress_width = std::max(progress_width, columns(r.progress));
  }
  // Padded by hand: fmt's width counts East Asian glyphs as two columns, `columns` as one.
  const auto row = [&](const std::string& id, std::string_view status, const std::string& prog,
                       std::string_view updated) {
    fmt::format_to(it, "  {}  {:<9} {}  {}\n", pad(id, id_width), status, pad(prog, progress_width),
                   updated);
  };
  row("TASK_ID", "STATUS", "PROGRESS", "UPDATED");
  for (const Row& r : rows) {
    row(r.id, r.status, r.progress, r.updated);
  }
}

}  // namespace progressista::daemon
