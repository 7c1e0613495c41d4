// The operations tracker's vocabulary, in one place for its two shapes: the operation objects
// of GET /projects/{project}/progress (read_api.cpp) and the messages of its WebSocket feed
// (/ws?protocol=operations, built once per change in view.cpp). README.md has both tables.
#pragma once

#include <string>
#include <string_view>

#include <fmt/format.h>

#include "progressista/status.hpp"
#include "progressista/task.hpp"
#include "progressista/task_json.hpp"

namespace progressista::daemon {

// `seconds` since the Unix epoch as ISO 8601 UTC with milliseconds
// ("2026-11-23T10:00:00.123Z"); false (and nothing appended) for a non-finite time or one
// outside years 0..9999.
bool append_iso8601(fmt::memory_buffer& out, double seconds);
// The same time as a JSON string, or null when append_iso8601 cannot write it.
void append_iso8601_json(fmt::memory_buffer& out, double seconds);

// The string field `f` of a task as JSON, or null when the task does not have it.
template <std::size_t N>
void append_optional(fmt::memory_buffer& out, const TaskRecord& t, Field f,
                     const FixedString<N>& s) {
  if (t.has(f)) {
    append_json_string(out, s.view());
  } else {
    out.append(std::string_view{"null"});
  }
}

// start -> started; update, stale, recovered -> in_progress; close -> completed; error -> failed.
[[nodiscard]] std::string_view operation_status(Status s) noexcept;

// n / total x 100 clamped to 0..100 as JSON, or null without a usable total.
void append_percentage(fmt::memory_buffer& out, const TaskRecord& t);

// The string members of a task's meta the tracker reads (`dataset`, `source`), each as JSON
// (a string, or null when meta is not an object or the member is not a string).
struct MetaStrings {
  std::string dataset = "null";
  std::string source = "null";
};
// One parse of meta with a parser of the calling thread.
[[nodiscard]] MetaStrings meta_strings(const TaskRecord& t);

// {"type":"web:ingest:progress","project":P,"timestamp":ISO,"data":{"operationId",...}}:
// one message of the operations feed for the task's current state.
void append_operation_message(fmt::memory_buffer& out, const TaskRecord& t);

}  // namespace progressista::daemon
