// The delta WebSocket's control messages ({"op":"subscribe",...}, {"op":"unsubscribe"}): one
// client message parsed into an op or refused with the detail of its error frame, and the
// per-client budget that bounds how many a client may send. Plain functions of their input,
// free of sockets, so the fuzz harness (tests/fuzz/fuzz_ws_control.cpp) runs what the session
// (ws_session.cpp) runs.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <simdjson.h>

#include "live/view.hpp"

namespace progressista::daemon {

// The largest control message read (the WebSocket read limit); past it the read fails.
inline constexpr std::size_t kMaxControlMessage = 64 * 1024;

struct ControlMessage {
  enum class Op : std::uint8_t { kSubscribe, kUnsubscribe };
  Op op = Op::kUnsubscribe;
  // What the client watches from now on: the subscribed task, prefix or project (its value
  // within that field's byte limit, limits::kTaskId or kProject), or everything.
  View view;
};

// A parsed message, or why it was refused (`error` not empty: the client's error frame).
struct ControlParse {
  ControlMessage message;
  std::string error;
  [[nodiscard]] bool ok() const noexcept { return error.empty(); }
};

// Parses one client message with `parser` (reused across messages, as simdjson intends).
// Never throws for any input; O(size of `text`).
[[nodiscard]] ControlParse parse_control_message(simdjson::dom::parser& parser,
                                                 std::string_view text);

// {"type":"error","detail":"..."}: the delta protocol's error frame.
void append_error_frame(fmt::memory_buffer& out, std::string_view detail);

// A token bucket over control messages: `rate` a second on average, `burst` at once; it starts
// full. Counts only: what a refused message leads to is the caller's.
class ControlBudget {
 public:
  using Clock = std::chrono::steady_clock;
  ControlBudget(double rate, double burst) noexcept : rate_(rate), burst_(burst), tokens_(burst) {}

  // Spends one message's token at `now`; false when the client is over its budget.
  [[nodiscard]] bool take(Clock::time_point now) noexcept;

  [[nodiscard]] double rate() const noexcept { return rate_; }
  [[nodiscard]] double burst() const noexcept { return burst_; }

 private:
  double rate_;
  double burst_;
  double tokens_;
  Clock::time_point last_{};
  bool started_ = false;
};

}  // namespace progressista::daemon
