#include "live/read_api.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <optional>

#include "live/operation.hpp"
#include "progressista/task_json.hpp"
#include "progressista/snapshot.hpp"
#include "progressista/task_query.hpp"

namespace progressista::daemon {

namespace {

constexpr std::string_view kTaskPrefix = "/tasks/";
constexpr std::string_view kProjectsPrefix = "/projects/";
constexpr std::string_view kProgressSuffix = "/progress";

// Reads ?active=; on a bad value answers 422 (counted) and returns false.
bool read_active(ApiContext& ctx, const HttpRequest& request, HttpResponse& response,
                 TaskFilter& filter) {
  std::string detail;
  if (progressista::read_active(request.query, filter, detail)) return true;
  refuse(ctx, Counter::kRejectedValidation, 422, detail, response);
  return false;
}

}  // namespace

ReadRoutes::ReadRoutes(ApiContext& ctx, StallRule stall) : ctx_(ctx), stall_(stall) {}

ReadRoutes::~ReadRoutes() = default;

bool ReadRoutes::handle(const HttpRequest& request, HttpResponse& response) {
  const std::string_view path = request.path;
  enum class Route { kNone, kTasks, kTask, kProgress } route = Route::kNone;
  std::string_view arg;
  if (path == "/tasks") {
    route = Route::kTasks;
  } else if (path.starts_with(kTaskPrefix) && path.size() > kTaskPrefix.size()) {
    route = Route::kTask;
    arg = path.substr(kTaskPrefix.size());
  } else if (path.starts_with(kProjectsPrefix) && path.ends_with(kProgressSuffix) &&
             path.size() > kProjectsPrefix.size() + kProgressSuffix.size()) {
    route = Route::kProgress;
    arg = path.substr(kProjectsPrefix.size(),
                      path.size() - kProjectsPrefix.size() - kProgressSuffix.size());
  }
  if (route == Route::kNone) return false;

  if (request.method != "GET" && request.method != "HEAD") {
    // In `serve` the write API answers DELETE on the task routes.
    const bool deletable = route != Route::kProgress && ctx_.role == Role::kServe;
    method_not_allowed(ctx_, deletable ? "GET, HEAD, DELETE" : "GET, HEAD", response);
  } else if (std::optional<ShareScope> scope;
             route == Route::kProgress ? authorize(ctx_, request, response)
                                       : authorize_read(ctx_, request, response, scope)) {
    switch (route) {
      case Route::kTasks:
        list_tasks(request, scope, response);
        break;
      case Route::kTask:
        get_task(arg, scope, response);
        break;
      case Route::kProgress:
        progress(request, arg, response);
        break;
      case Route::kNone:
        break;
    }
  }
  response.set_header("Cache-Control", "no-store");
  return true;
}

void ReadRoutes::finish(HttpResponse& response) {
  response.status = 200;
  response.content_type = "application/json";
  response.body.assign(out_.data(), out_.size());
}

void ReadRoutes::list_tasks(const HttpRequest& request, const std::optional<ShareScope>& scope,
                            HttpResponse& response) {
  if (!scope) {
    const int status = answer_task_list(ctx_.store, request.query, out_, stall_, now_seconds());
    finish(response);
    response.status = status;
    return;
  }
  // A share link's list: the query's filters and the link's scope, both.
  TaskFilter filter;
  filter.rule = stall_;
  filter.now = now_seconds();
  std::string detail;
  if (!read_task_filter(request.query, filter, detail)) {
    refuse(ctx_, Counter::kRejectedValidation, 422, detail, response);
    return;
  }
  out_.clear();
  out_.append(std::string_view{"{\"tasks\":{"});
  bool first = true;
  ctx_.store.table().for_each([&](const TaskRecord& t) {
    if (!filter.matches(t) ||
        !scope->matches(t.task_id.view(), t.project.view(), t.has(kHasProject)))
      return;
    if (!first) out_.push_back(',');
    first = false;
    append_json_string(out_, t.task_id.view());
    out_.push_back(':');
    append_task_json(out_, t, is_stalled(t, filter.now, stall_));
  });
  out_.append(std::string_view{"}}"});
  finish(response);
}

void ReadRoutes::get_task(std::string_view encoded_id, const std::optional<ShareScope>& scope,
                          HttpResponse& response) {
  std::string id;
  if (!url_decode(encoded_id, id, false)) {
    refuse(ctx_, Counter::kRejectedValidation, 422,
           "task_id in the path has a malformed percent-escape", response);
    return;
  }
  TaskRecord task;
  // Outside a share link's scope a task is not there, as for a task that never was.
  if (!ctx_.store.table().lookup(id, task) ||
      (scope && !scope->matches(task.task_id.view(), task.project.view(), task.has(kHasProject)))) {
    set_error(response, 404, "Task not found");
    return;
  }
  out_.clear();
  append_task_json(out_, task, is_stalled(task, now_seconds(), stall_));
  finish(response);
}

void ReadRoutes::progress(const HttpRequest& request, std::string_view encoded_project,
                          HttpResponse& response) {
  TaskFilter filter;
  if (!url_decode(encoded_project, filter.project, false)) {
    refuse(ctx_, Counter::kRejectedValidation, 422,
           "project in the path has a malformed percent-escape", response);
    return;
  }
  if (filter.project == "all") filter.project.clear();
  if (!read_active(ctx_, request, response, filter)) return;

  std::string operation_id;
  if (query_param(request.query, "operationId", operation_id) && !operation_id.empty()) {
    TaskRecord task;
    if (!ctx_.store.table().lookup(operation_id, task) || !filter.matches(task)) {
      set_error(response, 404, "Operation not found");
      return;
    }
    page_.clear();
    append_operation(task);
    out_.clear();
    out_.append(std::string_view(page_.data(), page_.size()));
    finish(response);
    return;
  }

  // Operations are serialized as they are read (one copy per task), then ordered.
  page_.clear();
  entries_.clear();
  ctx_.store.table().for_each([&](const TaskRecord& t) {
    if (!filter.matches(t)) return;
    const std::size_t offset = page_.size();
    append_operation(t);
    entries_.push_back({t.updated_at, offset, page_.size() - offset});
  });
  std::stable_sort(entries_.begin(), entries_.end(),
                   [](const Entry& a, const Entry& b) { return a.updated_at > b.updated_at; });
  out_.clear();
  out_.append(std::string_view{"{\"operations\":["});
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    if (i > 0) out_.push_back(',');
    out_.append(std::string_view(page_.data() + entries_[i].offset, entries_[i].size));
  }
  out_.append(std::string_view{"]}"});
  finish(response);
}

void ReadRoutes::append_operation(const TaskRecord& t) {
  fmt::memory_buffer& out = page_;
  out.append(std::string_view{"{\"operationId\":"});
  append_json_string(out, t.task_id.view());
  out.append(std::string_view{",\"operation\":"});
  append_json_string(out, t.has(kHasDesc) && t.desc.size() > 0 ? t.desc.view() : t.task_id.view());
  out.append(std::string_view{",\"project\":"});
  append_optional(out, t, kHasProject, t.project);
  out.append(std::string_view{",\"dataset\":"});
  out.append(meta_strings(t).dataset);
  out.append(std::string_view{",\"status\":\""});
  out.append(operation_status(t.status));
  out.append(std::string_view{"\",\"phase\":"});
  append_optional(out, t, kHasPhase, t.phase);
  out.append(std::string_view{",\"progress\":"});
  append_percentage(out, t);
  out.append(std::string_view{",\"message\":"});
  append_optional(out, t, kHasMessage, t.message);
  out.append(std::string_view{",\"startedAt\":"});
  append_iso8601_json(out, t.created_at);
  out.append(std::string_view{",\"updatedAt\":"});
  append_iso8601_json(out, t.updated_at);
  out.append(std::string_view{",\"completedAt\":"});
  if (t.has(kHasDoneAt)) {
    append_iso8601_json(out, t.done_at);
  } else {
    out.append(std::string_view{"null"});
  }
  out.append(std::string_view{",\"error\":"});
  append_optional(out, t, kHasError, t.error);
  out.push_back('}');
}

}  // namespace progressista::daemon
