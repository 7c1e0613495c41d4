// The write API (Progressista's routes and status codes): POST /progress, DELETE /tasks/{id},
// DELETE /tasks?status=&older_than=, POST /tasks/{id}/acknowledge and /unacknowledge.
#pragma once

#include <string>

#include <fmt/format.h>

#include "http/routes.hpp"
#include "progressista/ingest.hpp"
#include "progressista/store.hpp"

namespace progressista::daemon {

// One per I/O thread: owns a parser and buffers.
class IngestRoutes final : public Routes {
 public:
  explicit IngestRoutes(ApiContext& ctx) : ctx_(ctx), ingestor_(ctx.store) {}
  bool handle(const HttpRequest& request, HttpResponse& response) override;
  // handle() with the server's clock read as `now` (Unix seconds): a federated node replays a
  // write from the log at the time of its entry, so every node computes the same table.
  bool handle_at(const HttpRequest& request, HttpResponse& response, double now);
  // True for the requests that change the table (what a federated node puts in the log):
  // POST /progress, DELETE /tasks and /tasks/{id}, POST /tasks/{id}/(un)acknowledge.
  [[nodiscard]] static bool writes(const HttpRequest& request);

 private:
  [[nodiscard]] double now() const;
  void post_progress(const HttpRequest& request, HttpResponse& response);
  void delete_task(const HttpRequest& request, std::string_view encoded_id, HttpResponse& response);
  void delete_tasks(const HttpRequest& request, HttpResponse& response);
  // `on`: acknowledge a failed task (acknowledged_at = now), else withdraw it. 404 unknown
  // task, 409 a task that has not failed; acknowledging twice keeps the first time.
  void acknowledge(const HttpRequest& request, std::string_view encoded_id, bool on,
                   HttpResponse& response);

  ApiContext& ctx_;
  Ingestor ingestor_;
  fmt::memory_buffer out_;
  double fixed_now_ = 0;  // handle_at's clock; 0: the wall clock
};

}  // namespace progressista::daemon
