#include "progressista/task_json.hpp"

#include <cmath>
#include <iterator>

namespace progressista {

void append_json_string(fmt::memory_buffer& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.substr(run, i - run));
    run = i + 1;
    switch (c) {
      case '"':
        out.append(std::string_view{"\\\""});
        break;
      case '\\':
        out.append(std::string_view{"\\\\"});
        break;
      case '\n':
        out.append(std::string_view{"\\n"});
        break;
      case '\r':
        out.append(std::string_view{"\\r"});
        break;
      case '\t':
        out.append(std::string_view{"\\t"});
        break;
      case '\b':
        out.append(std::string_view{"\\b"});
        break;
      case '\f':
        out.append(std::string_view{"\\f"});
        break;
      default: {
        const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
        out.append(std::string_view(esc, sizeof esc));
      }
    }
  }
  out.append(s.substr(run));
  out.push_back('"');
}

void append_json_number(fmt::memory_buffer& out, double v) {
  if (!std::isfinite(v)) {
    out.append(std::string_view{"null"});
    return;
  }
  fmt::format_to(std::back_inserter(out), "{}", v);
}

namespace {
void key(fmt::memory_buffer& out, std::string_view quoted_key_colon) {
  out.push_back(',');
  out.append(quoted_key_colon);
}
}  // namespace

void append_task_json(fmt::memory_buffer& out, const TaskRecord& t, bool stalled) {
  out.append(std::string_view{"{\"task_id\":"});
  append_json_string(out, t.task_id.view());
  if (t.has(kHasDesc)) {
    key(out, "\"desc\":");
    append_json_string(out, t.desc.view());
  }
  key(out, "\"n\":");
  append_json_number(out, t.n);
  key(out, "\"total\":");
  if (t.has(kHasTotal))
    append_json_number(out, t.total);
  else
    out.append(std::string_view{"null"});
  if (t.has(kHasUnit)) {
    key(out, "\"unit\":");
    append_json_string(out, t.unit.view());
  }
  key(out, "\"status\":");
  append_json_string(out, status_name(t.status));
  if (t.has(kHasTimestamp)) {
    key(out, "\"timestamp\":");
    append_json_number(out, t.timestamp);
  }
  if (t.has(kHasMeta)) {
    key(out, "\"meta\":");
    out.append(t.meta.view());
  }
  key(out, "\"created_at\":");
  append_json_number(out, t.created_at);
  key(out, "\"updated_at\":");
  append_json_number(out, t.updated_at);
  if (t.has(kHasDoneAt)) {
    key(out, "\"done_at\":");
    append_json_number(out, t.done_at);
  }
  if (t.has(kHasStaleAt)) {
    key(out, "\"stale_at\":");
    append_json_number(out, t.stale_at);
  }
  if (t.has(kHasRecovered)) {
    key(out, "\"recovered\":true,\"recovered_at\":");
    append_json_number(out, t.recovered_at);
  }
  const auto text = [&](Field f, std::string_view k, std::string_view v) {
    if (!t.has(f)) return;
    key(out, k);
    append_json_string(out, v);
  };
  text(kHasProject, "\"project\":", t.project.view());
  text(kHasPhase, "\"phase\":", t.phase.view());
  text(kHasMessage, "\"message\":", t.message.view());
  text(kHasError, "\"error\":", t.error.view());
  if (t.has(kHasRate)) {
    key(out, "\"rate\":");
    append_json_number(out, t.rate);
  }
  if (const double eta = t.eta(); eta >= 0) {
    key(out, "\"eta\":");
    append_json_number(out, eta);
  }
  if (t.has(kHasCadence)) {
    key(out, "\"cadence\":");
    // Two significant digits: all a stall rule needs, and steadier in the live frames.
    if (std::isfinite(t.cadence)) {
      fmt::format_to(std::back_inserter(out), "{:.2g}", t.cadence);
    } else {
      out.append(std::string_view{"null"});
    }
  }
  if (t.has(kHasAcknowledged)) {
    key(out, "\"acknowledged_at\":");
    append_json_number(out, t.acknowledged_at);
  }
  if (t.has(kHasParent) && t.parent.size() > 0) {
    key(out, "\"parent\":");
    append_json_string(out, t.parent.view());
  }
  if (t.kids > 0) {
    fmt::format_to(std::back_inserter(out),
                   ",\"children\":{{\"count\":{},\"closed\":{},\"failed\":{},\"running\":{}}}",
                   t.kids, t.kids_closed, t.kids_failed, t.kids_running());
  }
  if (stalled) out.append(std::string_view{",\"stalled\":true"});
  out.push_back('}');
}

}  // namespace progressista
