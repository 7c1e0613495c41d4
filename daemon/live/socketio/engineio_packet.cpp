#include "live/socketio/engineio_packet.hpp"

#include <fmt/format.h>

#include "progressista/query.hpp"

namespace progressista::daemon::socketio {

std::optional<EioPacket> parse_eio_packet(std::string_view text) noexcept {
  if (text.empty()) return std::nullopt;
  const char c = text.front();
  if (c < '0' || c > '6') return std::nullopt;
  return EioPacket{static_cast<EioType>(c - '0'), text.substr(1)};
}

std::optional<std::vector<std::string_view>> split_payload(std::string_view body,
                                                           std::size_t max_packets) {
  std::vector<std::string_view> out;
  for (;;) {
    const std::size_t sep = body.find(kRecordSeparator);
    const std::string_view one = body.substr(0, sep);
    if (one.empty() || out.size() == max_packets) return std::nullopt;
    out.push_back(one);
    if (sep == std::string_view::npos) break;
    body.remove_prefix(sep + 1);
  }
  return out;
}

EioQuery parse_eio_query(std::string_view query) {
  EioQuery q;
  (void)query_param(query, "EIO", q.eio);
  (void)query_param(query, "transport", q.transport);
  (void)query_param(query, "sid", q.sid);
  return q;
}

std::string open_packet(std::string_view sid, bool can_upgrade, std::uint32_t ping_interval_ms,
                        std::uint32_t ping_timeout_ms, std::size_t max_payload) {
  return fmt::format(
      R"(0{{"sid":"{}","upgrades":[{}],"pingInterval":{},"pingTimeout":{},"maxPayload":{}}})", sid,
      can_upgrade ? R"("websocket")" : "", ping_interval_ms, ping_timeout_ms, max_payload);
}

std::string eio_error_body(int code, std::string_view message) {
  // The messages are our constants: plain ASCII without quotes.
  return fmt::format(R"({{"code":{},"message":"{}"}})", code, message);
}

}  // namespace progressista::daemon::socketio
