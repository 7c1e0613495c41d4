#include "live/socketio/socketio_packet.hpp"

#include <fmt/format.h>

#include "progressista/task_json.hpp"

namespace progressista::daemon::socketio {

namespace {

constexpr std::size_t kMaxNamespace = 128;
constexpr std::size_t kMaxEventName = 128;
constexpr std::size_t kMaxArgument = 1024;

SioParse refused(std::string why) {
  SioParse p;
  p.error = std::move(why);
  return p;
}

// The argument of join-progress / leave-progress as text.
std::optional<std::string> argument_text(simdjson::dom::element arg) {
  switch (arg.type()) {
    case simdjson::dom::element_type::STRING: {
      std::string_view s;
      if (arg.get(s)) return std::nullopt;
      return std::string(s);
    }
    case simdjson::dom::element_type::INT64:
    case simdjson::dom::element_type::UINT64:
      return simdjson::minify(arg);
    case simdjson::dom::element_type::OBJECT: {
      std::string_view s;
      if (arg["sessionId"].get(s)) return std::nullopt;
      return std::string(s);
    }
    default:
      return std::nullopt;
  }
}

}  // namespace

SioParse parse_sio_packet(simdjson::dom::parser& parser, std::string_view text) {
  if (text.empty()) return refused("empty Socket.IO packet");
  const char c = text.front();
  if (c < '0' || c > '6') return refused("unknown Socket.IO packet type");
  SioParse out;
  SioPacket& p = out.packet;
  p.type = static_cast<SioType>(c - '0');
  text.remove_prefix(1);
  if (p.type == SioType::kBinaryEvent || p.type == SioType::kBinaryAck)
    return refused("binary Socket.IO packets are not supported here");
  if (!text.empty() && text.front() == '/') {
    const std::size_t comma = text.find(',');
    p.nsp = std::string(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    if (p.nsp.size() > kMaxNamespace) return refused("namespace too long");
    for (const char ch : p.nsp) {
      if (ch <= ' ' || ch > '~' || ch == '"' || ch == '\\')
        return refused("a namespace is printable ASCII without quotes");
    }
  }
  std::size_t digits = 0;
  std::uint64_t id = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
    if (digits == 15) return refused("acknowledgement id too long");
    id = id * 10 + static_cast<std::uint64_t>(text[digits] - '0');
    ++digits;
  }
  if (digits > 0) p.ack = id;
  text.remove_prefix(digits);

  simdjson::dom::element doc;
  const bool has_json = !text.empty();
  if (has_json) {
    const simdjson::padded_string padded(text);
    if (parser.parse(padded).get(doc)) return refused("the packet's data is not valid JSON");
  }
  switch (p.type) {
    case SioType::kConnect:
      if (has_json) {
        if (!doc.is_object()) return refused("CONNECT data must be an object");
        std::string_view token;
        if (!doc["token"].get(token)) p.token = std::string(token);
      }
      break;
    case SioType::kDisconnect:
      break;
    case SioType::kEvent: {
      simdjson::dom::array arr;
      if (!has_json || doc.get(arr) || arr.size() == 0)
        return refused("EVENT data must be a non-empty array");
      std::string_view name;
      if (arr.at(0).get(name)) return refused("an EVENT's name must be a string");
      if (name.size() > kMaxEventName) return refused("event name too long");
      p.event = std::string(name);
      if (arr.size() > 1) {
        if (auto a = argument_text(arr.at(1).value_unsafe()); a && a->size() <= kMaxArgument)
          p.arg = std::move(a);
      }
      break;
    }
    case SioType::kAck:
      if (!p.ack) return refused("ACK without an id");
      break;
    default:
      return refused("a client may not send CONNECT_ERROR");
  }
  return out;
}

std::string sio_connect_ok(std::string_view sid) {
  return fmt::format(R"(40{{"sid":"{}"}})", sid);
}

std::string sio_connect_error(std::string_view nsp, std::string_view message) {
  fmt::memory_buffer out;
  out.append(std::string_view{"44"});
  if (nsp != "/") {
    out.append(nsp);  // printable ASCII without quotes: parse_sio_packet checked it
    out.push_back(',');
  }
  out.append(std::string_view{"{\"message\":"});
  append_json_string(out, message);
  out.push_back('}');
  return {out.data(), out.size()};
}

std::string sio_disconnect() {
  return "41";
}

std::string sio_event(std::string_view name, std::string_view payload_json) {
  fmt::memory_buffer out;
  out.append(std::string_view{"42["});
  append_json_string(out, name);
  out.push_back(',');
  out.append(payload_json);
  out.push_back(']');
  return {out.data(), out.size()};
}

std::string sio_ack(std::uint64_t id, std::string_view json) {
  return fmt::format("43{}[{}]", id, json);
}

}  // namespace progressista::daemon::socketio
