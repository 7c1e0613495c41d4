// libFuzzer harness for the delta WebSocket's control messages (daemon/live/control_message.hpp,
// what WsSession::on_message runs): any byte string, as one client message, is parsed without
// crashing, leaking, undefined behaviour or an exception; an accepted op's view respects the
// field limits; a refused one has a short detail whose error frame parses back as the protocol's
// error object; the same bytes parse the same way twice. The bytes, read as gaps between
// messages, also drive the client's budget, which must never grant more than its burst plus its
// rate and never refuse a client that keeps to its rate.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "live/control_message.hpp"
#include "progressista/task.hpp"

namespace {

using namespace progressista;
using namespace progressista::daemon;

[[noreturn]] void fail(const char* what) {
  __builtin_trap();
  (void)what;
}

void check_accepted(const ControlMessage& m) {
  const View& v = m.view;
  if (m.op == ControlMessage::Op::kUnsubscribe) {
    if (!v.all() || !v.value.empty()) fail("unsubscribe narrows nothing");
    return;
  }
  switch (v.kind) {
    case View::Kind::kAll:
      fail("a subscribe names a task, prefix or project");
    case View::Kind::kTask:
    case View::Kind::kPrefix:
      if (v.value.size() > limits::kTaskId) fail("task_id/prefix limit");
      break;
    case View::Kind::kProject:
      if (v.value.size() > limits::kProject) fail("project limit");
      break;
  }
}

void check_refused(const std::string& error, simdjson::dom::parser& reparser) {
  if (error.empty() || error.size() > 256) fail("a refusal says why, briefly");
  fmt::memory_buffer frame;
  append_error_frame(frame, error);
  simdjson::dom::element doc;
  std::string_view type, detail;
  if (reparser.parse(frame.data(), frame.size(), true).get(doc) != simdjson::SUCCESS ||
      doc["type"].get_string().get(type) != simdjson::SUCCESS || type != "error" ||
      doc["detail"].get_string().get(detail) != simdjson::SUCCESS || detail != error) {
    fail("the error frame is the protocol's error object");
  }
}

void check_budget(std::string_view gaps) {
  constexpr double kRate = 20, kBurst = 40;
  ControlBudget budget(kRate, kBurst);
  ControlBudget::Clock::time_point now{};
  const auto start = now;
  std::size_t granted = 0;
  bool kept_to_rate = true;
  for (const char c : gaps) {
    const auto gap = std::chrono::milliseconds(static_cast<unsigned char>(c));
    now += gap;
    kept_to_rate = kept_to_rate && gap >= std::chrono::milliseconds(50);
    const bool took = budget.take(now);
    granted += took ? 1 : 0;
    if (kept_to_rate && !took) fail("a client within its rate is refused");
    const std::chrono::duration<double> elapsed = now - start;
    if (static_cast<double>(granted) > kBurst + kRate * elapsed.count() + 1e-6)
      fail("the budget grants more than burst + rate x time");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static simdjson::dom::parser parser;
  static simdjson::dom::parser reparser;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const ControlParse first = parse_control_message(parser, text);
    const ControlParse again = parse_control_message(parser, text);
    if (first.error != again.error || first.message.op != again.message.op ||
        first.message.view.kind != again.message.view.kind ||
        first.message.view.value != again.message.view.value) {
      fail("the same message parses the same way twice");
    }
    if (first.ok()) {
      check_accepted(first.message);
    } else {
      check_refused(first.error, reparser);
    }
    check_budget(text);
  } catch (...) {
    fail("no exception escapes the control path");
  }
  return 0;
}
