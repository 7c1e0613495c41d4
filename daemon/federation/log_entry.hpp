// The federation's log: what one entry of the stream `<prefix>:events` holds, and stream ids.
// Two kinds of entry: a write request as the node that took it accepted it (replayed by every
// node through the same write API), and a sweep decided by the janitor-lease holder.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace progressista::daemon::federation {

// A stream entry id, "<milliseconds>-<sequence>": the time of the append and an order.
struct StreamId {
  std::uint64_t ms = 0;
  std::uint64_t seq = 0;
  [[nodiscard]] static bool parse(std::string_view text, StreamId& out);
  [[nodiscard]] std::string str() const;
  [[nodiscard]] bool zero() const noexcept { return ms == 0 && seq == 0; }
  // The entry's time in Unix seconds: the server clock every node applies it at.
  [[nodiscard]] double seconds() const noexcept { return static_cast<double>(ms) / 1000.0; }
  auto operator<=>(const StreamId&) const = default;
};

struct LogEntry {
  enum class Kind : char { kWrite = 'w', kSweep = 's' };
  Kind kind = Kind::kWrite;
  // kWrite: the request, with any `token` query parameter removed (credentials never enter
  // Redis; `authenticated` says whether the origin accepted a header or query token).
  std::string method, target, content_type, body;
  bool authenticated = false;
  // kSweep: the holder's janitor settings (seconds; 0: that rule is off).
  double retention = 0, stale = 0, max_age = 0;
  // Who appended it, and the origin's request number (its waiter; 0: nobody waits).
  std::string origin;
  std::uint64_t request = 0;

  // Field/value pairs for XADD, flattened.
  [[nodiscard]] std::vector<std::string> fields() const;
  // From XREAD's field/value pairs; false for an entry this version cannot read.
  [[nodiscard]] static bool from_fields(const std::vector<std::string_view>& fv, LogEntry& out);
  // Bytes it takes in the outbox (its strings).
  [[nodiscard]] std::size_t bytes() const noexcept;
};

// `target` without its `token` query parameters.
[[nodiscard]] std::string without_token(std::string_view target);

}  // namespace progressista::daemon::federation
