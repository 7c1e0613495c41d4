// libFuzzer harness for the event codec: any byte string, as a JSON body and as NDJSON, must
// parse without crashing, leaking or undefined behaviour, and every accepted event must
// respect the documented limits and serialize back into JSON the parser accepts.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
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

// An accepted event respects the documented limits and, stored and served as JSON, parses
// again as one valid event: its serialized form is left in `body`.
void check_event(const Event& e, fmt::memory_buffer& out, PaddedBody& body) {
  if (e.task_id.empty() || e.task_id.size() > limits::kTaskId) fail("task_id limit");
  if (e.desc && e.desc->size() > limits::kDesc) fail("desc limit");
  if (e.message && e.message->size() > limits::kMessage) fail("message limit");
  if (e.error && e.error->size() > limits::kError) fail("error limit");
  if (e.unit && e.unit->size() > limits::kUnit) fail("unit limit");
  if (e.meta && (e.meta->size() > limits::kMeta || e.meta->front() != '{')) fail("meta shape");
  if (e.parent && e.parent->size() > limits::kTaskId) fail("parent limit");
  TaskRecord rec;
  rec.task_id.assign(e.task_id);
  if (e.desc) rec.desc.assign(*e.desc), rec.set(kHasDesc);
  if (e.meta) rec.meta.assign(*e.meta), rec.set(kHasMeta);
  if (e.n) rec.n = *e.n;
  if (e.parent) rec.parent.assign(*e.parent), rec.set(kHasParent);
  out.clear();
  append_task_json(out, rec);
  body.assign(std::string_view(out.data(), out.size()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static EventParser parser;
  static EventParser reparser;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  PaddedBody body;
  body.assign(bytes);
  fmt::memory_buffer out;
  PaddedBody served;
  for (BodyFormat format : {BodyFormat::kJson, BodyFormat::kNdjson}) {
    const BodyResult r = parser.open(body.view(), body.capacity(), format);
    if (r.error != BodyError::kNone && r.detail.empty()) fail("error without detail");
    std::size_t events = 0;
    while (const std::optional<BodyItem> item = parser.next()) {
      if (r.error != BodyError::kNone) fail("items from a rejected body");
      if (item->event == nullptr) {
        if (item->detail.empty()) fail("empty detail");
        continue;
      }
      check_event(*item->event, out, served);
      ++events;
    }
    if (events > 0) {
      if (reparser.open(served.view(), served.capacity(), BodyFormat::kJson).error !=
          BodyError::kNone) {
        fail("serialized task does not parse back");
      }
      std::size_t valid = 0;
      while (const std::optional<BodyItem> item = reparser.next()) valid += item->event != nullptr;
      if (valid != 1) fail("serialized task does not parse back");
    }
  }
  return 0;
}
