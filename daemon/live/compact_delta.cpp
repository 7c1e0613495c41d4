#include "live/compact_delta.hpp"

#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <iterator>
#include <optional>
#include <utility>

#include "progressista/task_json.hpp"

namespace progressista::daemon {

namespace {

// One member of the key table: a task object's key, its compact key, and how its value is
// written (README.md "The compact delta protocol").
enum class Form : std::uint8_t { kAsIs, kTime, kRounded };
struct Key {
  std::string_view name;
  std::string_view compact;
  Form form;
};
constexpr std::array<Key, 24> kKeys = {{
    {"task_id", "id", Form::kAsIs},       {"desc", "d", Form::kAsIs},
    {"n", "n", Form::kAsIs},              {"total", "N", Form::kAsIs},
    {"unit", "un", Form::kAsIs},          {"status", "s", Form::kAsIs},
    {"timestamp", "ts", Form::kTime},     {"meta", "m", Form::kAsIs},
    {"created_at", "ca", Form::kTime},    {"updated_at", "ua", Form::kTime},
    {"done_at", "da", Form::kTime},       {"stale_at", "sa", Form::kTime},
    {"recovered", "rv", Form::kAsIs},     {"recovered_at", "ra", Form::kTime},
    {"project", "p", Form::kAsIs},        {"phase", "ph", Form::kAsIs},
    {"message", "msg", Form::kAsIs},      {"error", "err", Form::kAsIs},
    {"rate", "r", Form::kRounded},        {"eta", "e", Form::kRounded},
    {"cadence", "cd", Form::kAsIs},       {"acknowledged_at", "ak", Form::kTime},
    {"parent", "pa", Form::kAsIs},        {"children", "ch", Form::kAsIs},
}};

struct Member {
  std::string_view key;
  std::string_view value;  // raw JSON text
};
// A task object has a score of members; a few more leave room for ones added later.
constexpr std::size_t kMaxMembers = 32;
struct Members {
  std::array<Member, kMaxMembers> at{};
  std::size_t size = 0;
  [[nodiscard]] const Member* find(std::string_view key) const noexcept {
    for (std::size_t i = 0; i < size; ++i)
      if (at[i].key == key) return &at[i];
    return nullptr;
  }
};

// The end of the JSON string starting at s[i] (its opening quote), past its closing quote.
std::size_t skip_string(std::string_view s, std::size_t i) noexcept {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      return i + 1;
    }
  }
  return s.size();
}

// The end of the JSON value starting at s[i].
std::size_t skip_value(std::string_view s, std::size_t i) noexcept {
  if (i < s.size() && s[i] == '"') return skip_string(s, i);
  int depth = 0;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '"') {
      i = skip_string(s, i) - 1;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (depth == 0) return i;
      if (--depth == 0) return i + 1;
    } else if (c == ',' && depth == 0) {
      return i;
    }
  }
  return s.size();
}

// The top-level members of a task object as append_task_json writes it (no spaces, keys
// without escapes). Members past kMaxMembers are left out.
Members split(std::string_view json) noexcept {
  Members m;
  std::size_t i = 1;  // past '{'
  while (i < json.size() && json[i] == '"' && m.size < kMaxMembers) {
    const std::size_t key_end = json.find('"', i + 1);
    if (key_end == std::string_view::npos || key_end + 1 >= json.size()) break;
    const std::size_t value_begin = key_end + 2;  // past `":`
    const std::size_t value_end = skip_value(json, value_begin);
    m.at[m.size++] = {json.substr(i + 1, key_end - i - 1),
                      json.substr(value_begin, value_end - value_begin)};
    i = value_end + 1;  // past ',' (or '}')
  }
  return m;
}

const Key* key_of(std::string_view name) noexcept {
  for (const Key& k : kKeys)
    if (k.name == name) return &k;
  return nullptr;
}

std::optional<double> number(std::string_view text) noexcept {
  double v = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

// Times as whole milliseconds fit a double's integers far past any real date; a time beyond
// (a client's timestamp in nanoseconds, say) is sent as it is, under its own name.
constexpr double kMaxTimeMs = 9007199254740992.0;  // 2^53

// A member's value as a client holds it: times in whole milliseconds, rate and eta to four
// significant digits. Nullopt: the value is sent as it is.
struct Rendered {
  Form form = Form::kAsIs;
  double ms = 0;  // kTime
  fmt::basic_memory_buffer<char, 32> digits;  // kRounded
};
std::optional<Rendered> render(const Key* key, std::string_view value) {
  if (!key || key->form == Form::kAsIs) return std::nullopt;
  const std::optional<double> v = number(value);
  if (!v) return std::nullopt;
  Rendered r;
  r.form = key->form;
  if (key->form == Form::kTime) {
    r.ms = std::round(*v * 1000.0);
    if (!(std::fabs(r.ms) < kMaxTimeMs)) return std::nullopt;
  } else {
    fmt::format_to(std::back_inserter(r.digits), "{:.4g}", *v);
  }
  return r;
}

// True when a client holding `before` would hold the same as with `after`.
bool same_to_client(const Key* key, std::string_view before, std::string_view after) {
  if (before == after) return true;
  const std::optional<Rendered> a = render(key, before), b = render(key, after);
  if (!a || !b) return false;
  if (a->form == Form::kTime) return a->ms == b->ms;
  return std::string_view(a->digits.data(), a->digits.size()) ==
         std::string_view(b->digits.data(), b->digits.size());
}

void append_member(fmt::memory_buffer& out, bool& first, std::string_view name,
                   std::string_view value, std::int64_t t_ms) {
  if (!first) out.push_back(',');
  first = false;
  const Key* key = key_of(name);
  const std::optional<Rendered> r = render(key, value);
  out.push_back('"');
  // A value sent as it is keeps its own name when its compact form would mean otherwise.
  out.append(key && (r || key->form != Form::kTime || value == "null") ? key->compact : name);
  out.append(std::string_view{"\":"});
  if (!r) {
    out.append(value);  // as is, and null stays null
  } else if (r->form == Form::kTime) {
    fmt::format_to(std::back_inserter(out), "{}",
                   static_cast<std::int64_t>(r->ms) - t_ms);
  } else {
    out.append(std::string_view(r->digits.data(), r->digits.size()));
  }
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void append_compact_members(fmt::memory_buffer& out, std::string_view from, std::string_view to,
                            std::int64_t t_ms) {
  const Members after = split(to);
  bool first = true;
  if (from.empty()) {
    for (std::size_t i = 0; i < after.size; ++i)
      append_member(out, first, after.at[i].key, after.at[i].value, t_ms);
    return;
  }
  const Members before = split(from);
  for (std::size_t i = 0; i < after.size; ++i) {
    const Member& m = after.at[i];
    const Member* was = before.find(m.key);
    if (!was || !same_to_client(key_of(m.key), was->value, m.value))
      append_member(out, first, m.key, m.value, t_ms);
  }
  for (std::size_t i = 0; i < before.size; ++i) {
    if (!after.find(before.at[i].key)) append_member(out, first, before.at[i].key, "null", t_ms);
  }
}

Frame compact_frame(const Tick& tick, const View& view) {
  fmt::memory_buffer out;
  fmt::format_to(std::back_inserter(out), R"({{"type":"delta","v":2,"seq":{},"t":{},"u":{{)",
                 tick.seq, tick.t_ms);
  std::size_t matched = 0;
  bool first = true;
  for (const TickItem& it : tick.items) {
    if (it.removed || it.handle == 0 || !matches(view, it)) continue;
    if (!it.compact_stale && it.compact.empty()) continue;  // nothing a client sees changed
    if (!first) out.push_back(',');
    first = false;
    fmt::format_to(std::back_inserter(out), R"("{}":{{)", it.handle);
    if (it.compact_stale) {
      append_compact_members(out, {}, it.json, tick.t_ms);
    } else {
      out.append(it.compact);
    }
    out.push_back('}');
    ++matched;
  }
  out.append(std::string_view{"},\"x\":["});
  first = true;
  for (const TickItem& it : tick.items) {
    if (it.handle == 0) continue;
    // Gone from the view: removed, or moved out of the project it narrows to.
    const bool gone = it.removed ? matches(view, it)
                                 : it.moved && !matches(view, it) &&
                                       view.matches(it.task_id, it.moved_from, it.had_project);
    if (!gone) continue;
    if (!first) out.push_back(',');
    first = false;
    fmt::format_to(std::back_inserter(out), "{}", it.handle);
    ++matched;
  }
  out.append(std::string_view{"]}"});
  if (matched == 0) return {};
  return Frame::of(tick.seq, out);
}

void CompactState::Scan::add(const TaskRecord& task) {
  scratch_.clear();
  append_task_json(scratch_, task);
  Entry& e = tasks_[std::string(task.task_id.view())];
  e.json.assign(scratch_.data(), scratch_.size());
  e.has_project = task.has(kHasProject);
  if (e.has_project) e.project.assign(task.project.view());
}

void CompactState::replace(Scan&& scan) {
  std::lock_guard lock(mutex_);
  for (auto& [id, e] : scan.tasks_) {
    // A task still there keeps its handle (a re-created segment has other tasks of the same
    // ids, which is fine: every client of the reset drops what it held).
    const auto held = tasks_.find(id);
    e.handle = held != tasks_.end() ? held->second.handle : next_handle_++;
  }
  tasks_ = std::move(scan.tasks_);
  all_[0] = all_[1] = {};
}

void CompactState::apply(Tick& tick) {
  tick.t_ms = now_ms();
  std::lock_guard lock(mutex_);
  seq_ = tick.seq;
  t_ms_ = tick.t_ms;
  all_[0] = all_[1] = {};
  if (tick.reset) return;  // replace() has set what the snapshot is of
  fmt::memory_buffer out;
  for (TickItem& it : tick.items) {
    if (it.removed) {
      if (const auto found = tasks_.find(it.task_id); found != tasks_.end()) {
        it.handle = found->second.handle;
        it.project = found->second.project;
        it.has_project = found->second.has_project;
        tasks_.erase(found);
      }
      continue;
    }
    auto [found, created] = tasks_.try_emplace(it.task_id);
    Entry& e = found->second;
    out.clear();
    // A task new to the clients, or one that moved to another project (a client of that
    // project's view has never had it): its whole state.
    it.moved = !created && (e.has_project != it.has_project || e.project != it.project);
    if (it.moved) {
      it.moved_from = e.project;
      it.had_project = e.has_project;
    }
    if (created) e.handle = next_handle_++;
    append_compact_members(out, created || it.moved ? std::string_view{} : std::string_view{e.json},
                           it.json, tick.t_ms);
    it.handle = e.handle;
    it.compact.assign(out.data(), out.size());
    e.json = it.json;
    e.project = it.project;
    e.has_project = it.has_project;
  }
}

Frame CompactState::build_snapshot(const View& view, bool reset) const {
  fmt::memory_buffer out;
  fmt::format_to(std::back_inserter(out), R"({{"type":"snapshot","v":2,"seq":{},"t":{})", seq_,
                 t_ms_);
  if (reset) out.append(std::string_view{",\"reset\":true"});
  out.append(std::string_view{",\"tasks\":{"});
  bool first = true;
  for (const auto& [id, e] : tasks_) {
    if (!view.matches(id, e.project, e.has_project)) continue;
    if (!first) out.push_back(',');
    first = false;
    fmt::format_to(std::back_inserter(out), R"("{}":{{)", e.handle);
    append_compact_members(out, {}, e.json, t_ms_);
    out.push_back('}');
  }
  out.append(std::string_view{"}}"});
  return Frame::of(seq_, out);
}

Frame CompactState::snapshot(const View& view, bool reset) {
  std::lock_guard lock(mutex_);
  if (!view.all()) return build_snapshot(view, reset);
  Frame& f = all_[reset ? 1 : 0];
  if (!f) f = build_snapshot(view, reset);
  return f;
}

std::size_t CompactState::size() const {
  std::lock_guard lock(mutex_);
  return tasks_.size();
}

}  // namespace progressista::daemon
