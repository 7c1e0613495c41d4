#include "frame_reader.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <utility>

#include <fmt/format.h>

#include "event_plan.hpp"

namespace fanout {

namespace od = simdjson::ondemand;

bool FrameReader::open(std::string_view frame, od::object& root) {
  const simdjson::padded_string_view padded(frame.data(), frame.size(),
                                            frame.size() + simdjson::SIMDJSON_PADDING);
  if (auto e = parser_.iterate(padded).get(doc_)) return fail("frame", e);
  if (auto e = doc_.get_object().get(root)) return fail("frame", e);
  return true;
}

bool FrameReader::read_kind(od::field& field, FrameContent& out) {
  std::string_view type;
  if (auto e = field.value().get_string().get(type)) return fail("type", e);
  out.kind = type == "delta"      ? FrameContent::Kind::kDelta
             : type == "snapshot" ? FrameContent::Kind::kSnapshot
             : type == "error"    ? FrameContent::Kind::kError
                                  : FrameContent::Kind::kOther;
  return true;
}

FramePeek peek_frame(std::string_view frame) noexcept {
  constexpr std::string_view kDelta = R"({"type":"delta",)";
  constexpr std::string_view kSnapshot = R"({"type":"snapshot",)";
  constexpr std::string_view kSeq = R"("seq":)";
  constexpr std::size_t kWithin = 48;  // "seq" follows at most a few short members
  FramePeek p;
  std::size_t at = 0;
  if (frame.starts_with(kDelta)) {
    p.kind = FrameContent::Kind::kDelta;
    at = kDelta.size();
  } else if (frame.starts_with(kSnapshot)) {
    p.kind = FrameContent::Kind::kSnapshot;
    at = kSnapshot.size();
  } else {
    return p;
  }
  const std::size_t seq_at = frame.substr(0, at + kWithin).find(kSeq, at);
  if (seq_at == std::string_view::npos) return FramePeek{};
  for (std::size_t i = seq_at + kSeq.size(); i < frame.size() && frame[i] >= '0' && frame[i] <= '9';
       ++i)
    p.seq = p.seq * 10 + static_cast<std::uint64_t>(frame[i] - '0');
  if (p.seq == 0) p.kind = FrameContent::Kind::kOther;
  return p;
}

void HandleMap::resolve(const std::vector<Entry>& entries, std::uint64_t seq, FrameContent& out) {
  std::lock_guard lock(mutex_);
  for (const Entry& e : entries) {
    if (e.task == kNoId) continue;
    task_of_[e.handle] = e.task;
    if (e.task < 0) continue;
    std::vector<std::uint64_t>& seen = handles_of_[e.task];
    if (std::find(seen.begin(), seen.end(), e.handle) != seen.end()) continue;
    seen.push_back(e.handle);
    if (seen.size() == 1) continue;
    if (rehandled_++ == 0)
      first_rehandled_ =
          fmt::format("task {} had handle {}; the {} of seq {}{} sends it as \"{}\":{}",
                      task_id(static_cast<std::uint32_t>(e.task)), seen[seen.size() - 2],
                      out.kind == FrameContent::Kind::kSnapshot ? "snapshot" : "delta", seq,
                      out.reset ? " (reset)" : "", e.handle, object_text(e.text));
  }
  for (const Entry& e : entries) {
    std::int64_t task = e.task;
    if (task == kNoId) {
      const auto it = task_of_.find(e.handle);
      if (it == task_of_.end()) {
        if (out.unknown_handles++ == 0)
          out.first_unknown = fmt::format("seq {}, \"{}\":{}", seq, e.handle, object_text(e.text));
        continue;
      }
      task = it->second;
    }
    if (task < 0 || !e.has_n) continue;
    out.tasks.push_back({static_cast<std::uint32_t>(task), e.n});
  }
}

std::size_t HandleMap::size() const {
  std::lock_guard lock(mutex_);
  return task_of_.size();
}

std::uint64_t HandleMap::rehandled() const {
  std::lock_guard lock(mutex_);
  return rehandled_;
}

std::string HandleMap::first_rehandled() const {
  std::lock_guard lock(mutex_);
  return first_rehandled_;
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
  od::object root;
  if (!open(frame, root)) return false;
  for (auto entry : root) {
    od::field field;
    if (auto e = std::move(entry).get(field)) return fail("frame", e);
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return fail("key", e);
    if (key == "type") {
      if (!read_kind(field, out)) return false;
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

std::string_view object_text(std::string_view text) noexcept {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if ((c == '}' || c == ']') && --depth == 0) {
      return text.substr(0, i + 1);
    }
  }
  return text;
}

// The entries of a v2 `tasks` (snapshot) or `u` (delta) object: handle -> members.
bool FrameReader::read_entries_v2(od::value& entries_object, std::uint32_t tasks,
                                  bool in_snapshot) {
  od::object object;
  if (auto e = entries_object.get_object().get(object)) return fail("v2 entries object", e);
  for (auto entry : object) {
    od::field field;
    if (auto e = std::move(entry).get(field)) return fail("v2 entries object", e);
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return fail("v2 handle", e);
    HandleMap::Entry out{0, HandleMap::kNoId, false, 0, {}};
    {
      const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), out.handle);
      if (ec != std::errc() || end != key.data() + key.size() || key.empty()) {
        error_ = fmt::format("v2 handle '{}' is not a number", key);
        return false;
      }
    }
    od::value body_value = field.value();
    const std::string_view start = body_value.raw_json_token();
    od::object body;
    if (auto e = body_value.get_object().get(body)) return fail("v2 entry object", e);
    for (auto member : body) {
      od::field m;
      if (auto e = std::move(member).get(m)) return fail("v2 entry", e);
      std::string_view name;
      if (auto e = m.unescaped_key().get(name)) return fail("v2 member name", e);
      if (name == "id") {
        std::string_view id;
        if (auto e = m.value().get_string().get(id)) return fail("v2 id", e);
        const std::int64_t task = task_index(id);
        out.task = task >= 0 && task < tasks ? task : -1;
      } else if (name == "n") {
        double n = 0;
        if (auto e = m.value().get_double().get(n)) return fail("v2 n", e);
        if (n >= 0) {
          out.has_n = true;
          out.n = static_cast<std::uint64_t>(std::llround(n));
        }
      }
    }
    if (in_snapshot && out.task == HandleMap::kNoId) {
      error_ = fmt::format("v2 snapshot entry \"{}\" without id", out.handle);
      return false;
    }
    // For a report (an unknown handle, a new handle): cut to the entry when one is made.
    out.text = frame_.substr(static_cast<std::size_t>(start.data() - frame_.data()), 200);
    entries_.push_back(out);
  }
  return true;
}

bool FrameReader::read_v2(std::string_view frame, std::uint32_t tasks, HandleMap& handles,
                          FrameContent& out) {
  out = FrameContent{};
  frame_ = frame;
  out.size = frame.size();
  entries_.clear();
  od::object root;
  if (!open(frame, root)) return false;
  std::uint64_t version = 0;
  bool have_t = false;
  bool have_entries = false;
  for (auto entry : root) {
    od::field field;
    if (auto e = std::move(entry).get(field)) return fail("frame", e);
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return fail("key", e);
    if (key == "type") {
      if (!read_kind(field, out)) return false;
    } else if (key == "v") {
      if (auto e = field.value().get_uint64().get(version)) return fail("v", e);
    } else if (key == "seq") {
      if (auto e = field.value().get_uint64().get(out.seq)) return fail("seq", e);
    } else if (key == "t") {
      std::uint64_t t = 0;
      if (auto e = field.value().get_uint64().get(t)) return fail("t", e);
      have_t = true;
    } else if (key == "reset") {
      if (auto e = field.value().get_bool().get(out.reset)) return fail("reset", e);
    } else if (key == "tasks" || key == "u") {
      if (have_entries) {
        error_ = "v2 frame with both tasks and u";
        return false;
      }
      have_entries = true;
      if (!read_entries_v2(field.value(), tasks, key == "tasks")) return false;
    } else if (key == "x") {
      od::array removed;
      if (auto e = field.value().get_array().get(removed)) return fail("x", e);
      for (auto h : removed) {
        std::uint64_t handle = 0;
        if (auto e = h.get_uint64().get(handle)) return fail("x handle", e);
      }
    }
  }
  if (out.kind == FrameContent::Kind::kDelta || out.kind == FrameContent::Kind::kSnapshot) {
    if (version != 2) {
      error_ = fmt::format("v2 {} without \"v\":2",
                           out.kind == FrameContent::Kind::kDelta ? "delta" : "snapshot");
      return false;
    }
    if (!have_t) {
      error_ = "v2 frame without t";
      return false;
    }
  }
  handles.resolve(entries_, out.seq, out);
  entries_.clear();
  return true;
}

bool FrameReader::read_event(std::string_view frame, std::uint32_t tasks, FrameContent& out) {
  out = FrameContent{};
  out.size = frame.size();
  out.kind = FrameContent::Kind::kEvent;
  od::object root;
  if (!open(frame, root)) return false;
  std::int64_t task = -1;
  bool have_n = false;
  for (auto entry : root) {
    od::field field;
    if (auto e = std::move(entry).get(field)) return fail("event", e);
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return fail("key", e);
    if (key == "task_id") {
      std::string_view id;
      if (auto e = field.value().get_string().get(id)) return fail("task_id", e);
      task = task_index(id);
    } else if (key == "n") {
      if (auto e = field.value().get_uint64().get(out.seq)) return fail("n", e);
      have_n = true;
    }
  }
  if (!have_n || out.seq == 0) {
    error_ = "event without a positive n";
    return false;
  }
  if (task >= 0 && task < tasks) out.tasks.push_back({static_cast<std::uint32_t>(task), out.seq});
  return true;
}

std::shared_ptr<const FrameContent> DeltaCache::find(FrameContent::Kind kind, std::uint64_t seq,
                                                     std::size_t size) {
  std::lock_guard lock(mutex_);
  for (const auto& c : recent_) {
    if (c && c->kind == kind && c->seq == seq && c->size == size) return c;
  }
  return nullptr;
}

void DeltaCache::put(std::shared_ptr<const FrameContent> content) {
  std::lock_guard lock(mutex_);
  recent_[next_] = std::move(content);
  next_ = (next_ + 1) % recent_.size();
}

}  // namespace fanout
