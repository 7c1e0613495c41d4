#include "http/routes.hpp"

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

RoleHandler::RoleHandler(ApiContext& ctx, std::vector<std::unique_ptr<Routes>> groups)
    : ctx_(ctx), groups_(std::move(groups)) {
  for (const auto& g : groups_) {
    if (streams_ == nullptr) streams_ = g->streams();
  }
}

void RoleHandler::handle(const HttpRequest& request, HttpResponse& response) {
  if (ctx_.cors.preflight(request, response)) return;
  bool handled = false;
  if (request.path == "/health") {
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
