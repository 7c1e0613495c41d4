// Starting and stopping a daemon role: attach the segment (restoring persisted tasks into a
// new one), register the heartbeat, run the janitor and the HTTP server, tell systemd.
#pragma once

#include "config.hpp"
#include "progressista/bookkeeping.hpp"

namespace CLI {
class App;
}

namespace progressista::daemon {

// Runs `role` until SIGTERM/SIGINT; returns the process exit code. Start-up failures are
// logged with what to do about them and return 1.
int run_role(const ServerConfig& cfg, Role role);

// `progressista ingest`, `progressista broadcast` and `progressista serve`.
void add_ingest_command(CLI::App& app);
void add_broadcast_command(CLI::App& app);
void add_serve_command(CLI::App& app);

}  // namespace progressista::daemon
