// What this process's federation says about itself, for /health and /metrics (one federation
// per process). Nothing is added while none runs.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <fmt/format.h>

namespace progressista::daemon::federation {

struct FederationStatus {
  std::string state;    // ok, degraded, resyncing or connecting
  double since = 0;     // Unix seconds the state began
  std::string node_id;
  std::string redis;    // the URL, redacted
  std::string prefix;
  std::uint64_t outbox = 0;        // writes applied here while Redis was away, not yet forwarded
  std::uint64_t outbox_bytes = 0;
  std::string applied;             // id of the last log entry applied to this segment
  bool janitor = false;            // holds the lease in Redis: decides sweeps, writes snapshots
  std::uint64_t snapshot_loads = 0;
  std::uint64_t reconnects = 0;
  std::uint64_t appended = 0;      // entries this node appended (outbox forwarding included)
  std::uint64_t applied_entries = 0;
  std::uint64_t snapshots_written = 0;
  std::uint64_t sweeps = 0;        // sweep entries appended as the janitor
  std::uint64_t rejected_outbox_full = 0;
  double apply_delay = 0;          // last entry: applied here minus its id's time, seconds
};

// The running federation registers how to read its status; an empty function unregisters.
void set_status_source(std::function<FederationStatus()> source);

// `,"federation":{...}` for /health; nothing without --redis.
void append_health(fmt::memory_buffer& out);
// The federation_* families in Prometheus text; nothing without --redis.
void append_metrics(fmt::memory_buffer& out);

}  // namespace progressista::daemon::federation
