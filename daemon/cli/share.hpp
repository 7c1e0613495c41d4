// `progressista share`: prints the URL of the board with a signed, read-only share link for a
// project (and/or a task-id prefix) that expires, signed with the same settings as the server's
// (--share-secret / PROGRESSISTA_SHARE_SECRET or --share-secret-file, --share-key-id).
#pragma once

namespace CLI {
class App;
}

namespace progressista::daemon {

// Registers the `share` subcommand on `app`. Exit code 1 (raised as CLI::RuntimeError, said on
// stderr) when no share secret is configured; bad flags are usage errors.
void add_share_command(CLI::App& app);

}  // namespace progressista::daemon
