#include "live/control_message.hpp"

#include <algorithm>

#include "progressista/task.hpp"
#include "progressista/task_json.hpp"

namespace progressista::daemon {

namespace {

// The subscribable fields, in the order a message naming several is read, with their limits.
struct Field {
  std::string_view name;
  View::Kind kind;
  std::size_t limit;
};
constexpr Field kFields[] = {
    {"task_id", View::Kind::kTask, limits::kTaskId},
    {"prefix", View::Kind::kPrefix, limits::kTaskId},  // a prefix longer than any id matches none
    {"project", View::Kind::kProject, limits::kProject},
};

ControlParse refused(std::string detail) {
  ControlParse p;
  p.error = std::move(detail);
  return p;
}

}  // namespace

ControlParse parse_control_message(simdjson::dom::parser& parser, std::string_view text) {
  if (text.size() > kMaxControlMessage) {
    return refused(fmt::format("messages are at most {} bytes", kMaxControlMessage));
  }
  simdjson::dom::element msg;
  // realloc_if_needed: `text` has no SIMDJSON_PADDING of its own; simdjson copies it.
  if (parser.parse(text.data(), text.size(), true).get(msg) != simdjson::SUCCESS ||
      !msg.is_object()) {
    return refused(
        "messages must be JSON objects such as {\"op\":\"subscribe\",\"prefix\":\"job-\"}");
  }
  std::string_view op;
  if (msg["op"].get_string().get(op) != simdjson::SUCCESS) {
    return refused("\"op\" is required: subscribe or unsubscribe");
  }
  ControlParse p;
  if (op == "unsubscribe") {
    p.message.op = ControlMessage::Op::kUnsubscribe;
    return p;
  }
  if (op != "subscribe") {
    // The op is valid UTF-8 (simdjson checks the document), so its prefix is too.
    return refused(
        fmt::format("unknown op '{}': use subscribe or unsubscribe", utf8_prefix(op, 64)));
  }
  for (const Field& f : kFields) {
    std::string_view value;
    if (msg[f.name].get_string().get(value) != simdjson::SUCCESS) continue;
    if (value.size() > f.limit) {
      return refused(fmt::format("\"{}\" is longer than {} bytes", f.name, f.limit));
    }
    p.message.op = ControlMessage::Op::kSubscribe;
    p.message.view = {f.kind, std::string(value)};
    return p;
  }
  return refused("subscribe needs a string \"task_id\", \"prefix\" or \"project\"");
}

void append_error_frame(fmt::memory_buffer& out, std::string_view detail) {
  out.append(std::string_view{"{\"type\":\"error\",\"detail\":"});
  append_json_string(out, detail);
  out.push_back('}');
}

bool ControlBudget::take(Clock::time_point now) noexcept {
  if (started_ && now > last_) {
    const std::chrono::duration<double> elapsed = now - last_;
    tokens_ = std::min(burst_, tokens_ + elapsed.count() * rate_);
  }
  if (!started_ || now > last_) last_ = now;
  started_ = true;
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

}  // namespace progressista::daemon
