#include "live/live_endpoints.hpp"

#include "live/live_clients.hpp"

namespace progressista::daemon {

LiveEndpoints::LiveEndpoints(ApiContext& ctx, Broadcaster& hub)
    : ctx_(ctx), clients_(std::make_unique<LiveClients>(hub, ctx.tokens, &ctx.cors,
                                                             ctx.share.get())) {}

LiveEndpoints::~LiveEndpoints() = default;

bool LiveEndpoints::handle(const HttpRequest& request, HttpResponse& response) {
  if (request.path != "/ws" && request.path != "/events") return false;
  // A GET went to the live clients before the routes were asked.
  method_not_allowed(ctx_, "GET", response);
  return true;
}

StreamTaker* LiveEndpoints::streams() {
  return clients_.get();
}

}  // namespace progressista::daemon
