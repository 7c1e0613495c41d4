// A task as the progress rooms show it: the payload of progress-status, progress-update,
// progress-complete and progress-error, {sessionId, progress (0-100), message, status,
// timestamp (epoch ms), metadata[, error]}, made from the task's JSON (the same text the
// broadcaster's tick carries), so every transport and every room shares one encoder.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <simdjson.h>

namespace progressista::daemon::socketio {

// What a task's state means to a room: still running, completed, failed.
enum class Outcome : std::uint8_t { kRunning, kCompleted, kFailed };

struct ProgressPayload {
  std::string json;  // empty when the task's JSON could not be read
  Outcome outcome = Outcome::kRunning;
};

// The payload of the task whose JSON is `task_json` (append_task_json's shape), parsed with
// `parser` (reused). `status` is "processing" while the task runs ("stale" once marked
// stale), "completed" once closed, "error" once failed (with error: {code, detail}).
// `metadata` is the task's meta plus operation (desc), phase, and currentStep/totalSteps
// when n and total are integers. O(size of the task).
[[nodiscard]] ProgressPayload progress_payload(simdjson::dom::parser& parser,
                                               std::string_view task_json);

// The event that carries a change of state: progress-update, progress-complete or
// progress-error.
[[nodiscard]] std::string_view change_event(Outcome outcome) noexcept;

}  // namespace progressista::daemon::socketio
