// The `progressista` binary. Each verb lives in its own file and registers its subcommand
// here; a verb reports its own failures and hands back only an exit code.
#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>

#include "config.hpp"
#include "daemon_runner.hpp"
#include "usage_errors.hpp"
#include "cli/demo.hpp"
#include "cli/inspect.hpp"
#include "cli/pipe.hpp"
#include "cli/post.hpp"
#include "cli/share.hpp"
#include "cli/run_command.hpp"
#include "cli/watch.hpp"

#ifndef PROGRESSISTA_VERSION
#error "PROGRESSISTA_VERSION must be defined by the build (daemon/CMakeLists.txt)"
#endif

namespace {

int run(int argc, char** argv) {
  CLI::App app{
      "Progressista: a push gateway for progress bars. Workers POST progress events, the "
      "daemons keep them in a shared-memory task table (/dev/shm) and stream it to dashboards.",
      "progressista"};
  app.set_version_flag("--version", "progressista " PROGRESSISTA_VERSION,
                       "Print the version and exit");
  app.require_subcommand(1);
  app.footer(
      "Every flag that has an environment variable (PROGRESSISTA_*) shows it in the verb's "
      "--help; a flag on the command line overrides the environment.\n"
      "Run `progressista <verb> --help` for a verb's options.");

  progressista::daemon::add_serve_command(app);
  progressista::daemon::add_ingest_command(app);
  progressista::daemon::add_broadcast_command(app);
  progressista::daemon::add_inspect_command(app);
  progressista::daemon::add_show_config_command(app);
  progressista::daemon::add_post_command(app);
  progressista::daemon::add_demo_command(app);
  progressista::daemon::add_watch_command(app);
  progressista::daemon::add_share_command(app);
  progressista::daemon::add_pipe_command(app);
  progressista::daemon::add_run_command(app);

  if (const auto code = progressista::daemon::check_verb(app, argc, argv)) return *code;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help, --version and the exit codes verbs raise as CLI::RuntimeError are CLI11's;
    // usage errors are worded for a person.
    if (e.get_exit_code() == 0 || dynamic_cast<const CLI::RuntimeError*>(&e) != nullptr)
      return app.exit(e);
    return progressista::daemon::report_usage_error(app, e, argc, argv);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    // A verb reports what it expects; anything reaching here is still said, never swallowed.
    (void)std::fprintf(stderr, "progressista: %s\n", e.what());
    return 1;
  }
}
