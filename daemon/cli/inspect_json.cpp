// The JSON form of `progressista inspect`'s report: one object, tasks in the served shape.
#include "cli/inspect_report.hpp"

#include <iterator>

#include <fmt/format.h>

#include "progressista/task_json.hpp"

namespace progressista::daemon {

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
  const auto text = [&](std::string_view k, std::string_view value) {
    key(k);
    append_json_string(out, value);
  };
  const auto number = [&](std::string_view k, double value) {
    key(k);
    append_json_number(out, value);
  };

  out.push_back('{');
  text("segment", f.name);
  text("path", f.path);
  key("mode");
  if (f.have_file) {
    fmt::format_to(it, "\"{:04o}\"", f.file_mode);
  } else {
    out.append(std::string_view{"null"});
  }
  // Integers and booleans: fmt writes them as JSON already.
  fmt::format_to(it,
                 ",\"replaced\":{},\"layout_version\":{},\"capacity\":{},\"bytes\":{},"
                 "\"ring_size\":{}",
                 f.replaced, f.layout_version, f.capacity, f.bytes, f.ring_size);
  const MemoryUse& m = f.memory;
  fmt::format_to(it,
                 ",\"memory\":{{\"tasks\":{},\"max_tasks\":{},\"finished\":{},"
                 "\"budget_bytes\":{},\"blocks\":{},\"free_blocks\":{},\"block_bytes\":{}}}",
                 m.tasks, m.max_tasks, m.finished, m.budget_bytes, m.blocks, m.free_blocks,
                 m.block_bytes);
  // A string: a random 64-bit value does not survive a JavaScript (double) number.
  fmt::format_to(it, ",\"generation\":\"{:#018x}\"", f.generation);
  number("created_at", f.created_at);
  fmt::format_to(it,
                 ",\"creator_pid\":{},\"creator_alive\":{},\"created_by_this_run\":{},"
                 "\"live_tasks\":{},\"feed_head\":{}",
                 f.creator_pid, f.creator_alive, f.created, f.live_tasks, f.feed_head);
  number("now", seconds(f.now_ns));

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
    fmt::format_to(it, "{{\"pid\":{}", p.pid);
    text("role", role_name(p.role));
    fmt::format_to(it, ",\"alive\":{}", p.alive);
    number("started_at", seconds(p.started_ns));
    number("last_beat", seconds(p.beat_ns));
    number("beat_age", seconds(f.now_ns - p.beat_ns));
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
    fmt::format_to(it, "{{\"ok\":{}", f.problems->empty());
    text("problems", *f.problems);
    out.push_back('}');
  }

  // The served shape, {"tasks": {id: task}}, newest first.
  key("tasks");
  out.push_back('{');
  const std::size_t listed = for_each_listed(f, table, [&](const TaskRecord& rec) {
    key(rec.task_id.view());
    append_task_json(out, rec);
  });
  out.push_back('}');
  fmt::format_to(it, ",\"tasks_listed\":{}", listed);
  out.append(std::string_view{"}\n"});
}

}  // namespace progressista::daemon
