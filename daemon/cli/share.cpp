#include "cli/share.hpp"

#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "config.hpp"
#include "http/share_token.hpp"
#include "live/operation.hpp"  // append_iso8601
#include "progressista/bookkeeping.hpp"

namespace progressista::daemon {

namespace {

constexpr std::int64_t kMaxExpiry = 365 * 86400;  // a longer-lived link is a key id rotation

struct ShareOptions {
  ShareSettings settings;
  std::string project;
  std::string prefix;
  std::string expires = "7d";
  std::string base_url = "http://127.0.0.1:8000/";
  bool token_only = false;
};

// The board's address with the link: `base` as given (a trailing '/' added when its path is
// empty or a folder), then ?share= (or &share= after a query of its own).
std::string share_url(std::string base, std::string_view token) {
  const std::size_t scheme = base.find("://");
  const std::size_t path = base.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (path == std::string::npos) base.push_back('/');
  const char sep = base.find('?') == std::string::npos ? '?' : '&';
  return fmt::format("{}{}share={}", base, sep, token);
}

}  // namespace

void add_share_command(CLI::App& app) {
  auto o = std::make_shared<ShareOptions>();
  CLI::App* cmd = app.add_subcommand(
      "share",
      "Print a read-only share link to the board for one project (and/or a task-id prefix), "
      "e.g. `progressista share --project training --expires 7d`");
  cmd->footer(
      "The link shows only its scope (a task's project is its `project` field) on the board, "
      "GET /tasks, /summary, the WebSocket and SSE streams and badges, and never writes. It is "
      "signed with the server's share secret and key id (same flags and PROGRESSISTA_SHARE_* "
      "variables as `serve`), so no state is kept: change the key id to revoke every link.\n"
      "Exit codes: 0 printed; 1 no share secret configured. Bad flags are usage errors (100 or "
      "more).");
  cmd->add_option("--project", o->project, "Project shown (a task's `project` field)");
  cmd->add_option("--prefix", o->prefix, "Only tasks whose id starts with this");
  cmd->add_option("--expires", o->expires,
                  "How long the link works: a whole number and s, m, h, d or w (at most 365d)")
      ->capture_default_str()
      ->check(CLI::Validator(
          [](std::string& value) -> std::string {
            const std::int64_t s = parse_share_duration(value);
            if (s == 0)
              return fmt::format("'{}' is not a duration: use e.g. 30m, 12h, 7d or 2w", value);
            if (s > kMaxExpiry)
              return fmt::format("'{}' is longer than 365d; rotate the key id instead of "
                                 "issuing links for longer",
                                 value);
            return {};
          },
          "DURATION"));
  cmd->add_option("--base-url", o->base_url,
                  "The board's public address, the link's start (e.g. https://progress.example)")
      ->capture_default_str();
  cmd->add_flag("--token-only", o->token_only, "Print the token alone, not the URL");
  add_share_options(*cmd, o->settings);

  cmd->callback([o] {
    if (o->project.empty() && o->prefix.empty())
      throw CLI::ValidationError("--project", "give --project, --prefix or both: a share link "
                                              "shows one scope, never the whole board");
    load_share_secret(o->settings);
    if (o->settings.secret.empty()) {
      (void)std::fprintf(stderr,
                         "progressista share: no share secret is configured: set "
                         "PROGRESSISTA_SHARE_SECRET or PROGRESSISTA_SHARE_SECRET_FILE (or "
                         "--share-secret-file) to the server's\n");
      throw CLI::RuntimeError(1);
    }
    ShareClaims claims;
    claims.key_id = o->settings.key_id;
    claims.scope = {o->project, o->prefix};
    claims.expires =
        static_cast<std::int64_t>(std::ceil(now_seconds())) + parse_share_duration(o->expires);
    const std::string token = sign_share_token(claims, o->settings.secret);
    if (o->token_only) {
      fmt::print("{}\n", token);
    } else {
      fmt::print("{}\n", share_url(o->base_url, token));
    }
    fmt::memory_buffer until;
    (void)append_iso8601(until, static_cast<double>(claims.expires));
    (void)std::fprintf(stderr, "read-only link to %s, until %s (key id %s)\n",
                       claims.scope.describe().c_str(), fmt::to_string(until).c_str(),
                       claims.key_id.c_str());
  });
}

}  // namespace progressista::daemon
