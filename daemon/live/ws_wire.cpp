#include "live/ws_wire.hpp"

#include <algorithm>

#include <simdjson.h>

#include "progressista/task.hpp"

namespace progressista::daemon {

namespace {
constexpr std::size_t kMaxControlPayload = 125;
constexpr std::size_t kMaxCloseReason = kMaxControlPayload - 2;

bool valid_close_code(std::uint16_t code) {
  // 7.4.1/7.4.2: 1000-1003, 1007-1011 defined; 3000-4999 registered or private. 1004-1006 and
  // 1015 are never sent.
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
         (code >= 3000 && code <= 4999);
}
}  // namespace

WsHeader ws_header(WsOpcode opcode, std::size_t payload_size) noexcept {
  WsHeader h;
  h.bytes[0] = static_cast<char>(0x80 | static_cast<std::uint8_t>(opcode));
  if (payload_size < 126) {
    h.bytes[1] = static_cast<char>(payload_size);
    h.size = 2;
  } else if (payload_size <= 0xFFFF) {
    h.bytes[1] = 126;
    h.bytes[2] = static_cast<char>(payload_size >> 8);
    h.bytes[3] = static_cast<char>(payload_size & 0xFF);
    h.size = 4;
  } else {
    h.bytes[1] = 127;
    const auto n = static_cast<std::uint64_t>(payload_size);
    for (int i = 0; i < 8; ++i) h.bytes[2 + i] = static_cast<char>((n >> (8 * (7 - i))) & 0xFF);
    h.size = 10;
  }
  return h;
}

std::string ws_control_frame(WsOpcode opcode, std::string_view payload) {
  payload = payload.substr(0, kMaxControlPayload);
  std::string out(ws_header(opcode, payload.size()).view());
  out.append(payload);
  return out;
}

std::string ws_close_frame(std::uint16_t code, std::string_view reason) {
  std::string payload;
  payload.push_back(static_cast<char>(code >> 8));
  payload.push_back(static_cast<char>(code & 0xFF));
  payload.append(utf8_prefix(reason, kMaxCloseReason));
  return ws_control_frame(WsOpcode::kClose, payload);
}

WsReader::Item WsReader::next(std::string_view buffer, std::size_t& consumed) {
  consumed = 0;
  Item item;
  const auto fail = [&](std::uint16_t code, std::string_view why) {
    done_ = true;
    item.kind = Kind::kError;
    item.code = code;
    item.reason = why;
    return item;
  };
  if (done_ || buffer.size() < 2) return item;
  const auto b0 = static_cast<std::uint8_t>(buffer[0]);
  const auto b1 = static_cast<std::uint8_t>(buffer[1]);
  const bool fin = (b0 & 0x80) != 0;
  const std::uint8_t opcode = b0 & 0x0F;
  if ((b0 & 0x70) != 0) return fail(ws_close::kProtocolError, "reserved bits set");
  if ((b1 & 0x80) == 0) return fail(ws_close::kProtocolError, "a client's frame must be masked");
  const bool control = (opcode & 0x08) != 0;
  if (opcode != 0x0 && opcode != 0x1 && opcode != 0x2 && opcode != 0x8 && opcode != 0x9 &&
      opcode != 0xA)
    return fail(ws_close::kProtocolError, "unknown opcode");

  std::size_t at = 2;
  std::uint64_t length = b1 & 0x7F;
  if (length == 126) {
    if (buffer.size() < 4) return item;
    length = (std::uint64_t{static_cast<std::uint8_t>(buffer[2])} << 8) |
             static_cast<std::uint8_t>(buffer[3]);
    at = 4;
  } else if (length == 127) {
    if (buffer.size() < 10) return item;
    length = 0;
    for (int i = 0; i < 8; ++i) length = (length << 8) | static_cast<std::uint8_t>(buffer[2 + i]);
    at = 10;
  }
  if (control && (!fin || length > kMaxControlPayload))
    return fail(ws_close::kProtocolError, "a control frame must be whole and at most 125 bytes");
  if (!control) {
    if (opcode == 0x0 && !in_message_)
      return fail(ws_close::kProtocolError, "a continuation frame outside a message");
    if (opcode != 0x0 && in_message_)
      return fail(ws_close::kProtocolError, "a new message inside a fragmented one");
    const std::size_t so_far = opcode == 0x0 ? message_.size() : 0;
    if (length > max_message_ || so_far + length > max_message_)
      return fail(ws_close::kTooBig, "message too big");
  }
  if (buffer.size() < at + 4) return item;
  const char* mask = buffer.data() + at;
  at += 4;
  if (buffer.size() - at < length) return item;
  consumed = at + static_cast<std::size_t>(length);

  std::string& into = control ? control_ : message_;
  if (control || opcode != 0x0) into.clear();
  const std::size_t base = into.size();
  into.append(buffer.data() + at, static_cast<std::size_t>(length));
  for (std::size_t i = 0; i < length; ++i) into[base + i] ^= mask[i % 4];

  if (control) {
    if (opcode == 0x9 || opcode == 0xA) {
      item.kind = opcode == 0x9 ? Kind::kPing : Kind::kPong;
      item.payload = control_;
      return item;
    }
    // A close: no payload, or a valid code and a UTF-8 reason.
    if (control_.size() == 1) return fail(ws_close::kProtocolError, "a close frame of one byte");
    item.kind = Kind::kClose;
    item.code = ws_close::kNoStatus;
    if (control_.size() >= 2) {
      item.code = static_cast<std::uint16_t>((static_cast<std::uint8_t>(control_[0]) << 8) |
                                             static_cast<std::uint8_t>(control_[1]));
      if (!valid_close_code(item.code))
        return fail(ws_close::kProtocolError, "invalid close code");
      item.reason = std::string_view(control_).substr(2);
      if (!simdjson::validate_utf8(item.reason.data(), item.reason.size()))
        return fail(ws_close::kBadPayload, "close reason is not UTF-8");
    }
    done_ = true;
    return item;
  }
  if (opcode != 0x0) message_text_ = opcode == 0x1;
  in_message_ = !fin;
  if (!fin) {
    item.kind = Kind::kNeedMore;  // the next fragment, from the bytes after `consumed`
    return item;
  }
  if (message_text_ && !simdjson::validate_utf8(message_.data(), message_.size()))
    return fail(ws_close::kBadPayload, "text message is not UTF-8");
  item.kind = Kind::kMessage;
  item.text = message_text_;
  item.payload = message_;
  return item;
}

}  // namespace progressista::daemon
