// `progressista post`: one progress event from a shell script, sent to a server's write API.
#pragma once

namespace CLI {
class App;
}

namespace progressista::daemon {

// Registers the `post` subcommand on `app`. When it runs, a non-zero exit code is raised as
// CLI::RuntimeError (already reported on stderr): 1 when the server refused the event, 2 when
// it could not be reached or did not answer (see ClientExit).
void add_post_command(CLI::App& app);

}  // namespace progressista::daemon
