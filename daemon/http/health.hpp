// GET /health for every role: the table's size and whether the peer daemon is alive.
#pragma once

#include <optional>

#include "http/http_types.hpp"
#include "progressista/store.hpp"

namespace progressista::daemon {

// A peer whose last heartbeat is older than this is reported stale.
inline constexpr double kHeartbeatStaleSeconds = 5.0;

// Seconds since the freshest heartbeat of a live `ingest` process, or of a `serve` process
// (which plays the ingest role too); nullopt when there is none. /metrics and /summary say it.
[[nodiscard]] std::optional<double> ingest_heartbeat_age(const Store& store);

// {"status":"ok","tasks":N,"capacity":C,"segment":"...","generation":G,"follows":F,
//  "memory":{"tasks":N,"max_tasks":C,"finished":D,"budget_bytes":B,"free_blocks":K,
//  "blocks":L,"block_bytes":256},"role":"ingest",
//  "ingest":{"alive":true,"heartbeat_age":0.4},"broadcast":{"alive":false,"heartbeat_age":null},
//  "persistence":{"status":"failing","failing_since":T,"error":"Read-only file system",
//                 "last_good_save":T|null,"saves":S,"failures":F}}
// `persistence` appears once the segment's janitor saved or failed to save; while failing,
// "status" is "degraded" (still 200).
void health_response(const Store& store, Role self, HttpResponse& response);

}  // namespace progressista::daemon
