#include "progressista/task_query.hpp"

#include <cctype>

#include "progressista/ingest.hpp"
#include "progressista/query.hpp"
#include "progressista/snapshot.hpp"

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
  (void)query_param(query, "project", filter.project);
  (void)query_param(query, "prefix", filter.prefix);
  return true;
}

int answer_task_list(Store& store, std::string_view query, fmt::memory_buffer& out) {
  out.clear();
  TaskFilter filter;
  std::string detail;
  if (!read_task_filter(query, filter, detail)) {
    store.counters().add(Counter::kRejectedValidation);
    append_detail(out, detail);
    return 422;
  }
  append_snapshot(out, store.table(), [&filter](const TaskRecord& t) { return filter.matches(t); });
  return 200;
}

}  // namespace progressista
