#include "progressista/task_query.hpp"

#include <cctype>

#include "progressista/ingest.hpp"
#include "progressista/query.hpp"
#include "progressista/snapshot.hpp"
#include "progressista/task_json.hpp"

namespace progressista {

namespace {

// FastAPI's spellings of a boolean query parameter.
std::optional<bool> parse_bool(std::string_view text) {
  std::string folded;
  for (char c : text)
    folded.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (folded == "true" || folded == "1" || folded == "yes" || folded == "on") return true;
  if (folded == "false" || folded == "0" || folded == "no" || folded == "off") return false;
  return std::nullopt;
}

}  // namespace

bool TaskFilter::matches(const TaskRecord& t) const {
  if (status && t.status != *status) return false;
  if (active && is_terminal(t.status)) return false;
  if (!project.empty() && (!t.has(kHasProject) || t.project.view() != project)) return false;
  if (stalled && is_stalled(t, now, rule) != *stalled) return false;
  if (parent && t.parent_id() != *parent) return false;
  return t.task_id.view().starts_with(prefix);
}

bool read_active(std::string_view query, TaskFilter& filter, std::string& detail) {
  std::string text;
  if (!query_param(query, "active", text) || text.empty()) return true;
  const std::optional<bool> active = parse_bool(text);
  if (!active) {
    detail = fmt::format("active must be true or false, got '{}'", text);
    return false;
  }
  filter.active = *active;
  return true;
}

bool read_task_filter(std::string_view query, TaskFilter& filter, std::string& detail) {
  std::string text;
  if (query_param(query, "status", text) && !text.empty()) {
    filter.status = parse_status(text);
    if (!filter.status) {
      detail = status_not_accepted(text);
      return false;
    }
  }
  if (!read_active(query, filter, detail)) return false;
  if (query_param(query, "stalled", text) && !text.empty()) {
    filter.stalled = parse_bool(text);
    if (!filter.stalled) {
      detail = fmt::format("stalled must be true or false, got '{}'", text);
      return false;
    }
  }
  (void)query_param(query, "project", filter.project);
  (void)query_param(query, "prefix", filter.prefix);
  if (query_param(query, "parent", text)) filter.parent = text;
  return true;
}

int answer_task_list(Store& store, std::string_view query, fmt::memory_buffer& out,
                     const StallRule& rule, double now) {
  out.clear();
  TaskFilter filter;
  filter.rule = rule;
  filter.now = now;
  std::string detail;
  if (!read_task_filter(query, filter, detail)) {
    store.counters().add(Counter::kRejectedValidation);
    append_detail(out, detail);
    return 422;
  }
  out.append(std::string_view{"{\"tasks\":{"});
  bool first = true;
  store.table().for_each([&](const TaskRecord& t) {
    if (!filter.matches(t)) return;
    if (!first) out.push_back(',');
    first = false;
    append_json_string(out, t.task_id.view());
    out.push_back(':');
    append_task_json(out, t, is_stalled(t, now, rule));
  });
  out.append(std::string_view{"}}"});
  return 200;
}

}  // namespace progressista
