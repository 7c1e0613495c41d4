#include "http/health.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "federation/federation_status.hpp"
#include "notify/notify_status.hpp"
#include "progressista/task_json.hpp"

namespace progressista::daemon {

namespace {
void peer(fmt::memory_buffer& out, const Store& store, Role role, Role self) {
  fmt::format_to(std::back_inserter(out), ",\"{}\":", role_name(role));
  // `serve` plays both roles; its heartbeat counts for each.
  auto info = store.processes().freshest(role);
  if (!info) info = store.processes().freshest(Role::kServe);
  if (self == role || self == Role::kServe) {
    out.append(std::string_view{"{\"alive\":true,\"heartbeat_age\":0}"});
    return;
  }
  if (!info) {
    out.append(std::string_view{"{\"alive\":false,\"heartbeat_age\":null}"});
    return;
  }
  const double age = std::max(0.0, static_cast<double>(now_ns() - info->beat_ns) / 1e9);
  fmt::format_to(std::back_inserter(out),
                 "{{\"alive\":{},\"pid\":{},\"heartbeat_age\":", age <= kHeartbeatStaleSeconds,
                 info->pid);
  append_json_number(out, std::round(age * 1000) / 1000);
  out.push_back('}');
}

double seconds_of(std::uint64_t ns) {
  return std::round(static_cast<double>(ns) / 1e6) / 1e3;
}

// What the janitor-lease holder last did with PROGRESSISTA_STORAGE_PATH, from the segment
// (any process may hold the lease). Absent while nothing was ever saved nor failed.
bool persistence(fmt::memory_buffer& out, const Store& store) {
  const Counters& c = store.counters();
  const std::uint64_t saves = c.get(Counter::kPersistenceSaves);
  const std::uint64_t failures = c.get(Counter::kPersistenceFailures);
  if (saves == 0 && failures == 0) return false;
  const std::uint64_t failing_since = c.get(Gauge::kPersistenceFailingSinceNs);
  const std::uint64_t last_save = c.get(Gauge::kPersistenceLastSaveNs);
  fmt::format_to(std::back_inserter(out), ",\"persistence\":{{\"status\":\"{}\"",
                 failing_since != 0 ? "failing" : "ok");
  if (failing_since != 0) {
    out.append(std::string_view{",\"failing_since\":"});
    append_json_number(out, seconds_of(failing_since));
    out.append(std::string_view{",\"error\":"});
    append_json_string(out, std::strerror(static_cast<int>(c.get(Gauge::kPersistenceErrno))));
  }
  out.append(std::string_view{",\"last_good_save\":"});
  if (last_save != 0)
    append_json_number(out, seconds_of(last_save));
  else
    out.append(std::string_view{"null"});
  fmt::format_to(std::back_inserter(out), ",\"saves\":{},\"failures\":{}}}", saves, failures);
  return failing_since != 0;
}

}  // namespace

std::optional<double> ingest_heartbeat_age(const Store& store) {
  auto ingest = store.processes().freshest(Role::kIngest);
  if (!ingest) ingest = store.processes().freshest(Role::kServe);
  if (!ingest) return std::nullopt;
  return std::max(0.0, static_cast<double>(now_ns() - ingest->beat_ns) / 1e9);
}

void health_response(const Store& store, Role self, HttpResponse& response) {
  fmt::memory_buffer persisted;
  // Failing persistence degrades the status but keeps 200: the daemon still serves (a load
  // balancer keeps it); a person or an alert reads why.
  const bool degraded = persistence(persisted, store);
  fmt::memory_buffer out;
  const MemoryUse m = store.table().memory();
  fmt::format_to(std::back_inserter(out),
                 "{{\"status\":\"{}\",\"tasks\":{},\"capacity\":{},\"segment\":",
                 degraded ? "degraded" : "ok", m.tasks, m.max_tasks);
  append_json_string(out, store.segment().name());
  // The generation changes when the segment is resized or re-created; `follows` counts this
  // process's re-attachments.
  fmt::format_to(std::back_inserter(out),
                 ",\"generation\":{},\"follows\":{},\"memory\":{{\"tasks\":{},\"max_tasks\":{},"
                 "\"finished\":{},\"budget_bytes\":{},\"free_blocks\":{},\"blocks\":{},"
                 "\"block_bytes\":{}}}",
                 store.segment().generation(), store.follows(), m.tasks, m.max_tasks, m.finished,
                 m.budget_bytes, m.free_blocks, m.blocks, m.block_bytes);
  fmt::format_to(std::back_inserter(out), ",\"role\":\"{}\"", role_name(self));
  peer(out, store, Role::kIngest, self);
  peer(out, store, Role::kBroadcast, self);
  out.append(persisted.data(), persisted.data() + persisted.size());
  notify::append_health(out);  // this process's notifier, when it runs one
  federation::append_health(out);  // this process's federation (--redis), when it runs one
  out.push_back('}');
  response.status = 200;
  response.content_type = "application/json";
  response.body.assign(out.data(), out.size());
  response.set_header("Cache-Control", "no-store");
}

}  // namespace progressista::daemon
