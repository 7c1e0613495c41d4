#include "daemon_runner.hpp"

#include <filesystem>

#include <CLI/CLI.hpp>

#include "broadcast_api.hpp"
#include "broadcaster.hpp"
#include "http_server.hpp"
#include "ingest_api.hpp"
#include "janitor.hpp"
#include "log.hpp"
#include "persistence.hpp"
#include "progressista/error.hpp"
#include "progressista/store.hpp"
#include "systemd.hpp"

namespace progressista::daemon {

namespace {

std::chrono::milliseconds millis(double seconds) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000));
}

std::unique_ptr<Store> attach(const ServerConfig& cfg) {
  SegmentOptions opt;
  opt.name = cfg.segment;
  opt.capacity = cfg.capacity;
  opt.mode = cfg.mode();
  opt.create = true;
  return Store::open(opt);
}

void restore(Store& store, const ServerConfig& cfg) {
  if (cfg.storage_path.empty()) return;
  if (!store.segment().created()) {
    log(Level::kInfo, "segment '{}' already holds the live tasks; {} is not loaded", cfg.segment,
        cfg.storage_path);
    return;
  }
  const RestoreResult r = restore_tasks(store.table(), cfg.storage_path, now_seconds());
  if (r.missing) {
    log(Level::kInfo, "no saved tasks at {} yet; it is created on the first change",
        cfg.storage_path);
  } else if (!r.problem.empty()) {
    log(Level::kWarn, "could not load {}: {}; {}", cfg.storage_path, r.problem,
        r.set_aside.empty() ? std::string("it was left in place")
                            : fmt::format("it was renamed to {}", r.set_aside));
  } else {
    log(Level::kInfo, "restored {} tasks from {} ({} skipped)", r.restored, cfg.storage_path,
        r.skipped);
  }
}

// The dashboard when --static-dir is not given: the copy installed beside this binary
// (<bindir>/PROGRESSISTA_STATIC_DIR_FROM_BINDIR, so an installed tree may be moved), else the
// source tree's static/ for a binary run from its build tree.
std::filesystem::path default_static_dir() {
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const auto installed =
        (exe.parent_path() / PROGRESSISTA_STATIC_DIR_FROM_BINDIR).lexically_normal();
    if (std::filesystem::is_directory(installed, ec)) return installed;
  }
  return PROGRESSISTA_STATIC_DIR;
}

}  // namespace

int run_role(const ServerConfig& cfg, Role role) {
  try {
    set_log_level(cfg.log_level);
    auto store = attach(cfg);
    log(Level::kInfo, "{} segment '{}' ({} task slots)",
        store->segment().created() ? "created" : "attached to", cfg.segment,
        store->table().capacity());
    const bool writes = role != Role::kBroadcast;  // the broadcaster only reads the table
    if (writes) restore(*store, cfg);

    ApiContext ctx{*store, cfg.tokens(), Cors(cfg.origins()), role};
    BroadcastStats stats;
    std::unique_ptr<Broadcaster> hub;
    if (role != Role::kIngest) {
      BroadcastOptions bo;
      bo.tick = std::chrono::microseconds(static_cast<std::int64_t>(cfg.tick * 1e6));
      bo.ping_interval = millis(cfg.ping_interval);
      bo.client_timeout = millis(cfg.client_timeout);
      bo.max_clients = cfg.max_clients;
      hub = std::make_unique<Broadcaster>(*store, bo, stats);
    }
    const std::filesystem::path static_dir =
        cfg.static_dir.empty() ? default_static_dir() : std::filesystem::path(cfg.static_dir);
    HttpServerOptions http;
    http.host = cfg.host;
    http.port = cfg.port;
    http.threads = cfg.io_threads();
    http.body_limit = cfg.body_limit;
    http.header_timeout = millis(cfg.header_timeout);
    http.idle_timeout = millis(cfg.idle_timeout);
    http.max_connections = cfg.max_connections;
    http.access_log = cfg.access_log;
    HttpServer server(
        http,
        [&]() -> std::unique_ptr<HttpHandler> {
          if (!hub) return std::make_unique<IngestHandler>(ctx);
          return std::make_unique<BroadcastHandler>(ctx, *hub, static_dir, role == Role::kServe);
        },
        store->counters());

    const int entry = store->processes().enroll(role);
    if (entry < 0)
      log(Level::kWarn, "the segment's process table is full; this process sends no heartbeat");
    server.every(std::chrono::milliseconds(1000), [&] { store->processes().beat(entry); });
    if (const auto ping = watchdog_ping_interval()) server.every(*ping, [] { notify_watchdog(); });

    Janitor janitor(*store,
                    JanitorOptions{cfg.cleanup_interval, cfg.retention_seconds, cfg.stale_seconds,
                                   cfg.max_task_age, cfg.storage_path, 1.0});
    if (writes) janitor.start();
    if (hub) hub->start();
    server.on_shutdown([&hub] {
      notify_stopping();
      // Live clients are told to go away (1001) so that dashboards reconnect elsewhere.
      if (hub) hub->stop();
    });

    if (cfg.host != "127.0.0.1" && cfg.host != "localhost" && cfg.host != "::1" &&
        ctx.tokens.empty()) {
      log(Level::kWarn, "listening on {} without API tokens: anyone who can reach it can write",
          cfg.host);
    }
    log(Level::kInfo, "{} listening on http://{}:{} ({} threads)", role_name(role), cfg.host,
        server.port(), http.threads);
    notify_ready(fmt::format("{} listening on {}:{}", role_name(role), cfg.host, server.port()));
    server.run();
    if (hub) hub->stop();
    janitor.stop();
    store->processes().leave(entry);
    log(Level::kInfo, "{} stopped", role_name(role));
    return 0;
  } catch (const std::exception& e) {
    log(Level::kError, "{}", e.what());
    return 1;
  }
}

namespace {
void add_role_command(CLI::App& app, const std::string& name, const std::string& description,
                      Role role) {
  auto* cmd = app.add_subcommand(name, description);
  auto cfg = std::make_shared<ServerConfig>();
  add_server_options(*cmd, *cfg);
  cmd->final_callback([cfg, role] {
    const int code = run_role(*cfg, role);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}
}  // namespace

void add_ingest_command(CLI::App& app) {
  add_role_command(app, "ingest", "Run the write API (POST /progress, DELETE /tasks) on the segment",
                   Role::kIngest);
}

void add_broadcast_command(CLI::App& app) {
  add_role_command(app, "broadcast",
                   "Serve the segment live to dashboards: GET /tasks, /projects, WebSocket /ws, "
                   "SSE /events, /metrics, /static (reads the table, never writes it)",
                   Role::kBroadcast);
}

void add_serve_command(CLI::App& app) {
  add_role_command(app, "serve",
                   "Ingest and broadcast in one process on one port, with the dashboard at "
                   "/static/index.html: the all-in-one way to run Progressista",
                   Role::kServe);
}

}  // namespace progressista::daemon
