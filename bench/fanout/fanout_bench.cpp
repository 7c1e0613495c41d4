// fanout_bench: the broadcaster's fan-out under load. It starts no server (bench/fanout/run.sh
// does): it opens N WebSocket clients to a running `progressista serve`, POSTs events to it at a
// steady rate for a fixed time, and reports how fast and how completely the frames reached the
// clients, with the server's CPU and memory read from /proc. With --nchan-clients the same load
// goes through a Nchan channel instead (nginx's pub/sub module), for the side-by-side of
// issue 11 item 6. See bench/README.md.
#include <sys/resource.h>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "event_plan.hpp"
#include "poster.hpp"
#include "proc_sampler.hpp"
#include "subscriber.hpp"

namespace fanout {
namespace {

constexpr std::string_view kUsage = R"(usage: fanout_bench --port PORT [options]

Opens WebSocket clients to a running `progressista serve` (or `broadcast` beside an ingest on
the same port), posts events to its /progress at a steady rate and measures the fan-out. Or,
with --nchan-clients, the same to an nginx with Nchan: each event POSTed alone to a publisher
location, every client a websocket subscriber of that channel (no other clients then).

  --host ADDR              server address (127.0.0.1)
  --port PORT              server port (required)
  --clients N              clients of the delta protocol, /ws?protocol=delta (100)
  --delta2-clients N       clients of the compact delta protocol, /ws?protocol=delta2 (0)
  --plain-clients N        clients of Progressista's protocol, /ws (0)
  --nchan-clients N        websocket subscribers of a Nchan channel (0); implies one event per
                           POST, --no-precreate and --no-audit, and --clients 0 unless given
  --nchan-pub PATH         the channel's nchan_publisher location (/pub)
  --nchan-sub PATH         the channel's websocket nchan_subscriber location (/sub)
  --rate R                 events per second posted (1000)
  --tasks T                tasks the events go to, round-robin, created first (10000)
  --duration D             seconds of posting (10)
  --batch B                events per POST, NDJSON when > 1 (R/100: one POST every 10 ms)
  --server-pid PID         the server process, for CPU and RSS from /proc; repeat it for a
                           server of several processes (nginx: master and workers), summed
  --io-threads 1|2         threads running the clients' io_context (1)
  --connect-concurrency C  clients being connected at once (32)
  --drain S                seconds to wait for every client to hold the final state (10)
  --tick S                 the server's --tick, for the aim line (0.1)
  --no-precreate           do not (re)create the tasks first
  --no-audit               do not check one delta2 client's tasks against GET /tasks at the end
)";

struct Options {
  Endpoint server;
  std::size_t clients = 100;
  std::size_t plain_clients = 0;
  std::size_t delta2_clients = 0;
  std::size_t nchan_clients = 0;
  std::string nchan_pub = "/pub";
  std::string nchan_sub = "/sub";
  double rate = 1000;
  std::uint32_t tasks = 10000;
  double duration = 10;
  std::uint64_t batch = 0;
  std::vector<pid_t> server_pids;
  unsigned io_threads = 1;
  std::size_t connect_concurrency = 32;
  double drain = 10;
  double tick = 0.1;
  bool precreate = true;
  bool audit = true;
  [[nodiscard]] std::size_t all_clients() const {
    return clients + plain_clients + delta2_clients + nchan_clients;
  }
};

// A bad command line: main() prints it with the usage and exits with 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void usage_error(std::string_view why) {
  throw UsageError(std::string(why));
}

template <class T>
T number(std::string_view flag, std::string_view text, double min, double max) {
  T v{};
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || static_cast<double>(v) < min ||
      static_cast<double>(v) > max)
    usage_error(fmt::format("{} takes a number from {} to {}, not '{}'", flag, min, max, text));
  return v;
}

// The options, or nullopt for --help.
std::optional<Options> parse(int argc, char** argv) {
  Options o;
  bool have_port = false;
  bool have_clients = false;
  bool have_batch = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      return std::nullopt;
    }
    if (flag == "--no-precreate") {
      o.precreate = false;
      continue;
    }
    if (flag == "--no-audit") {
      o.audit = false;
      continue;
    }
    if (i + 1 >= argc) usage_error(fmt::format("{} needs a value", flag));
    const std::string_view v = argv[++i];
    if (flag == "--host") {
      o.server.host = std::string(v);
    } else if (flag == "--port") {
      o.server.port = number<std::uint16_t>(flag, v, 1, 65535);
      have_port = true;
    } else if (flag == "--clients") {
      o.clients = number<std::size_t>(flag, v, 0, 100000);
      have_clients = true;
    } else if (flag == "--delta2-clients") {
      o.delta2_clients = number<std::size_t>(flag, v, 0, 100000);
    } else if (flag == "--plain-clients") {
      o.plain_clients = number<std::size_t>(flag, v, 0, 100000);
    } else if (flag == "--nchan-clients") {
      o.nchan_clients = number<std::size_t>(flag, v, 0, 100000);
    } else if (flag == "--nchan-pub" || flag == "--nchan-sub") {
      if (!v.starts_with('/') || v.find_first_of(" \r\n") != std::string_view::npos)
        usage_error(fmt::format("{} takes a path starting with '/', not '{}'", flag, v));
      (flag == "--nchan-pub" ? o.nchan_pub : o.nchan_sub) = std::string(v);
    } else if (flag == "--rate") {
      o.rate = number<double>(flag, v, 1, 10'000'000);
    } else if (flag == "--tasks") {
      o.tasks = number<std::uint32_t>(flag, v, 1, 99999);
    } else if (flag == "--duration") {
      o.duration = number<double>(flag, v, 0.1, 3600);
    } else if (flag == "--batch") {
      o.batch = number<std::uint64_t>(flag, v, 1, 100000);
      have_batch = true;
    } else if (flag == "--server-pid") {
      o.server_pids.push_back(number<pid_t>(flag, v, 1, 1 << 30));
    } else if (flag == "--io-threads") {
      o.io_threads = number<unsigned>(flag, v, 1, 2);
    } else if (flag == "--connect-concurrency") {
      o.connect_concurrency = number<std::size_t>(flag, v, 1, 10000);
    } else if (flag == "--drain") {
      o.drain = number<double>(flag, v, 0, 600);
    } else if (flag == "--tick") {
      o.tick = number<double>(flag, v, 0.001, 60);
    } else {
      usage_error(fmt::format("unknown option '{}'", flag));
    }
  }
  if (!have_port) usage_error("--port is required");
  if (o.nchan_clients > 0) {
    // Another server: our protocols' clients would have nothing to connect to.
    if (!have_clients) o.clients = 0;
    if (o.clients + o.plain_clients + o.delta2_clients > 0)
      usage_error("--nchan-clients cannot be mixed with our protocols' clients");
    // Nchan publishes one message per POST: one event each, for a per-event comparison.
    if (have_batch && o.batch != 1) usage_error("--nchan-clients posts one event per POST");
    o.batch = 1;
    o.precreate = false;
    o.audit = false;
  }
  if (o.all_clients() == 0)
    usage_error("no clients: --clients, --delta2-clients, --plain-clients or --nchan-clients");
  if (o.batch == 0) o.batch = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(o.rate / 100));
  return o;
}

// Enough descriptors for every client, or false after saying why not.
bool raise_fd_limit(std::size_t clients) {
  rlimit r{};
  getrlimit(RLIMIT_NOFILE, &r);
  const rlim_t want = clients + 64;
  if (r.rlim_cur < want && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = std::min(r.rlim_max, std::max<rlim_t>(want, 4096));
    if (setrlimit(RLIMIT_NOFILE, &r) != 0) getrlimit(RLIMIT_NOFILE, &r);
  }
  if (r.rlim_cur < want) {
    fmt::print(stderr,
               "fanout_bench: {} clients need about {} descriptors; the limit is {} "
               "(raise it with ulimit -n)\n",
               clients, want, r.rlim_cur);
    return false;
  }
  return true;
}

// The samples of the Prometheus text we compare before and after a run.
std::map<std::string, double> scrape(const Endpoint& server) {
  std::map<std::string, double> m;
  const auto body = http_get(server, "/metrics");
  if (!body) return m;
  std::size_t at = 0;
  while (at < body->size()) {
    std::size_t end = body->find('\n', at);
    if (end == std::string::npos) end = body->size();
    const std::string_view line(body->data() + at, end - at);
    at = end + 1;
    if (line.empty() || line[0] == '#') continue;
    const std::size_t space = line.rfind(' ');
    if (space == std::string_view::npos) continue;
    m[std::string(line.substr(0, space))] =
        std::strtod(std::string(line.substr(space + 1)).c_str(), nullptr);
  }
  return m;
}

// after - before of one sample; NaN when a scrape failed (a server too busy to answer /metrics
// within the timeout), so that totals since the server started are never reported as the run's.
double delta(const std::map<std::string, double>& before,
             const std::map<std::string, double>& after, const std::string& key) {
  if (before.empty() || after.empty()) return std::numeric_limits<double>::quiet_NaN();
  const auto a = after.find(key);
  if (a == after.end()) return 0;
  const auto b = before.find(key);
  return a->second - (b == before.end() ? 0 : b->second);
}

// The bound of the highest tick-duration bucket that gained an observation during the run.
std::string slowest_tick(const std::map<std::string, double>& before,
                         const std::map<std::string, double>& after) {
  static constexpr std::string_view kBounds[] = {"0.0005", "0.001", "0.0025", "0.005", "0.01",
                                                 "0.025",  "0.05",  "0.1",    "0.25",  "+Inf"};
  if (before.empty() || after.empty()) return "n/a";
  std::string slowest = "-";
  double below = 0;
  for (const std::string_view le : kBounds) {
    const double cumulative = delta(
        before, after, fmt::format("progressista_tick_duration_seconds_bucket{{le=\"{}\"}}", le));
    if (cumulative > below) slowest = le == "+Inf" ? "> 0.25 s" : fmt::format("<= {} s", le);
    below = std::max(below, cumulative);
  }
  return slowest;
}

int run(const Options& opt) {
  if (!raise_fd_limit(opt.all_clients())) return 1;
  const bool nchan = opt.nchan_clients > 0;
  const EventPlan plan{opt.tasks};
  // The poster never sends more than the batches due in the duration (a late batch does not
  // add batches), so this bounds the AckLog: 16 bytes per event.
  const auto interval = std::chrono::nanoseconds(
      static_cast<std::int64_t>(1e9 * static_cast<double>(opt.batch) / opt.rate));
  const std::uint64_t capacity =
      (static_cast<std::uint64_t>(opt.duration * 1e9 / static_cast<double>(interval.count())) + 2) *
      opt.batch;
  if (capacity >= (std::uint64_t{1} << 32)) usage_error("rate x duration is over 4 billion events");
  AckLog acks(capacity);
  Poster poster(opt.server, plan, acks,
                nchan ? PostTarget{opt.nchan_pub, true} : PostTarget{"/progress", false});
  const std::string pids = fmt::format("{}", fmt::join(opt.server_pids, ", "));
  fmt::print(
      "fanout: server {}:{}{}, {}, {} tasks, {:.0f} events/s for {:.1f} s in POSTs of {} ({:.1f} "
      "ms apart)\n",
      opt.server.host, opt.server.port,
      opt.server_pids.empty()
          ? std::string()
          : fmt::format(" (pid{} {})", opt.server_pids.size() > 1 ? "s" : "", pids),
      nchan ? fmt::format("{} Nchan subscribers of {}, events POSTed one by one to {}",
                          opt.nchan_clients, opt.nchan_sub, opt.nchan_pub)
            : fmt::format("{} delta + {} delta2 + {} plain clients", opt.clients,
                          opt.delta2_clients, opt.plain_clients),
      opt.tasks, opt.rate, opt.duration, opt.batch, static_cast<double>(interval.count()) / 1e6);
  (void)std::fflush(stdout);

  if (opt.precreate) {
    const auto t = std::chrono::steady_clock::now();
    if (const std::string why = poster.precreate(); !why.empty()) {
      fmt::print(stderr, "fanout_bench: creating the tasks failed: {}\n", why);
      return 1;
    }
    fmt::print("fanout: {} tasks created in {:.2f} s\n", opt.tasks,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count());
    // Past the tick that broadcasts the creations: clients connecting now get a snapshot only.
    std::this_thread::sleep_for(std::chrono::duration<double>(std::max(0.3, 3 * opt.tick)));
  }

  const bool proc = !opt.server_pids.empty();
  bool peak_reset = false;
  std::optional<ProcUsage> at_rest;
  if (proc) {
    peak_reset = reset_peak_rss(opt.server_pids);
    at_rest = read_procs(opt.server_pids);
    if (!at_rest) {
      fmt::print(stderr, "fanout_bench: cannot read /proc of {}\n", pids);
      return 1;
    }
  }
  std::optional<RssSampler> rss;
  if (proc) rss.emplace(opt.server_pids, std::chrono::milliseconds(50));
  // Nchan has no /metrics: its figures below are NaN ("unknown").
  const auto metrics = [&] { return nchan ? std::map<std::string, double>{} : scrape(opt.server); };

  // --- clients ---
  Fanout fanout(opt.server, plan, acks);
  fanout.nchan_target = opt.nchan_sub;
  fanout.timeline_seconds = static_cast<std::size_t>(opt.duration + opt.drain) + 2;
  fanout.aim_us = static_cast<std::uint64_t>(opt.tick * 1e6) + 25'000;
  boost::asio::io_context io(static_cast<int>(opt.io_threads));
  auto work = boost::asio::make_work_guard(io);
  std::vector<std::thread> io_threads;
  for (unsigned i = 0; i < opt.io_threads; ++i) io_threads.emplace_back([&io] { io.run(); });
  std::vector<std::shared_ptr<Subscriber>> clients;
  const std::size_t total = opt.all_clients();
  // Interleaved, so that neither protocol's clients are all served first by the server's
  // write loop or the tool's read loop.
  std::vector<Protocol> order;
  {
    std::size_t left[kProtocols] = {opt.clients, opt.plain_clients, opt.delta2_clients,
                                    opt.nchan_clients};
    while (order.size() < total) {
      for (int p = 0; p < kProtocols; ++p) {
        if (left[p] == 0) continue;
        --left[p];
        order.push_back(static_cast<Protocol>(p));
      }
    }
  }
  const auto connect_start = std::chrono::steady_clock::now();
  for (const Protocol protocol : order) {
    fanout.gate.acquire(opt.connect_concurrency);
    clients.push_back(std::make_shared<Subscriber>(fanout, protocol, io, opt.io_threads));
    if (protocol == Protocol::kDelta2 && opt.audit && !fanout.audit) {
      fanout.audit = std::make_unique<V2Audit>();
      fanout.audit_client = clients.back().get();
    }
    clients.back()->start();
  }
  const bool settled =
      fanout.gate.wait_settled(total, std::chrono::steady_clock::now() + std::chrono::seconds(120));
  const double connect_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - connect_start).count();
  // Nchan sends nothing on subscribing: its clients are connected once their handshake is.
  fmt::print("fanout: {} of {} clients connected and {} in {:.2f} s{}\n", fanout.gate.ok(), total,
             nchan ? "subscribed" : "holding a snapshot", connect_s,
             fanout.gate.failures() ? fmt::format(" ({} failed; first: {})", fanout.gate.failures(),
                                                  fanout.gate.first_error())
                                    : std::string(settled ? "" : " (gave up waiting after 120 s)"));
  (void)std::fflush(stdout);
  // Frames still on their way (a client that joined during a tick can get a snapshot with
  // "reset") would be measured as the run's: start once no client has received anything for
  // a while.
  const auto quiet =
      std::chrono::nanoseconds(static_cast<std::int64_t>(std::max(0.5, 3 * opt.tick) * 1e9));
  const auto quiet_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < quiet_deadline &&
         now_ns() - fanout.last_frame.load() < quiet.count())
    std::this_thread::sleep_for(std::chrono::milliseconds(20));

  // --- the run ---
  const auto before = metrics();
  const std::optional<ProcUsage> proc_before = proc ? read_procs(opt.server_pids) : std::nullopt;
  const auto threads_before = proc ? read_thread_cpu(opt.server_pids) : std::map<pid_t, double>{};
  const double self_before = self_cpu_seconds();
  const auto start = std::chrono::steady_clock::now() + std::chrono::milliseconds(20);
  const auto end = start + std::chrono::nanoseconds(static_cast<std::int64_t>(opt.duration * 1e9));
  const auto steady_ns = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  };
  fanout.window_start.store(steady_ns(start));
  fanout.window_end.store(steady_ns(end));
  poster.start(start, end, opt.batch, interval);
  poster.join();
  std::this_thread::sleep_until(end);
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::optional<ProcUsage> proc_after = proc ? read_procs(opt.server_pids) : std::nullopt;
  const auto threads_after = proc ? read_thread_cpu(opt.server_pids) : std::map<pid_t, double>{};
  const double self_after = self_cpu_seconds();
  const auto after_window = metrics();
  const PostReport& posted = poster.report();

  // --- drain: every client should end holding each task's last n ---
  // A failed POST may or may not have been applied: the target is each task's last
  // acknowledged n, and a client holding that or more has converged.
  fanout.final_n.assign(opt.tasks, 0);
  for (std::uint64_t k = 0; k < posted.events_sent; ++k) {
    if (acks.at(k) > 0) fanout.final_n[plan.task_of(k)] = EventPlan::n_of(k);
  }
  fanout.publish_final();
  for (auto& c : clients) c->recount();
  const auto drain_start = std::chrono::steady_clock::now();
  const auto drain_deadline =
      drain_start + std::chrono::nanoseconds(static_cast<std::int64_t>(opt.drain * 1e9));
  while (std::chrono::steady_clock::now() < drain_deadline &&
         fanout.converged.load() < fanout.live.load())
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const double drain_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - drain_start).count();
  const std::size_t converged = fanout.converged.load();
  const std::size_t live = fanout.live.load();
  std::size_t converged_by[kProtocols], live_by[kProtocols];
  for (int p = 0; p < kProtocols; ++p) {
    converged_by[p] = fanout.converged_by[p].load();
    live_by[p] = fanout.live_by[p].load();
  }
  const auto after = metrics();
  // The server's state once every client converged (or the drain gave up), for the audit.
  std::optional<std::string> tasks_json;
  if (fanout.audit) tasks_json = http_get(opt.server, fmt::format("/tasks?prefix={}", kTaskPrefix));
  if (rss) rss->stop();
  const std::optional<ProcUsage> proc_end = proc ? read_procs(opt.server_pids) : std::nullopt;

  // --- close ---
  for (auto& c : clients) c->close();
  work.reset();
  {
    // A server that does not finish the close handshakes within 10 s does not hold us.
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    std::thread stopper([&] {
      std::unique_lock lock(m);
      if (!cv.wait_for(lock, std::chrono::seconds(10), [&] { return done; })) io.stop();
    });
    for (auto& t : io_threads) t.join();
    {
      std::lock_guard lock(m);
      done = true;
    }
    cv.notify_all();
    stopper.join();
  }

  // --- report ---
  const ThreadStats stats = fanout.merged();
  ClientCounters sum[kProtocols];
  std::size_t connected_by[kProtocols] = {};
  std::size_t ended_by[kProtocols] = {};
  std::size_t ended = 0;
  std::string end_reason;
  std::uint64_t malformed = 0, unknown_handles = 0;
  std::string first_malformed, first_unknown;
  for (const auto& c : clients) {
    const ClientCounters& k = c->counters();
    const int p = static_cast<int>(c->protocol());
    if (k.frames > 0) ++connected_by[p];  // its first frame came: it held a snapshot
    ClientCounters& s = sum[p];
    s.frames += k.frames;
    s.bytes += k.bytes;
    s.run_bytes += k.run_bytes;
    s.window_frames += k.window_frames;
    s.window_bytes += k.window_bytes;
    s.window_updates += k.window_updates;
    s.deltas += k.deltas;
    s.snapshots += k.snapshots;
    s.resets += k.resets;
    s.plain += k.plain;
    s.errors += k.errors;
    s.other += k.other;
    s.events += k.events;
    s.seen += k.seen;
    s.regressions += k.regressions;
    s.seq_back += k.seq_back;
    s.seq_repeat += k.seq_repeat;
    s.malformed += k.malformed;
    s.unknown_handles += k.unknown_handles;
    malformed += k.malformed;
    unknown_handles += k.unknown_handles;
    if (first_malformed.empty() && !k.first_malformed.empty())
      first_malformed = fmt::format("{}: {}", protocol_name(c->protocol()), k.first_malformed);
    if (first_unknown.empty()) first_unknown = k.first_unknown;
    if (k.ended) {
      ++ended;
      ++ended_by[p];
      if (end_reason.empty()) end_reason = k.end_reason;
    }
  }
  std::uint64_t audit_errors = 0;  // set below; max: not compared, or not comparable
  if (fanout.audit && !tasks_json) audit_errors = std::numeric_limits<std::uint64_t>::max();
  const double achieved = static_cast<double>(posted.events_acked) / opt.duration;
  const std::size_t wanted[kProtocols] = {opt.clients, opt.plain_clients, opt.delta2_clients,
                                          opt.nchan_clients};
  // What each protocol's clients got, side by side.
  struct Row {
    Protocol protocol;
    std::size_t clients, connected;
    double frames_per_s, mb_per_s, updates_per_s, bytes_per_update, bytes_per_new, delivered;
    const LatencyHistogram* latency;
  };
  std::vector<Row> rows;
  for (int p = 0; p < kProtocols; ++p) {
    if (wanted[p] == 0) continue;
    const ClientCounters& s = sum[p];
    const double expected =
        static_cast<double>(posted.events_acked) * static_cast<double>(connected_by[p]);
    const double nan = std::numeric_limits<double>::quiet_NaN();
    rows.push_back(
        Row{static_cast<Protocol>(p), wanted[p], connected_by[p],
            static_cast<double>(s.window_frames) / opt.duration,
            static_cast<double>(s.window_bytes) / 1e6 / opt.duration,
            static_cast<double>(s.window_updates) / opt.duration,
            s.window_updates
                ? static_cast<double>(s.window_bytes) / static_cast<double>(s.window_updates)
                : nan,
            // Per distinct (client, task, n) received, the drain's frames included: what a new n
            // cost, with every reset snapshot and repeated entry on its bill.
            s.seen ? static_cast<double>(s.run_bytes) / static_cast<double>(s.seen) : nan,
            expected > 0 ? 100.0 * static_cast<double>(s.seen) / expected : 0, &stats.latency[p]});
  }
  const auto ms = [](double us) { return us / 1000.0; };
  double cpu_pct = -1, rss_mib = -1, hwm_mib = -1, rest_mib = -1, end_mib = -1;
  double anon_mib = -1, rest_anon_mib = -1, end_anon_mib = -1, shmem_mib = -1;
  if (proc_before && proc_after) {
    cpu_pct = 100.0 * (proc_after->cpu_seconds - proc_before->cpu_seconds) / wall;
    rest_mib = static_cast<double>(at_rest->rss_kib) / 1024.0;
    rss_mib = static_cast<double>(rss->peak_kib()) / 1024.0;
    rest_anon_mib = static_cast<double>(at_rest->anon_kib) / 1024.0;
    anon_mib = static_cast<double>(rss->peak_anon_kib()) / 1024.0;
    if (proc_end) {
      hwm_mib = static_cast<double>(proc_end->hwm_kib) / 1024.0;
      end_mib = static_cast<double>(proc_end->rss_kib) / 1024.0;
      end_anon_mib = static_cast<double>(proc_end->anon_kib) / 1024.0;
      shmem_mib = static_cast<double>(proc_end->shmem_kib) / 1024.0;
    }
  }
  const double tool_pct = 100.0 * (self_after - self_before) / wall;
  const double tick_count = delta(before, after_window, "progressista_tick_duration_seconds_count");
  const double tick_mean_ms =
      tick_count > 0
          ? 1e3 * delta(before, after_window, "progressista_tick_duration_seconds_sum") / tick_count
          : tick_count;  // 0, or NaN when unknown

  fmt::print(
      "fanout: posted {} events in {} POSTs ({:.0f}/s acknowledged; {} failed POSTs{}); "
      "POST round trip p50 {:.2f} ms, p99 {:.2f} ms, max {:.2f} ms; last batch {:.1f} ms late\n",
      posted.events_sent, posted.posts, achieved, posted.failures,
      posted.first_error.empty() ? "" : fmt::format(", first: {}", posted.first_error),
      ms(posted.round_trip.quantile(0.5)), ms(posted.round_trip.quantile(0.99)),
      ms(static_cast<double>(posted.round_trip.max())),
      static_cast<double>(posted.behind_ns) / 1e6);
  for (const Row& r : rows) {
    const int p = static_cast<int>(r.protocol);
    const ClientCounters& s = sum[p];
    const std::string_view name = protocol_name(r.protocol);
    fmt::print(
        "fanout[{}]: {} of {} clients connected; they received {} frames ({:.0f}/s, {:.2f} MB/s) "
        "carrying {} updates (task entries with n; {:.0f}/s, {:.1f} bytes each) during the run; "
        "from its start to the end of the drain: {}{} deltas, {} snapshots ({} with reset), {} "
        "Progressista frames, {} error frames, {} other\n",
        name, r.connected, r.clients, s.window_frames, r.frames_per_s, r.mb_per_s, s.window_updates,
        r.updates_per_s, r.bytes_per_update,
        r.protocol == Protocol::kNchan
            ? fmt::format("{} Nchan messages (one event each), ", s.events)
            : std::string(),
        s.deltas, s.snapshots, s.resets, s.plain, s.errors, s.other);
    fmt::print(
        "fanout[{}]: {} (client, task, n) seen = {:.1f} % of posted events x clients, {:.1f} "
        "bytes received per one (drain included); {} before the POST's answer (counted as 0 ms), "
        "{} of failed POSTs\n",
        name, s.seen, r.delivered, r.bytes_per_new, stats.early[p], stats.unacked[p]);
    const LatencyHistogram& h = *r.latency;
    fmt::print(
        "fanout[{}]: latency (ack -> receipt) p50 {:.1f} ms, p90 {:.1f} ms, p99 {:.1f} ms, "
        "p99.9 {:.1f} ms, max {:.1f} ms over {} samples\n",
        name, ms(h.quantile(0.5)), ms(h.quantile(0.9)), ms(h.quantile(0.99)), ms(h.quantile(0.999)),
        ms(static_cast<double>(h.max())), h.count());
    const LatencyHistogram& later = stats.settled[p];
    fmt::print(
        "fanout[{}]: latency of the events acknowledged from 1 s after the start on: p50 {:.1f} "
        "ms, p99 {:.1f} ms, max {:.1f} ms over {} samples\n",
        name, ms(later.quantile(0.5)), ms(later.quantile(0.99)),
        ms(static_cast<double>(later.max())), later.count());
    const LatencyHistogram& sent = stats.from_sent[p];
    fmt::print(
        "fanout[{}]: latency from the POST's sending (its round trip included; nothing counted as "
        "0 ms): p50 {:.1f} ms, p99 {:.1f} ms, max {:.1f} ms over {} samples\n",
        name, ms(sent.quantile(0.5)), ms(sent.quantile(0.99)), ms(static_cast<double>(sent.max())),
        sent.count());
    fmt::print(
        "fanout[{}]: anomalies: {} n regressions, {} seq backwards, {} repeated delta seq, {} "
        "malformed frames{}; {} connections ended by the server; {} of {} connected clients held "
        "every task's final n at the end of the drain\n",
        name, s.regressions, s.seq_back, s.seq_repeat, s.malformed,
        r.protocol == Protocol::kDelta2
            ? fmt::format(", {} entries of unknown handles", s.unknown_handles)
            : std::string(),
        ended_by[p], converged_by[p], live_by[p]);
  }
  {
    std::string line;
    for (std::size_t i = 0; i < stats.max_us_by_second.size(); ++i) {
      if (stats.max_us_by_second[i] == 0 && stats.over_aim_by_second[i] == 0) continue;
      line += fmt::format(" {}s:{:.0f}/{}", i, ms(static_cast<double>(stats.max_us_by_second[i])),
                          stats.over_aim_by_second[i]);
    }
    fmt::print(
        "fanout: by second of the run (every protocol), max latency ms / samples over {:.0f} "
        "ms:{}\n",
        static_cast<double>(fanout.aim_us) / 1000, line);
  }
  fmt::print(
      "fanout: anomalies: {} malformed frames{}; {} v2 entries of unknown handles{}; {} "
      "connections ended by the server{}\n",
      malformed, first_malformed.empty() ? "" : fmt::format(" (first: {})", first_malformed),
      unknown_handles, first_unknown.empty() ? "" : fmt::format(" (first: {})", first_unknown),
      ended, end_reason.empty() ? "" : fmt::format(" (first: {})", end_reason));
  if (fanout.audit) {
    if (!tasks_json) {
      fmt::print("fanout: v2 audit: GET /tasks got no answer within 10 s: not compared\n");
    } else {
      const V2Audit::Report a = fanout.audit->compare(*tasks_json, kTaskPrefix);
      // A client the server dropped, or one still behind, holds an older state: its
      // differences say nothing about the frames.
      const Subscriber* audited = fanout.audit_client;
      const bool behind = audited->counters().ended || !audited->converged();
      std::string first;
      for (const auto& d : a.first) first += fmt::format("\n  {}", d);
      fmt::print(
          "fanout: v2 audit (one delta2 client's tasks, built from its {} frames, against GET "
          "/tasks after the drain): {} protocol errors{}; {} tasks compared, {} differ, {} not "
          "held, {} held but gone{}\n",
          a.frames, a.protocol_errors,
          a.first_protocol_error.empty() ? "" : fmt::format(" (first: {})", a.first_protocol_error),
          a.compared, a.differing, a.missing, a.extra, first);
      if (behind) {
        fmt::print("fanout: v2 audit: the audited client {}: differences are expected\n",
                   audited->counters().ended
                       ? fmt::format("was disconnected ({})", audited->counters().end_reason)
                       : std::string("never held every final n"));
        audit_errors =
            a.protocol_errors == 0 ? std::numeric_limits<std::uint64_t>::max() : a.protocol_errors;
      } else {
        audit_errors = a.protocol_errors + a.differing + a.missing + a.extra;
      }
    }
  }
  fmt::print(
      "fanout: {} of {} connected clients held every task's final n {:.2f} s after the last "
      "POST{}\n",
      converged, live, drain_s,
      opt.delta2_clients ? fmt::format(" ({} v2 handles known)", fanout.handles.size())
                         : std::string());
  if (opt.delta2_clients) {
    const std::uint64_t rehandled = fanout.handles.rehandled();
    fmt::print(
        "fanout: v2 handles: {} times a task came with a new handle without being removed{}\n",
        rehandled,
        rehandled ? fmt::format(" (first: {})", fanout.handles.first_rehandled()) : std::string());
  }
  if (!nchan) {
    if (before.empty() || after_window.empty() || after.empty())
      fmt::print("fanout: a GET /metrics got no answer within 10 s: nan below means unknown\n");
    fmt::print(
        "fanout: server /metrics over the run: {:.0f} frames, {:.2f} MB sent; {:.0f} coalesced, "
        "{:.0f} slow-consumer disconnects (incl. drain); {:.0f} ticks, mean {:.2f} ms, slowest "
        "{}\n",
        delta(before, after_window, "progressista_frames_sent_total"),
        delta(before, after_window, "progressista_bytes_sent_total") / 1e6,
        delta(before, after, "progressista_slow_consumer_coalesced_total"),
        delta(before, after, "progressista_slow_consumer_disconnects_total"), tick_count,
        tick_mean_ms, slowest_tick(before, after_window));
  }
  if (proc) {
    // Several processes (nginx): every figure is their sum, RssShmem once per process.
    fmt::print(
        "fanout: server pid{} {}: CPU {:.0f} % of one core during the run; RSS {:.1f} MiB at "
        "rest, {:.1f} MiB peak sampled, VmHWM {:.1f} MiB{}, {:.1f} MiB at the end; of which "
        "its own (RssAnon) {:.1f} MiB at rest, {:.1f} MiB peak, {:.1f} MiB at the end, and "
        "shared memory (RssShmem) {:.1f} MiB at the end\n",
        opt.server_pids.size() > 1 ? "s (summed)" : "", pids, cpu_pct, rest_mib, rss_mib, hwm_mib,
        peak_reset ? "" : " (since start: clear_refs failed)", end_mib, rest_anon_mib, anon_mib,
        end_anon_mib, shmem_mib);
  }
  if (proc) {
    // A saturated I/O thread shows here even when the process's total is below 100 %.
    std::vector<double> busy;
    for (const auto& [tid, cpu] : threads_after) {
      const auto b = threads_before.find(tid);
      busy.push_back(100.0 * (cpu - (b == threads_before.end() ? 0 : b->second)) / wall);
    }
    std::sort(busy.begin(), busy.end(), std::greater<>());
    std::string line;
    for (const double b : busy) line += fmt::format(" {:.0f}", b);
    fmt::print("fanout: server threads, % of one core each, busiest first:{}\n", line);
  }
  fmt::print(
      "fanout: this tool used {:.0f} % of one core ({} I/O thread{} + poster), {:.0f} MiB at "
      "most; {:.0f} frames parsed, {:.0f} reused from another client\n",
      tool_pct, opt.io_threads, opt.io_threads > 1 ? "s" : "", self_peak_rss_mib(),
      static_cast<double>(stats.parsed), static_cast<double>(stats.cache_hits));
  if (rows.size() > 1) {
    // Side by side. Clients of several protocols share the server and this tool: CPU and
    // latency are the mix's, not each protocol's (bench/fanout/run.sh runs them in phases).
    fmt::print("fanout: side by side (the server's CPU and memory are the run's, all protocols)\n");
    fmt::print(
        "| protocol | clients | frames/s |    MB/s | updates/s | B/update | B/new n | "
        "p50 ms | p99 ms | max ms | delivered | resets |\n");
    fmt::print(
        "| -------- | ------: | -------: | ------: | --------: | -------: | ------: | "
        "-----: | -----: | -----: | --------: | -----: |\n");
    for (const Row& r : rows) {
      fmt::print(
          "| {:8} | {:7} | {:8.0f} | {:7.2f} | {:9.0f} | {:8.1f} | {:7.1f} | {:6.1f} | {:6.1f} | "
          "{:6.1f} | {:8.1f}% | {:6} |\n",
          protocol_name(r.protocol), r.connected, r.frames_per_s, r.mb_per_s, r.updates_per_s,
          r.bytes_per_update, r.bytes_per_new, ms(r.latency->quantile(0.5)),
          ms(r.latency->quantile(0.99)), ms(static_cast<double>(r.latency->max())), r.delivered,
          sum[static_cast<int>(r.protocol)].resets);
    }
  }
  const double aim_ms = opt.tick * 1000 + 25;
  for (const Row& r : rows) {
    fmt::print(
        "fanout[{}]: aim p99 <= tick + 25 ms = {:.0f} ms: {}\n", protocol_name(r.protocol), aim_ms,
        ms(r.latency->quantile(0.99)) <= aim_ms && r.latency->count() > 0 ? "met" : "NOT met");
  }
  // One line per protocol; the server's figures (CPU, memory, coalescing) are the run's.
  for (const Row& r : rows) {
    const int p = static_cast<int>(r.protocol);
    const LatencyHistogram& lat = *r.latency;
    fmt::print(
        "RESULT protocol={} clients={} all_clients={} connected={} offered={:.0f} "
        "achieved={:.0f} frames_per_s={:.0f} mb_per_s={:.2f} updates_per_s={:.0f} "
        "bytes_per_update={:.1f} bytes_per_new={:.1f} p50_ms={:.1f} p99_ms={:.1f} max_ms={:.1f} "
        "p99_after_1s_ms={:.1f} p50_sent_ms={:.1f} p99_sent_ms={:.1f} "
        "cpu_pct={:.0f} rss_mib={:.1f} hwm_mib={:.1f} rest_mib={:.1f} anon_mib={:.1f} "
        "shmem_mib={:.1f} delivered_pct={:.1f} "
        "resets={} coalesced={:.0f} slow_disconnects={:.0f} ended={} converged={}/{} "
        "regressions={} malformed={} unknown_handles={} rehandled={} audit_errors={} early={} "
        "failed_posts={} events_posted={} events_acked={} seq_back={} seq_repeat={} "
        "tool_cpu_pct={:.0f} tool_mib={:.0f}\n",
        protocol_name(r.protocol), r.clients, total, r.connected, opt.rate, achieved,
        r.frames_per_s, r.mb_per_s, r.updates_per_s, r.bytes_per_update, r.bytes_per_new,
        ms(lat.quantile(0.5)), ms(lat.quantile(0.99)), ms(static_cast<double>(lat.max())),
        stats.settled[p].count() ? ms(stats.settled[p].quantile(0.99))
                                 : std::numeric_limits<double>::quiet_NaN(),
        ms(stats.from_sent[p].quantile(0.5)), ms(stats.from_sent[p].quantile(0.99)), cpu_pct,
        rss_mib, hwm_mib, rest_mib, anon_mib, shmem_mib, r.delivered, sum[p].resets,
        delta(before, after, "progressista_slow_consumer_coalesced_total"),
        delta(before, after, "progressista_slow_consumer_disconnects_total"), ended_by[p],
        converged_by[p], live_by[p], sum[p].regressions, sum[p].malformed, sum[p].unknown_handles,
        r.protocol == Protocol::kDelta2 ? fmt::format("{}", fanout.handles.rehandled())
                                        : std::string("-"),
        r.protocol != Protocol::kDelta2 || !fanout.audit ? std::string("-")
        : audit_errors == std::numeric_limits<std::uint64_t>::max()
            ? std::string("n/a")
            : fmt::format("{}", audit_errors),
        stats.early[p], posted.failures, posted.events_sent, posted.events_acked, sum[p].seq_back,
        sum[p].seq_repeat, tool_pct, self_peak_rss_mib());
  }
  (void)std::fflush(stdout);
  return 0;
}

}  // namespace
}  // namespace fanout

int main(int argc, char** argv) {
  try {
    const auto options = fanout::parse(argc, argv);
    if (!options) {
      fmt::print("{}", fanout::kUsage);
      return 0;
    }
    return fanout::run(*options);
  } catch (const fanout::UsageError& e) {
    fmt::print(stderr, "fanout_bench: {}\n\n{}", e.what(), fanout::kUsage);
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "fanout_bench: {}\n", e.what());
    return 1;
  }
}
