#include "progressista/ingest.hpp"

#include <cctype>
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

std::string_view ignored_reason(Upsert u) {
  return u == Upsert::kIgnoredClosed ? "task is closed; only a start event reopens it"
                                     : "older than the task's last applied event";
}

class ApplySink final : public EventSink {
 public:
  ApplySink(Store& store, double now, const Access& access) : store_(store), now_(now), access_(access) {}

  void on_event(std::size_t index, const Event& event) override {
    if (!access_.open()) {
      if (!event.meta_token || !access_.tokens->contains(*event.meta_token)) {
        store_.counters().add(Counter::kRejectedAuth);
        ++unauthorized_;
        reject(index, kInvalidToken);
        return;
      }
    }
    last_ = store_.upsert(event, now_);  // follows a resize under us
    switch (last_) {
      case Upsert::kCreated:
      case Upsert::kUpdated:
        ++accepted_;
        break;
      case Upsert::kIgnoredOutOfOrder:
      case Upsert::kIgnoredClosed:
        ++accepted_;
        ++ignored_;
        break;
      case Upsert::kTableFull:
        reject(index, store_.table().full_detail());
        status_ = 507;
        break;
      case Upsert::kMoved:
        reject(index, "the task table is being resized; send the event again");
        status_ = 503;
        break;
    }
  }

  void on_invalid(std::size_t index, std::string_view detail) override {
    store_.counters().add(Counter::kRejectedValidation);
    last_invalid_ = true;
    reject(index, detail);
  }

  struct Rejection {
    std::size_t index;
    std::string detail;
  };
  void reject(std::size_t index, std::string_view detail) {
    rejected_.push_back(Rejection{index, std::string(detail)});
  }

  Store& store_;
  double now_;
  const Access& access_;
  std::size_t unauthorized_ = 0;
  std::size_t accepted_ = 0;
  std::size_t ignored_ = 0;
  Upsert last_ = Upsert::kUpdated;
  bool last_invalid_ = false;
  int status_ = 507;  // of a single event refused by the table
  std::vector<Rejection> rejected_;
};

}  // namespace

int Ingestor::apply(std::string_view body, std::size_t capacity, BodyFormat format, double now,
                    fmt::memory_buffer& out, const Access& access) {
  out.clear();
  ApplySink sink(store_, now, access);
  const BodyResult r = parser_.parse(body, capacity, format, sink);
  switch (r.error) {
    case BodyError::kNone:
      break;
    case BodyError::kMalformed:
    case BodyError::kEmpty:
      store_.counters().add(Counter::kRejectedMalformed);
      append_detail(out, r.detail);
      return 400;
    case BodyError::kWrongType:
      store_.counters().add(Counter::kRejectedValidation);
      append_detail(out, r.detail);
      return 422;
  }

  if (sink.unauthorized_ > 0 && sink.unauthorized_ == r.count) {
    append_detail(out, kInvalidToken);
    return 401;
  }
  if (!r.batch) {
    if (!sink.rejected_.empty()) {
      append_detail(out, sink.rejected_.front().detail);
      return sink.last_invalid_ ? 422 : sink.status_;
    }
    out.append(std::string_view{"{\"ok\":true"});
    if (sink.ignored_ > 0) {
      out.append(std::string_view{",\"ignored\":"});
      append_json_string(out, ignored_reason(sink.last_));
    }
    out.push_back('}');
    return 200;
  }

  fmt::format_to(std::back_inserter(out), "{{\"ok\":true,\"accepted\":{},\"ignored\":{},\"rejected\":[",
                 sink.accepted_, sink.ignored_);
  for (std::size_t i = 0; i < sink.rejected_.size(); ++i) {
    if (i) out.push_back(',');
    fmt::format_to(std::back_inserter(out), "{{\"index\":{},\"detail\":", sink.rejected_[i].index);
    append_json_string(out, sink.rejected_[i].detail);
    out.push_back('}');
  }
  out.append(std::string_view{"]}"});
  return 200;
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
    append_detail(
        out, fmt::format("unsupported media type '{}': send application/json (one event or an "
                         "array) or application/x-ndjson (one event per line)",
                         type));
    return 415;
  }
  const Access access{request.tokens,
                      request.tokens != nullptr && request.tokens->admits(request.authorization,
                                                                          request.query)};
  return apply(body, capacity, format, now, out, access);
}

}  // namespace progressista
