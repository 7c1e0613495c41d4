#include "live/broadcast_api.hpp"

#include "http/health.hpp"

namespace progressista::daemon {

BroadcastHandler::BroadcastHandler(ApiContext& ctx, Broadcaster& hub,
                                   const std::filesystem::path& static_dir, bool with_ingest)
    : ctx_(ctx),
      ingest_(with_ingest ? std::make_unique<IngestRoutes>(ctx) : nullptr),
      read_(ctx),
      metrics_(ctx, &hub.stats()),
      static_(static_dir),
      live_(hub, ctx.tokens) {}

void BroadcastHandler::handle(const HttpRequest& request, HttpResponse& response) {
  if (ctx_.cors.preflight(request, response)) return;
  if (request.path == "/health") {
    if (request.method == "GET" || request.method == "HEAD") {
      health_response(ctx_.store, ctx_.role, response);
    } else {
      ctx_.store.counters().add(Counter::kRejectedMethod);
      not_routed("GET", response);
    }
  } else if (request.path == "/ws" || request.path == "/events") {
    // Only a GET reaches the live clients; anything else lands here.
    ctx_.store.counters().add(Counter::kRejectedMethod);
    not_routed("GET", response);
  } else if (!(ingest_ && ingest_->handle(request, response)) && !read_.handle(request, response) &&
             !metrics_.handle(request, response) && !static_.handle(request, response)) {
    ctx_.store.counters().add(Counter::kRejectedNotFound);
    not_routed({}, response);
  }
  ctx_.cors.decorate(request, response);
}

}  // namespace progressista::daemon
