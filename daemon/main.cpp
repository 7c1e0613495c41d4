// The `progressista` binary. Each verb lives in its own file and registers its subcommand
// here; a verb reports its own failures and hands back only an exit code.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string_view>

#include <CLI/CLI.hpp>

#include "config.hpp"
#include "daemon_runner.hpp"
#include "cli/demo.hpp"
#include "cli/inspect.hpp"
#include "cli/post.hpp"

#ifndef PROGRESSISTA_VERSION
#error "PROGRESSISTA_VERSION must be defined by the build (daemon/CMakeLists.txt)"
#endif

namespace {

// CLI11 names the option but not where a bad value came from; when it came from the
// environment, say which variable holds it, since the command line shows nothing wrong.
void explain_environment_value(const CLI::App& app, const CLI::Error& e, int argc, char** argv) {
  const std::string_view what = e.what();
  for (const CLI::App* cmd : app.get_subcommands()) {
    for (const CLI::Option* opt : cmd->get_options()) {
      const std::string& env = opt->get_envname();
      const char* value = env.empty() ? nullptr : std::getenv(env.c_str());
      if (value == nullptr || what.find(opt->get_name()) == std::string_view::npos) continue;
      bool on_command_line = false;
      for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        for (const auto& name : opt->get_lnames()) {
          const std::string flag = "--" + name;
          if (arg == flag || arg.starts_with(flag + "=")) on_command_line = true;
        }
      }
      if (!on_command_line) {
        // Secrets are named, never shown.
        const bool secret = env.find("TOKEN") != std::string::npos;
        (void)std::fprintf(stderr, "progressista: the value comes from the environment: %s=%s\n",
                           env.c_str(), secret ? "(hidden)" : value);
      }
    }
  }
}

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

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Usage errors, --help, --version, and the exit codes verbs raise as CLI::RuntimeError.
    const int code = app.exit(e);
    if (code != 0 && dynamic_cast<const CLI::RuntimeError*>(&e) == nullptr) {
      explain_environment_value(app, e, argc, argv);
    }
    return code;
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
