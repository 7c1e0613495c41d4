#include "http/health.hpp"

#include <cmath>

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
}  // namespace

void health_response(const Store& store, Role self, HttpResponse& response) {
  fmt::memory_buffer out;
  const MemoryUse m = store.table().memory();
  fmt::format_to(std::back_inserter(out),
                 "{{\"status\":\"ok\",\"tasks\":{},\"capacity\":{},\"segment\":", m.tasks,
                 m.max_tasks);
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
  out.push_back('}');
  response.status = 200;
  response.content_type = "application/json";
  response.body.assign(out.data(), out.size());
  response.set_header("Cache-Control", "no-store");
}

}  // namespace progressista::daemon
