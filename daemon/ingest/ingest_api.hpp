// The write API (Progressista's routes and status codes): POST /progress, DELETE /tasks/{id},
// DELETE /tasks?status=&older_than=, GET /health.
#pragma once

#include <string>

#include <fmt/format.h>

#include "http/access.hpp"
#include "http/http_types.hpp"
#include "progressista/ingest.hpp"
#include "progressista/store.hpp"

namespace progressista::daemon {

// What every thread's routes share (read-only after start).
struct ApiContext {
  Store& store;
  TokenSet tokens;
  Cors cors;
  Role role;
};

// One per I/O thread: owns a parser and buffers.
class IngestRoutes {
 public:
  explicit IngestRoutes(ApiContext& ctx) : ctx_(ctx), ingestor_(ctx.store) {}
  // Handles the request and returns true when its path belongs to the write API.
  bool handle(const HttpRequest& request, HttpResponse& response);

 private:
  void post_progress(const HttpRequest& request, HttpResponse& response);
  void delete_task(const HttpRequest& request, std::string_view encoded_id, HttpResponse& response);
  void delete_tasks(const HttpRequest& request, HttpResponse& response);
  bool authorize(const HttpRequest& request, HttpResponse& response);

  ApiContext& ctx_;
  Ingestor ingestor_;
  fmt::memory_buffer out_;
};

// Answers 405 (with Allow) when `path` is a known route, else 404, in FastAPI's words.
void not_routed(std::string_view allow, HttpResponse& response);

// The `ingest` role's handler: CORS, the write API, 404/405.
class IngestHandler final : public HttpHandler {
 public:
  explicit IngestHandler(ApiContext& ctx) : ctx_(ctx), routes_(ctx) {}
  void handle(const HttpRequest& request, HttpResponse& response) override;

 private:
  ApiContext& ctx_;
  IngestRoutes routes_;
};

}  // namespace progressista::daemon
