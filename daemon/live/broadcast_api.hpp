// The handler of the `broadcast` and `serve` roles: the read API, live clients (WebSocket,
// SSE), /metrics, /health and /static; with `serve`, the write API too, on the same port.
#pragma once

#include <filesystem>
#include <memory>

#include "live/broadcaster.hpp"
#include "http/http_types.hpp"
#include "ingest/ingest_api.hpp"
#include "live/live_clients.hpp"
#include "live/metrics.hpp"
#include "live/read_api.hpp"
#include "http/static_files.hpp"

namespace progressista::daemon {

class BroadcastHandler final : public HttpHandler {
 public:
  // `with_ingest`: also answer the write API (the `serve` role).
  BroadcastHandler(ApiContext& ctx, Broadcaster& hub, const std::filesystem::path& static_dir,
                   bool with_ingest);
  void handle(const HttpRequest& request, HttpResponse& response) override;
  StreamTaker* streams() override { return &live_; }

 private:
  ApiContext& ctx_;
  std::unique_ptr<IngestRoutes> ingest_;
  ReadRoutes read_;
  MetricsRoutes metrics_;
  StaticFiles static_;
  LiveClients live_;
};

}  // namespace progressista::daemon
