#include "live/operation.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include <simdjson.h>

namespace progressista::daemon {

bool append_iso8601(fmt::memory_buffer& out, double seconds) {
  using namespace std::chrono;
  // Years 0..9999 keep the four-digit form (and the arithmetic far from overflow).
  constexpr double kMin = -62167219200.0, kMax = 253402300800.0;
  if (!std::isfinite(seconds) || seconds < kMin || seconds >= kMax) return false;
  const sys_time<milliseconds> t{milliseconds{std::llround(seconds * 1000.0)}};
  const sys_days day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss<milliseconds> hms{t - day};
  fmt::format_to(std::back_inserter(out), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                 static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                 static_cast<unsigned>(ymd.day()), hms.hours().count(), hms.minutes().count(),
                 hms.seconds().count(), hms.subseconds().count());
  return true;
}

void append_iso8601_json(fmt::memory_buffer& out, double seconds) {
  out.push_back('"');
  if (append_iso8601(out, seconds)) {
    out.push_back('"');
  } else {
    out.resize(out.size() - 1);
    out.append(std::string_view{"null"});
  }
}

std::string_view operation_status(Status s) noexcept {
  switch (s) {
    case Status::kStart:
      return "started";
    case Status::kClose:
      return "completed";
    case Status::kError:
      return "failed";
    case Status::kUpdate:
    case Status::kStale:
    case Status::kRecovered:
      return "in_progress";
  }
  return "in_progress";
}

void append_percentage(fmt::memory_buffer& out, const TaskRecord& t) {
  if (t.has(kHasTotal) && t.total > 0 && std::isfinite(t.total)) {
    append_json_number(out, std::clamp(t.n / t.total * 100.0, 0.0, 100.0));
  } else {
    out.append(std::string_view{"null"});
  }
}

MetaStrings meta_strings(const TaskRecord& t) {
  MetaStrings m;
  if (!t.has(kHasMeta)) return m;
  // One parser and padded copy per thread: the tick thread and the I/O threads call this.
  thread_local simdjson::dom::parser parser;
  thread_local std::string text;
  const std::string_view meta = t.meta.view();
  text.reserve(meta.size() + simdjson::SIMDJSON_PADDING);
  text.assign(meta);
  simdjson::dom::object object;
  if (parser.parse(text).get(object) != simdjson::SUCCESS) return m;
  fmt::memory_buffer out;
  const auto member = [&](const char* key, std::string& into) {
    std::string_view value;
    if (object[key].get(value) != simdjson::SUCCESS) return;
    out.clear();
    append_json_string(out, value);
    into.assign(out.data(), out.size());
  };
  member("dataset", m.dataset);
  member("source", m.source);
  return m;
}

void append_operation_message(fmt::memory_buffer& out, const TaskRecord& t) {
  const MetaStrings meta = meta_strings(t);
  out.append(std::string_view{R"({"type":"web:ingest:progress","project":)"});
  append_optional(out, t, kHasProject, t.project);
  out.append(std::string_view{",\"timestamp\":"});
  append_iso8601_json(out, t.updated_at);
  out.append(std::string_view{",\"data\":{\"operationId\":"});
  append_json_string(out, t.task_id.view());
  out.append(std::string_view{",\"operation\":"});
  append_json_string(out, t.has(kHasDesc) && t.desc.size() > 0 ? t.desc.view() : t.task_id.view());
  out.append(std::string_view{",\"dataset\":"});
  out.append(meta.dataset);
  out.append(std::string_view{",\"source\":"});
  out.append(meta.source);
  out.append(std::string_view{",\"phase\":"});
  append_optional(out, t, kHasPhase, t.phase);
  out.append(std::string_view{",\"percentage\":"});
  append_percentage(out, t);
  out.append(std::string_view{",\"detail\":"});
  append_optional(out, t, kHasMessage, t.message);
  out.append(std::string_view{",\"status\":\""});
  out.append(operation_status(t.status));
  out.append(std::string_view{"\",\"error\":"});
  append_optional(out, t, kHasError, t.error);
  out.append(std::string_view{"}}"});
}

}  // namespace progressista::daemon
