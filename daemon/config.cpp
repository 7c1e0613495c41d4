#include "config.hpp"

#include <thread>

#include <CLI/CLI.hpp>

#include "progressista/codec.hpp"

namespace progressista::daemon {

namespace {

std::string getenv_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

CLI::Option* seconds(CLI::App& cmd, const std::string& flag, double& value, const std::string& env,
                     const std::string& what) {
  return cmd.add_option(flag, value, what)
      ->envname(env)
      ->capture_default_str()
      ->type_name("SECONDS");
}

// CLI11's NonNegativeNumber prints DBL_MAX in its message; this one says what is meant.
const CLI::Validator kNonNegativeSeconds(
    [](std::string& text) -> std::string {
      char* end = nullptr;
      const double v = std::strtod(text.c_str(), &end);
      if (end == text.c_str() || *end != '\0' || !(v >= 0) || v > 1e9) {
        return "must be a number of seconds, 0 or more (0 turns it off); got '" + text + "'";
      }
      return {};
    },
    "", "non-negative seconds");

}  // namespace

std::vector<std::string> ServerConfig::origins() const {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= allow_origins.size()) {
    std::size_t comma = allow_origins.find(',', pos);
    if (comma == std::string::npos) comma = allow_origins.size();
    std::string o = allow_origins.substr(pos, comma - pos);
    o.erase(0, o.find_first_not_of(" \t"));
    o.erase(o.find_last_not_of(" \t") + 1);
    if (!o.empty()) out.push_back(std::move(o));
    pos = comma + 1;
  }
  return out;
}

unsigned ServerConfig::mode() const {
  return static_cast<unsigned>(std::stoul(shm_mode, nullptr, 8));
}

unsigned ServerConfig::io_threads() const {
  if (threads > 0) return threads;
  const unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? n : 1;
}

void add_server_options(CLI::App& cmd, ServerConfig& cfg) {
  cmd.add_option("--host", cfg.host, "Interface to bind; 0.0.0.0 exposes the API to the network")
      ->envname("PROGRESSISTA_HOST")
      ->capture_default_str();
  cmd.add_option("--port", cfg.port, "TCP port")
      ->envname("PROGRESSISTA_PORT")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd.add_option("--threads", cfg.threads, "I/O threads (0: one per core)")
      ->envname("PROGRESSISTA_THREADS")
      ->capture_default_str()
      ->check(CLI::Range(0, 256));
  cmd.add_option(
         "--allow-origins", cfg.allow_origins,
         "Comma-separated origins allowed by CORS (\"*\": any); empty sends no CORS headers")
      ->envname("PROGRESSISTA_ALLOW_ORIGINS")
      ->capture_default_str();
  cmd.add_option("--segment", cfg.segment, "Name of the shared-memory segment (/dev/shm/NAME)")
      ->envname("PROGRESSISTA_SEGMENT")
      ->capture_default_str();
  cmd.add_option("--capacity", cfg.capacity, "Task slots, when this process creates the segment")
      ->envname("PROGRESSISTA_CAPACITY")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1u << 24));
  cmd.add_option("--shm-mode", cfg.shm_mode, "File mode of a segment this process creates")
      ->envname("PROGRESSISTA_SHM_MODE")
      ->capture_default_str()
      ->check(CLI::IsMember({"0600", "0660", "600", "660"}));
  cmd.add_option("--storage-path", cfg.storage_path,
                 "JSON file the tasks are saved to and restored from (empty: memory only)")
      ->envname("PROGRESSISTA_STORAGE_PATH")
      ->capture_default_str();
  seconds(cmd, "--cleanup-interval", cfg.cleanup_interval, "PROGRESSISTA_CLEANUP_INTERVAL",
          "Seconds between janitor runs")
      ->check(CLI::Range(0.01, 86400.0));
  seconds(cmd, "--retention-seconds", cfg.retention_seconds, "PROGRESSISTA_RETENTION_SECONDS",
          "Closed tasks are removed this long after their last update (0: never)")
      ->check(kNonNegativeSeconds);
  seconds(cmd, "--stale-seconds", cfg.stale_seconds, "PROGRESSISTA_STALE_SECONDS",
          "Active tasks idle this long are marked stale (0: never)")
      ->check(kNonNegativeSeconds);
  seconds(cmd, "--max-task-age", cfg.max_task_age, "PROGRESSISTA_MAX_TASK_AGE",
          "Any task idle this long is removed, whatever its status (0: never)")
      ->check(kNonNegativeSeconds);
  cmd.add_option("--body-limit", cfg.body_limit,
                 "Largest request body accepted, in bytes (413 above)")
      ->envname("PROGRESSISTA_BODY_LIMIT")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{64}, std::size_t{1} << 30));
  seconds(cmd, "--header-timeout", cfg.header_timeout, "PROGRESSISTA_HEADER_TIMEOUT",
          "A request must arrive in full within this many seconds of its first byte")
      ->check(CLI::Range(0.1, 3600.0));
  seconds(cmd, "--idle-timeout", cfg.idle_timeout, "PROGRESSISTA_IDLE_TIMEOUT",
          "Keep-alive connections idle this long are closed")
      ->check(CLI::Range(0.1, 86400.0));
  cmd.add_option("--max-connections", cfg.max_connections, "Open connections at most (503 above)")
      ->envname("PROGRESSISTA_MAX_CONNECTIONS")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20));
  cmd.add_option("--tick", cfg.tick,
                 "Seconds between two reads of the change feed by the live clients' broadcaster")
      ->envname("PROGRESSISTA_TICK")
      ->capture_default_str()
      ->check(CLI::Range(0.005, 10.0));
  cmd.add_option("--ping-interval", cfg.ping_interval,
                 "Seconds between WebSocket pings (and SSE keep-alive comments) on idle clients")
      ->envname("PROGRESSISTA_PING_INTERVAL")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  cmd.add_option("--client-timeout", cfg.client_timeout,
                 "A live client that does not take a frame within this many seconds is dropped")
      ->envname("PROGRESSISTA_CLIENT_TIMEOUT")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  cmd.add_option("--max-clients", cfg.max_clients, "Live clients (WebSocket + SSE) at most (503 above)")
      ->envname("PROGRESSISTA_MAX_CLIENTS")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20));
  cmd.add_option("--static-dir", cfg.static_dir,
                 "Folder served under /static (default: the dashboard shipped with this build)")
      ->envname("PROGRESSISTA_STATIC_DIR");
  cmd.add_option("--log-level", cfg.log_level, "debug, info, warn or error")
      ->envname("PROGRESSISTA_LOG_LEVEL")
      ->capture_default_str()
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  cmd.add_flag(
         "--access-log,!--no-access-log", cfg.access_log,
         "One log line per request (off by default: at fleet rates it would dominate the log)")
      ->envname("PROGRESSISTA_ACCESS_LOG")
      ->capture_default_str();
  cmd.footer(
      "API tokens come from the environment only: PROGRESSISTA_API_TOKEN (one token) or "
      "PROGRESSISTA_API_TOKENS (comma-separated; wins when set). With tokens set, writes need "
      "`Authorization: Bearer <token>`, `?token=<token>` or meta._token.\n"
      "Defaults follow Progressista, except --host: 127.0.0.1 instead of 0.0.0.0.");
  cmd.parse_complete_callback([&cfg] {
    cfg.api_token = getenv_or_empty("PROGRESSISTA_API_TOKEN");
    cfg.api_tokens = getenv_or_empty("PROGRESSISTA_API_TOKENS");
    if (cfg.host.empty())
      throw CLI::ValidationError("--host (PROGRESSISTA_HOST)", "must not be empty");
  });
}

void append_config_json(fmt::memory_buffer& out, const ServerConfig& c) {
  const auto str = [&](std::string_view key, std::string_view v) {
    fmt::format_to(std::back_inserter(out), "  \"{}\": ", key);
    append_json_string(out, v);
    out.append(std::string_view{",\n"});
  };
  const auto num = [&](std::string_view key, double v) {
    fmt::format_to(std::back_inserter(out), "  \"{}\": ", key);
    append_json_number(out, v);
    out.append(std::string_view{",\n"});
  };
  out.append(std::string_view{"{\n"});
  str("host", c.host);
  num("port", c.port);
  num("threads", c.io_threads());
  out.append(std::string_view{"  \"allow_origins\": ["});
  const auto origins = c.origins();
  for (std::size_t i = 0; i < origins.size(); ++i) {
    if (i) out.append(std::string_view{", "});
    append_json_string(out, origins[i]);
  }
  out.append(std::string_view{"],\n"});
  str("segment", c.segment);
  num("capacity", c.capacity);
  str("shm_mode", c.shm_mode);
  str("storage_path", c.storage_path);
  num("cleanup_interval", c.cleanup_interval);
  num("retention_seconds", c.retention_seconds);
  num("stale_seconds", c.stale_seconds);
  num("max_task_age", c.max_task_age);
  num("body_limit", static_cast<double>(c.body_limit));
  num("header_timeout", c.header_timeout);
  num("idle_timeout", c.idle_timeout);
  num("max_connections", static_cast<double>(c.max_connections));
  num("tick", c.tick);
  num("ping_interval", c.ping_interval);
  num("client_timeout", c.client_timeout);
  num("max_clients", static_cast<double>(c.max_clients));
  str("static_dir", c.static_dir);
  str("log_level", c.log_level);
  fmt::format_to(std::back_inserter(out), "  \"access_log\": {},\n", c.access_log);
  // Never the tokens themselves: how many there are, masked.
  const TokenSet tokens = c.tokens();
  out.append(std::string_view{"  \"api_tokens\": ["});
  for (std::size_t i = 0; i < tokens.size(); ++i)
    out.append(std::string_view{i ? ", \"***\"" : "\"***\""});
  out.append(std::string_view{"]\n}\n"});
}

void add_show_config_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("show-config",
                                 "Print the effective configuration as JSON (tokens masked)");
  auto cfg = std::make_shared<ServerConfig>();
  add_server_options(*cmd, *cfg);
  cmd->final_callback([cfg] {
    fmt::memory_buffer out;
    append_config_json(out, *cfg);
    fmt::print("{}", fmt::to_string(out));
  });
}

}  // namespace progressista::daemon
