#include "progressista/ingest.hpp"

#include <cctype>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

namespace progressista {

void append_detail(fmt::memory_buffer& out, std::string_view detail) {
  out.append(std::string_view{"{\"detail\":"});
  append_json_string(out, detail);
  out.push_back('}');
}

std::string body_too_large_detail(std::size_t limit) {
  return fmt::format("request body is larger than the limit of {} bytes", limit);
}

namespace {

// The media type without parameters, lower-cased: "Application/JSON; charset=utf-8" ->
// "application/json".
std::string media_type(std::string_view content_type) {
  std::string out;
  for (char c : content_type.substr(0, content_type.find(';'))) {
    if (c != ' ' && c != '\t')
      out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

constexpr std::string_view kInvalidToken = "Invalid API token";

// With the API closed to this request, an event may still carry a valid `meta._token`.
bool admits(const Access& access, const Event& event) {
  return access.open() || (event.meta_token && access.tokens->contains(*event.meta_token));
}

// What the answer will say, recorded item by item.
struct Tally {
  struct Rejection {
    std::size_t index;
    std::string detail;
    int status;  // of a single event's answer
  };

  void reject(std::size_t index, std::string_view detail, int status) {
    rejected.push_back(Rejection{index, std::string(detail), status});
  }

  void record(std::size_t index, Upsert u, const TaskTable& table, const Event& event) {
    last = u;
    switch (u) {
      case Upsert::kCreated:
      case Upsert::kUpdated:
        ++accepted;
        break;
      case Upsert::kIgnoredOutOfOrder:
      case Upsert::kIgnoredClosed:
        ++accepted;
        ++ignored;
        break;
      case Upsert::kTableFull:
        reject(index, table.full_detail(), 507);
        break;
      case Upsert::kMoved:
        reject(index, "the task table is being resized; send the event again", 503);
        break;
      case Upsert::kParentCycle:
        reject(index,
               fmt::format("parent '{}' would make a cycle: task '{}' is that task or one of its "
                           "ancestors",
                           event.parent.value_or(""), event.task_id),
               422);
        break;
      case Upsert::kParentTooDeep:
        reject(index,
               fmt::format("parent '{}' would nest task '{}' more than {} levels deep",
                           event.parent.value_or(""), event.task_id, limits::kMaxParentDepth),
               422);
        break;
    }
  }

  std::size_t items = 0;
  std::size_t accepted = 0;
  std::size_t ignored = 0;
  std::size_t unauthorized = 0;
  Upsert last = Upsert::kUpdated;
  std::vector<Rejection> rejected;
};

std::string_view ignored_reason(Upsert u) {
  return u == Upsert::kIgnoredClosed ? "task is closed; only a start event reopens it"
                                     : "older than the task's last applied event";
}

// A body that yields no event: 400 for broken or empty, 422 for JSON that holds none.
int refuse_body(const BodyResult& body, Counters& counters, fmt::memory_buffer& out) {
  append_detail(out, body.detail);
  if (body.error == BodyError::kWrongType) {
    counters.add(Counter::kRejectedValidation);
    return 422;
  }
  counters.add(Counter::kRejectedMalformed);
  return 400;
}

int answer_single(const Tally& tally, fmt::memory_buffer& out) {
  if (!tally.rejected.empty()) {
    append_detail(out, tally.rejected.front().detail);
    return tally.rejected.front().status;
  }
  out.append(std::string_view{"{\"ok\":true"});
  if (tally.ignored > 0) {
    out.append(std::string_view{",\"ignored\":"});
    append_json_string(out, ignored_reason(tally.last));
  }
  out.push_back('}');
  return 200;
}

int answer_batch(const Tally& tally, fmt::memory_buffer& out) {
  fmt::format_to(std::back_inserter(out),
                 "{{\"ok\":true,\"accepted\":{},\"ignored\":{},\"rejected\":[", tally.accepted,
                 tally.ignored);
  for (std::size_t i = 0; i < tally.rejected.size(); ++i) {
    if (i) out.push_back(',');
    fmt::format_to(std::back_inserter(out), "{{\"index\":{},\"detail\":", tally.rejected[i].index);
    append_json_string(out, tally.rejected[i].detail);
    out.push_back('}');
  }
  out.append(std::string_view{"]}"});
  return 200;
}

}  // namespace

int Ingestor::apply(std::string_view body, std::size_t capacity, BodyFormat format, double now,
                    fmt::memory_buffer& out, const Access& access) {
  out.clear();
  const BodyResult opened = parser_.open(body, capacity, format);
  if (opened.error != BodyError::kNone) return refuse_body(opened, store_.counters(), out);

  Tally tally;
  while (const std::optional<BodyItem> item = parser_.next()) {
    ++tally.items;
    if (item->event == nullptr) {
      store_.counters().add(Counter::kRejectedValidation);
      tally.reject(item->index, item->detail, 422);
    } else if (!admits(access, *item->event)) {
      store_.counters().add(Counter::kRejectedAuth);
      ++tally.unauthorized;
      tally.reject(item->index, kInvalidToken, 401);
    } else {
      // Follows a resize under us; table() is then the new segment's.
      tally.record(item->index, store_.upsert(*item->event, now), store_.table(), *item->event);
    }
  }

  if (tally.unauthorized > 0 && tally.unauthorized == tally.items) {
    append_detail(out, kInvalidToken);
    return 401;
  }
  return opened.batch ? answer_batch(tally, out) : answer_single(tally, out);
}

int Ingestor::post(const PostRequest& request, std::string_view body, std::size_t capacity,
                   double now, fmt::memory_buffer& out) {
  // Progressista (FastAPI) parses JSON whatever the declared type when there is none; any
  // other declared type than JSON or NDJSON is refused rather than guessed at.
  const std::string type = media_type(request.content_type);
  BodyFormat format = BodyFormat::kJson;
  if (type == "application/x-ndjson" || type == "application/ndjson" ||
      type == "application/jsonl") {
    format = BodyFormat::kNdjson;
  } else if (!type.empty() && type != "application/json" && type != "text/json" &&
             !(type.starts_with("application/") && type.ends_with("+json"))) {
    store_.counters().add(Counter::kRejectedUnsupportedMedia);
    out.clear();
    append_detail(out,
                  fmt::format("unsupported media type '{}': send application/json (one event or an "
                              "array) or application/x-ndjson (one event per line)",
                              type));
    return 415;
  }
  return apply(body, capacity, format, now, out, request.access);
}

}  // namespace progressista
