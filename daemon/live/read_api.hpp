// The read API of the broadcaster: GET /tasks (with filters), GET /tasks/{id}, and the
// operations-tracker view GET /projects/{project}/progress. Behaviour: README.md, "Read API".
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "http/routes.hpp"
#include "live/operation.hpp"  // append_iso8601, used by the tests
#include "progressista/task.hpp"

namespace progressista::daemon {

// One per I/O thread: owns its output buffers.
class ReadRoutes final : public Routes {
 public:
  // `stall`: what GET /tasks and GET /tasks/{id} mark "stalled".
  ReadRoutes(ApiContext& ctx, StallRule stall = {});
  ~ReadRoutes();
  ReadRoutes(const ReadRoutes&) = delete;
  ReadRoutes& operator=(const ReadRoutes&) = delete;
  // In `serve`, IngestRoutes comes first: it claims DELETE /tasks and DELETE /tasks/{id}.
  bool handle(const HttpRequest& request, HttpResponse& response) override;

 private:
  // `scope`: a share link's; the answer holds only the tasks within it.
  void list_tasks(const HttpRequest& request, const std::optional<ShareScope>& scope,
                  HttpResponse& response);
  void get_task(std::string_view encoded_id, const std::optional<ShareScope>& scope,
                HttpResponse& response);
  void progress(const HttpRequest& request, std::string_view encoded_project,
                HttpResponse& response);
  // Appends one task in the operations-tracker shape.
  void append_operation(const TaskRecord& task);
  void finish(HttpResponse& response);

  struct Entry {
    double updated_at;
    std::size_t offset;  // of the operation's JSON in out_
    std::size_t size;
  };

  ApiContext& ctx_;
  const StallRule stall_;
  fmt::memory_buffer out_;
  fmt::memory_buffer page_;
  std::vector<Entry> entries_;
};

}  // namespace progressista::daemon
