#include "http/routes.hpp"

#include <fmt/format.h>

#include "http/health.hpp"

namespace progressista::daemon {

void refuse(ApiContext& ctx, Counter counter, int status, std::string_view detail,
            HttpResponse& response) {
  ctx.store.counters().add(counter);
  set_error(response, status, detail);
}

void method_not_allowed(ApiContext& ctx, std::string_view allow, HttpResponse& response) {
  refuse(ctx, Counter::kRejectedMethod, 405, "Method Not Allowed", response);
  response.set_header("Allow", std::string(allow));
}

bool authorize(ApiContext& ctx, const HttpRequest& request, HttpResponse& response) {
  if (access_of(ctx.tokens, request).open()) return true;
  refuse(ctx, Counter::kRejectedAuth, 401, "Invalid API token", response);
  response.set_header("WWW-Authenticate", "Bearer");
  return false;
}

namespace {

void refuse_share(ApiContext& ctx, const ShareAccess& share, HttpResponse& response) {
  refuse(ctx, Counter::kRejectedAuth, 401, share.detail, response);
  response.set_header("WWW-Authenticate", "Bearer");
}

// The routes a share link reaches (each shows only the link's scope); the board's files too.
bool share_reaches(std::string_view path) {
  return path == "/" || path == "/health" || path == "/tasks" || path.starts_with("/tasks/") ||
         path == "/summary" || path.starts_with("/badge/") || path == "/static" ||
         path.starts_with("/static/") || path == "/favicon.ico" || path == "/ws" ||
         path == "/events";
}

// False (answered) when the request's share link is refused, or used to write or to reach
// a route outside what links show.
bool share_gate(ApiContext& ctx, const HttpRequest& request, HttpResponse& response) {
  const ShareAccess share = ctx.share->of(request);
  if (share.none()) return true;
  if (share.refused()) {
    refuse_share(ctx, share, response);
    return false;
  }
  if (request.method != "GET" && request.method != "HEAD") {
    ctx.share->count_forbidden();
    refuse(ctx, Counter::kRejectedAuth, 403,
           "A share link is read-only: it cannot post, delete or acknowledge tasks", response);
    return false;
  }
  if (!share_reaches(request.path)) {
    ctx.share->count_forbidden();
    refuse(ctx, Counter::kRejectedAuth, 403,
           fmt::format("A share link does not reach {}: it shows {} on the board, /tasks, "
                       "/summary, the live streams and badges",
                       request.path, share.scope.describe()),
           response);
    return false;
  }
  return true;
}

}  // namespace

bool authorize_read(ApiContext& ctx, const HttpRequest& request, HttpResponse& response,
                    std::optional<ShareScope>& scope) {
  ShareAccess share = ctx.share->of(request);
  if (share.scoped()) {
    scope = std::move(share.scope);
    return true;
  }
  if (share.refused()) {
    refuse_share(ctx, share, response);
    return false;
  }
  return authorize(ctx, request, response);
}

RoleHandler::RoleHandler(ApiContext& ctx, std::vector<std::unique_ptr<Routes>> groups)
    : ctx_(ctx), groups_(std::move(groups)) {
  for (const auto& g : groups_) {
    if (streams_ == nullptr) streams_ = g->streams();
  }
}

void RoleHandler::handle(const HttpRequest& request, HttpResponse& response) {
  if (ctx_.cors.preflight(request, response)) return;
  bool handled = !share_gate(ctx_, request, response);
  if (!handled && request.path == "/health") {
    if (request.method == "GET" || request.method == "HEAD") {
      health_response(ctx_.store, ctx_.role, response);
    } else {
      method_not_allowed(ctx_, "GET", response);
    }
    handled = true;
  }
  for (std::size_t i = 0; i < groups_.size() && !handled; ++i) {
    handled = groups_[i]->handle(request, response);
  }
  if (!handled) refuse(ctx_, Counter::kRejectedNotFound, 404, "Not Found", response);
  ctx_.cors.decorate(request, response);
}

}  // namespace progressista::daemon
