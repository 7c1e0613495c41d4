#include "live/metrics.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include "http/health.hpp"
#include "live/socketio/socketio_stats.hpp"
#include "federation/federation_status.hpp"
#include "notify/notify_status.hpp"

namespace progressista::daemon {

namespace {

constexpr std::string_view kRejectedPrefix = "rejected_";

// Help text: backslash and newline escaped. Label values: also the double quote.
void append_escaped(fmt::memory_buffer& out, std::string_view s, bool quote) {
  for (char c : s) {
    if (c == '\\') {
      out.append(std::string_view{"\\\\"});
    } else if (c == '\n') {
      out.append(std::string_view{"\\n"});
    } else if (c == '"' && quote) {
      out.append(std::string_view{"\\\""});
    } else {
      out.push_back(c);
    }
  }
}

}  // namespace

void PromText::family(std::string_view name, std::string_view type, std::string_view help) {
  fmt::format_to(std::back_inserter(out_), "# HELP {} ", name);
  append_escaped(out_, help, false);
  fmt::format_to(std::back_inserter(out_), "\n# TYPE {} {}\n", name, type);
}

void PromText::start(std::string_view name, std::initializer_list<Label> labels) {
  out_.append(name);
  if (labels.size() == 0) return;
  out_.push_back('{');
  bool first = true;
  for (const Label& l : labels) {
    if (!first) out_.push_back(',');
    first = false;
    out_.append(l.name);
    out_.append(std::string_view{"=\""});
    append_escaped(out_, l.value, true);
    out_.push_back('"');
  }
  out_.push_back('}');
}

void PromText::sample(std::string_view name, std::initializer_list<Label> labels,
                      std::uint64_t value) {
  start(name, labels);
  fmt::format_to(std::back_inserter(out_), " {}\n", value);
}

void PromText::sample(std::string_view name, std::initializer_list<Label> labels, double value) {
  start(name, labels);
  if (std::isnan(value)) {
    out_.append(std::string_view{" NaN\n"});
  } else if (std::isinf(value)) {
    out_.append(value > 0 ? std::string_view{" +Inf\n"} : std::string_view{" -Inf\n"});
  } else {
    fmt::format_to(std::back_inserter(out_), " {}\n", value);
  }
}

namespace {

void store_families(PromText& p, const Store& store) {
  std::array<std::uint64_t, kStatusCount> by_status{};
  store.table().for_each([&](const TaskRecord& t) {
    const auto i = static_cast<std::size_t>(t.status);
    if (i < by_status.size()) ++by_status[i];
  });
  p.family("progressista_tasks", "gauge", "Tasks in the table by status.");
  for (int i = 0; i < kStatusCount; ++i) {
    p.sample("progressista_tasks", {{"status", status_name(static_cast<Status>(i))}},
             by_status[static_cast<std::size_t>(i)]);
  }
  const MemoryUse m = store.table().memory();
  p.family("progressista_task_capacity", "gauge", "The most tasks the table holds (slots).");
  p.sample("progressista_task_capacity", {}, std::uint64_t{m.max_tasks});
  p.family("progressista_tasks_finished", "gauge",
           "Finished (close or error) tasks held: evicted first when the budget is reached.");
  p.sample("progressista_tasks_finished", {}, std::uint64_t{m.finished});
  p.family("progressista_memory_budget_bytes", "gauge", "Bytes of the shared-memory segment.");
  p.sample("progressista_memory_budget_bytes", {}, m.budget_bytes);
  p.family("progressista_record_blocks", "gauge",
           "Record blocks in the segment's pool (tasks' records are chains of them).");
  p.sample("progressista_record_blocks", {}, std::uint64_t{m.blocks});
  p.family("progressista_record_blocks_free", "gauge",
           "Record blocks free; none free and no finished task to evict means 507.");
  p.sample("progressista_record_blocks_free", {}, std::uint64_t{m.free_blocks});

  const Counters& c = store.counters();
  p.family("progressista_events_total", "counter",
           "Progress events by outcome, from every process attached to the segment.");
  p.sample("progressista_events_total", {{"result", "applied"}}, c.get(Counter::kEventsApplied));
  p.sample("progressista_events_total", {{"result", "ignored_out_of_order"}},
           c.get(Counter::kEventsIgnoredOutOfOrder));
  p.sample("progressista_events_total", {{"result", "ignored_closed"}},
           c.get(Counter::kEventsIgnoredClosed));

  p.family("progressista_rejected_total", "counter",
           "Requests and events refused, by reason, from every process attached to the segment.");
  for (std::uint32_t i = 0; i < static_cast<std::uint32_t>(Counter::kCount); ++i) {
    const auto counter = static_cast<Counter>(i);
    const std::string_view name = counter_name(counter);
    if (!name.starts_with(kRejectedPrefix)) continue;
    p.sample("progressista_rejected_total", {{"reason", name.substr(kRejectedPrefix.size())}},
             c.get(counter));
  }

  p.family("progressista_tasks_created_total", "counter", "Tasks created.");
  p.sample("progressista_tasks_created_total", {}, c.get(Counter::kTasksCreated));
  p.family("progressista_tasks_removed_total", "counter", "Tasks removed (DELETE or retention).");
  p.sample("progressista_tasks_removed_total", {}, c.get(Counter::kTasksRemoved));
  p.family("progressista_tasks_closed_total", "counter",
           "Events that closed a task (completions).");
  p.sample("progressista_tasks_closed_total", {}, c.get(Counter::kTasksClosed));
  p.family("progressista_tasks_failed_total", "counter",
           "Events that turned a task to error (failures).");
  p.sample("progressista_tasks_failed_total", {}, c.get(Counter::kTasksFailed));
  p.family("progressista_evictions_total", "counter",
           "Closed tasks evicted to make room in a full table.");
  p.sample("progressista_evictions_total", {}, c.get(Counter::kEvictions));
  p.family("progressista_lock_recoveries_total", "counter",
           "Segment locks taken over from a dead owner.");
  p.sample("progressista_lock_recoveries_total", {}, c.get(Counter::kLockRecoveries));
  // PROGRESSISTA_STORAGE_PATH, as the janitor-lease holder (any writing process) left it.
  p.family("progressista_persistence_saves_total", "counter",
           "Snapshots written to PROGRESSISTA_STORAGE_PATH.");
  p.sample("progressista_persistence_saves_total", {}, c.get(Counter::kPersistenceSaves));
  p.family("progressista_persistence_failures_total", "counter",
           "Snapshots that could not be written (the temporary file is removed).");
  p.sample("progressista_persistence_failures_total", {}, c.get(Counter::kPersistenceFailures));
  p.family("progressista_persistence_failing", "gauge",
           "1 while saving fails (since the first failure after the last good save).");
  p.sample("progressista_persistence_failing", {},
           std::uint64_t{c.get(Gauge::kPersistenceFailingSinceNs) != 0 ? 1u : 0u});
  p.family("progressista_persistence_last_success_timestamp_seconds", "gauge",
           "Unix time of the last snapshot written; 0 before the first.");
  p.sample("progressista_persistence_last_success_timestamp_seconds", {},
           static_cast<double>(c.get(Gauge::kPersistenceLastSaveNs)) / 1e9);

  // No live ingest (or serve) process: alive 0 and no age sample.
  const std::optional<double> ingest = ingest_heartbeat_age(store);
  const double age = ingest.value_or(NAN);
  p.family("progressista_ingest_alive", "gauge",
           "1 when a live ingest (or serve) process has a recent heartbeat in the segment.");
  p.sample("progressista_ingest_alive", {},
           std::uint64_t{ingest && age <= kHeartbeatStaleSeconds ? 1u : 0u});
  p.family("progressista_ingest_heartbeat_age_seconds", "gauge",
           "Seconds since the freshest ingest (or serve) heartbeat; absent when there is none.");
  if (ingest) p.sample("progressista_ingest_heartbeat_age_seconds", {}, age);
}

void broadcast_families(PromText& p, const BroadcastStats& s) {
  p.family("progressista_ws_clients", "gauge", "Live clients of this broadcaster by protocol.");
  for (std::size_t i = 0; i < BroadcastStats::kProtocols; ++i) {
    const auto protocol = static_cast<BroadcastStats::Protocol>(i);
    p.sample("progressista_ws_clients", {{"protocol", BroadcastStats::protocol_name(protocol)}},
             s.clients[i].load(std::memory_order_relaxed));
  }
  const auto counter = [&p](std::string_view name, std::string_view help,
                            const std::atomic<std::uint64_t>& v) {
    p.family(name, "counter", help);
    p.sample(name, {}, v.load(std::memory_order_relaxed));
  };
  counter("progressista_frames_sent_total",
          "Frames sent to clients (WebSocket messages, SSE events).", s.frames_sent);
  counter("progressista_bytes_sent_total", "Payload bytes of the frames sent to clients.",
          s.bytes_sent);
  counter("progressista_slow_consumer_coalesced_total",
          "Queued frames replaced by newer state because a client lagged.", s.coalesced);
  counter("progressista_slow_consumer_disconnects_total",
          "Clients disconnected for lagging past the hard limit.", s.slow_disconnects);
  counter("progressista_partial_sends_total",
          "Frames a client's nearly full socket took only in part at delivery; the rest was "
          "written before any other frame.",
          s.partial_sends);
  counter("progressista_ws_rejected_auth_total",
          "WebSocket and SSE connections refused for a missing or invalid token.",
          s.ws_rejected_auth);
  p.family("progressista_ws_rejected_total", "counter",
           "WebSockets closed after the upgrade: with 1008, too many control messages or a "
           "protocol /ws does not serve; with 1002/1007/1009, a frame RFC 6455 forbids.");
  for (std::size_t i = 0; i < BroadcastStats::kWsRejections; ++i) {
    const auto reason = static_cast<BroadcastStats::WsRejection>(i);
    p.sample("progressista_ws_rejected_total",
             {{"reason", BroadcastStats::ws_rejection_name(reason)}},
             s.ws_rejections[i].load(std::memory_order_relaxed));
  }

  p.family("progressista_delivery_spacing_seconds", "gauge",
           "The least time between two deliveries now: the leading edge, raised up to the tick "
           "while deliveries take long or clients fall behind.");
  p.sample("progressista_delivery_spacing_seconds", {},
           static_cast<double>(s.spacing_us.load(std::memory_order_relaxed)) / 1e6);

  // Cumulative buckets from one read of each bucket; _count is the +Inf bucket, so the two
  // always agree even while ticks are being observed.
  constexpr std::string_view kTick = "progressista_tick_duration_seconds";
  p.family(kTick, "histogram", "Time the broadcaster spent on one tick.");
  const DurationHistogram& h = s.tick_duration;
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < DurationHistogram::kBounds.size(); ++i) {
    cumulative += h.bucket(i);
    const std::string le = fmt::format("{}", DurationHistogram::kBounds[i]);
    p.sample("progressista_tick_duration_seconds_bucket", {{"le", le}}, cumulative);
  }
  cumulative += h.bucket(DurationHistogram::kBounds.size());
  p.sample("progressista_tick_duration_seconds_bucket", {{"le", "+Inf"}}, cumulative);
  p.sample("progressista_tick_duration_seconds_sum", {},
           static_cast<double>(h.sum_microseconds()) / 1e6);
  p.sample("progressista_tick_duration_seconds_count", {}, cumulative);
}

}  // namespace

void metrics_response(const Store& store, const BroadcastStats* stats, HttpResponse& response) {
  fmt::memory_buffer out;
  PromText p(out);
  p.family("progressista_build_info", "gauge", "Always 1; the version is in the label.");
  p.sample("progressista_build_info", {{"version", PROGRESSISTA_VERSION}}, std::uint64_t{1});
  store_families(p, store);
  if (stats) {
    broadcast_families(p, *stats);
    socketio::socketio_families(p);
  }
  notify::append_metrics(out);  // this process's notifier, when it runs one
  federation::append_metrics(out);  // this process's federation (--redis), when it runs one
  response.status = 200;
  response.content_type = std::string(kPrometheusContentType);
  response.body.assign(out.data(), out.size());
  response.set_header("Cache-Control", "no-store");
}

void append_share_metrics(const ShareLinks& share, HttpResponse& response) {
  fmt::memory_buffer out;
  PromText p(out);
  p.family("progressista_share_links_refused_total", "counter",
           "Requests whose share link was refused (401), by reason");
  for (std::size_t i = 0; i < ShareLinks::kReasons; ++i) {
    p.sample("progressista_share_links_refused_total", {{"reason", ShareLinks::reason_name(i)}},
             share.refused(i));
  }
  p.family("progressista_share_links_forbidden_total", "counter",
           "Requests with a valid share link that tried to write or reach a route outside "
           "its scope (403)");
  p.sample("progressista_share_links_forbidden_total", {}, share.forbidden());
  response.body.append(out.data(), out.size());
}

bool MetricsRoutes::handle(const HttpRequest& request, HttpResponse& response) {
  if (request.path != "/metrics") return false;
  if (request.method != "GET" && request.method != "HEAD") {
    method_not_allowed(ctx_, "GET, HEAD", response);
  } else if (authorize(ctx_, request, response)) {
    metrics_response(ctx_.store, stats_, response);
    append_share_metrics(*ctx_.share, response);
    return true;
  }
  response.set_header("Cache-Control", "no-store");
  return true;
}

}  // namespace progressista::daemon
