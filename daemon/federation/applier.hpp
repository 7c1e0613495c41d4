// Applying one log entry to this node's table: a write replays through the same write API as
// a local request (IngestRoutes, at the entry's time), a sweep runs the janitor's sweep with the
// lease holder's settings at the entry's time. Same log, same order, same table on every node.
#pragma once

#include "federation/log_entry.hpp"
#include "http/http_types.hpp"
#include "http/routes.hpp"
#include "ingest/ingest_api.hpp"

namespace progressista::daemon::federation {

class Applier {
 public:
  explicit Applier(const ApiContext& node);
  Applier(const Applier&) = delete;
  Applier& operator=(const Applier&) = delete;

  // The answer the entry's origin gives its client. Not thread-safe: one caller at a time.
  [[nodiscard]] HttpResponse apply(const LogEntry& entry, double now);

 private:
  // An entry whose origin accepted a header or query token replays with the API open; one that
  // came without replays with the node's tokens, so that each event's meta._token is checked.
  ApiContext open_;
  ApiContext guarded_;
  IngestRoutes open_routes_;
  IngestRoutes guarded_routes_;
  std::string body_;
};

}  // namespace progressista::daemon::federation
