// libFuzzer harness for the event codec: any byte string, as a JSON body and as NDJSON, must
// parse without crashing, leaking or undefined behaviour, and every accepted event must
// respect the documented limits and serialize back into JSON the parser accepts.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "progressista/event_parser.hpp"
#include "progressista/task_json.hpp"

namespace {

using namespace progressista;

[[noreturn]] void fail(const char* what) {
  __builtin_trap();
  (void)what;
}

class CheckingSink final : public EventSink {
 public:
  void on_event(std::size_t, const Event& e) override {
    if (e.task_id.empty() || e.task_id.size() > limits::kTaskId) fail("task_id limit");
    if (e.desc && e.desc->size() > limits::kDesc) fail("desc limit");
    if (e.message && e.message->size() > limits::kMessage) fail("message limit");
    if (e.error && e.error->size() > limits::kError) fail("error limit");
    if (e.unit && e.unit->size() > limits::kUnit) fail("unit limit");
    if (e.meta && (e.meta->size() > limits::kMeta || e.meta->front() != '{')) fail("meta shape");
    // Round trip: the stored record serialized as JSON must parse again as one valid event.
    TaskRecord rec;
    rec.task_id.assign(e.task_id);
    if (e.desc) rec.desc.assign(*e.desc), rec.set(kHasDesc);
    if (e.meta) rec.meta.assign(*e.meta), rec.set(kHasMeta);
    if (e.n) rec.n = *e.n;
    out.clear();
    append_task_json(out, rec);
    body.assign(std::string_view(out.data(), out.size()));
    ++events;
  }
  void on_invalid(std::size_t, std::string_view detail) override {
    if (detail.empty()) fail("empty detail");
  }
  fmt::memory_buffer out;
  PaddedBody body;
  std::size_t events = 0;
};

class CountingSink final : public EventSink {
 public:
  void on_event(std::size_t, const Event&) override { ++valid; }
  void on_invalid(std::size_t, std::string_view) override { ++invalid; }
  std::size_t valid = 0, invalid = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static EventParser parser;
  static EventParser reparser;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  PaddedBody body;
  body.assign(bytes);
  for (BodyFormat format : {BodyFormat::kJson, BodyFormat::kNdjson}) {
    CheckingSink sink;
    const BodyResult r = parser.parse(body.view(), body.capacity(), format, sink);
    if (r.error != BodyError::kNone && r.detail.empty()) fail("error without detail");
    if (r.error != BodyError::kNone && sink.events != 0)
      fail("events delivered from a rejected body");
    if (sink.events > 0) {
      CountingSink again;
      const BodyResult r2 =
          reparser.parse(sink.body.view(), sink.body.capacity(), BodyFormat::kJson, again);
      if (r2.error != BodyError::kNone || again.valid != 1)
        fail("serialized task does not parse back");
    }
  }
  return 0;
}
