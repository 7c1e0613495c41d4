// The progress rooms' counters (this process), rendered in /metrics by socketio_families.
// Relaxed atomics: written from every I/O thread, read by /metrics.
#pragma once

#include <atomic>
#include <cstdint>

namespace progressista::daemon {
class PromText;
}

namespace progressista::daemon::socketio {

struct SocketIoStats {
  std::atomic<std::uint64_t> sessions{0};  // open Engine.IO sessions (gauge)
  std::atomic<std::uint64_t> handshakes_polling{0};
  std::atomic<std::uint64_t> handshakes_websocket{0};
  std::atomic<std::uint64_t> upgrades{0};      // polling sessions moved to a WebSocket
  std::atomic<std::uint64_t> packets_sent{0};  // Engine.IO packets written to clients
  std::atomic<std::uint64_t> bytes_sent{0};
  std::atomic<std::uint64_t> events_emitted{0};  // room emissions (one frame, many sockets)
  std::atomic<std::uint64_t> malformed{0};       // sessions closed for a protocol error
  std::atomic<std::uint64_t> oversize{0};        // payloads over maxPayload
  std::atomic<std::uint64_t> unknown_events{0};
  std::atomic<std::uint64_t> join_refused{0};  // joins past the rooms-per-socket limit
  std::atomic<std::uint64_t> rate_limited{0};  // sockets closed for too many messages
  std::atomic<std::uint64_t> auth_refused{0};  // CONNECT refused for the token
  std::atomic<std::uint64_t> ping_timeouts{0};
  std::atomic<std::uint64_t> slow_closed{0};   // sessions closed for an outbox past budget
  std::atomic<std::uint64_t> bad_requests{0};  // HTTP requests refused (400)
};

// The process's one set (the daemons run one broadcaster).
[[nodiscard]] SocketIoStats& socketio_stats() noexcept;

// The progressista_socketio_* families.
void socketio_families(PromText& p);

}  // namespace progressista::daemon::socketio
