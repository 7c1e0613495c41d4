#include "daemon_runner.hpp"

#include <algorithm>
#include <filesystem>

#include <CLI/CLI.hpp>

#include "http/http_server.hpp"
#include "http/port_owner.hpp"
#include "http/routes.hpp"
#include "http/static_files.hpp"
#include "ingest/ingest_api.hpp"
#include "federation/federated_writes.hpp"
#include "ingest/janitor.hpp"
#include "ingest/persistence.hpp"
#include "live/badge.hpp"
#include "live/broadcaster.hpp"
#include "live/live_endpoints.hpp"
#include "live/metrics.hpp"
#include "live/read_api.hpp"
#include "live/summary.hpp"
#include "log.hpp"
#include "notify/notifier.hpp"
#include "progressista/error.hpp"
#include "progressista/store.hpp"
#include "systemd.hpp"

namespace progressista::daemon {

namespace {

std::chrono::milliseconds millis(double seconds) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000));
}

std::string shape(std::uint32_t tasks, std::uint64_t bytes) {
  return fmt::format("{} tasks at most, {} bytes ({:.1f} MiB)", tasks, bytes,
                     static_cast<double>(bytes) / (1024.0 * 1024.0));
}

// Creates or attaches the segment. --capacity and --memory are passed on only when given, so
// a restart without them attaches as it is. Writers (ingest, serve) resize an existing
// segment of another shape (every task kept; attached processes follow); the broadcaster
// only reads, so a shape that differs is refused with the store's message.
std::unique_ptr<Store> attach(const ServerConfig& cfg, Role role) {
  SegmentOptions opt;
  opt.name = cfg.segment;
  if (cfg.capacity != 0) opt.capacity = cfg.capacity;
  if (cfg.memory != 0) opt.memory = cfg.memory;
  opt.mode = cfg.mode();
  opt.create = true;
  try {
    return Store::open(opt);
  } catch (const StoreError& e) {
    if (role == Role::kBroadcast || e.code() != StoreError::Code::kCapacityMismatch) throw;
  }
  // Another shape: say what it was, then migrate.
  std::uint32_t old_tasks = 0, old_live = 0;
  std::uint64_t old_bytes = 0, old_generation = 0;
  {
    SegmentOptions look;
    look.name = cfg.segment;
    look.create = false;
    look.read_only = true;
    const auto old = Store::open(look);
    old_tasks = old->segment().capacity();
    old_bytes = old->segment().size();
    old_live = old->table().size();
    old_generation = old->segment().generation();
  }
  opt.resize = true;
  auto store = Store::open(opt);
  if (store->segment().generation() != old_generation) {
    log(Level::kInfo,
        "resized segment '{}' from {} to {}; its {} tasks were kept and attached processes "
        "follow",
        cfg.segment, shape(old_tasks, old_bytes),
        shape(store->segment().capacity(), store->segment().size()), old_live);
  }
  return store;
}

void restore(Store& store, const ServerConfig& cfg) {
  if (cfg.storage_path.empty()) return;
  if (!store.segment().created()) {
    log(Level::kInfo, "segment '{}' already holds the live tasks; {} is not loaded", cfg.segment,
        cfg.storage_path);
    return;
  }
  const RestoreResult r = restore_tasks(store, cfg.storage_path, now_seconds());
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

// True when every process in `holders` is a live ingest daemon enrolled in `segment`.
bool ingests_of_segment(const std::string& segment, const std::vector<PortListener>& holders) {
  if (holders.empty()) return false;
  std::vector<ProcessRegistry::Info> enrolled;
  try {
    SegmentOptions look;
    look.name = segment;
    look.create = false;
    look.read_only = true;
    enrolled = Store::open(look)->processes().list();
  } catch (const StoreError&) {
    return false;  // no such segment: nobody of ours
  }
  return std::all_of(holders.begin(), holders.end(), [&](const PortListener& h) {
    return std::any_of(enrolled.begin(), enrolled.end(), [&](const ProcessRegistry::Info& p) {
      return p.pid == h.pid && p.alive && p.role == Role::kIngest;
    });
  });
}

// Before anything is created or restored: a port another process listens on is refused,
// except that an ingest joins the ingest daemons of its own segment (the kernel spreads the
// connections over them, SO_REUSEPORT). Two daemons of different segments on one port
// would split the traffic between two task tables without a word.
void check_port(const ServerConfig& cfg, Role role) {
  if (cfg.port == 0) return;
  const auto endpoint = listen_endpoint(cfg.host, cfg.port);
  if (port_is_free(endpoint)) return;
  const std::vector<PortListener> holders = port_listeners(endpoint.port());
  if (role == Role::kIngest && ingests_of_segment(cfg.segment, holders)) {
    log(Level::kInfo, "port {} is shared with {}, ingest of the same segment '{}'",
        endpoint.port(), describe_listeners(holders), cfg.segment);
    return;
  }
  throw std::runtime_error(fmt::format(
      "cannot listen on {}:{}: the port is in use by {}. {}", endpoint.address().to_string(),
      endpoint.port(), describe_listeners(holders),
      role == Role::kIngest
          ? fmt::format("Only ingest daemons of the same segment share a port (this one is "
                        "for segment '{}'); choose another --port (PROGRESSISTA_PORT)",
                        cfg.segment)
          : std::string("Choose another --port (PROGRESSISTA_PORT) or stop that process")));
}

// A host as it goes in a URL: an IPv6 address in brackets.
std::string url_host(std::string_view host) {
  if (host.find(':') != std::string_view::npos && !host.starts_with('['))
    return fmt::format("[{}]", host);
  return std::string(host);
}

// Where a browser on this machine reaches a server bound to `host`: the loopback address of
// the same family for a wildcard address.
std::string_view local_host(std::string_view host) {
  if (host == "0.0.0.0") return "127.0.0.1";
  if (host == "::" || host == "[::]") return "::1";
  return host;
}

}  // namespace

int run_role(const ServerConfig& cfg, Role role) {
  try {
    set_log_level(cfg.log_level);
    check_port(cfg, role);
    auto store = attach(cfg, role);
    {
      const MemoryUse m = store->table().memory();
      log(Level::kInfo, "{} segment '{}' ({}; {} tasks held)",
          store->segment().created() ? "created" : "attached to", cfg.segment,
          shape(m.max_tasks, m.budget_bytes), m.tasks);
    }
    const bool writes = role != Role::kBroadcast;  // the broadcaster only reads the table
    // Nested progress's rule lives in the segment, so every writer derives parents alike.
    if (writes) store->table().set_parent_fails_with_child(cfg.parent_fails_with_child);
    if (writes) restore(*store, cfg);

    ApiContext ctx{*store, cfg.tokens(), Cors(cfg.origins()), role,
                   std::make_shared<const ShareLinks>(cfg.share.secret, cfg.share.key_id)};
    BroadcastStats stats;
    std::unique_ptr<Broadcaster> hub;
    std::unique_ptr<Summary> summary;  // GET /summary: computed at most once a tick
    if (role != Role::kIngest) {
      BroadcastOptions bo;
      bo.tick = std::chrono::microseconds(static_cast<std::int64_t>(cfg.tick * 1e6));
      bo.leading_edge =
          cfg.leading_edge < 0
              ? bo.tick
              : std::chrono::microseconds(static_cast<std::int64_t>(cfg.leading_edge * 1e6));
      bo.ping_interval = millis(cfg.ping_interval);
      bo.client_timeout = millis(cfg.client_timeout);
      bo.max_clients = cfg.max_clients;
      bo.control_rate = cfg.ws_control_rate;
      hub = std::make_unique<Broadcaster>(*store, bo, stats);
      summary = std::make_unique<Summary>(*store, bo.tick, cfg.board_rules());
    }
    // Federation (--redis): every write goes through the log; stopped before the server ends.
    std::unique_ptr<federation::Federation> fed;
    if (cfg.federation.enabled() && !writes) {
      // Not a warning: ingest and broadcast units share one environment file.
      log(Level::kInfo, "--redis (PROGRESSISTA_REDIS_URL) is for ingest and serve; this "
          "broadcaster reads its host's segment, which the federated writer keeps in step");
    } else if (cfg.federation.enabled()) {
      federation::FederationOptions fo;
      fo.url = *cfg.federation.url;
      fo.prefix = cfg.federation.prefix;
      fo.node_id = cfg.federation.node_id;
      fo.maxlen = cfg.federation.maxlen;
      fo.snapshot_interval = cfg.federation.snapshot_interval;
      fo.snapshot_events = cfg.federation.snapshot_events;
      fo.outbox_bytes = cfg.federation.outbox_bytes;
      fo.cleanup_interval = cfg.cleanup_interval;
      fo.retention = cfg.retention_seconds;
      fo.stale = cfg.stale_seconds;
      fo.max_age = cfg.max_task_age;
      fed = std::make_unique<federation::Federation>(ctx, std::move(fo));
    }
    const std::filesystem::path static_dir = cfg.static_folder();
    HttpServerOptions http;
    http.host = cfg.host;
    http.port = cfg.port;
    http.threads = cfg.io_threads();
    http.body_limit = cfg.body_limit;
    http.header_timeout = millis(cfg.header_timeout);
    http.idle_timeout = millis(cfg.idle_timeout);
    http.max_connections = cfg.max_connections;
    http.access_log = cfg.access_log;
    http.share_port = role == Role::kIngest;
    HttpServer server(
        http,
        [&]() -> std::unique_ptr<HttpHandler> {
          // `serve` is the write API and the live side on one port; the write API comes first
          // because it claims DELETE on the task routes the read API serves with GET.
          std::vector<std::unique_ptr<Routes>> groups;
          if (fed) groups.push_back(std::make_unique<federation::FederatedWrites>(ctx, *fed));
          if (writes) groups.push_back(std::make_unique<IngestRoutes>(ctx));
          if (hub) {
            groups.push_back(std::make_unique<ReadRoutes>(ctx, cfg.board_rules().stall));
            groups.push_back(std::make_unique<SummaryRoutes>(ctx, *summary));
            groups.push_back(std::make_unique<BadgeRoutes>(ctx, cfg.board_rules().stall));
            groups.push_back(std::make_unique<MetricsRoutes>(ctx, &hub->stats()));
            groups.push_back(std::make_unique<StaticFiles>(static_dir));
            groups.push_back(std::make_unique<LiveEndpoints>(ctx, *hub));
          }
          return std::make_unique<RoleHandler>(ctx, std::move(groups));
        },
        [&store](Counter c) { store->counters().add(c); });

    if (!store->enroll(role))
      log(Level::kWarn, "the segment's process table is full; this process sends no heartbeat");
    // Once a second: follow a segment resized or re-created by another process (the
    // broadcaster and the janitor also follow on their own ticks), then the heartbeat.
    std::uint64_t generation = store->segment().generation();
    server.every(std::chrono::milliseconds(1000), [&] {
      try {
        store->follow();
      } catch (const StoreError& e) {
        log(Level::kWarn, "segment '{}': {}; still serving the segment attached before",
            cfg.segment, e.what());
      }
      if (const std::uint64_t g = store->segment().generation(); g != generation) {
        generation = g;
        if (writes) store->table().set_parent_fails_with_child(cfg.parent_fails_with_child);
        const MemoryUse m = store->table().memory();
        log(Level::kInfo, "segment '{}' was resized or re-created: re-attached ({}; {} tasks)",
            cfg.segment, shape(m.max_tasks, m.budget_bytes), m.tasks);
      }
      store->beat();
    });
    // The summary's rates come from the segment's counters sampled once a second.
    if (summary) server.every(std::chrono::milliseconds(1000), [&summary] { summary->sample(); });
    if (const auto ping = watchdog_ping_interval()) server.every(*ping, [] { notify_watchdog(); });

    // Under federation the lease holder in Redis decides sweeps for every node; this janitor
    // then only saves.
    Janitor janitor(*store,
                    JanitorOptions{cfg.cleanup_interval, cfg.retention_seconds, cfg.stale_seconds,
                                   cfg.max_task_age, cfg.storage_path, 1.0, fed == nullptr});
    if (writes) janitor.start();
    if (fed) {
      fed->name_node(cfg.federation.node(server.port()));
      try {
        fed->start();
      } catch (const federation::RedisRefused& e) {
        throw std::runtime_error(fmt::format(
            "--redis (PROGRESSISTA_REDIS_URL): {}; check the password and database in the URL",
            e.what()));
      }
    }
    // Notifications: every writer runs a notifier; only the janitor-lease holder delivers.
    std::unique_ptr<notify::Notifier> notifier;
    if (!cfg.notify_file.empty() && !writes) {
      log(Level::kWarn, "--notify-file is for ingest and serve (the janitor-lease holder "
          "delivers); this broadcaster ignores it");
    } else if (!cfg.notify_file.empty()) {
      std::string error;
      auto rules = notify::load_rules(cfg.notify_file, error);
      if (!error.empty()) throw std::runtime_error(error);
      notify::NotifierOptions no;
      no.outbox_path = !cfg.notify_outbox.empty()   ? cfg.notify_outbox
                       : !cfg.storage_path.empty() ? cfg.storage_path + ".notify-outbox"
                                                   : std::string();
      no.stall = cfg.board_rules().stall;
      no.project_separators = cfg.project_id_separators;
      if (fed) no.federation_lease = [f = fed.get()] { return f->janitor(); };
      notifier = std::make_unique<notify::Notifier>(*store, std::move(rules), std::move(no));
      notifier->start();
    }
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
    log(Level::kInfo, "{} listening on http://{}:{} ({} threads)", role_name(role),
        url_host(cfg.host), server.port(), http.threads);
    if (hub) {
      std::error_code ec;
      if (std::filesystem::is_regular_file(static_dir / "index.html", ec)) {
        log(Level::kInfo, "dashboard: http://{}:{}/ (from {})", url_host(local_host(cfg.host)),
            server.port(), static_dir.string());
      } else {
        log(Level::kWarn, "no dashboard: {} holds no index.html (--static-dir, "
            "PROGRESSISTA_STATIC_DIR); the APIs and live protocols are served", static_dir.string());
      }
    }
    notify_ready(fmt::format("{} listening on {}:{}", role_name(role), cfg.host, server.port()));
    server.run();
    if (fed) fed->stop();  // answers what it still holds while the server's contexts exist
    if (hub) hub->stop();
    if (notifier) notifier->stop();
    janitor.stop();
    store->leave();
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
  add_role_command(app, "ingest",
                   "Run the write API (POST /progress, DELETE /tasks) on the segment",
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
