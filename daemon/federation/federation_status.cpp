#include "federation/federation_status.hpp"

#include <mutex>
#include <optional>

#include "progressista/task_json.hpp"

namespace progressista::daemon::federation {

namespace {

std::mutex g_mu;
std::function<FederationStatus()> g_source;

std::optional<FederationStatus> current() {
  std::lock_guard lock(g_mu);
  if (!g_source) return std::nullopt;
  return g_source();
}

}  // namespace

void set_status_source(std::function<FederationStatus()> source) {
  std::lock_guard lock(g_mu);
  g_source = std::move(source);
}

void append_health(fmt::memory_buffer& out) {
  const auto s = current();
  if (!s) return;
  const auto str = [&](std::string_view key, std::string_view v) {
    fmt::format_to(std::back_inserter(out), ",\"{}\":", key);
    append_json_string(out, v);
  };
  out.append(std::string_view{",\"federation\":{\"state\":"});
  append_json_string(out, s->state);
  fmt::format_to(std::back_inserter(out), ",\"since\":");
  append_json_number(out, s->since);
  str("node_id", s->node_id);
  str("redis", s->redis);
  str("prefix", s->prefix);
  str("applied", s->applied);
  fmt::format_to(std::back_inserter(out),
                 ",\"outbox\":{},\"outbox_bytes\":{},\"janitor\":{},\"snapshot_loads\":{},"
                 "\"reconnects\":{},\"appended\":{},\"applied_entries\":{},"
                 "\"snapshots_written\":{},\"sweeps\":{},\"rejected_outbox_full\":{}}}",
                 s->outbox, s->outbox_bytes, s->janitor, s->snapshot_loads, s->reconnects,
                 s->appended, s->applied_entries, s->snapshots_written, s->sweeps,
                 s->rejected_outbox_full);
}

void append_metrics(fmt::memory_buffer& out) {
  const auto s = current();
  if (!s) return;
  const auto family = [&](std::string_view name, std::string_view type, std::string_view help,
                          double value) {
    fmt::format_to(std::back_inserter(out), "# HELP progressista_federation_{0} {1}\n"
                   "# TYPE progressista_federation_{0} {2}\nprogressista_federation_{0} {3}\n",
                   name, help, type, value);
  };
  family("degraded", "gauge", "1 while Redis is unreachable and writes are kept in the outbox",
         s->state == "degraded" ? 1 : 0);
  family("janitor", "gauge", "1 while this node holds the federation's janitor lease",
         s->janitor ? 1 : 0);
  family("appended_total", "counter", "Log entries this node appended to the stream",
         static_cast<double>(s->appended));
  family("applied_total", "counter", "Log entries applied to this node's segment",
         static_cast<double>(s->applied_entries));
  family("outbox_entries", "gauge", "Writes applied here while Redis was away, not forwarded yet",
         static_cast<double>(s->outbox));
  family("outbox_bytes", "gauge", "Bytes held by the outbox", static_cast<double>(s->outbox_bytes));
  family("reconnects_total", "counter", "Connections to Redis re-established",
         static_cast<double>(s->reconnects));
  family("snapshot_loads_total", "counter",
         "Snapshots loaded (a new segment, or a position trimmed from the log)",
         static_cast<double>(s->snapshot_loads));
  family("snapshots_written_total", "counter", "Snapshots written as the janitor",
         static_cast<double>(s->snapshots_written));
  family("sweeps_total", "counter", "Sweep entries appended as the janitor",
         static_cast<double>(s->sweeps));
  family("rejected_outbox_full_total", "counter", "Writes refused with 503: the outbox was full",
         static_cast<double>(s->rejected_outbox_full));
  family("apply_delay_seconds", "gauge",
         "Last entry applied: its apply time here minus its log id's time", s->apply_delay);
}

}  // namespace progressista::daemon::federation
