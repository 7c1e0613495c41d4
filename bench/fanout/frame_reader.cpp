#include "frame_reader.hpp"

#include <cmath>
#include <utility>

#include <fmt/format.h>

#include "event_plan.hpp"

namespace fanout {

namespace od = simdjson::ondemand;

std::uint64_t peek_delta_seq(std::string_view frame) noexcept {
  constexpr std::string_view kHead = R"({"type":"delta","seq":)";
  if (!frame.starts_with(kHead)) return 0;
  std::uint64_t seq = 0;
  for (std::size_t i = kHead.size(); i < frame.size() && frame[i] >= '0' && frame[i] <= '9'; ++i)
    seq = seq * 10 + static_cast<std::uint64_t>(frame[i] - '0');
  return seq;
}

bool FrameReader::fail(std::string_view what, simdjson::error_code e) {
  error_ = fmt::format("{}: {}", what, simdjson::error_message(e));
  return false;
}

bool FrameReader::read_tasks(od::value& tasks_object, std::uint32_t tasks, FrameContent& out) {
  od::object object;
  if (auto e = tasks_object.get_object().get(object)) return fail("tasks object", e);
  for (auto entry : object) {
    od::field field;
    if (auto e = std::move(entry).get(field)) return fail("tasks object", e);
    std::string_view id;
    if (auto e = field.unescaped_key().get(id)) return fail("task id", e);
    const std::int64_t task = task_index(id);
    if (task < 0 || task >= tasks) continue;
    od::object body;
    if (auto e = field.value().get_object().get(body)) return fail("task object", e);
    double n = 0;
    if (auto e = body.find_field_unordered("n").get_double().get(n)) return fail("task n", e);
    if (!(n >= 0)) continue;
    out.tasks.push_back(
        {static_cast<std::uint32_t>(task), static_cast<std::uint64_t>(std::llround(n))});
  }
  return true;
}

bool FrameReader::read(std::string_view frame, std::uint32_t tasks, FrameContent& out) {
  out = FrameContent{};
  out.size = frame.size();
  od::document doc;
  const simdjson::padded_string_view padded(frame.data(), frame.size(),
                                            frame.size() + simdjson::SIMDJSON_PADDING);
  if (auto e = parser_.iterate(padded).get(doc)) return fail("frame", e);
  od::object root;
  if (auto e = doc.get_object().get(root)) return fail("frame", e);
  for (auto entry : root) {
    od::field field;
    if (auto e = std::move(entry).get(field)) return fail("frame", e);
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return fail("key", e);
    if (key == "type") {
      std::string_view type;
      if (auto e = field.value().get_string().get(type)) return fail("type", e);
      out.kind = type == "delta"      ? FrameContent::Kind::kDelta
                 : type == "snapshot" ? FrameContent::Kind::kSnapshot
                 : type == "error"    ? FrameContent::Kind::kError
                                      : FrameContent::Kind::kOther;
    } else if (key == "seq") {
      if (auto e = field.value().get_uint64().get(out.seq)) return fail("seq", e);
    } else if (key == "reset") {
      if (auto e = field.value().get_bool().get(out.reset)) return fail("reset", e);
    } else if (key == "upserts" || key == "tasks") {
      // Progressista's frame is {"tasks": {...}} alone, without a type.
      if (key == "tasks" && out.kind == FrameContent::Kind::kOther)
        out.kind = FrameContent::Kind::kPlain;
      if (!read_tasks(field.value(), tasks, out)) return false;
    }
  }
  return true;
}

std::shared_ptr<const FrameContent> DeltaCache::find(std::uint64_t seq, std::size_t size) {
  std::lock_guard lock(mutex_);
  for (const auto& c : recent_) {
    if (c && c->seq == seq && c->size == size) return c;
  }
  return nullptr;
}

void DeltaCache::put(std::shared_ptr<const FrameContent> content) {
  std::lock_guard lock(mutex_);
  recent_[next_] = std::move(content);
  next_ = (next_ + 1) % recent_.size();
}

}  // namespace fanout
