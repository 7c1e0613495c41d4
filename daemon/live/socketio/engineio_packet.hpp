// Engine.IO v4 framing, free of sockets: one packet's type and data, and the polling payload
// that carries several packets in one HTTP body (separated by the record separator, 0x1e).
// Written from the engine.io-protocol document (revision 4), not from a library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace progressista::daemon::socketio {

enum class EioType : std::uint8_t { kOpen = 0, kClose, kPing, kPong, kMessage, kUpgrade, kNoop };

struct EioPacket {
  EioType type = EioType::kNoop;
  std::string_view data;  // after the type digit; points into the parsed text
};

inline constexpr char kRecordSeparator = '\x1e';

// One text packet ("4hello", "2probe", "5"); nullopt when it is empty or its first byte is
// not a type we know. Binary packets ('b' + base64 in a payload) are refused here too: the
// progress rooms carry JSON only. O(1).
[[nodiscard]] std::optional<EioPacket> parse_eio_packet(std::string_view text) noexcept;

// Splits a polling body into its packets; nullopt when it holds more than `max_packets` or
// an empty packet. The views point into `body`. O(size of body).
[[nodiscard]] std::optional<std::vector<std::string_view>> split_payload(std::string_view body,
                                                                         std::size_t max_packets);

// What the query of an Engine.IO request asks for (EIO, transport, sid); the raw query is
// percent-decoded value by value.
struct EioQuery {
  std::string eio;
  std::string transport;
  std::string sid;
};
[[nodiscard]] EioQuery parse_eio_query(std::string_view query);

// The open packet's data: {"sid":...,"upgrades":[...],"pingInterval":...,"pingTimeout":...,
// "maxPayload":...}. `sid` is ours (URL-safe characters only), so it needs no escaping.
[[nodiscard]] std::string open_packet(std::string_view sid, bool can_upgrade,
                                      std::uint32_t ping_interval_ms, std::uint32_t ping_timeout_ms,
                                      std::size_t max_payload);

// The body of an Engine.IO HTTP error: {"code":N,"message":"..."} (codes of the protocol:
// 0 unknown transport, 1 unknown session id, 2 bad handshake method, 3 bad request,
// 4 forbidden, 5 unsupported protocol version).
[[nodiscard]] std::string eio_error_body(int code, std::string_view message);

}  // namespace progressista::daemon::socketio
