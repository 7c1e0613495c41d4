#include "ingest/ingest_api.hpp"

#include <cmath>
#include <vector>

namespace progressista::daemon {

namespace {

bool parse_seconds(const std::string& text, double& out) {
  char* end = nullptr;
  out = std::strtod(text.c_str(), &end);
  return !text.empty() && end == text.c_str() + text.size() && std::isfinite(out) && out >= 0;
}

// The write token, then the task id in the path, percent-decoded: false once the refusal
// (401, or 422 for a malformed escape) is answered.
bool authorized_task_id(ApiContext& ctx, const HttpRequest& request, std::string_view encoded_id,
                        std::string& id, HttpResponse& response) {
  if (!authorize(ctx, request, response)) return false;
  if (url_decode(encoded_id, id, false)) return true;
  refuse(ctx, Counter::kRejectedValidation, 422, "task_id in the path has a malformed percent-escape",
         response);
  return false;
}

// The write path's suffixes under /tasks/{id}: the only POSTs there, so a task whose id ends
// in "/acknowledge" stays reachable by DELETE and GET.
constexpr std::string_view kTaskPrefix = "/tasks/";
constexpr std::string_view kAckSuffixes[] = {"/acknowledge", "/unacknowledge"};

}  // namespace

double IngestRoutes::now() const {
  return fixed_now_ > 0 ? fixed_now_ : now_seconds();
}

bool IngestRoutes::handle_at(const HttpRequest& request, HttpResponse& response, double now) {
  fixed_now_ = now;
  const bool handled = handle(request, response);
  fixed_now_ = 0;
  return handled;
}

bool IngestRoutes::writes(const HttpRequest& request) {
  const std::string_view path = request.path;
  if (path == "/progress") return request.method == "POST";
  if (path == "/tasks") return request.method == "DELETE";
  if (!path.starts_with(kTaskPrefix) || path.size() <= kTaskPrefix.size()) return false;
  if (request.method == "DELETE") return true;
  if (request.method != "POST") return false;
  const std::string_view rest = path.substr(kTaskPrefix.size());
  for (const std::string_view suffix : kAckSuffixes)
    if (rest.size() > suffix.size() && rest.ends_with(suffix)) return true;
  return false;
}

bool IngestRoutes::handle(const HttpRequest& request, HttpResponse& response) {
  const std::string_view path = request.path;
  if (path == "/progress") {
    if (request.method == "POST") {
      post_progress(request, response);
    } else {
      method_not_allowed(ctx_, "POST", response);
    }
    return true;
  }
  if (path == "/tasks" && request.method == "DELETE") {
    delete_tasks(request, response);
    return true;
  }
  if (path.starts_with(kTaskPrefix) && path.size() > kTaskPrefix.size() &&
      request.method == "DELETE") {
    delete_task(request, path.substr(kTaskPrefix.size()), response);
    return true;
  }
  // POST /tasks/{id}/acknowledge and /unacknowledge.
  if (path.starts_with(kTaskPrefix) && request.method == "POST") {
    const std::string_view rest = path.substr(kTaskPrefix.size());
    for (const bool on : {true, false}) {
      const std::string_view suffix = kAckSuffixes[on ? 0 : 1];
      if (rest.size() > suffix.size() && rest.ends_with(suffix)) {
        acknowledge(request, rest.substr(0, rest.size() - suffix.size()), on, response);
        return true;
      }
    }
  }
  return false;
}

void IngestRoutes::acknowledge(const HttpRequest& request, std::string_view encoded_id, bool on,
                               HttpResponse& response) {
  std::string id;
  if (!authorized_task_id(ctx_, request, encoded_id, id, response)) return;
  const double now = this->now();
  bool found = false;
  Status status = Status::kStart;
  double at = 0;
  // Under the task's lock: a failure acknowledged and an event arriving at once end in one
  // order or the other, never in an event that keeps the acknowledgement.
  (void)ctx_.store.table().modify(id, [&](TaskRecord& t) {
    found = true;
    status = t.status;
    if (t.status != Status::kError || t.has(kHasAcknowledged) == on) {
      at = t.acknowledged_at;
      return false;
    }
    t.set(kHasAcknowledged, on);
    t.acknowledged_at = on ? now : 0;
    at = t.acknowledged_at;
    return true;
  });
  if (!found) {
    set_error(response, 404, "Task not found");  // as GET /tasks/{id}: not counted
    return;
  }
  if (status != Status::kError) {
    refuse(ctx_, Counter::kRejectedValidation, 409,
           fmt::format("task has not failed (its status is '{}'); only failures are acknowledged",
                       status_name(status)),
           response);
    return;
  }
  fmt::memory_buffer out;
  out.append(std::string_view{"{\"ok\":true,\"task_id\":"});
  append_json_string(out, id);
  if (on) {
    out.append(std::string_view{",\"acknowledged_at\":"});
    append_json_number(out, at);
  } else {
    out.append(std::string_view{",\"acknowledged\":false"});
  }
  out.push_back('}');
  response.body.assign(out.data(), out.size());
}

void IngestRoutes::post_progress(const HttpRequest& request, HttpResponse& response) {
  const PostRequest post{request.header("content-type"), access_of(ctx_.tokens, request)};
  const std::string& body = *request.body;
  response.status = ingestor_.post(post, body, body.capacity(), now(), out_);
  response.body.assign(out_.data(), out_.size());
  if (response.status == 401) response.set_header("WWW-Authenticate", "Bearer");
}

namespace {
TaskRecord& lookup_scratch() {
  thread_local TaskRecord rec;  // ~5 KB: not on a handler's stack
  return rec;
}
}  // namespace

void IngestRoutes::delete_task(const HttpRequest& request, std::string_view encoded_id,
                               HttpResponse& response) {
  std::string id;
  if (!authorized_task_id(ctx_, request, encoded_id, id, response)) return;
  const bool removed = ctx_.store.table().remove(id);
  TaskRecord& rec = lookup_scratch();
  if (!removed && ctx_.store.table().lookup(id, rec) && rec.kids > 0) {
    // Nested progress: its sums live in it; its children would re-create it with part of them.
    response.status = 409;
    fmt::memory_buffer out;
    append_detail(out, fmt::format("task '{}' has {} children; delete them first (a parent is "
                                   "removed only once it has none)",
                                   id, rec.kids));
    response.body.assign(out.data(), out.size());
    return;
  }
  response.body = removed ? R"({"removed":true})" : R"({"removed":false})";
}

void IngestRoutes::delete_tasks(const HttpRequest& request, HttpResponse& response) {
  if (!authorize(ctx_, request, response)) return;
  std::string status_text, older_text;
  std::optional<Status> status;
  if (query_param(request.query, "status", status_text) && !status_text.empty()) {
    status = parse_status(status_text);
    if (!status) {
      refuse(ctx_, Counter::kRejectedValidation, 422, status_not_accepted(status_text), response);
      return;
    }
  }
  double older_than = 0;
  if (query_param(request.query, "older_than", older_text) && !older_text.empty() &&
      !parse_seconds(older_text, older_than)) {
    refuse(ctx_, Counter::kRejectedValidation, 422,
           fmt::format("older_than must be a number of seconds, got '{}'", older_text), response);
    return;
  }
  const double cutoff = now() - older_than;
  const auto matches = [&](const TaskRecord& t) {
    return (!status || t.status == *status) && (older_than <= 0 || t.updated_at <= cutoff);
  };
  std::vector<std::string> candidates;
  ctx_.store.table().for_each([&](const TaskRecord& t) {
    if (matches(t)) candidates.emplace_back(t.task_id.view());
  });
  fmt::memory_buffer out;
  out.append(std::string_view{"{\"removed\":["});
  bool first = true;
  for (const std::string& id : candidates) {
    // Re-checked under the task's lock: a task updated since the scan stays.
    if (!ctx_.store.table().remove_if(id, matches)) continue;
    if (!first) out.push_back(',');
    first = false;
    append_json_string(out, id);
  }
  out.append(std::string_view{"]}"});
  response.body.assign(out.data(), out.size());
}

}  // namespace progressista::daemon
