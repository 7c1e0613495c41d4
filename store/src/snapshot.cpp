#include "progressista/snapshot.hpp"

#include <simdjson.h>

#include "progressista/task_json.hpp"

namespace progressista {

void append_snapshot(fmt::memory_buffer& out, const TaskTable& table,
                     const std::function<bool(const TaskRecord&)>& keep) {
  out.push_back('{');
  append_tasks_member(out, table, keep);
  out.push_back('}');
}

void append_tasks_member(fmt::memory_buffer& out, const TaskTable& table,
                         const std::function<bool(const TaskRecord&)>& keep) {
  out.append(std::string_view{"\"tasks\":{"});
  bool first = true;
  table.for_each([&](const TaskRecord& t) {
    if (keep && !keep(t)) return;
    if (!first) out.push_back(',');
    first = false;
    append_json_string(out, t.task_id.view());
    out.push_back(':');
    append_task_json(out, t);
  });
  out.push_back('}');
}

namespace {

namespace dom = simdjson::dom;

bool number(dom::object task, const char* key, double& out) {
  double d = 0;
  if (task[key].get_double().get(d) != simdjson::SUCCESS) return false;
  out = d;
  return true;
}

// A string field: over its limit it is truncated (truncate=true) or left out.
template <std::size_t N>
bool text(dom::object task, const char* key, FixedString<N>& out, bool truncate) {
  std::string_view s;
  if (task[key].get_string().get(s) != simdjson::SUCCESS) return false;
  if (s.size() > N && !truncate) return false;
  out.assign(utf8_prefix(s, N));
  return true;
}

// The record a saved task restores, as of `now`.
void restore(dom::object task, std::string_view id, double now, TaskRecord& rec) {
  rec.live = 1;
  rec.task_id.assign(id);
  number(task, "n", rec.n);
  if (number(task, "total", rec.total)) rec.set(kHasTotal);
  if (number(task, "timestamp", rec.timestamp)) rec.set(kHasTimestamp);
  if (!number(task, "created_at", rec.created_at)) rec.created_at = now;
  if (!number(task, "updated_at", rec.updated_at)) rec.updated_at = rec.created_at;
  if (number(task, "done_at", rec.done_at)) rec.set(kHasDoneAt);
  if (number(task, "stale_at", rec.stale_at)) rec.set(kHasStaleAt);
  if (number(task, "rate", rec.rate)) rec.set(kHasRate);
  if (number(task, "cadence", rec.cadence) && rec.cadence > 0) rec.set(kHasCadence);
  if (text(task, "desc", rec.desc, true)) rec.set(kHasDesc);
  if (text(task, "unit", rec.unit, false)) rec.set(kHasUnit);
  if (text(task, "project", rec.project, false)) rec.set(kHasProject);
  if (text(task, "phase", rec.phase, false)) rec.set(kHasPhase);
  if (text(task, "message", rec.message, true)) rec.set(kHasMessage);
  if (text(task, "error", rec.error, true)) rec.set(kHasError);
  // Nested progress: the parent is restored; the sums are recounted from the children
  // (TaskTable::recount_families), never read back.
  if (text(task, "parent", rec.parent, false) && rec.parent.size() > 0) rec.set(kHasParent);
  dom::object meta;
  if (task["meta"].get_object().get(meta) == simdjson::SUCCESS) {
    const std::string minified = simdjson::minify(meta);
    if (minified.size() <= limits::kMeta) {
      rec.meta.assign(minified);
      rec.set(kHasMeta);
    }
  }
  std::string_view status;  // a missing or non-string status restores as "recovered"
  if (task["status"].get_string().get(status) != simdjson::SUCCESS) status = {};
  rec.status = status == "close"   ? Status::kClose
               : status == "stale" ? Status::kStale
                                   : Status::kRecovered;
  if (rec.status == Status::kClose && !rec.has(kHasDoneAt)) {
    rec.done_at = rec.updated_at;
    rec.set(kHasDoneAt);
  }
  rec.recovered_at = now;
  rec.set(kHasRecovered);
}

}  // namespace

std::string read_snapshot(const std::string& path, double now,
                          const std::function<void(const SavedTask&)>& each) {
  dom::parser parser;
  dom::element root;
  dom::object tasks;
  simdjson::padded_string bytes;
  auto error = simdjson::padded_string::load(path).get(bytes);
  if (!error) error = parser.parse(bytes).get(root);
  if (!error) error = root["tasks"].get_object().get(tasks);
  if (error == simdjson::IO_ERROR) return "cannot read the file";
  if (error) {
    return fmt::format("not a Progressista task file ({})", simdjson::error_message(error));
  }
  for (auto [key, value] : tasks) {
    dom::object task;
    std::string problem;
    if (value.get_object().get(task) != simdjson::SUCCESS) {
      problem = "not a JSON object";
    } else if (key.empty()) {
      problem = "task_id must not be empty";
    } else if (key.size() > limits::kTaskId) {
      problem = fmt::format("task_id is {} bytes; the limit is {}", key.size(), limits::kTaskId);
    }
    if (!problem.empty()) {
      each(SavedTask{key, nullptr, problem});
      continue;
    }
    TaskRecord rec;
    restore(task, key, now, rec);
    each(SavedTask{key, &rec, {}});
  }
  return {};
}

}  // namespace progressista
