// `progressista pipe`: stdin copied to stdout unchanged, at full speed, while the bytes (or
// lines) that went through are posted as a task's progress. Like `pv`, with the bar on a board.
#pragma once

namespace CLI {
class App;
}

namespace progressista::daemon {

// Registers the `pipe` subcommand on `app`. A non-zero exit code is raised as
// CLI::RuntimeError (already reported): see the verb's --help and README.md.
void add_pipe_command(CLI::App& app);

}  // namespace progressista::daemon
