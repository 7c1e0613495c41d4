#include "config.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <thread>

#include <CLI/CLI.hpp>

#include "notify/rules.hpp"
#include "option_checks.hpp"
#include "progressista/task_json.hpp"
#include "progressista/error.hpp"
#include "progressista/segment.hpp"

namespace progressista::daemon {

namespace {

std::string getenv_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// A token variable that is set must hold tokens: a blank one ("", " ", ",") would otherwise
// turn authentication off without a word, and a space inside a token is a typo for a comma.
// PROGRESSISTA_API_TOKENS wins over PROGRESSISTA_API_TOKEN, as in Progressista.
void check_token_variables() {
  const char* list = std::getenv("PROGRESSISTA_API_TOKENS");
  const char* single = std::getenv("PROGRESSISTA_API_TOKEN");
  const char* name = list != nullptr ? "PROGRESSISTA_API_TOKENS" : "PROGRESSISTA_API_TOKEN";
  const char* value = list != nullptr ? list : single;
  if (value == nullptr) return;
  const std::string_view text = value;
  std::size_t count = 0, pos = 0;
  while (pos <= text.size()) {
    std::size_t end = list != nullptr ? text.find(',', pos) : std::string_view::npos;
    if (end == std::string_view::npos) end = text.size();
    std::string_view token = text.substr(pos, end - pos);
    constexpr std::string_view kBlank = " \t\r\n\v\f";  // what TokenSet trims
    while (!token.empty() && kBlank.find(token.front()) != kBlank.npos) token.remove_prefix(1);
    while (!token.empty() && kBlank.find(token.back()) != kBlank.npos) token.remove_suffix(1);
    if (!token.empty()) {
      ++count;
      if (std::any_of(token.begin(), token.end(),
                      [](unsigned char c) { return c <= 0x20 || c == 0x7f; })) {
        throw CLI::ValidationError(
            name, fmt::format("token {} contains a space or a control character{}", count,
                              list != nullptr ? " (tokens are separated by commas)" : ""));
      }
    }
    pos = end + 1;
  }
  if (count == 0) {
    throw CLI::ValidationError(
        name, "is set but holds no token; set it to the token(s) clients send, or unset it "
              "to run without authentication");
  }
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

const CLI::Validator kBytes(
    [](std::string& text) -> std::string {
      std::uint64_t v = 0;
      if (!parse_bytes(text, v)) {
        return "must be a number of bytes, optionally with a K, M or G suffix (powers of 1024), "
               "e.g. 256M; got '" + text + "'";
      }
      if (v > kMaxMemory) {
        return fmt::format("must be at most {} bytes (64G); got '{}'", kMaxMemory, text);
      }
      return {};
    },
    "BYTES", "bytes");

}  // namespace

CLI::Validator segment_mode_validator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        if (parse_segment_mode(text)) return {};
        return fmt::format("'{}' is not allowed: use {}", text, kSegmentModes);
      },
      "0600|0660");
}

bool parse_bytes(std::string_view text, std::uint64_t& out) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  if (text.empty()) {
    out = 0;
    return true;
  }
  std::uint64_t n = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || ptr == text.data()) return false;
  std::string_view suffix(ptr, static_cast<std::size_t>(text.data() + text.size() - ptr));
  unsigned shift = 0;
  if (!suffix.empty()) {
    switch (suffix.front()) {
      case 'k': case 'K': shift = 10; break;
      case 'm': case 'M': shift = 20; break;
      case 'g': case 'G': shift = 30; break;
      default: return false;
    }
    suffix.remove_prefix(1);
    if (!suffix.empty() && suffix != "iB" && suffix != "ib") return false;
  }
  if (n > (std::numeric_limits<std::uint64_t>::max() >> shift)) return false;
  out = n << shift;
  return true;
}

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
  return parse_segment_mode(shm_mode).value_or(0600);  // checked by segment_mode_validator()
}

unsigned ServerConfig::io_threads() const {
  if (threads > 0) return threads;
  const unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? n : 1;
}

std::filesystem::path ServerConfig::static_folder() const {
  if (!static_dir.empty()) return static_dir;
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const auto installed =
        (exe.parent_path() / PROGRESSISTA_STATIC_DIR_FROM_BINDIR).lexically_normal();
    if (std::filesystem::is_directory(installed, ec)) return installed;
  }
  return PROGRESSISTA_STATIC_DIR;
}

void add_share_options(CLI::App& cmd, ShareSettings& share) {
  cmd.add_option("--share-secret", share.secret,
                 "Secret that signs share links (HMAC-SHA256; 16 bytes at least). Prefer the "
                 "variable or --share-secret-file: a command line is visible to local users. "
                 "Unset: share links are refused")
      ->envname("PROGRESSISTA_SHARE_SECRET");
  cmd.add_option("--share-secret-file", share.secret_file,
                 "File whose first line is the share secret (when --share-secret is unset)")
      ->envname("PROGRESSISTA_SHARE_SECRET_FILE");
  cmd.add_option("--share-key-id", share.key_id,
                 "Key id written into share links; change it to revoke every link issued")
      ->envname("PROGRESSISTA_SHARE_KEY_ID")
      ->capture_default_str();
}

void load_share_secret(ShareSettings& share) {
  if (share.secret.empty() && !share.secret_file.empty()) {
    std::ifstream in(share.secret_file);
    if (!in || !std::getline(in, share.secret))
      throw CLI::ValidationError("--share-secret-file (PROGRESSISTA_SHARE_SECRET_FILE)",
                                 fmt::format("cannot read '{}'", share.secret_file));
    const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
    while (!share.secret.empty() && blank(share.secret.back())) share.secret.pop_back();
    while (!share.secret.empty() && blank(share.secret.front())) share.secret.erase(0, 1);
  }
  if (!share.secret.empty() && share.secret.size() < 16)
    throw CLI::ValidationError(
        share.secret_file.empty() ? "--share-secret (PROGRESSISTA_SHARE_SECRET)"
                                  : "--share-secret-file (PROGRESSISTA_SHARE_SECRET_FILE)",
        fmt::format("the share secret has {} bytes; use 16 at least (e.g. `openssl rand -hex "
                    "32`)",
                    share.secret.size()));
  if (share.key_id.empty() || share.key_id.size() > 64 ||
      std::any_of(share.key_id.begin(), share.key_id.end(),
                  [](char c) { return static_cast<unsigned char>(c) <= ' ' || c == 0x7f; }))
    throw CLI::ValidationError("--share-key-id (PROGRESSISTA_SHARE_KEY_ID)",
                               "must be 1 to 64 printable characters without spaces");
}

void add_server_options(CLI::App& cmd, ServerConfig& cfg) {
  cmd.add_option("--host", cfg.host, "Interface to bind; 0.0.0.0 exposes the API to the network")
      ->envname("PROGRESSISTA_HOST")
      ->capture_default_str();
  cmd.add_option("--port", cfg.port, "TCP port")
      ->envname("PROGRESSISTA_PORT")
      ->capture_default_str()
      ->check(whole_number_in(0, 65535));
  cmd.add_option("--threads", cfg.threads, "I/O threads (0: one per core)")
      ->envname("PROGRESSISTA_THREADS")
      ->capture_default_str()
      ->check(whole_number_in(0, 256));
  cmd.add_option(
         "--allow-origins", cfg.allow_origins,
         "Comma-separated origins allowed by CORS (\"*\": any); empty sends no CORS headers")
      ->envname("PROGRESSISTA_ALLOW_ORIGINS")
      ->capture_default_str();
  cmd.add_option("--segment", cfg.segment, "Name of the shared-memory segment (/dev/shm/NAME)")
      ->envname("PROGRESSISTA_SEGMENT")
      ->capture_default_str();
  cmd.add_option("--capacity", cfg.capacity,
                 fmt::format("The most tasks the segment holds (0: unset; a new segment then "
                             "plans {} bytes a task within --memory). ingest and serve resize an "
                             "existing segment of another shape, keeping every task",
                             kPlannedTaskBytes))
      ->envname("PROGRESSISTA_CAPACITY")
      ->check(whole_number_in(0, kMaxCapacity));
  cmd.add_option("--memory", cfg.memory_text,
                 fmt::format("The segment's memory budget in bytes, with an optional K, M or G "
                             "suffix, e.g. 256M (unset: {} MiB for a segment this process "
                             "creates, else as it is). ingest and serve resize an existing "
                             "segment of another shape, keeping every task",
                             kDefaultMemory >> 20))
      ->envname("PROGRESSISTA_MEMORY")
      ->type_name("BYTES")
      ->check(kBytes);
  cmd.add_option("--shm-mode", cfg.shm_mode, "File mode of a segment this process creates")
      ->envname("PROGRESSISTA_SHM_MODE")
      ->capture_default_str()
      ->check(segment_mode_validator());
  cmd.add_option("--storage-path", cfg.storage_path,
                 "JSON file the tasks are saved to and restored from (empty: memory only)")
      ->envname("PROGRESSISTA_STORAGE_PATH")
      ->capture_default_str();
  seconds(cmd, "--cleanup-interval", cfg.cleanup_interval, "PROGRESSISTA_CLEANUP_INTERVAL",
          "Seconds between janitor runs")
      ->check(number_in(0.01, 86400, "seconds"));
  seconds(cmd, "--retention-seconds", cfg.retention_seconds, "PROGRESSISTA_RETENTION_SECONDS",
          "Closed tasks are removed this long after their last update (0: never); failed "
          "(error) tasks are kept")
      ->check(kNonNegativeSeconds);
  seconds(cmd, "--stale-seconds", cfg.stale_seconds, "PROGRESSISTA_STALE_SECONDS",
          "Active tasks idle this long are marked stale (0: never)")
      ->check(kNonNegativeSeconds);
  seconds(cmd, "--max-task-age", cfg.max_task_age, "PROGRESSISTA_MAX_TASK_AGE",
          "Any task idle this long is removed, whatever its status (0: never)")
      ->check(kNonNegativeSeconds);
  cmd.add_option("--stalled-factor", cfg.stalled_factor,
                 "A running task is flagged stalled after this many of its usual intervals "
                 "between events without one (0: never flagged)")
      ->envname("PROGRESSISTA_STALLED_FACTOR")
      ->capture_default_str()
      ->check(number_in(0, 1e6, "times the task's cadence"));
  seconds(cmd, "--stalled-min-seconds", cfg.stalled_min_seconds,
          "PROGRESSISTA_STALLED_MIN_SECONDS",
          "A running task is never flagged stalled before this many seconds without an event")
      ->check(kNonNegativeSeconds);
  cmd.add_option("--project-id-separators", cfg.project_id_separators,
                 "A task with neither project nor meta.project is counted under its id up to "
                 "the first of these characters (empty: no such rule)")
      ->envname("PROGRESSISTA_PROJECT_ID_SEPARATORS")
      ->capture_default_str();
  cmd.add_option("--notify-file", cfg.notify_file,
                 "Notification rules (JSON): which task transitions go to which webhook, Slack, "
                 "Mattermost or ntfy target (empty: no notifications; ingest and serve)")
      ->envname("PROGRESSISTA_NOTIFY_FILE");
  cmd.add_option("--notify-outbox", cfg.notify_outbox,
                 "File the notifications waiting for delivery are kept in across restarts "
                 "(default: --storage-path with .notify-outbox appended; neither: memory only)")
      ->envname("PROGRESSISTA_NOTIFY_OUTBOX");
  cmd.add_flag("--parent-fails-with-child,!--no-parent-fails-with-child",
               cfg.parent_fails_with_child,
               "Nested progress: a parent with a failed child is failed (else it closes once no "
               "child runs)")
      ->envname("PROGRESSISTA_PARENT_FAILS_WITH_CHILD")
      ->capture_default_str();
  cmd.add_option("--body-limit", cfg.body_limit,
                 "Largest request body accepted, in bytes (413 above)")
      ->envname("PROGRESSISTA_BODY_LIMIT")
      ->capture_default_str()
      ->check(whole_number_in(64, 1ULL << 30));
  seconds(cmd, "--header-timeout", cfg.header_timeout, "PROGRESSISTA_HEADER_TIMEOUT",
          "A request must arrive in full within this many seconds of its first byte")
      ->check(number_in(0.1, 3600, "seconds"));
  seconds(cmd, "--idle-timeout", cfg.idle_timeout, "PROGRESSISTA_IDLE_TIMEOUT",
          "Keep-alive connections idle this long are closed")
      ->check(number_in(0.1, 86400, "seconds"));
  cmd.add_option("--max-connections", cfg.max_connections, "Open connections at most (503 above)")
      ->envname("PROGRESSISTA_MAX_CONNECTIONS")
      ->capture_default_str()
      ->check(whole_number_in(1, 1ULL << 20));
  cmd.add_option("--tick", cfg.tick,
                 "Seconds between two reads of the change feed by the live clients' broadcaster")
      ->envname("PROGRESSISTA_TICK")
      ->capture_default_str()
      ->check(number_in(0.005, 10, "seconds"));
  cmd.add_option("--leading-edge", cfg.leading_edge,
                 "A change that follows this many seconds without a delivery goes out at once "
                 "instead of at the next tick (default: the tick; 0: every change waits for "
                 "the tick)")
      ->envname("PROGRESSISTA_LEADING_EDGE")
      ->check(number_in(0, 10, "seconds"));
  cmd.add_option("--ping-interval", cfg.ping_interval,
                 "Seconds between WebSocket pings (and SSE keep-alive comments) on idle clients")
      ->envname("PROGRESSISTA_PING_INTERVAL")
      ->capture_default_str()
      ->check(number_in(0.1, 3600, "seconds"));
  cmd.add_option("--client-timeout", cfg.client_timeout,
                 "A live client that does not take a frame within this many seconds is dropped")
      ->envname("PROGRESSISTA_CLIENT_TIMEOUT")
      ->capture_default_str()
      ->check(number_in(0.1, 3600, "seconds"));
  cmd.add_option("--max-clients", cfg.max_clients, "Live clients (WebSocket + SSE) at most (503 above)")
      ->envname("PROGRESSISTA_MAX_CLIENTS")
      ->capture_default_str()
      ->check(whole_number_in(1, 1ULL << 20));
  cmd.add_option("--ws-control-rate", cfg.ws_control_rate,
                 "Control messages (subscribe, unsubscribe) a delta WebSocket client may send a "
                 "second, in bursts of twice as many; past that it is closed with 1008")
      ->envname("PROGRESSISTA_WS_CONTROL_RATE")
      ->capture_default_str()
      ->check(number_in(1, 10000, "messages a second"));
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
  add_share_options(cmd, cfg.share);
  federation::add_federation_options(cmd, cfg.federation);
  cmd.footer(
      "API tokens come from the environment only: PROGRESSISTA_API_TOKEN (one token) or "
      "PROGRESSISTA_API_TOKENS (comma-separated; wins when set). With tokens set, writes need "
      "`Authorization: Bearer <token>`, `?token=<token>` or meta._token.\n"
      "Defaults follow Progressista, except --host: 127.0.0.1 instead of 0.0.0.0.");
  cmd.parse_complete_callback([&cfg] {
    cfg.api_token = getenv_or_empty("PROGRESSISTA_API_TOKEN");
    cfg.api_tokens = getenv_or_empty("PROGRESSISTA_API_TOKENS");
    check_token_variables();
    load_share_secret(cfg.share);
    federation::check_federation_settings(cfg.federation);
    if (cfg.host.empty())
      throw CLI::ValidationError("--host (PROGRESSISTA_HOST)", "must not be empty");
    if (!cfg.notify_file.empty()) {  // the rules are checked before anything starts
      std::string error;
      (void)notify::load_rules(cfg.notify_file, error);
      if (!error.empty()) throw CLI::ValidationError("--notify-file (PROGRESSISTA_NOTIFY_FILE)", error);
    }
    if (!parse_bytes(cfg.memory_text, cfg.memory))  // checked by kBytes already
      throw CLI::ValidationError("--memory (PROGRESSISTA_MEMORY)", "not a number of bytes");
    if (cfg.capacity != 0 || cfg.memory != 0) {
      // The shape must be one a segment can have (e.g. a budget too small for its tasks).
      SegmentOptions opt;
      if (cfg.capacity != 0) opt.capacity = cfg.capacity;
      if (cfg.memory != 0) opt.memory = cfg.memory;
      try {
        (void)Segment::plan(opt);
      } catch (const StoreError& e) {
        const std::string who =
            cfg.memory != 0 && cfg.capacity != 0
                ? "--memory (PROGRESSISTA_MEMORY) with --capacity (PROGRESSISTA_CAPACITY)"
            : cfg.memory != 0 ? "--memory (PROGRESSISTA_MEMORY)"
                              : "--capacity (PROGRESSISTA_CAPACITY)";
        throw CLI::ValidationError(who, e.what());
      }
    }
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
  // null: unset (attach as it is; a new segment gets the default budget).
  fmt::format_to(std::back_inserter(out), "  \"capacity\": {},\n",
                 c.capacity != 0 ? std::to_string(c.capacity) : "null");
  fmt::format_to(std::back_inserter(out), "  \"memory\": {},\n",
                 c.memory != 0 ? std::to_string(c.memory) : "null");
  str("shm_mode", c.shm_mode);
  str("storage_path", c.storage_path);
  num("cleanup_interval", c.cleanup_interval);
  num("retention_seconds", c.retention_seconds);
  num("stale_seconds", c.stale_seconds);
  num("max_task_age", c.max_task_age);
  num("stalled_factor", c.stalled_factor);
  num("stalled_min_seconds", c.stalled_min_seconds);
  str("project_id_separators", c.project_id_separators);
  str("notify_file", c.notify_file);
  str("notify_outbox", c.notify_outbox);
  fmt::format_to(std::back_inserter(out), "  \"parent_fails_with_child\": {},\n",
                 c.parent_fails_with_child);
  num("body_limit", static_cast<double>(c.body_limit));
  num("header_timeout", c.header_timeout);
  num("idle_timeout", c.idle_timeout);
  num("max_connections", static_cast<double>(c.max_connections));
  num("tick", c.tick);
  num("leading_edge", c.leading_edge);
  num("ping_interval", c.ping_interval);
  num("client_timeout", c.client_timeout);
  num("max_clients", static_cast<double>(c.max_clients));
  num("ws_control_rate", c.ws_control_rate);
  str("static_dir", c.static_folder().string());
  str("log_level", c.log_level);
  fmt::format_to(std::back_inserter(out), "  \"access_log\": {},\n", c.access_log);
  // Never the share secret: whether there is one.
  fmt::format_to(std::back_inserter(out), "  \"share_links\": {},\n", !c.share.secret.empty());
  str("share_key_id", c.share.key_id);
  federation::append_federation_config(out, c.federation);
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
