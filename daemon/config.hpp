// The daemons' configuration: every flag with its PROGRESSISTA_* variable and default, in one
// place, so `ingest`, `broadcast`, `serve` and `show-config` agree on names and meanings.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "federation/federation_options.hpp"
#include "live/board_rules.hpp"
#include "progressista/tokens.hpp"

namespace CLI {
class App;
class Validator;
}

namespace progressista::daemon {

// Share links' signing settings, the same for the daemons and `progressista share`.
struct ShareSettings {
  std::string secret;       // --share-secret / PROGRESSISTA_SHARE_SECRET
  std::string secret_file;  // --share-secret-file / PROGRESSISTA_SHARE_SECRET_FILE
  std::string key_id = "1";  // --share-key-id / PROGRESSISTA_SHARE_KEY_ID: change it to revoke
};

// Registers --share-secret, --share-secret-file and --share-key-id on `cmd`.
void add_share_options(CLI::App& cmd, ShareSettings& share);
// After parsing: the file's secret (its first line, surrounding blanks trimmed) when no secret
// was given, and both checked; throws CLI::ValidationError naming the flag and variable for an
// unreadable file, a secret under 16 bytes, or an empty or non-printable key id.
void load_share_secret(ShareSettings& share);

struct ServerConfig {
  // Network. Progressista binds 0.0.0.0; we bind loopback unless told otherwise, because the
  // write API is unauthenticated by default.
  std::string host = "127.0.0.1";
  std::uint16_t port = 8000;
  unsigned threads = 0;       // 0: one per core
  std::string allow_origins;  // comma-separated; "*" allows any origin

  // Store.
  std::string segment = "progressista";
  // The segment's shape, passed on only when given (0: unset), so that a restart without them
  // attaches as it is. Writer roles resize an existing segment of another shape.
  std::uint32_t capacity = 0;  // the most tasks held
  std::string memory_text;     // --memory as given: bytes, or with a K, M or G suffix
  std::uint64_t memory = 0;    // the segment's memory budget in bytes (from memory_text)
  std::string shm_mode = "0600";

  // Janitor and persistence (Progressista's settings and defaults).
  std::string storage_path;
  double cleanup_interval = 5.0;
  double retention_seconds = 86400.0;  // closed tasks only; error tasks are kept
  double stale_seconds = 0.0;
  double max_task_age = 0.0;

  // The board's rules (GET /tasks's "stalled", GET /summary's counts and project roll-ups).
  double stalled_factor = 10.0;
  double stalled_min_seconds = 60.0;
  std::string project_id_separators = "/:";
  // Nested progress: a parent with a failed child is failed (else it closes when none runs).
  bool parent_fails_with_child = true;

  // Notifications (ingest and serve; daemon/notify/).
  std::string notify_file;    // rules (JSON); empty: no notifications
  std::string notify_outbox;  // empty: beside --storage-path, else in memory only

  // Limits.
  std::size_t body_limit = 1 << 20;
  double header_timeout = 10.0;  // a request must arrive in full within this
  double idle_timeout = 60.0;    // a keep-alive connection with no request is closed after this
  std::size_t max_connections = 10000;

  // Live clients (broadcast and serve).
  double tick = 0.1;             // seconds between change-feed polls
  double leading_edge = -1;      // a change after this long without a delivery goes out at
                                 // once; negative: the tick
  double ping_interval = 30.0;   // WebSocket pings / SSE comments when idle
  double client_timeout = 10.0;  // a client that takes no frame for this long is dropped
  std::size_t max_clients = 10000;
  double ws_control_rate = 20;  // a delta WebSocket's control messages a second (bursts: twice)
  std::string static_dir;  // empty: the installed share/progressista/static, else the source tree's

  // Logs.
  std::string log_level = "info";
  bool access_log = false;  // one line per request would dominate the journal at fleet rates

  // From the environment only (a token on a command line is visible to every local user).
  std::string api_token;   // PROGRESSISTA_API_TOKEN
  std::string api_tokens;  // PROGRESSISTA_API_TOKENS

  ShareSettings share;  // share links (empty secret: none accepted)
  federation::FederationSettings federation;  // --redis and its settings (daemon/federation/)

  [[nodiscard]] std::vector<std::string> origins() const;
  [[nodiscard]] TokenSet tokens() const { return TokenSet::from_settings(api_token, api_tokens); }
  [[nodiscard]] unsigned mode() const;  // shm_mode as a number
  [[nodiscard]] unsigned io_threads() const;
  [[nodiscard]] BoardRules board_rules() const {
    return {StallRule{stalled_factor, stalled_min_seconds}, project_id_separators};
  }
  // The folder served under /static: --static-dir, else the dashboard installed beside this
  // binary (<bindir>/../share/progressista/static, so an installed tree may be moved), else the
  // source tree's static/ for a binary run from its build tree.
  [[nodiscard]] std::filesystem::path static_folder() const;
};

// "256M" -> 268435456: a number of bytes with an optional K, M or G suffix (powers of 1024;
// "KiB", "MiB", "GiB" too). Empty text is 0. False when it is not such a number.
[[nodiscard]] bool parse_bytes(std::string_view text, std::uint64_t& out);

// Accepts what parse_segment_mode() accepts (0600 or 0660, the leading 0 optional) and refuses
// anything else quoting it: "'0777' is not allowed: use 0600 (owner only) or 0660 (owner and
// group)". The one check of --shm-mode, for the daemons and `inspect --create` alike.
[[nodiscard]] CLI::Validator segment_mode_validator();

// Registers every server option on `cmd`, bound to `cfg`, and a final callback that reads the
// token variables and checks the values together (throws CLI::ValidationError with a message
// that names the flag and its variable).
void add_server_options(CLI::App& cmd, ServerConfig& cfg);

// The effective configuration as JSON (tokens masked), for `show-config` and the start-up log.
void append_config_json(fmt::memory_buffer& out, const ServerConfig& cfg);

// `progressista show-config`.
void add_show_config_command(CLI::App& app);

}  // namespace progressista::daemon
