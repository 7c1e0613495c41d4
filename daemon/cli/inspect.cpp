// `progressista inspect`. It never enrolls in the process registry, and unless --create or
// --check needs write access it maps the segment read-only, so the report cannot change
// the table it describes.
#include "cli/inspect.hpp"

#include <pwd.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <iterator>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "progressista/bookkeeping.hpp"
#include "progressista/codec.hpp"
#include "progressista/error.hpp"
#include "progressista/segment.hpp"
#include "progressista/status.hpp"
#include "progressista/store.hpp"
#include "progressista/task.hpp"

namespace progressista::daemon {
namespace {

constexpr std::string_view kShmDir = "/dev/shm";
constexpr std::size_t kCounterCount = static_cast<std::size_t>(Counter::kCount);
// Longer task ids are cut in the text table; the JSON output always has them whole.
constexpr std::size_t kIdColumnMax = 48;

enum ExitCode : int { kOk = 0, kFailure = 1, kNotFound = 2 };

struct InspectOptions {
  std::string segment = "progressista";
  std::uint32_t capacity = kDefaultCapacity;
  bool capacity_given = false;  // on the command line or in the environment
  bool create = false;
  std::string shm_mode = "0600";
  bool shm_mode_given = false;
  bool json = false;
  bool check = false;
  std::uint32_t limit = 20;
};

std::optional<unsigned> parse_shm_mode(std::string_view text) {
  if (text == "0600" || text == "600") {
    return 0600;
  }
  if (text == "0660" || text == "660") {
    return 0660;
  }
  return std::nullopt;
}

// A task picked for the listing. Its record is looked up again when printed, so that memory
// stays O(--limit) whatever the table's capacity.
struct TaskRef {
  double updated_at;
  std::string task_id;
};

// Newest first; ties broken by id so that repeated runs list the same tasks.
bool newer(const TaskRef& a, const TaskRef& b) {
  if (a.updated_at != b.updated_at) {
    return a.updated_at > b.updated_at;
  }
  return a.task_id < b.task_id;
}

// Everything the report states, gathered once so that the text and JSON forms agree.
struct Facts {
  std::string name;
  std::string path;
  bool created = false;   // by this run (--create)
  bool replaced = false;  // the name now leads to another segment, or to none
  bool have_file = false;
  unsigned file_mode = 0;
  std::uint32_t file_uid = 0;
  std::uint32_t layout_version = 0;
  std::uint32_t capacity = 0;
  std::size_t bytes = 0;
  std::uint32_t ring_size = 0;
  std::uint64_t generation = 0;
  double created_at = 0;
  std::uint32_t creator_pid = 0;
  bool creator_alive = false;
  std::uint32_t live_tasks = 0;
  MemoryUse memory;
  std::uint64_t feed_head = 0;
  std::array<std::uint64_t, kCounterCount> counters{};
  std::vector<ProcessRegistry::Info> processes;
  std::uint32_t janitor_pid = 0;
  bool janitor_alive = false;
  std::optional<std::string> problems;  // --check only; empty when the table is consistent
  std::uint32_t limit = 0;              // --limit
  std::vector<TaskRef> newest;          // newest first, at most `limit`
  std::int64_t now_ns = 0;
};

// The `limit` most recently updated tasks, newest first. One pass over the slots with a
// bounded heap: O(capacity) reads, O(limit) memory.
std::vector<TaskRef> newest_tasks(const TaskTable& table, std::uint32_t limit) {
  std::vector<TaskRef> out;
  if (limit == 0) {
    return out;
  }
  // With `newer` as the ordering, the heap's top is the oldest task kept: the one to drop.
  std::priority_queue<TaskRef, std::vector<TaskRef>, decltype(&newer)> heap(&newer);
  table.for_each([&](const TaskRecord& rec) {
    if (heap.size() == limit && rec.updated_at < heap.top().updated_at) {
      return;
    }
    heap.push(TaskRef{rec.updated_at, std::string(rec.task_id.view())});
    if (heap.size() > limit) {
      heap.pop();
    }
  });
  out.reserve(heap.size());
  while (!heap.empty()) {
    out.push_back(heap.top());
    heap.pop();
  }
  std::reverse(out.begin(), out.end());
  return out;
}

Facts gather(Store& store, std::optional<std::string> problems, std::uint32_t limit) {
  const Segment& seg = store.segment();
  Facts f;
  f.name = seg.name();
  f.path = fmt::format("{}/{}", kShmDir, seg.name());
  f.created = seg.created();
  f.replaced = seg.replaced();
  // Once replaced, the path describes another segment (or none): its mode is not ours.
  struct stat st {};
  if (!f.replaced && ::stat(f.path.c_str(), &st) == 0) {
    f.have_file = true;
    f.file_mode = st.st_mode & 07777;
    f.file_uid = st.st_uid;
  }
  f.layout_version = seg.layout_version();
  f.created_at = seg.created_at();
  f.creator_pid = seg.creator_pid();
  f.creator_alive = process_alive(f.creator_pid);
  f.capacity = seg.capacity();
  f.bytes = seg.size();
  f.ring_size = store.feed().ring_size();
  f.generation = seg.generation();
  f.live_tasks = store.table().size();
  f.memory = store.table().memory();
  f.feed_head = store.feed().head();
  for (std::size_t i = 0; i < kCounterCount; ++i) {
    f.counters[i] = store.counters().get(static_cast<Counter>(i));
  }
  f.processes = store.processes().list();
  f.janitor_pid = store.janitor().holder();
  f.janitor_alive = process_alive(f.janitor_pid);
  f.problems = std::move(problems);
  f.limit = limit;
  f.newest = newest_tasks(store.table(), limit);
  f.now_ns = now_ns();
  return f;
}

// ---- text ------------------------------------------------------------------------------

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

// Display columns of UTF-8 text, counting one per character (wide glyphs are rare in ids).
std::size_t columns(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::string pad(std::string s, std::size_t width) {
  const std::size_t w = columns(s);
  if (w < width) {
    s.append(width - w, ' ');
  }
  return s;
}

// Task ids and units come from clients: escape control bytes so that they cannot drive the
// terminal, and cut text longer than `max_columns` at a character boundary.
std::string printable(std::string_view text, std::size_t max_columns) {
  const bool cut = columns(text) > max_columns;
  std::string s;
  s.reserve(text.size());
  std::size_t chars = 0;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c & 0xC0) != 0x80 && ++chars == max_columns && cut) {
      s += "\u2026";
      break;
    }
    if (c < 0x20 || c == 0x7f) {
      fmt::format_to(std::back_inserter(s), "\\x{:02x}", c);
    } else {
      s.push_back(ch);
    }
  }
  return s;
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

void render_text(fmt::memory_buffer& out, const Facts& f, const TaskTable& table) {
  auto it = std::back_inserter(out);
  const double now = static_cast<double>(f.now_ns) / 1e9;

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
  fmt::format_to(it, "{:<12}{} bytes ({}) for at most {} tasks; {} of {} record blocks free "
                 "({} bytes each)\n",
                 "budget", m.budget_bytes, mib(m.budget_bytes), m.max_tasks, m.free_blocks, m.blocks,
                 m.block_bytes);
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
                     ago(static_cast<double>(f.now_ns - p.beat_ns) / 1e9));
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
  TaskRecord rec;
  for (const TaskRef& ref : f.newest) {
    if (!table.lookup(ref.task_id, rec)) {
      continue;  // removed since the scan
    }
    rows.push_back(Row{printable(rec.task_id.view(), kIdColumnMax),
                       std::string(status_name(rec.status)), progress(rec),
                       ago(now - rec.updated_at)});
  }
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

// ---- JSON ------------------------------------------------------------------------------

void render_json(fmt::memory_buffer& out, const Facts& f, const TaskTable& table) {
  auto it = std::back_inserter(out);
  // A key follows either an opening brace or the previous member's value.
  const auto key = [&](std::string_view k) {
    if (out.data()[out.size() - 1] != '{') {
      out.push_back(',');
    }
    append_json_string(out, k);
    out.push_back(':');
  };
  out.push_back('{');
  key("segment");
  append_json_string(out, f.name);
  key("path");
  append_json_string(out, f.path);
  key("mode");
  if (f.have_file) {
    append_json_string(out, fmt::format("{:04o}", f.file_mode));
  } else {
    out.append(std::string_view{"null"});
  }
  key("replaced");
  fmt::format_to(it, "{}", f.replaced);
  key("layout_version");
  fmt::format_to(it, "{}", f.layout_version);
  key("capacity");
  fmt::format_to(it, "{}", f.capacity);
  key("bytes");
  fmt::format_to(it, "{}", f.bytes);
  key("ring_size");
  fmt::format_to(it, "{}", f.ring_size);
  key("memory");
  fmt::format_to(it,
                 "{{\"tasks\":{},\"max_tasks\":{},\"finished\":{},\"budget_bytes\":{},"
                 "\"blocks\":{},\"free_blocks\":{},\"block_bytes\":{}}}",
                 f.memory.tasks, f.memory.max_tasks, f.memory.finished, f.memory.budget_bytes,
                 f.memory.blocks, f.memory.free_blocks, f.memory.block_bytes);
  // A string: a random 64-bit value does not survive a JavaScript (double) number.
  key("generation");
  append_json_string(out, fmt::format("{:#018x}", f.generation));
  key("created_at");
  append_json_number(out, f.created_at);
  key("creator_pid");
  fmt::format_to(it, "{}", f.creator_pid);
  key("creator_alive");
  fmt::format_to(it, "{}", f.creator_alive);
  key("created_by_this_run");
  fmt::format_to(it, "{}", f.created);
  key("live_tasks");
  fmt::format_to(it, "{}", f.live_tasks);
  key("feed_head");
  fmt::format_to(it, "{}", f.feed_head);
  key("now");
  append_json_number(out, static_cast<double>(f.now_ns) / 1e9);

  key("counters");
  out.push_back('{');
  for (std::size_t i = 0; i < kCounterCount; ++i) {
    key(counter_name(static_cast<Counter>(i)));
    fmt::format_to(it, "{}", f.counters[i]);
  }
  out.push_back('}');

  key("processes");
  out.push_back('[');
  for (std::size_t i = 0; i < f.processes.size(); ++i) {
    const auto& p = f.processes[i];
    if (i) {
      out.push_back(',');
    }
    fmt::format_to(it, "{{\"pid\":{},\"role\":", p.pid);
    append_json_string(out, role_name(p.role));
    fmt::format_to(it, ",\"alive\":{},\"started_at\":", p.alive);
    append_json_number(out, static_cast<double>(p.started_ns) / 1e9);
    out.append(std::string_view{",\"last_beat\":"});
    append_json_number(out, static_cast<double>(p.beat_ns) / 1e9);
    out.append(std::string_view{",\"beat_age\":"});
    append_json_number(out, static_cast<double>(f.now_ns - p.beat_ns) / 1e9);
    out.push_back('}');
  }
  out.push_back(']');

  key("janitor");
  if (f.janitor_pid == 0) {
    out.append(std::string_view{"null"});
  } else {
    fmt::format_to(it, "{{\"pid\":{},\"alive\":{}}}", f.janitor_pid, f.janitor_alive);
  }

  if (f.problems) {
    key("check");
    fmt::format_to(it, "{{\"ok\":{},\"problems\":", f.problems->empty());
    append_json_string(out, *f.problems);
    out.push_back('}');
  }

  // The served shape, {"tasks": {id: task}}, newest first.
  key("tasks");
  out.push_back('{');
  std::size_t listed = 0;
  TaskRecord rec;
  for (const TaskRef& ref : f.newest) {
    if (!table.lookup(ref.task_id, rec)) {
      continue;  // removed since the scan
    }
    if (listed++) {
      out.push_back(',');
    }
    append_json_string(out, rec.task_id.view());
    out.push_back(':');
    append_task_json(out, rec);
  }
  out.push_back('}');
  key("tasks_listed");
  fmt::format_to(it, "{}", listed);
  out.append(std::string_view{"}\n"});
}

// ---- the verb --------------------------------------------------------------------------

// TaskTable::check() separates problems with "; " and ends with one.
std::string trim_problems(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == ';')) {
    s.pop_back();
  }
  return s;
}

bool write_stdout(const fmt::memory_buffer& out) {
  return std::fwrite(out.data(), 1, out.size(), stdout) == out.size() && std::fflush(stdout) == 0;
}

int run_inspect(const InspectOptions& opt) {
  SegmentOptions so;
  so.name = opt.segment;
  so.create = opt.create;
  if (opt.create) {
    if (opt.capacity_given) {
      so.capacity = opt.capacity;
    }
    so.mode = parse_shm_mode(opt.shm_mode).value_or(0600);  // validated by the parser
  }
  // Readers never write to the segment, so a plain report maps it read-only. --check takes
  // the table's structure lock and --create initialises the segment: both need write access.
  so.read_only = !opt.create && !opt.check;

  std::unique_ptr<Store> store;
  try {
    store = Store::open(so);
  } catch (const StoreError& e) {
    if (e.code() == StoreError::Code::kNotFound) {
      fmt::print(stderr,
                 "progressista: segment '{}' does not exist (no {}/{}); start `progressista serve` "
                 "(or `progressista ingest`) with the same --segment, or pass --create\n",
                 opt.segment, kShmDir, opt.segment);
      return kNotFound;
    }
    fmt::print(stderr, "progressista: {}\n", e.what());
    return kFailure;
  }

  const Segment& seg = store->segment();
  if (!opt.create && opt.capacity_given && opt.capacity != seg.capacity()) {
    fmt::print(stderr,
               "progressista: note: segment '{}' holds {} tasks, not {}; --capacity "
               "(PROGRESSISTA_CAPACITY) only applies with --create\n",
               seg.name(), seg.capacity(), opt.capacity);
  }
  if (opt.shm_mode_given && !seg.created()) {
    fmt::print(stderr,
               "progressista: note: segment '{}' already existed, so --shm-mode {} was not "
               "applied (see its mode below)\n",
               seg.name(), opt.shm_mode);
  }

  std::optional<std::string> problems;
  if (opt.check) {
    problems = trim_problems(store->table().check());
  }

  const Facts facts = gather(*store, std::move(problems), opt.limit);
  fmt::memory_buffer out;
  if (opt.json) {
    render_json(out, facts, store->table());
  } else {
    render_text(out, facts, store->table());
  }
  if (!write_stdout(out)) {
    fmt::print(stderr, "progressista: cannot write the report: {}\n",
               std::generic_category().message(errno));
    return kFailure;
  }
  if (facts.problems && !facts.problems->empty()) {
    fmt::print(stderr, "progressista: segment '{}' is inconsistent: {}\n", facts.name,
               *facts.problems);
    return kFailure;
  }
  return kOk;
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  // Shared with the callback: CLI11 writes parsed values into it, the callback reads them.
  auto opt = std::make_shared<InspectOptions>();
  CLI::App* cmd = app.add_subcommand(
      "inspect",
      "Report on a segment: header, counters, attached processes, janitor and the most "
      "recently updated tasks. Read-only unless --create or --check; never registers itself "
      "as a process of the segment.");
  cmd->footer(
      "Exit codes: 0 ok; 1 error, or --check found an inconsistency; 2 the segment does not "
      "exist (and --create was not given).");

  cmd->add_option("--segment", opt->segment, "Shared-memory segment name (/dev/shm/NAME)")
      ->envname("PROGRESSISTA_SEGMENT")
      ->capture_default_str();
  CLI::Option* capacity =
      cmd->add_option("--capacity", opt->capacity,
                      fmt::format("Task slots of a segment made by --create (default {}); with "
                                  "--create, an existing segment must have this capacity",
                                  kDefaultCapacity))
          ->envname("PROGRESSISTA_CAPACITY")
          ->check(CLI::Range(1u, kMaxCapacity));
  CLI::Option* create = cmd->add_flag(
      "--create", opt->create, "Create the segment if it does not exist (attach if it does)");
  CLI::Option* shm_mode =
      cmd->add_option("--shm-mode", opt->shm_mode,
                      "Permissions of a segment made by --create: 0600 (owner only) or 0660 "
                      "(owner and group, e.g. nginx workers)")
          ->check(CLI::Validator(
              [](std::string& text) -> std::string {
                if (parse_shm_mode(text)) {
                  return {};
                }
                return fmt::format(
                    "'{}' is not allowed: use 0600 (owner only) or 0660 (owner "
                    "and group)",
                    text);
              },
              "0600|0660"))
          ->needs(create)
          ->capture_default_str();
  cmd->add_flag("--json", opt->json,
                "Print one JSON object (tasks in the served shape) instead of text");
  cmd->add_flag("--check", opt->check,
                "Verify the table's index, slots and free list (briefly takes the table's "
                "structure lock); exit 1 and print the problems if they disagree");
  cmd->add_option("--limit", opt->limit,
                  "List at most N tasks, most recently updated first (0: none)")
      ->capture_default_str();

  cmd->callback([opt, capacity, shm_mode] {
    InspectOptions o = *opt;
    o.capacity_given = capacity->count() > 0;
    o.shm_mode_given = shm_mode->count() > 0;
    if (const int rc = run_inspect(o); rc != kOk) {
      throw CLI::RuntimeError(rc);
    }
  });
}

}  // namespace progressista::daemon
