// federation_bench: progress events through nodes federated by Redis Streams (issue 16). It
// starts no server (bench/federation/run.sh starts redis-server and the nodes): it POSTs to one
// or several nodes, as fast as they answer or at a steady rate, optionally watches nodes'
// delta WebSockets for the events (POST on node A -> frame on node B), then waits until every
// checked node holds each task's last acknowledged n, so the rates it reports are of events
// applied everywhere, not of 200s. CPU of the processes named with --cpu (the nodes,
// redis-server) is read from /proc over the same span. See bench/README.md.
#include <sys/types.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "../fanout/proc_sampler.hpp"
#include "load.hpp"
#include "watch.hpp"

namespace fedbench {
namespace {

constexpr std::string_view kUsage = R"(usage: federation_bench --post PORT [options]

  --post PORT        a node (127.0.0.1:PORT) the load POSTs to; repeat for several at once
  --watch PORT       a node whose /ws?protocol=delta is timed against the POSTs' answers
                     (needs --rate); repeat for several
  --check PORT       a node whose GET /tasks must reach every task's final n (default: every
                     --post and --watch node); repeat for several
  --lanes N          keep-alive connections per posted node (16)
  --tasks T          tasks per connection (100); must be >= --batch
  --batch B          events per POST, NDJSON when > 1 (1)
  --rate R           events/s per posted node, paced; 0: as fast as answers come (0)
  --duration D       seconds of posting (5)
  --threads 1|2      threads running the connections (1)
  --settle S         seconds to wait for the checked nodes after the load (30)
  --cpu LABEL=PID    a process whose CPU time is reported (repeat)
  --label L          the RESULT line's label
)";

struct CpuTarget {
  std::string label;
  pid_t pid = 0;
};

struct Options {
  LoadPlan plan;
  std::vector<std::uint16_t> watch, check;
  std::vector<CpuTarget> cpu;
  double settle = 30;
  std::string label = "run";
};

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <class T>
T number(std::string_view flag, std::string_view text, double min, double max) {
  T v{};
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || static_cast<double>(v) < min ||
      static_cast<double>(v) > max)
    throw UsageError(fmt::format("{} takes a number from {} to {}, not '{}'", flag, min, max, text));
  return v;
}

std::optional<Options> parse(int argc, char** argv) {
  Options o;
  bool have_check = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") return std::nullopt;
    if (i + 1 >= argc) throw UsageError(fmt::format("{} needs a value", flag));
    const std::string_view v = argv[++i];
    if (flag == "--post") {
      o.plan.ports.push_back(number<std::uint16_t>(flag, v, 1, 65535));
    } else if (flag == "--watch") {
      o.watch.push_back(number<std::uint16_t>(flag, v, 1, 65535));
    } else if (flag == "--check") {
      o.check.push_back(number<std::uint16_t>(flag, v, 1, 65535));
      have_check = true;
    } else if (flag == "--lanes") {
      o.plan.lanes_per_node = number<unsigned>(flag, v, 1, 1024);
    } else if (flag == "--tasks") {
      o.plan.tasks_per_lane = number<std::uint32_t>(flag, v, 1, 100000);
    } else if (flag == "--batch") {
      o.plan.batch = number<std::uint32_t>(flag, v, 1, 10000);
    } else if (flag == "--rate") {
      o.plan.rate = number<double>(flag, v, 0, 10'000'000);
    } else if (flag == "--duration") {
      o.plan.duration = number<double>(flag, v, 0.1, 600);
    } else if (flag == "--threads") {
      o.plan.threads = number<unsigned>(flag, v, 1, 2);
    } else if (flag == "--settle") {
      o.settle = number<double>(flag, v, 0, 600);
    } else if (flag == "--cpu") {
      const std::size_t eq = v.find('=');
      if (eq == 0 || eq == std::string_view::npos)
        throw UsageError(fmt::format("--cpu takes LABEL=PID, not '{}'", v));
      o.cpu.push_back({std::string(v.substr(0, eq)),
                       number<pid_t>(flag, v.substr(eq + 1), 1, 1 << 30)});
    } else if (flag == "--label") {
      o.label = std::string(v);
    } else {
      throw UsageError(fmt::format("unknown option '{}'", flag));
    }
  }
  if (o.plan.ports.empty()) throw UsageError("--post is required");
  if (o.plan.tasks_per_lane < o.plan.batch)
    throw UsageError("--tasks must be >= --batch (a POST carries distinct tasks)");
  if (!o.watch.empty() && o.plan.rate == 0)
    throw UsageError("--watch needs --rate: latency is measured at a steady rate");
  const std::uint64_t tasks =
      std::uint64_t{o.plan.tasks_per_lane} * o.plan.lanes_per_node * o.plan.ports.size();
  if (tasks > 999'999'999) throw UsageError("over a billion tasks");
  if (!have_check) {
    o.check = o.plan.ports;
    for (const auto p : o.watch)
      if (std::find(o.check.begin(), o.check.end(), p) == o.check.end()) o.check.push_back(p);
  }
  return o;
}

std::vector<double> cpu_seconds(const std::vector<CpuTarget>& targets) {
  std::vector<double> out;
  for (const auto& t : targets) {
    const auto usage = fanout::read_proc(t.pid);
    out.push_back(usage ? usage->cpu_seconds : -1);
  }
  return out;
}

double ms(double us) {
  return us / 1000.0;
}

int run(const Options& opt) {
  Load load(opt.plan);
  const LoadPlan& plan = opt.plan;
  fmt::print(
      "federation_bench: POSTs to :{} ({} connections each, {} tasks each, {} event{} per POST, "
      "{} for {:.1f} s); watching [{}]; checking [{}]\n",
      fmt::join(plan.ports, " :"), plan.lanes_per_node, plan.tasks_per_lane, plan.batch,
      plan.batch > 1 ? "s" : "",
      plan.rate > 0 ? fmt::format("{:.0f} events/s per node", plan.rate)
                    : std::string("as fast as answers come"),
      plan.duration, fmt::join(opt.watch, " "), fmt::join(opt.check, " "));
  (void)std::fflush(stdout);

  Watchers watchers(load, opt.watch);
  if (!opt.watch.empty()) {
    std::string why;
    if (!watchers.connect(why)) {
      fmt::print(stderr, "federation_bench: a watcher failed: {}\n", why);
      return 1;
    }
  }
  const auto cpu_before = cpu_seconds(opt.cpu);
  const double self_before = fanout::self_cpu_seconds();
  const auto start = std::chrono::steady_clock::now() + std::chrono::milliseconds(20);
  load.run(start);
  const auto load_end = std::chrono::steady_clock::now();
  const double self_after = fanout::self_cpu_seconds();
  const auto converged = await_convergence(load, opt.check, load_end, opt.settle);
  const auto settled = std::chrono::steady_clock::now();
  const auto cpu_after = cpu_seconds(opt.cpu);
  // The frames of the last events may still be on their way while the first node is polled.
  watchers.stop();
  const Agreement agreement = compare_nodes(opt.check);

  // --- the load ---
  std::uint64_t posts = 0, acked = 0, failures = 0;
  LatencyHistogram round_trip;
  std::string first_error;
  for (const Lane& lane : load.lanes()) {
    posts += lane.posts;
    acked += lane.events_acked;
    failures += lane.failures;
    round_trip.merge(lane.round_trip);
    if (first_error.empty()) first_error = lane.first_error;
  }
  const double events_per_s = static_cast<double>(acked) / plan.duration;
  fmt::print(
      "federation_bench: {} events acknowledged in {} POSTs ({:.0f} events/s, {:.0f} POSTs/s), "
      "{} failed POSTs{}; POST round trip p50 {:.2f} ms, p99 {:.2f} ms, max {:.2f} ms\n",
      acked, posts, events_per_s, static_cast<double>(posts) / plan.duration, failures,
      first_error.empty() ? "" : fmt::format(" (first: {})", first_error),
      ms(round_trip.quantile(0.5)), ms(round_trip.quantile(0.99)),
      ms(static_cast<double>(round_trip.max())));

  // --- every node holds every final n ---
  bool all_final = true;
  double converge_s = 0;
  for (const Convergence& c : converged) {
    fmt::print("federation_bench: :{} holds the final n of {} of {} tasks{}{}\n", c.port, c.final,
               c.expected,
               c.seconds >= 0 ? fmt::format(", {:.2f} s after the last POST's answer", c.seconds)
                              : fmt::format(" after {:.0f} s (gave up)", opt.settle),
               c.error.empty() ? "" : fmt::format(" ({})", c.error));
    all_final = all_final && c.seconds >= 0;
    converge_s = std::max(converge_s, c.seconds);
  }
  if (opt.check.size() > 1)
    fmt::print("federation_bench: task JSON of :{} against the other nodes: {} compared, {} differ{}\n",
               opt.check[0], agreement.compared, agreement.differing,
               agreement.first.empty() ? "" : fmt::format(" (first: {})", agreement.first));

  // --- POST on one node -> frame on another ---
  LatencyHistogram same, other, other_sent;
  std::uint64_t seen = 0, early = 0, malformed = 0;
  for (const WatchStats& w : watchers.stats()) {
    fmt::print(
        "federation_bench: watcher :{}: {} frames, {} events seen ({} before their POST's "
        "answer, {} of failed POSTs, {} malformed frames){}; from this node p50 {:.1f} ms, p99 "
        "{:.1f} ms ({} samples); from another p50 {:.1f} ms, p99 {:.1f} ms, max {:.1f} ms ({} "
        "samples); from another, from the POST's sending: p50 {:.1f} ms, p99 {:.1f} ms\n",
        w.port, w.frames, w.seen, w.early, w.unacked, w.malformed,
        w.error.empty() ? "" : fmt::format(", {}", w.error), ms(w.same.quantile(0.5)),
        ms(w.same.quantile(0.99)), w.same.count(), ms(w.other.quantile(0.5)),
        ms(w.other.quantile(0.99)), ms(static_cast<double>(w.other.max())), w.other.count(),
        ms(w.other_sent.quantile(0.5)), ms(w.other_sent.quantile(0.99)));
    same.merge(w.same);
    other.merge(w.other);
    other_sent.merge(w.other_sent);
    seen += w.seen;
    early += w.early;
    malformed += w.malformed;
  }
  // A tick carries a task's latest n only: with every task updated less often than a tick
  // (run.sh sizes --tasks for that), every event shows on every watched node.
  const double delivered =
      opt.watch.empty() ? 0
                        : 100.0 * static_cast<double>(seen) /
                              (static_cast<double>(acked) * static_cast<double>(opt.watch.size()));

  // --- CPU from the first POST until every checked node held the final state ---
  const double span = std::chrono::duration<double>(settled - start).count();
  std::string cpu_fields;
  for (std::size_t i = 0; i < opt.cpu.size(); ++i) {
    const double used = cpu_after[i] - cpu_before[i];
    if (cpu_before[i] < 0 || cpu_after[i] < 0) {
      fmt::print("federation_bench: {} (pid {}): /proc not readable\n", opt.cpu[i].label,
                 opt.cpu[i].pid);
      continue;
    }
    const double us_per_event = acked ? used * 1e6 / static_cast<double>(acked) : 0;
    fmt::print(
        "federation_bench: {} (pid {}): {:.2f} CPU-s over {:.2f} s ({:.0f} % of a core), {:.2f} "
        "µs per event, {:.0f} events per CPU-second\n",
        opt.cpu[i].label, opt.cpu[i].pid, used, span, 100 * used / span, us_per_event,
        used > 0 ? static_cast<double>(acked) / used : 0);
    cpu_fields += fmt::format(" cpu_{0}_pct={1:.0f} cpu_{0}_us={2:.2f}", opt.cpu[i].label,
                              100 * used / span, us_per_event);
  }
  fmt::print("federation_bench: this tool used {:.0f} % of a core while posting\n",
             100 * (self_after - self_before) / plan.duration);
  fmt::print(
      "RESULT label={} nodes={} batch={} rate={:.0f} acked={} events_per_s={:.0f} failures={} "
      "rt_p50_ms={:.2f} rt_p99_ms={:.2f} final={} converge_s={:.2f} differ={}/{} seen={} "
      "early={} malformed={} delivered_pct={:.1f} same_p50_ms={:.1f} same_p99_ms={:.1f} "
      "other_p50_ms={:.1f} other_p99_ms={:.1f} other_max_ms={:.1f} other_samples={} "
      "other_sent_p50_ms={:.1f} other_sent_p99_ms={:.1f} "
      "span_s={:.2f}{}\n",
      opt.label, plan.ports.size(), plan.batch, plan.rate, acked, events_per_s, failures,
      ms(round_trip.quantile(0.5)), ms(round_trip.quantile(0.99)), all_final ? "yes" : "no",
      converge_s, agreement.differing, agreement.compared, seen, early, malformed, delivered,
      ms(same.quantile(0.5)), ms(same.quantile(0.99)), ms(other.quantile(0.5)),
      ms(other.quantile(0.99)), ms(static_cast<double>(other.max())), other.count(),
      ms(other_sent.quantile(0.5)), ms(other_sent.quantile(0.99)), span,
      cpu_fields);
  (void)std::fflush(stdout);
  return all_final && failures == 0 && malformed == 0 ? 0 : 3;
}

}  // namespace
}  // namespace fedbench

int main(int argc, char** argv) {
  try {
    const auto options = fedbench::parse(argc, argv);
    if (!options) {
      fmt::print("{}", fedbench::kUsage);
      return 0;
    }
    return fedbench::run(*options);
  } catch (const fedbench::UsageError& e) {
    fmt::print(stderr, "federation_bench: {}\n\n{}", e.what(), fedbench::kUsage);
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "federation_bench: {}\n", e.what());
    return 1;
  }
}
