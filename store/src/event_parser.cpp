#include "progressista/event_parser.hpp"

#include <string>
#include <vector>

#include <fmt/format.h>
#include <simdjson.h>

#include "progressista/task_json.hpp"
#include "text.hpp"

namespace progressista {

static_assert(kParsePadding == simdjson::SIMDJSON_PADDING,
              "kParsePadding must match the simdjson build in use");

namespace {

namespace od = simdjson::ondemand;
using detail::trim;

// Nesting allowed inside meta (and inside ignored fields): deep enough for any real metadata,
// shallow enough that a hostile body cannot exhaust the stack.
constexpr int kMaxDepth = 32;

// Outcome of one step of the walk: fine, an event that fails validation (the rest of the
// document is still read so that syntax errors anywhere are found), or broken JSON.
enum class Step : std::uint8_t { kOk, kInvalid, kSyntax };

std::string_view type_name(od::json_type t) {
  switch (t) {
    case od::json_type::array:
      return "array";
    case od::json_type::object:
      return "object";
    case od::json_type::number:
      return "number";
    case od::json_type::string:
      return "string";
    case od::json_type::boolean:
      return "boolean";
    case od::json_type::null:
      return "null";
  }
  return "unknown";
}

std::string syntax_detail(simdjson::error_code e) {
  if (e == simdjson::UTF8_ERROR) return "request body is not valid UTF-8";
  return fmt::format("malformed JSON: {}", simdjson::error_message(e));
}

// One event of the body while the document is being read.
struct Pending {
  Event event;
  bool valid = true;
  bool has_task_id = false;
  std::string detail;
  std::size_t meta_offset = 0;  // into Impl::arena (it may grow while later events are read)
  std::size_t meta_size = 0;
  bool has_meta = false;
  std::optional<std::string_view> meta_parent;  // meta.parent: the parent when `parent` is absent
};

}  // namespace

struct EventParser::Impl {
  od::parser parser;
  std::vector<Pending> pending;
  std::string arena;  // minified meta texts of the pending events
  fmt::memory_buffer scratch;
  simdjson::error_code syntax = simdjson::SUCCESS;
  // The body being read.
  std::string_view body;
  std::size_t capacity = 0;
  BodyFormat format = BodyFormat::kJson;
  std::size_t next_pending = 0;  // JSON: the next item of `pending` to hand out
  std::size_t line_start = 0;    // NDJSON: where the next line starts, and its item's index
  std::size_t line_index = 0;

  Step fail_syntax(simdjson::error_code e) {
    syntax = e;
    return Step::kSyntax;
  }

  // Reads any value; writes it minified to `out` when given. Syntax errors anywhere are
  // reported, so an ignored field cannot smuggle broken JSON past the parser.
  Step walk(od::value v, fmt::memory_buffer* out, int depth, std::string& detail,
            std::string_view where) {
    if (depth > kMaxDepth) {
      if (detail.empty())
        detail = fmt::format("{} is nested deeper than {} levels", where, kMaxDepth);
      return Step::kInvalid;
    }
    od::json_type t{};
    if (auto e = v.type().get(t)) return fail_syntax(e);
    Step result = Step::kOk;
    switch (t) {
      case od::json_type::object: {
        od::object obj;
        if (auto e = v.get_object().get(obj)) return fail_syntax(e);
        if (out) out->push_back('{');
        bool first = true;
        for (auto field : obj) {
          std::string_view key;
          if (auto e = field.unescaped_key().get(key)) return fail_syntax(e);
          if (out) {
            if (!first) out->push_back(',');
            append_json_string(*out, key);
            out->push_back(':');
          }
          first = false;
          od::value child;
          if (auto e = field.value().get(child)) return fail_syntax(e);
          const Step s = walk(child, out, depth + 1, detail, where);
          if (s == Step::kSyntax) return s;
          if (s == Step::kInvalid) result = s, out = nullptr;
        }
        if (out) out->push_back('}');
        return result;
      }
      case od::json_type::array: {
        od::array arr;
        if (auto e = v.get_array().get(arr)) return fail_syntax(e);
        if (out) out->push_back('[');
        bool first = true;
        for (auto element : arr) {
          od::value child;
          if (auto e = element.get(child)) return fail_syntax(e);
          if (out && !first) out->push_back(',');
          first = false;
          const Step s = walk(child, out, depth + 1, detail, where);
          if (s == Step::kSyntax) return s;
          if (s == Step::kInvalid) result = s, out = nullptr;
        }
        if (out) out->push_back(']');
        return result;
      }
      case od::json_type::string: {
        std::string_view s;
        if (auto e = v.get_string().get(s)) return fail_syntax(e);
        if (out) append_json_string(*out, s);
        return Step::kOk;
      }
      case od::json_type::number: {
        const std::string_view token = v.raw_json_token();
        double d = 0;
        if (auto e = v.get_double().get(d)) return fail_syntax(e);
        if (out) out->append(trim(token));
        return Step::kOk;
      }
      case od::json_type::boolean: {
        bool b = false;
        if (auto e = v.get_bool().get(b)) return fail_syntax(e);
        if (out) out->append(std::string_view{b ? "true" : "false"});
        return Step::kOk;
      }
      case od::json_type::null: {
        bool is_null = false;
        if (auto e = v.is_null().get(is_null)) return fail_syntax(e);
        if (!is_null) return fail_syntax(simdjson::N_ATOM_ERROR);
        if (out) out->append(std::string_view{"null"});
        return Step::kOk;
      }
    }
    return fail_syntax(simdjson::INCORRECT_TYPE);
  }

  // Records the first validation failure of an event; later ones are only read.
  static Step invalid(Pending& p, std::string detail) {
    if (p.valid) {
      p.valid = false;
      p.detail = std::move(detail);
    }
    return Step::kInvalid;
  }

  // A string field: null means absent; over its limit it is truncated (truncate=true) or
  // rejected.
  Step string_field(Pending& p, od::value v, od::json_type t, std::string_view name,
                    std::size_t limit, bool truncate, std::optional<std::string_view>& dst) {
    if (t == od::json_type::null) return walk(v, nullptr, 0, p.detail, name);
    if (t != od::json_type::string) {
      invalid(p, fmt::format("{} must be a string, got {}", name, type_name(t)));
      return walk(v, nullptr, 0, p.detail, name);
    }
    std::string_view s;
    if (auto e = v.get_string().get(s)) return fail_syntax(e);
    if (s.size() > limit) {
      if (!truncate)
        return invalid(p, fmt::format("{} is {} bytes; the limit is {}", name, s.size(), limit));
      s = utf8_prefix(s, limit);
    }
    dst = s;
    return Step::kOk;
  }

  Step number_field(Pending& p, od::value v, od::json_type t, std::string_view name,
                    std::optional<double>& dst) {
    if (t == od::json_type::null) return walk(v, nullptr, 0, p.detail, name);
    if (t != od::json_type::number) {
      invalid(p, fmt::format("{} must be a number, got {}", name, type_name(t)));
      return walk(v, nullptr, 0, p.detail, name);
    }
    double d = 0;
    if (auto e = v.get_double().get(d)) return fail_syntax(e);
    dst = d;
    return Step::kOk;
  }

  Step meta_field(Pending& p, od::value v, od::json_type t) {
    if (t == od::json_type::null) return walk(v, nullptr, 0, p.detail, "meta");
    if (t != od::json_type::object) {
      invalid(p, fmt::format("meta must be a JSON object, got {}", type_name(t)));
      return walk(v, nullptr, 0, p.detail, "meta");
    }
    od::object obj;
    if (auto e = v.get_object().get(obj)) return fail_syntax(e);
    scratch.clear();
    scratch.push_back('{');
    bool first = true;
    std::string nested_detail;
    Step result = Step::kOk;
    for (auto field : obj) {
      std::string_view key;
      if (auto e = field.unescaped_key().get(key)) return fail_syntax(e);
      od::value child;
      if (auto e = field.value().get(child)) return fail_syntax(e);
      if (key == "_token") {
        // Authentication material: taken out before the meta is stored or served.
        od::json_type ct{};
        if (auto e = child.type().get(ct)) return fail_syntax(e);
        if (ct == od::json_type::string) {
          std::string_view token;
          if (auto e = child.get_string().get(token)) return fail_syntax(e);
          p.event.meta_token = token;
          continue;
        }
        const Step s = walk(child, nullptr, 1, nested_detail, "meta");
        if (s == Step::kSyntax) return s;
        continue;
      }
      if (!first) scratch.push_back(',');
      first = false;
      append_json_string(scratch, key);
      scratch.push_back(':');
      if (key == "parent") {
        // RemoteTqdm can only send meta: meta.parent names the parent (and stays in meta).
        od::json_type ct{};
        if (auto e = child.type().get(ct)) return fail_syntax(e);
        if (ct == od::json_type::string) {
          std::string_view parent;
          if (auto e = child.get_string().get(parent)) return fail_syntax(e);
          append_json_string(scratch, parent);
          if (parent.size() > limits::kTaskId) {
            invalid(p, fmt::format("meta.parent is {} bytes; the limit is {}", parent.size(),
                                   limits::kTaskId));
            result = Step::kInvalid;
          }
          p.meta_parent = parent;
          continue;
        }
      }
      const Step s = walk(child, &scratch, 1, nested_detail, "meta");
      if (s == Step::kSyntax) return s;
      if (s == Step::kInvalid) result = s;
    }
    scratch.push_back('}');
    if (result == Step::kInvalid) return p.valid ? invalid(p, nested_detail) : Step::kInvalid;
    if (scratch.size() > limits::kMeta) {
      return invalid(p, fmt::format("meta is {} bytes of JSON; the limit is {}", scratch.size(),
                                    limits::kMeta));
    }
    p.meta_offset = arena.size();
    p.meta_size = scratch.size();
    p.has_meta = true;
    arena.append(scratch.data(), scratch.size());
    return Step::kOk;
  }

  Step status_field(Pending& p, od::value v, od::json_type t) {
    std::optional<std::string_view> text;
    const Step s = string_field(p, v, t, "status", 64, false, text);
    if (s != Step::kOk || !text) return s;
    if (auto status = parse_status(*text)) {
      p.event.status = status;
      return Step::kOk;
    }
    return invalid(p, status_not_accepted(*text));  // at most 64 bytes, as read above
  }

  Step field(Pending& p, std::string_view key, od::value v) {
    od::json_type t{};
    if (auto e = v.type().get(t)) return fail_syntax(e);
    Event& ev = p.event;
    if (key == "task_id") {
      std::optional<std::string_view> id;
      const Step s = string_field(p, v, t, "task_id", limits::kTaskId, false, id);
      if (id) {
        ev.task_id = *id;
        p.has_task_id = true;
      } else if (s == Step::kOk) {
        p.has_task_id = false;  // null: as good as missing
      }
      return s;
    }
    if (key == "n") return number_field(p, v, t, "n", ev.n);
    if (key == "total") return number_field(p, v, t, "total", ev.total);
    if (key == "desc") return string_field(p, v, t, "desc", limits::kDesc, true, ev.desc);
    if (key == "status") return status_field(p, v, t);
    if (key == "timestamp") return number_field(p, v, t, "timestamp", ev.timestamp);
    if (key == "unit") return string_field(p, v, t, "unit", limits::kUnit, false, ev.unit);
    if (key == "meta") return meta_field(p, v, t);
    if (key == "progress") {
      const Step s = number_field(p, v, t, "progress", ev.progress);
      if (s == Step::kOk && ev.progress && !(*ev.progress >= 0 && *ev.progress <= 100)) {
        return invalid(p, fmt::format("progress must be between 0 and 100, got {}", *ev.progress));
      }
      return s;
    }
    if (key == "project")
      return string_field(p, v, t, "project", limits::kProject, false, ev.project);
    if (key == "phase") return string_field(p, v, t, "phase", limits::kPhase, false, ev.phase);
    if (key == "message")
      return string_field(p, v, t, "message", limits::kMessage, true, ev.message);
    if (key == "error") return string_field(p, v, t, "error", limits::kError, true, ev.error);
    if (key == "parent")
      return string_field(p, v, t, "parent", limits::kTaskId, false, ev.parent);
    // Unknown fields are ignored, as Progressista's model does, but still read in full.
    std::string ignored;
    const Step s = walk(v, nullptr, 0, ignored, "field");
    return s == Step::kSyntax ? s : Step::kOk;
  }

  Step event_object(od::object obj, Pending& p) {
    for (auto f : obj) {
      std::string_view key;
      if (auto e = f.unescaped_key().get(key)) return fail_syntax(e);
      od::value v;
      if (auto e = f.value().get(v)) return fail_syntax(e);
      if (field(p, key, v) == Step::kSyntax) return Step::kSyntax;
    }
    if (!p.has_task_id)
      invalid(p, "task_id is required");
    else if (p.event.task_id.empty())
      invalid(p, "task_id must not be empty");
    return p.valid ? Step::kOk : Step::kInvalid;
  }

  // One element of a batch (or the whole body): an event object, or something to reject.
  Step element(od::value v, Pending& p) {
    od::json_type t{};
    if (auto e = v.type().get(t)) return fail_syntax(e);
    if (t != od::json_type::object) {
      invalid(p, fmt::format("an event must be a JSON object, got {}", type_name(t)));
      std::string ignored;
      return walk(v, nullptr, 0, ignored, "event") == Step::kSyntax ? Step::kSyntax
                                                                    : Step::kInvalid;
    }
    od::object obj;
    if (auto e = v.get_object().get(obj)) return fail_syntax(e);
    return event_object(obj, p);
  }

  // True when nothing but whitespace follows the root value.
  static bool at_end(od::document& doc) {
    const char* where = nullptr;
    return doc.current_location().get(where) != simdjson::SUCCESS;
  }

  // The item for `p`: its event (meta pointed into the arena, now that it no longer grows)
  // or its rejection.
  BodyItem item_of(Pending& p, std::size_t index) {
    if (!p.valid) return {index, nullptr, p.detail};
    if (p.has_meta) p.event.meta = std::string_view(arena.data() + p.meta_offset, p.meta_size);
    if (!p.event.parent) p.event.parent = p.meta_parent;
    return {index, &p.event, {}};
  }

  void reset() {
    pending.clear();
    arena.clear();
    syntax = simdjson::SUCCESS;
    next_pending = 0;
  }

  // Reads the whole JSON body into `pending`; next() hands the items out afterwards.
  BodyResult open_json() {
    BodyResult r;
    od::document doc;
    if (auto e = parser.iterate(simdjson::padded_string_view(body.data(), body.size(), capacity))
                     .get(doc)) {
      return {BodyError::kMalformed, false, syntax_detail(e)};
    }
    od::json_type t{};
    if (auto e = doc.type().get(t)) return {BodyError::kMalformed, false, syntax_detail(e)};

    if (t == od::json_type::object) {
      od::object obj;
      if (auto e = doc.get_object().get(obj))
        return {BodyError::kMalformed, false, syntax_detail(e)};
      pending.emplace_back();
      if (event_object(obj, pending.back()) == Step::kSyntax) {
        return {BodyError::kMalformed, false, syntax_detail(syntax)};
      }
    } else if (t == od::json_type::array) {
      r.batch = true;
      od::array arr;
      if (auto e = doc.get_array().get(arr)) return {BodyError::kMalformed, true, syntax_detail(e)};
      for (auto item : arr) {
        od::value v;
        if (auto e = item.get(v)) return {BodyError::kMalformed, true, syntax_detail(e)};
        pending.emplace_back();
        if (element(v, pending.back()) == Step::kSyntax) {
          return {BodyError::kMalformed, true, syntax_detail(syntax)};
        }
      }
    } else {
      // A scalar at the root: valid JSON (checked) but not an event.
      std::string_view token;
      if (auto e = doc.raw_json_token().get(token)) {
        return {BodyError::kMalformed, false, syntax_detail(e)};
      }
      simdjson::error_code e = simdjson::SUCCESS;
      switch (t) {
        case od::json_type::number:
          e = doc.get_double().error();
          break;
        case od::json_type::string:
          e = doc.get_string().error();
          break;
        case od::json_type::boolean:
          e = doc.get_bool().error();
          break;
        default: {
          bool is_null = false;
          e = doc.is_null().get(is_null);
          if (!e && !is_null) e = simdjson::N_ATOM_ERROR;
        }
      }
      if (e) return {BodyError::kMalformed, false, syntax_detail(e)};
      return {
          BodyError::kWrongType, false,
          fmt::format("request body must be an event object or an array of event objects, got {}",
                      type_name(t))};
    }
    if (!at_end(doc)) {
      return {BodyError::kMalformed, r.batch,
              "malformed JSON: unexpected content after the JSON value"};
    }
    return r;
  }

  // Parses the next non-blank NDJSON line on its own; nullopt past the last one.
  std::optional<BodyItem> next_line() {
    while (line_start < body.size()) {
      std::size_t end = body.find('\n', line_start);
      if (end == std::string_view::npos) end = body.size();
      const std::string_view line = trim(body.substr(line_start, end - line_start));
      line_start = end + 1;
      if (line.empty()) continue;
      reset();
      Pending& p = pending.emplace_back();
      // The rest of the body and its padding stay readable past the end of the line.
      const auto offset = static_cast<std::size_t>(line.data() - body.data());
      od::document doc;
      simdjson::error_code e =
          parser.iterate(simdjson::padded_string_view(line.data(), line.size(), capacity - offset))
              .get(doc);
      od::json_type t{};
      if (!e) e = doc.type().get(t);
      if (!e && t != od::json_type::object) {
        invalid(p, fmt::format("line {}: an NDJSON line must be one event object, got {}",
                               line_index + 1, type_name(t)));
      } else if (!e) {
        od::object obj;
        e = doc.get_object().get(obj);
        if (!e && event_object(obj, p) == Step::kSyntax) e = syntax;
        if (!e && !at_end(doc)) e = simdjson::TRAILING_CONTENT;
      }
      if (e) {
        p.valid = true;  // replace any validation detail: the line is not JSON at all
        invalid(p, fmt::format("line {}: {}", line_index + 1, syntax_detail(e)));
      }
      return item_of(p, line_index++);
    }
    return std::nullopt;
  }

  std::optional<BodyItem> next() {
    if (format == BodyFormat::kNdjson) return next_line();
    if (next_pending == pending.size()) return std::nullopt;
    const std::size_t index = next_pending++;
    return item_of(pending[index], index);
  }
};

EventParser::EventParser() : impl_(std::make_unique<Impl>()) {}
EventParser::~EventParser() = default;

BodyResult EventParser::open(std::string_view body, std::size_t capacity, BodyFormat format) {
  Impl& m = *impl_;
  m.reset();
  // Until a body opens well, next() finds nothing: an empty JSON body, or NDJSON read through.
  m.format = BodyFormat::kJson;
  if (capacity < body.size() + kParsePadding) {
    return {BodyError::kMalformed, false,
            "internal error: request body buffer lacks parser padding"};
  }
  if (trim(body).empty()) return {BodyError::kEmpty, false, "request body is empty"};
  m.body = body;
  m.capacity = capacity;
  if (format == BodyFormat::kNdjson) {
    // Every line is parsed on its own when next() reaches it. The body holds a non-blank line
    // (it is not blank), so an NDJSON body always has an item.
    m.format = format;
    m.line_start = 0;
    m.line_index = 0;
    return {BodyError::kNone, true, {}};
  }
  BodyResult r = m.open_json();
  if (r.error != BodyError::kNone) m.reset();  // a broken body yields no item at all
  return r;
}

std::optional<BodyItem> EventParser::next() {
  return impl_->next();
}

}  // namespace progressista
