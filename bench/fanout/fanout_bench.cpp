// fanout_bench: the broadcaster's fan-out under load. It starts no server (bench/fanout/run.sh
// does): it opens N WebSocket clients to a running `progressista serve`, POSTs events to it at a
// steady rate for a fixed time, and reports how fast and how completely the frames reached the
// clients, with the server's CPU and memory read from /proc. See bench/README.md.
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
the same port), posts events to its /progress at a steady rate and measures the fan-out.

  --host ADDR              server address (127.0.0.1)
  --port PORT              server port (required)
  --clients N              clients of the delta protocol, /ws?protocol=delta (100)
  --plain-clients N        clients of Progressista's protocol, /ws (0)
  --rate R                 events per second posted (1000)
  --tasks T                tasks the events go to, round-robin, created first (10000)
  --duration D             seconds of posting (10)
  --batch B                events per POST, NDJSON when > 1 (R/100: one POST every 10 ms)
  --server-pid PID         the server process, for CPU and RSS from /proc
  --io-threads 1|2         threads running the clients' io_context (1)
  --connect-concurrency C  clients being connected at once (32)
  --drain S                seconds to wait for every client to hold the final state (10)
  --tick S                 the server's --tick, for the aim line (0.1)
  --no-precreate           do not (re)create the tasks first
)";

struct Options {
  Endpoint server;
  std::size_t clients = 100;
  std::size_t plain_clients = 0;
  double rate = 1000;
  std::uint32_t tasks = 10000;
  double duration = 10;
  std::uint64_t batch = 0;
  pid_t server_pid = 0;
  unsigned io_threads = 1;
  std::size_t connect_concurrency = 32;
  double drain = 10;
  double tick = 0.1;
  bool precreate = true;
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
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      return std::nullopt;
    }
    if (flag == "--no-precreate") {
      o.precreate = false;
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
    } else if (flag == "--plain-clients") {
      o.plain_clients = number<std::size_t>(flag, v, 0, 100000);
    } else if (flag == "--rate") {
      o.rate = number<double>(flag, v, 1, 10'000'000);
    } else if (flag == "--tasks") {
      o.tasks = number<std::uint32_t>(flag, v, 1, 99999);
    } else if (flag == "--duration") {
      o.duration = number<double>(flag, v, 0.1, 3600);
    } else if (flag == "--batch") {
      o.batch = number<std::uint64_t>(flag, v, 1, 100000);
    } else if (flag == "--server-pid") {
      o.server_pid = number<pid_t>(flag, v, 1, 1 << 30);
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
  if (o.clients + o.plain_clients == 0) usage_error("no clients: --clients or --plain-clients");
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
  if (!raise_fd_limit(opt.clients + opt.plain_clients)) return 1;
  const EventPlan plan{opt.tasks};
  // The poster never sends more than the batches due in the duration (a late batch does not
  // add batches), so this bounds the AckLog: 8 bytes per event.
  const auto interval = std::chrono::nanoseconds(
      static_cast<std::int64_t>(1e9 * static_cast<double>(opt.batch) / opt.rate));
  const std::uint64_t capacity =
      (static_cast<std::uint64_t>(opt.duration * 1e9 / static_cast<double>(interval.count())) + 2) *
      opt.batch;
  if (capacity >= (std::uint64_t{1} << 32)) usage_error("rate x duration is over 4 billion events");
  AckLog acks(capacity);
  Poster poster(opt.server, plan, acks);
  fmt::print(
      "fanout: server {}:{}{}, {} delta + {} plain clients, {} tasks, {:.0f} events/s "
      "for {:.1f} s in POSTs of {} ({:.1f} ms apart)\n",
      opt.server.host, opt.server.port,
      opt.server_pid ? fmt::format(" (pid {})", opt.server_pid) : std::string(), opt.clients,
      opt.plain_clients, opt.tasks, opt.rate, opt.duration, opt.batch,
      static_cast<double>(interval.count()) / 1e6);
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

  const bool proc = opt.server_pid != 0;
  bool peak_reset = false;
  std::optional<ProcUsage> at_rest;
  if (proc) {
    peak_reset = reset_peak_rss(opt.server_pid);
    at_rest = read_proc(opt.server_pid);
    if (!at_rest) {
      fmt::print(stderr, "fanout_bench: cannot read /proc/{}\n", opt.server_pid);
      return 1;
    }
  }
  std::optional<RssSampler> rss;
  if (proc) rss.emplace(opt.server_pid, std::chrono::milliseconds(50));

  // --- clients ---
  Fanout fanout(opt.server, plan, acks);
  fanout.timeline_seconds = static_cast<std::size_t>(opt.duration + opt.drain) + 2;
  fanout.aim_us = static_cast<std::uint64_t>(opt.tick * 1e6) + 25'000;
  boost::asio::io_context io(static_cast<int>(opt.io_threads));
  auto work = boost::asio::make_work_guard(io);
  std::vector<std::thread> io_threads;
  for (unsigned i = 0; i < opt.io_threads; ++i) io_threads.emplace_back([&io] { io.run(); });
  std::vector<std::shared_ptr<Subscriber>> clients;
  const std::size_t total = opt.clients + opt.plain_clients;
  const auto connect_start = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < total; ++i) {
    fanout.gate.acquire(opt.connect_concurrency);
    clients.push_back(std::make_shared<Subscriber>(
        fanout, i < opt.clients ? Protocol::kDelta : Protocol::kPlain, io, opt.io_threads));
    clients.back()->start();
  }
  const bool settled =
      fanout.gate.wait_settled(total, std::chrono::steady_clock::now() + std::chrono::seconds(120));
  const double connect_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - connect_start).count();
  fmt::print("fanout: {} of {} clients connected and holding a snapshot in {:.2f} s{}\n",
             fanout.gate.ok(), total, connect_s,
             fanout.gate.failures() ? fmt::format(" ({} failed; first: {})", fanout.gate.failures(),
                                                  fanout.gate.first_error())
                                    : std::string(settled ? "" : " (gave up waiting after 120 s)"));
  (void)std::fflush(stdout);
  const std::size_t connected = fanout.gate.ok();
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
  const auto before = scrape(opt.server);
  const std::optional<ProcUsage> proc_before = proc ? read_proc(opt.server_pid) : std::nullopt;
  const auto threads_before = proc ? read_thread_cpu(opt.server_pid) : std::map<pid_t, double>{};
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
  const std::optional<ProcUsage> proc_after = proc ? read_proc(opt.server_pid) : std::nullopt;
  const auto threads_after = proc ? read_thread_cpu(opt.server_pid) : std::map<pid_t, double>{};
  const double self_after = self_cpu_seconds();
  const auto after_window = scrape(opt.server);
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
  const auto after = scrape(opt.server);
  if (rss) rss->stop();
  const std::optional<ProcUsage> proc_end = proc ? read_proc(opt.server_pid) : std::nullopt;

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
  ClientCounters sum;
  std::size_t ended = 0;
  std::string end_reason;
  std::uint64_t malformed = 0;
  std::string first_malformed;
  for (const auto& c : clients) {
    const ClientCounters& k = c->counters();
    sum.frames += k.frames;
    sum.bytes += k.bytes;
    sum.window_frames += k.window_frames;
    sum.window_bytes += k.window_bytes;
    sum.deltas += k.deltas;
    sum.snapshots += k.snapshots;
    sum.resets += k.resets;
    sum.plain += k.plain;
    sum.errors += k.errors;
    sum.other += k.other;
    sum.seen += k.seen;
    sum.regressions += k.regressions;
    sum.seq_back += k.seq_back;
    sum.seq_repeat += k.seq_repeat;
    malformed += k.malformed;
    if (first_malformed.empty()) first_malformed = k.first_malformed;
    if (k.ended) {
      ++ended;
      if (end_reason.empty()) end_reason = k.end_reason;
    }
  }
  const double achieved = static_cast<double>(posted.events_acked) / opt.duration;
  const double frames_per_s = static_cast<double>(sum.window_frames) / opt.duration;
  const double mb_per_s = static_cast<double>(sum.window_bytes) / 1e6 / opt.duration;
  const double expected = static_cast<double>(posted.events_acked) * static_cast<double>(connected);
  const double delivered = expected > 0 ? 100.0 * static_cast<double>(sum.seen) / expected : 0;
  const LatencyHistogram& lat =
      stats.latency[static_cast<int>(opt.clients ? Protocol::kDelta : Protocol::kPlain)];
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
  fmt::print(
      "fanout: clients received {} frames ({:.0f}/s, {:.2f} MB/s) during the run; from its start "
      "to the end of the drain: {} deltas, "
      "{} snapshots ({} with reset), {} Progressista frames, {} error frames, {} other\n",
      sum.window_frames, frames_per_s, mb_per_s, sum.deltas, sum.snapshots, sum.resets, sum.plain,
      sum.errors, sum.other);
  fmt::print(
      "fanout: {} (client, task, n) seen = {:.1f} % of posted events x clients; "
      "{} before the POST's answer (counted as 0 ms), {} of failed POSTs\n",
      sum.seen, delivered, stats.early, stats.unacked);
  for (int p = 0; p < 2; ++p) {
    const LatencyHistogram& h = stats.latency[p];
    if (h.count() == 0) continue;
    fmt::print(
        "fanout: latency ({} clients, ack -> receipt) p50 {:.1f} ms, p90 {:.1f} ms, p99 {:.1f} ms, "
        "p99.9 {:.1f} ms, max {:.1f} ms over {} samples\n",
        p == 0 ? "delta" : "plain", ms(h.quantile(0.5)), ms(h.quantile(0.9)), ms(h.quantile(0.99)),
        ms(h.quantile(0.999)), ms(static_cast<double>(h.max())), h.count());
  }
  {
    std::string line;
    for (std::size_t i = 0; i < stats.max_us_by_second.size(); ++i) {
      if (stats.max_us_by_second[i] == 0 && stats.over_aim_by_second[i] == 0) continue;
      line += fmt::format(" {}s:{:.0f}/{}", i, ms(static_cast<double>(stats.max_us_by_second[i])),
                          stats.over_aim_by_second[i]);
    }
    fmt::print("fanout: by second of the run, max latency ms / samples over {:.0f} ms:{}\n",
               static_cast<double>(fanout.aim_us) / 1000, line);
  }
  fmt::print(
      "fanout: anomalies: {} n regressions, {} seq backwards, {} repeated delta seq, "
      "{} malformed frames{}; {} connections ended by the server{}\n",
      sum.regressions, sum.seq_back, sum.seq_repeat, malformed,
      first_malformed.empty() ? "" : fmt::format(" (first: {})", first_malformed), ended,
      end_reason.empty() ? "" : fmt::format(" (first: {})", end_reason));
  fmt::print(
      "fanout: {} of {} connected clients held every task's final n {:.2f} s after the last "
      "POST\n",
      converged, live, drain_s);
  if (before.empty() || after_window.empty() || after.empty())
    fmt::print("fanout: a GET /metrics got no answer within 10 s: nan below means unknown\n");
  fmt::print(
      "fanout: server /metrics over the run: {:.0f} frames, {:.2f} MB sent; {:.0f} coalesced, "
      "{:.0f} slow-consumer disconnects (incl. drain); {:.0f} ticks, mean {:.2f} ms, slowest {}\n",
      delta(before, after_window, "progressista_frames_sent_total"),
      delta(before, after_window, "progressista_bytes_sent_total") / 1e6,
      delta(before, after, "progressista_slow_consumer_coalesced_total"),
      delta(before, after, "progressista_slow_consumer_disconnects_total"), tick_count,
      tick_mean_ms, slowest_tick(before, after_window));
  if (proc) {
    fmt::print(
        "fanout: server pid {}: CPU {:.0f} % of one core during the run; RSS {:.1f} MiB at "
        "rest, {:.1f} MiB peak sampled, VmHWM {:.1f} MiB{}, {:.1f} MiB at the end; of which "
        "its own (RssAnon) {:.1f} MiB at rest, {:.1f} MiB peak, {:.1f} MiB at the end, and the "
        "shared segment (RssShmem) {:.1f} MiB at the end\n",
        opt.server_pid, cpu_pct, rest_mib, rss_mib, hwm_mib,
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
  const double aim_ms = opt.tick * 1000 + 25;
  fmt::print("fanout: aim p99 <= tick + 25 ms = {:.0f} ms: {}\n", aim_ms,
             ms(lat.quantile(0.99)) <= aim_ms && lat.count() > 0 ? "met" : "NOT met");
  fmt::print(
      "RESULT clients={} plain_clients={} connected={} offered={:.0f} achieved={:.0f} "
      "frames_per_s={:.0f} mb_per_s={:.2f} p50_ms={:.1f} p99_ms={:.1f} max_ms={:.1f} "
      "cpu_pct={:.0f} rss_mib={:.1f} hwm_mib={:.1f} rest_mib={:.1f} anon_mib={:.1f} "
      "shmem_mib={:.1f} delivered_pct={:.1f} "
      "resets={} coalesced={:.0f} slow_disconnects={:.0f} ended={} converged={}/{} "
      "regressions={} early={} failed_posts={} tool_cpu_pct={:.0f} tool_mib={:.0f}\n",
      opt.clients, opt.plain_clients, connected, opt.rate, achieved, frames_per_s, mb_per_s,
      ms(lat.quantile(0.5)), ms(lat.quantile(0.99)), ms(static_cast<double>(lat.max())), cpu_pct,
      rss_mib, hwm_mib, rest_mib, anon_mib, shmem_mib, delivered, sum.resets,
      delta(before, after, "progressista_slow_consumer_coalesced_total"),
      delta(before, after, "progressista_slow_consumer_disconnects_total"), ended, converged, live,
      sum.regressions, stats.early, posted.failures, tool_pct, self_peak_rss_mib());
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
