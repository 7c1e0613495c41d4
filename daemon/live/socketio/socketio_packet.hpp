// Socket.IO v5 packets (inside Engine.IO message packets), free of sockets: what a client
// sent, parsed into what the progress rooms act on, and the server's packets. Written from
// the socket.io-protocol document (revision 5), not from a library.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <simdjson.h>

namespace progressista::daemon::socketio {

enum class SioType : std::uint8_t {
  kConnect = 0,
  kDisconnect,
  kEvent,
  kAck,
  kConnectError,
  kBinaryEvent,
  kBinaryAck
};

struct SioPacket {
  SioType type = SioType::kConnect;
  std::string nsp = "/";
  std::optional<std::uint64_t> ack;  // the id the client waits an ACK for
  // CONNECT: the `token` of its auth object, if it had one.
  std::optional<std::string> token;
  // EVENT: its name and its first argument when that is a string, a number, or an object
  // with a string `sessionId` (the room's task id, as text).
  std::string event;
  std::optional<std::string> arg;
};

// A parsed packet, or why it is refused (the session is closed for it: the client broke the
// protocol). Binary packets are refused: the rooms carry JSON only.
struct SioParse {
  SioPacket packet;
  std::string error;
  [[nodiscard]] bool ok() const noexcept { return error.empty(); }
};

// Parses the data of one Engine.IO message packet with `parser` (reused). Never throws for
// any input; O(size of `text`).
[[nodiscard]] SioParse parse_sio_packet(simdjson::dom::parser& parser, std::string_view text);

// Server packets, as whole Engine.IO message packets ("4" + the Socket.IO packet).
[[nodiscard]] std::string sio_connect_ok(std::string_view sid);  // 40{"sid":..}
[[nodiscard]] std::string sio_connect_error(std::string_view nsp, std::string_view message);
[[nodiscard]] std::string sio_disconnect();  // 41
// 42["name",<payload JSON>]
[[nodiscard]] std::string sio_event(std::string_view name, std::string_view payload_json);
// 43<id>[<json>]
[[nodiscard]] std::string sio_ack(std::uint64_t id, std::string_view json);

}  // namespace progressista::daemon::socketio
