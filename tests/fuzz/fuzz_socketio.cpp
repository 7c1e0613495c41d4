// libFuzzer harness for the Socket.IO progress rooms' framing (daemon/live/socketio/): any
// byte string, read as a polling body, is split into packets, each parsed as an Engine.IO
// packet and its data as a Socket.IO packet, and also read as a task's JSON for the payload;
// none of it crashes, leaks, throws or hits undefined behaviour. An accepted event keeps to the
// limits the sessions rely on; the same bytes parse the same way twice.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "live/socketio/engineio_packet.hpp"
#include "live/socketio/progress_payload.hpp"
#include "live/socketio/socketio_packet.hpp"

namespace {

using namespace progressista::daemon::socketio;

[[noreturn]] void fail(const char* what) {
  __builtin_trap();
  (void)what;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static simdjson::dom::parser parser;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (const auto packets = split_payload(text, 64)) {
    for (const std::string_view one : *packets) {
      if (one.empty()) fail("split_payload gave an empty packet");
      const auto p = parse_eio_packet(one);
      if (!p || p->type != EioType::kMessage) continue;
      const SioParse a = parse_sio_packet(parser, p->data);
      const SioParse b = parse_sio_packet(parser, p->data);
      if (a.ok() != b.ok() || a.error != b.error || a.packet.event != b.packet.event ||
          a.packet.arg != b.packet.arg)
        fail("the same packet parsed two ways");
      if (a.ok() && (a.packet.event.size() > 128 || (a.packet.arg && a.packet.arg->size() > 1024)))
        fail("an accepted event past its limits");
      if (!a.ok() && a.error.empty()) fail("a refusal without a reason");
    }
  }
  const ProgressPayload payload = progress_payload(parser, text);
  if (!payload.json.empty() && payload.json.front() != '{') fail("a payload that is no object");
  return 0;
}
