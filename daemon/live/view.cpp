#include "live/view.hpp"

#include "live/operation.hpp"
#include "progressista/snapshot.hpp"
#include "progressista/task_json.hpp"

namespace progressista::daemon {

bool View::matches(std::string_view task_id, std::string_view project,
                   bool has_project) const noexcept {
  if (scope && !scope->matches(task_id, project, has_project)) return false;
  switch (kind) {
    case Kind::kAll:
      return true;
    case Kind::kTask:
      return task_id == value;
    case Kind::kPrefix:
      return task_id.starts_with(value);
    case Kind::kProject:
      return has_project && project == value;
  }
  return false;
}

bool View::matches(const TaskRecord& task) const noexcept {
  return matches(task.task_id.view(), task.project.view(), task.has(kHasProject));
}

std::string View::key() const {
  std::string key;
  switch (kind) {
    case Kind::kAll:
      key = "all";
      break;
    case Kind::kTask:
      key = "task:" + value;
      break;
    case Kind::kPrefix:
      key = "prefix:" + value;
      break;
    case Kind::kProject:
      key = "project:" + value;
      break;
  }
  // In front, with lengths: no unscoped key starts with "scope:", and no two scopes spell
  // the same key.
  if (scope)
    key = fmt::format("scope:{}:{}{}:{}{}", scope->project.size(), scope->project,
                      scope->prefix.size(), scope->prefix, key);
  return key;
}

Frame scoped_plain_frame(const TaskTable& table, const View& view) {
  fmt::memory_buffer out;
  append_tasks_object(out, table, view);
  return Frame::of(0, out);
}

std::string_view task_event_name(TaskEvent e) noexcept {
  switch (e) {
    case TaskEvent::kCreated:
      return "task.created";
    case TaskEvent::kUpdated:
      return "task.updated";
    case TaskEvent::kClosed:
      return "task.closed";
    case TaskEvent::kFailed:
      return "task.failed";
    case TaskEvent::kStale:
      return "task.stale";
    case TaskEvent::kRemoved:
      return "task.removed";
  }
  return "task.updated";
}

TickItem upserted_item(const TaskRecord& task, TaskEvent event, fmt::memory_buffer& scratch,
                       bool with_operation) {
  TickItem item;
  item.task_id.assign(task.task_id.view());
  item.has_project = task.has(kHasProject);
  if (item.has_project) item.project.assign(task.project.view());
  item.event = event;
  scratch.clear();
  append_task_json(scratch, task);
  item.json.assign(scratch.data(), scratch.size());
  if (!with_operation) return item;
  scratch.clear();
  append_operation_message(scratch, task);
  item.operation.assign(scratch.data(), scratch.size());
  return item;
}

TickItem removed_item(std::string task_id) {
  TickItem item;
  item.task_id = std::move(task_id);
  item.removed = true;
  item.event = TaskEvent::kRemoved;
  return item;
}

namespace {

// "tasks":{...} with the view's live tasks, inside an object of the caller's.
void append_view_tasks(fmt::memory_buffer& out, const TaskTable& table, const View& view) {
  if (view.all()) {
    append_tasks_member(out, table);
  } else {
    append_tasks_member(out, table, [&view](const TaskRecord& t) { return view.matches(t); });
  }
}

}  // namespace

void append_tasks_object(fmt::memory_buffer& out, const TaskTable& table, const View& view) {
  out.push_back('{');
  append_view_tasks(out, table, view);
  out.push_back('}');
}

Frame snapshot_frame(const TaskTable& table, const View& view, std::uint64_t seq, bool reset) {
  fmt::memory_buffer out;
  fmt::format_to(std::back_inserter(out), R"({{"type":"snapshot","seq":{})", seq);
  if (reset) out.append(std::string_view{",\"reset\":true"});
  out.push_back(',');
  append_view_tasks(out, table, view);
  out.push_back('}');
  return Frame::of(seq, out);
}

Frame delta_frame(const Tick& tick, const View& view) {
  fmt::memory_buffer out;
  fmt::format_to(std::back_inserter(out), R"({{"type":"delta","seq":{},"upserts":{{)", tick.seq);
  std::size_t matched = 0;
  bool first = true;
  for (const TickItem& it : tick.items) {
    if (it.removed || !matches(view, it)) continue;
    if (!first) out.push_back(',');
    first = false;
    append_json_string(out, it.task_id);
    out.push_back(':');
    out.append(it.json);
    ++matched;
  }
  out.append(std::string_view{"},\"removed\":["});
  first = true;
  for (const TickItem& it : tick.items) {
    if (!it.removed || !matches(view, it)) continue;
    if (!first) out.push_back(',');
    first = false;
    append_json_string(out, it.task_id);
    ++matched;
  }
  out.append(std::string_view{"],\"events\":["});
  first = true;
  for (const TickItem& it : tick.items) {
    if (!matches(view, it)) continue;
    if (!first) out.push_back(',');
    first = false;
    fmt::format_to(std::back_inserter(out), R"({{"event":"{}","task_id":)",
                   task_event_name(it.event));
    append_json_string(out, it.task_id);
    out.push_back('}');
  }
  out.append(std::string_view{"]}"});
  if (matched == 0) return {};
  return Frame::of(tick.seq, out);
}

}  // namespace progressista::daemon
