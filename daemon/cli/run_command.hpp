// `progressista run`: a command run as a task on the board: start, a heartbeat while it runs
// (so "stalled" means the command hangs), and close or error with its exit status.
#pragma once

namespace CLI {
class App;
}

namespace progressista::daemon {

// Registers the `run` subcommand on `app`. It exits with the command's exit status (raised
// as CLI::RuntimeError when non-zero): see the verb's --help and README.md.
void add_run_command(CLI::App& app);

}  // namespace progressista::daemon
