// The live endpoints as a route group: GET /ws and GET /events are handed to this thread's
// LiveClients (WebSocket, SSE); any other method on those paths gets 405 here.
#pragma once

#include <memory>

#include "http/routes.hpp"
#include "live/broadcaster.hpp"

namespace progressista::daemon {

class LiveClients;

class LiveEndpoints final : public Routes {
 public:
  LiveEndpoints(ApiContext& ctx, Broadcaster& hub);
  ~LiveEndpoints() override;
  bool handle(const HttpRequest& request, HttpResponse& response) override;
  StreamTaker* streams() override;

 private:
  ApiContext& ctx_;
  std::unique_ptr<LiveClients> clients_;  // behind a pointer: only live/ pays Beast's cost
};

}  // namespace progressista::daemon
