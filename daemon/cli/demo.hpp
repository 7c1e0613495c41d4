// `progressista demo`: a few progress bars that fill up, posted to a server, to see a
// dashboard move (Progressista's `progressista demo`).
#pragma once

namespace CLI {
class App;
}

namespace progressista::daemon {

// Registers the `demo` subcommand on `app`. When it runs, a non-zero exit code is raised as
// CLI::RuntimeError (already reported): 1 or 2 as for `post`, 130 when interrupted.
void add_demo_command(CLI::App& app);

}  // namespace progressista::daemon
