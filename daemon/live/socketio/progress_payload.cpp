#include "live/socketio/progress_payload.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "progressista/task_json.hpp"

namespace progressista::daemon::socketio {

namespace {

std::string_view text_or_empty(simdjson::dom::element task, std::string_view key) {
  std::string_view s;
  if (task[key].get(s)) return {};
  return s;
}

bool number_of(simdjson::dom::element task, std::string_view key, double& out) {
  simdjson::dom::element e;
  if (task[key].get(e)) return false;
  if (e.is_double() || e.is_int64() || e.is_uint64()) {
    double v = 0;
    if (e.get(v)) return false;
    out = v;
    return std::isfinite(v);
  }
  return false;
}

bool whole(double v) {
  return std::abs(v) < 9.0e15 && v == std::floor(v);
}

constexpr std::string_view kOwnMetadata[] = {"operation", "phase", "currentStep", "totalSteps"};

}  // namespace

std::string_view change_event(Outcome outcome) noexcept {
  switch (outcome) {
    case Outcome::kCompleted:
      return "progress-complete";
    case Outcome::kFailed:
      return "progress-error";
    case Outcome::kRunning:
      break;
  }
  return "progress-update";
}

ProgressPayload progress_payload(simdjson::dom::parser& parser, std::string_view task_json) {
  ProgressPayload out;
  simdjson::dom::element task;
  const simdjson::padded_string padded(task_json);
  if (parser.parse(padded).get(task) || !task.is_object()) return out;

  const std::string_view status = text_or_empty(task, "status");
  std::string_view shown = "processing";
  if (status == "close") {
    out.outcome = Outcome::kCompleted;
    shown = "completed";
  } else if (status == "error") {
    out.outcome = Outcome::kFailed;
    shown = "error";
  } else if (status == "stale") {
    shown = "stale";
  }
  double n = 0, total = 0, updated = 0;
  const bool has_n = number_of(task, "n", n);
  const bool has_total = number_of(task, "total", total) && total > 0;
  (void)number_of(task, "updated_at", updated);
  double progress = 0;
  if (has_total && has_n) progress = std::clamp(n / total * 100.0, 0.0, 100.0);
  // A task closed without a total, or at its total, is done; one closed early shows how far
  // it got.
  if (out.outcome == Outcome::kCompleted && (!has_total || n >= total)) progress = 100;
  progress = std::round(progress * 100.0) / 100.0;

  fmt::memory_buffer b;
  b.append(std::string_view{"{\"sessionId\":"});
  append_json_string(b, text_or_empty(task, "task_id"));
  fmt::format_to(std::back_inserter(b), ",\"progress\":{}", progress);
  b.append(std::string_view{",\"message\":"});
  append_json_string(b, text_or_empty(task, "message"));
  fmt::format_to(std::back_inserter(b), ",\"status\":\"{}\",\"timestamp\":{}", shown,
                 static_cast<std::int64_t>(std::llround(updated * 1000.0)));
  b.append(std::string_view{",\"metadata\":{"});
  bool first = true;
  const auto comma = [&] {
    if (!first) b.push_back(',');
    first = false;
  };
  simdjson::dom::object meta;
  const bool has_meta = !task["meta"].get(meta);
  if (has_meta) {
    for (const auto field : meta) {
      const bool ours = std::find(std::begin(kOwnMetadata), std::end(kOwnMetadata), field.key) !=
                        std::end(kOwnMetadata);
      if (ours) continue;
      comma();
      append_json_string(b, field.key);
      b.push_back(':');
      b.append(simdjson::minify(field.value));
    }
  }
  if (const std::string_view desc = text_or_empty(task, "desc"); !desc.empty()) {
    comma();
    b.append(std::string_view{"\"operation\":"});
    append_json_string(b, desc);
  }
  if (const std::string_view phase = text_or_empty(task, "phase"); !phase.empty()) {
    comma();
    b.append(std::string_view{"\"phase\":"});
    append_json_string(b, phase);
  }
  if (has_n && has_total && whole(n) && whole(total)) {
    comma();
    fmt::format_to(std::back_inserter(b), "\"currentStep\":{},\"totalSteps\":{}",
                   static_cast<std::int64_t>(n), static_cast<std::int64_t>(total));
  }
  b.push_back('}');
  if (out.outcome == Outcome::kFailed) {
    // The code is the meta's error_code when the worker gave one, else a generic one.
    std::string_view code = "TASK_FAILED";
    if (has_meta) {
      std::string_view c;
      if (!meta["error_code"].get(c) && !c.empty()) code = c;
    }
    b.append(std::string_view{",\"error\":{\"code\":"});
    append_json_string(b, code);
    b.append(std::string_view{",\"detail\":"});
    append_json_string(b, text_or_empty(task, "error"));
    b.push_back('}');
  }
  b.push_back('}');
  out.json.assign(b.data(), b.size());
  return out;
}

}  // namespace progressista::daemon::socketio
