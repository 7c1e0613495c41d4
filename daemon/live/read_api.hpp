// The read API of the broadcaster: GET /tasks (with filters), GET /tasks/{id}, and the
// operations-tracker view GET /projects/{project}/progress. Behaviour: README.md, "Read API".
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "http/routes.hpp"
#include "progressista/task.hpp"

namespace simdjson::dom {
class parser;
}

namespace progressista::daemon {

// `seconds` since the Unix epoch as ISO 8601 UTC with milliseconds
// ("2026-11-23T10:00:00.123Z"); false (and nothing appended) for a non-finite time or one
// outside years 0..9999.
bool append_iso8601(fmt::memory_buffer& out, double seconds);

// One per I/O thread: owns its output buffers and a JSON parser for meta.dataset.
class ReadRoutes final : public Routes {
 public:
  explicit ReadRoutes(ApiContext& ctx);
  ~ReadRoutes();
  ReadRoutes(const ReadRoutes&) = delete;
  ReadRoutes& operator=(const ReadRoutes&) = delete;
  // In `serve`, IngestRoutes comes first: it claims DELETE /tasks and DELETE /tasks/{id}.
  bool handle(const HttpRequest& request, HttpResponse& response) override;

 private:
  void list_tasks(const HttpRequest& request, HttpResponse& response);
  void get_task(std::string_view encoded_id, HttpResponse& response);
  void progress(const HttpRequest& request, std::string_view encoded_project,
                HttpResponse& response);
  // Appends one task in the operations-tracker shape.
  void append_operation(const TaskRecord& task);
  // meta.dataset when meta is an object whose "dataset" is a string (appended as JSON),
  // else null.
  void append_dataset(const TaskRecord& task);
  void finish(HttpResponse& response);

  struct Entry {
    double updated_at;
    std::size_t offset;  // of the operation's JSON in out_
    std::size_t size;
  };

  ApiContext& ctx_;
  fmt::memory_buffer out_;
  fmt::memory_buffer page_;
  std::vector<Entry> entries_;
  std::string meta_;  // meta text with simdjson's padding
  std::unique_ptr<simdjson::dom::parser> parser_;
};

}  // namespace progressista::daemon
