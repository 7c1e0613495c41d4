// `progressista post`. Every field is optional but the task id: what is not given is left out
// of the event, so the task keeps its previous value (Progressista's partial updates). The
// server alone judges statuses and field limits, so the verb works against Progressista too.
#include "cli/post.hpp"

#include <charconv>
#include <cmath>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli/progress_client.hpp"
#include "progressista/bookkeeping.hpp"

namespace progressista::daemon {
namespace {

struct PostOptions {
  ClientOptions client;
  std::string task_id;
  std::string status, desc, unit, project, phase, message, error, meta;
  double n = 0, total = 0, progress = 0, timestamp = 0;
};

// JSON has no NaN or infinity; refusing them here beats sending a null the server ignores.
CLI::Validator finite_number() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        double value = 0;
        const char* end = text.data() + text.size();
        const auto [stop, ec] = std::from_chars(text.data(), end, value);
        if (ec == std::errc{} && stop == end && std::isfinite(value)) return {};
        return fmt::format("'{}' is not a finite number", text);
      },
      "");
}

}  // namespace

void add_post_command(CLI::App& app) {
  auto o = std::make_shared<PostOptions>();
  CLI::App* cmd = app.add_subcommand(
      "post",
      "Send one progress event to a server's write API (POST /progress), e.g. from a shell "
      "script: `progressista post --task-id backup --n 3 --total 10 --desc Backup`");
  cmd->footer(
      "Flags not given are left out of the event, so the task keeps their previous values; "
      "without --status the server applies the event as an update. Statuses and field limits "
      "are the server's to check. The default --timestamp is now, in Unix seconds with "
      "fractions, as RemoteTqdm sends it.\n"
      "Exit codes: 0 the server accepted the event (2xx); 1 the server refused it (status and "
      "detail on stderr); 2 no answer: host not resolved, connection refused, timeout or "
      "connection lost. Bad or missing flags (e.g. --meta that is not a JSON object, an "
      "https:// URL) are usage errors, exit code 100 or more, and nothing is sent.");

  cmd->add_option("--task-id", o->task_id, "The task's id; every event of a task carries it")
      ->required();
  const auto number = [&](const std::string& flag, double& value, const std::string& what) {
    cmd->add_option(flag, value, what)->type_name("NUMBER")->check(finite_number());
  };
  const auto text = [&](const std::string& flag, std::string& value, const std::string& what) {
    cmd->add_option(flag, value, what)->type_name("TEXT");
  };
  number("--n", o->n, "Units done so far");
  number("--total", o->total, "Units in all");
  number("--progress", o->progress, "Percent done, 0-100; stands in for --n/--total");
  text("--status", o->status,
       "start, update, close, error, or an alias the server knows (completed, failed, ...)");
  text("--desc", o->desc, "What the task does, shown on its bar");
  text("--unit", o->unit, "What --n and --total count (it, files, MB, ...)");
  text("--message", o->message, "The latest news from the task");
  text("--error", o->error, "What went wrong (usually with --status error)");
  text("--project", o->project, "Project the task belongs to");
  text("--phase", o->phase, "Phase of the project the task is in");
  cmd->add_option("--meta", o->meta, "Extra data: a JSON object, e.g. '{\"run\":7}'")
      ->type_name("JSON")
      ->transform(CLI::Validator(
          [](std::string& value) -> std::string {
            std::string error;
            std::optional<std::string> object = minified_json_object(value, error);
            if (!object) return error;
            value = *std::move(object);
            return {};
          },
          ""));
  number("--timestamp", o->timestamp, "When the event happened, Unix seconds (default: now)");
  add_client_options(*cmd, o->client);

  cmd->callback([o, cmd] {
    const auto given = [cmd](const std::string& flag) { return cmd->count(flag) > 0; };
    const auto maybe = [&](const std::string& flag, const auto& value) {
      using T = std::decay_t<decltype(value)>;
      return given(flag) ? std::optional<T>(value) : std::nullopt;
    };
    EventFields e;
    e.task_id = o->task_id;
    e.status = maybe("--status", o->status);
    e.n = maybe("--n", o->n);
    e.total = maybe("--total", o->total);
    e.progress = maybe("--progress", o->progress);
    e.desc = maybe("--desc", o->desc);
    e.unit = maybe("--unit", o->unit);
    e.message = maybe("--message", o->message);
    e.error = maybe("--error", o->error);
    e.project = maybe("--project", o->project);
    e.phase = maybe("--phase", o->phase);
    e.meta = maybe("--meta", o->meta);
    e.timestamp = given("--timestamp") ? o->timestamp : now_seconds();

    fmt::memory_buffer body;
    append_event_json(body, e);
    ProgressClient client(o->client, "progressista post");
    if (const ClientExit rc = client.send({body.data(), body.size()}); rc != kSent) {
      throw CLI::RuntimeError(rc);
    }
  });
}

}  // namespace progressista::daemon
