#include "v2_audit.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <utility>

#include <fmt/format.h>

#include "frame_reader.hpp"

namespace fanout {

namespace od = simdjson::ondemand;

namespace {

constexpr std::size_t kFirstDifferences = 5;

// v1's member name -> v2's short key (README, "Short keys"). A name not here keeps its own.
std::string_view short_key(std::string_view name) {
  static constexpr std::pair<std::string_view, std::string_view> kKeys[] = {
      {"task_id", "id"},    {"desc", "d"},          {"n", "n"},          {"total", "N"},
      {"unit", "un"},       {"status", "s"},        {"timestamp", "ts"}, {"meta", "m"},
      {"created_at", "ca"}, {"updated_at", "ua"},   {"done_at", "da"},   {"stale_at", "sa"},
      {"recovered", "rv"},  {"recovered_at", "ra"}, {"project", "p"},    {"phase", "ph"},
      {"message", "msg"},   {"error", "err"},       {"rate", "r"},       {"eta", "e"}};
  for (const auto& [long_name, key] : kKeys)
    if (long_name == name) return key;
  return name;
}

bool is_time(std::string_view key) {
  return key == "ts" || key == "ca" || key == "ua" || key == "da" || key == "sa" || key == "ra";
}

std::string_view trim(std::string_view s) {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

bool to_double(std::string_view text, double& v) {
  const std::string s(text);
  char* end = nullptr;
  v = std::strtod(s.c_str(), &end);
  return !s.empty() && end == s.c_str() + s.size();
}

bool to_int(std::string_view text, std::int64_t& v) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  return ec == std::errc() && end == text.data() + text.size();
}

struct Member {
  std::string key;
  std::string_view json;
};

struct Entry {
  std::uint64_t handle = 0;
  bool has_id = false;
  std::string id;
  std::vector<Member> members;
  std::string_view text;  // the entry's first bytes, for a report
};

}  // namespace

void V2Audit::protocol_error(std::string what) {
  if (report_.protocol_errors++ == 0) report_.first_protocol_error = std::move(what);
}

void V2Audit::apply(std::string_view frame) {
  ++report_.frames;
  const auto bad = [&](std::string_view what, simdjson::error_code e) {
    protocol_error(
        fmt::format("unreadable frame ({}: {}): {:.200}", what, simdjson::error_message(e), frame));
  };
  od::document doc;
  const simdjson::padded_string_view padded(frame.data(), frame.size(),
                                            frame.size() + simdjson::SIMDJSON_PADDING);
  if (auto e = parser_.iterate(padded).get(doc)) return bad("frame", e);
  od::object root;
  if (auto e = doc.get_object().get(root)) return bad("frame", e);
  std::string_view type;
  std::uint64_t seq = 0;
  std::int64_t t = 0;
  bool have_t = false;
  std::vector<Entry> entries;
  std::vector<std::uint64_t> removed;
  for (auto field_result : root) {
    od::field field;
    if (auto e = std::move(field_result).get(field)) return bad("member", e);
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return bad("key", e);
    if (key == "type") {
      if (auto e = field.value().get_string().get(type)) return bad("type", e);
    } else if (key == "seq") {
      if (auto e = field.value().get_uint64().get(seq)) return bad("seq", e);
    } else if (key == "t") {
      if (auto e = field.value().get_int64().get(t)) return bad("t", e);
      have_t = true;
    } else if (key == "tasks" || key == "u") {
      od::object object;
      if (auto e = field.value().get_object().get(object)) return bad(key, e);
      for (auto entry_result : object) {
        od::field entry_field;
        if (auto e = std::move(entry_result).get(entry_field)) return bad("entry", e);
        std::string_view handle;
        if (auto e = entry_field.unescaped_key().get(handle)) return bad("handle", e);
        Entry entry;
        std::int64_t h = 0;
        if (!to_int(handle, h) || h < 0) {
          protocol_error(fmt::format("handle '{}' is not a number", handle));
          return;
        }
        entry.handle = static_cast<std::uint64_t>(h);
        od::value body_value = entry_field.value();
        entry.text = body_value.raw_json_token();
        od::object body;
        if (auto e = body_value.get_object().get(body)) return bad("entry object", e);
        for (auto member_result : body) {
          od::field member;
          if (auto e = std::move(member_result).get(member)) return bad("entry member", e);
          std::string_view name;
          if (auto e = member.unescaped_key().get(name)) return bad("member name", e);
          od::value value = member.value();
          if (name == "id") {
            std::string_view id;
            if (auto e = value.get_string().get(id)) return bad("id", e);
            entry.has_id = true;
            entry.id = std::string(id);
            continue;
          }
          std::string_view json;
          if (auto e = simdjson::to_json_string(value).get(json)) return bad("member value", e);
          entry.members.push_back(Member{std::string(name), trim(json)});
        }
        const std::size_t from = static_cast<std::size_t>(entry.text.data() - frame.data());
        entry.text = object_text(frame.substr(from, 200));
        entries.push_back(std::move(entry));
      }
    } else if (key == "x") {
      od::array array;
      if (auto e = field.value().get_array().get(array)) return bad("x", e);
      for (auto h : array) {
        std::uint64_t handle = 0;
        if (auto e = h.get_uint64().get(handle)) return bad("x handle", e);
        removed.push_back(handle);
      }
    }
  }
  const bool snapshot = type == "snapshot";
  if (!snapshot && type != "delta") return;  // errors and others carry no tasks
  if (!have_t) {
    protocol_error(fmt::format("{} seq {} without t", type, seq));
    return;
  }
  if (snapshot) held_.clear();
  for (Entry& entry : entries) {
    Held* held = nullptr;
    if (entry.has_id) {
      held = &held_[entry.handle];
      *held = Held{};
      held->id = std::move(entry.id);
    } else if (snapshot) {
      protocol_error(fmt::format("snapshot seq {}: entry \"{}\" without id: {:.120}", seq,
                                 entry.handle, entry.text));
      continue;
    } else {
      const auto it = held_.find(entry.handle);
      if (it == held_.end()) {
        protocol_error(
            fmt::format("delta seq {}: entry \"{}\" without id for a handle this "
                        "client does not hold: {:.120}",
                        seq, entry.handle, entry.text));
        continue;
      }
      held = &it->second;
    }
    held->seq = seq;
    for (const Member& m : entry.members) {
      if (m.json == "null") {
        held->members.erase(m.key);
        continue;
      }
      if (is_time(m.key)) {
        std::int64_t relative = 0;
        if (!to_int(m.json, relative)) {
          protocol_error(fmt::format("seq {}: handle {}: time {} is not whole milliseconds: {}",
                                     seq, entry.handle, m.key, m.json));
          continue;
        }
        held->members[m.key] = fmt::format("{}", t + relative);
      } else {
        held->members[m.key] = std::string(m.json);
      }
    }
  }
  for (const std::uint64_t h : removed) held_.erase(h);
}

V2Audit::Report V2Audit::compare(const std::string& tasks_json, std::string_view prefix) {
  Report r = report_;
  std::unordered_map<std::string_view, std::pair<std::uint64_t, const Held*>> by_id;
  for (const auto& [handle, held] : held_) {
    if (held.id.starts_with(prefix)) by_id[held.id] = {handle, &held};
  }
  const auto differ = [&r](std::string what) {
    if (r.first.size() < kFirstDifferences) r.first.push_back(std::move(what));
  };
  const simdjson::padded_string body(tasks_json);
  od::parser parser;
  od::document doc;
  od::object tasks;
  if (parser.iterate(body).get(doc) || doc.find_field("tasks").get_object().get(tasks)) {
    differ(fmt::format("GET /tasks answer unreadable: {:.200}", tasks_json));
    return r;
  }
  std::size_t found = 0;
  for (auto task_result : tasks) {
    od::field task_field;
    std::string_view id;
    od::object task;
    if (std::move(task_result).get(task_field) || task_field.unescaped_key().get(id) ||
        task_field.value().get_object().get(task)) {
      differ("GET /tasks: a task unreadable");
      break;
    }
    if (!id.starts_with(prefix)) continue;
    ++r.compared;
    const std::string task_id(id);
    const auto it = by_id.find(task_id);
    if (it == by_id.end()) {
      ++r.missing;
      differ(fmt::format("{}: in GET /tasks, not held", task_id));
      continue;
    }
    ++found;
    const auto [handle, held] = it->second;
    std::vector<std::string> diffs;
    std::vector<std::string> in_get;  // short keys
    for (auto member_result : task) {
      od::field member;
      std::string_view name;
      if (std::move(member_result).get(member) || member.unescaped_key().get(name)) break;
      const std::string key(short_key(name));
      std::string_view json;
      od::value value = member.value();
      if (simdjson::to_json_string(value).get(json)) break;
      json = trim(json);
      if (key == "id") continue;
      in_get.push_back(key);
      const auto h = held->members.find(key);
      if (h == held->members.end()) {
        // A member set to null is gone from the task (total then reads null).
        if (json != "null")
          diffs.push_back(fmt::format("{} ({}) not held, GET {}", key, name, json));
        continue;
      }
      const std::string& mine = h->second;
      bool same = mine == json;
      if (!same && is_time(key)) {
        std::int64_t ms = 0;
        double seconds = 0;
        same = to_int(mine, ms) && to_double(json, seconds) &&
               std::llabs(ms - std::llround(seconds * 1000)) <= 1;
      } else if (!same && (key == "r" || key == "e")) {
        double a = 0, b = 0;  // 4 significant digits
        same = to_double(mine, a) && to_double(json, b) &&
               std::fabs(a - b) <= 5e-4 * std::fabs(b) + 1e-12;
      } else if (!same && (key == "n" || key == "N")) {
        double a = 0, b = 0;
        same = to_double(mine, a) && to_double(json, b) && a == b;
      }
      if (!same) diffs.push_back(fmt::format("{} held {}, GET {} {}", key, mine, name, json));
    }
    for (const auto& [key, json] : held->members) {
      if (std::find(in_get.begin(), in_get.end(), key) == in_get.end())
        diffs.push_back(fmt::format("{} held {}, not in GET", key, json));
    }
    if (!diffs.empty()) {
      ++r.differing;
      std::string all;
      for (const auto& d : diffs) all += (all.empty() ? "" : "; ") + d;
      differ(fmt::format("{} (handle {}, last changed by seq {}): {}", task_id, handle, held->seq,
                         all));
    }
  }
  r.extra = by_id.size() - found;
  return r;
}

}  // namespace fanout
