// `progressista inspect`: a report on one segment (header, counters, attached processes,
// janitor, newest tasks) for operators, in text or JSON.
#pragma once

namespace CLI {
class App;
}

namespace progressista::daemon {

// Registers the `inspect` subcommand on `app`. When it runs, a non-zero exit code is raised
// as CLI::RuntimeError (already reported on stderr): 2 when the segment does not exist, 1 for
// any other failure, including an inconsistent table under --check.
void add_inspect_command(CLI::App& app);

}  // namespace progressista::daemon
