// `progressista watch`: the board in a terminal, from any server's event stream.
#pragma once

namespace CLI {
class App;
}

namespace progressista::daemon {

// Registers the `watch` subcommand on `app`. It runs until Ctrl-C (exit 0); the server
// refusing the request (401, 403, 404) is exit code 1; with --once, no answer is 2.
void add_watch_command(CLI::App& app);

}  // namespace progressista::daemon
