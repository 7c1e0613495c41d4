#include "progressista/snapshot.hpp"

#include "progressista/task_json.hpp"

namespace progressista {

void append_snapshot(fmt::memory_buffer& out, const TaskTable& table,
                     const std::function<bool(const TaskRecord&)>& keep) {
  out.append(std::string_view{"{\"tasks\":{"});
  bool first = true;
  table.for_each([&](const TaskRecord& t) {
    if (keep && !keep(t)) return;
    if (!first) out.push_back(',');
    first = false;
    append_json_string(out, t.task_id.view());
    out.push_back(':');
    append_task_json(out, t);
  });
  out.append(std::string_view{"}}"});
}

}  // namespace progressista
