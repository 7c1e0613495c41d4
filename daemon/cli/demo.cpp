// `progressista demo`. The bars are Progressista's (task ids demo:worker:N, descriptions
// "worker N", unit "it") but fill at different speeds, so that they finish one after another;
// the slowest takes --total ticks of --delay seconds, which bounds the run.
#include "cli/demo.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli/progress_client.hpp"
#include "option_checks.hpp"
#include "log.hpp"
#include "progressista/bookkeeping.hpp"

namespace progressista::daemon {
namespace {

using Clock = std::chrono::steady_clock;

struct DemoOptions {
  ClientOptions client;
  unsigned bars = 3;
  unsigned total = 50;
  double delay = 0.05;
};

struct Bar {
  std::string task_id;
  std::string desc;
  std::uint64_t ticks = 1;  // ticks this bar takes to fill
  std::uint64_t n = 0;
  bool started = false;  // its start event was accepted
  bool closed = false;
};

// SIGINT and SIGTERM stay blocked while the demo runs and are collected by sigtimedwait(),
// which doubles as the wait between ticks: an interrupt ends the wait at once, and never
// cuts a request in half.
class Interrupts {
 public:
  Interrupts() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, &saved_);
  }
  ~Interrupts() {
    // A signal still pending would act the moment it is unblocked: take it first.
    while (poll() != 0) {
    }
    pthread_sigmask(SIG_SETMASK, &saved_, nullptr);
  }
  Interrupts(const Interrupts&) = delete;
  Interrupts& operator=(const Interrupts&) = delete;

  // The signal that arrived before `deadline`, or 0 once it has passed.
  int wait_until(Clock::time_point deadline) const {
    for (;;) {
      const auto left = std::max(Clock::duration::zero(), deadline - Clock::now());
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      const timespec timeout{static_cast<std::time_t>(ns / 1'000'000'000),
                             static_cast<long>(ns % 1'000'000'000)};
      const int sig = ::sigtimedwait(&set_, nullptr, &timeout);
      if (sig > 0) return sig;
      if (errno != EINTR) return 0;  // EAGAIN: the deadline passed
    }
  }
  int poll() const { return wait_until(Clock::now()); }

 private:
  sigset_t set_{};
  sigset_t saved_{};
};

std::string elapsed(Clock::time_point since) {
  return fmt::format("{:.1f} s", std::chrono::duration<double>(Clock::now() - since).count());
}

class Demo {
 public:
  explicit Demo(const DemoOptions& o) : o_(o), client_(o.client, "progressista demo") {
    const std::uint64_t total = o.total;
    for (unsigned i = 1; i <= o.bars; ++i) {
      Bar bar;
      bar.task_id = fmt::format("demo:worker:{}", i);
      bar.desc = fmt::format("worker {}", i);
      // Worker N takes `total` ticks; each one before it a total/(2N) fewer, down to ~total/2.
      const std::uint64_t faster = (o.bars - i) * total / (2 * std::uint64_t{o.bars});
      bar.ticks = std::max<std::uint64_t>(1, total - faster);
      bars_.push_back(std::move(bar));
    }
  }

  int run() {
    fmt::print("Starting demo workload: {} bars of {} it to {}; Ctrl-C closes them and stops\n",
               bars_.size(), o_.total, redact_url(client_.endpoint().str()));
    std::fflush(stdout);
    Interrupts interrupts;
    start_ = Clock::now();
    for (Bar& bar : bars_) {
      if (const int sig = interrupts.poll()) return interrupted(sig, interrupts);
      if (const ClientExit rc = send(bar, "start"); rc != kSent) return rc;
      bar.started = true;
    }
    const auto delay =
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o_.delay));
    for (std::uint64_t tick = 1; open_bars() > 0; ++tick) {
      // Ticks are due at fixed times from the start, so slow answers do not add up.
      if (const int sig = interrupts.wait_until(start_ + static_cast<Clock::rep>(tick) * delay)) {
        return interrupted(sig, interrupts);
      }
      for (Bar& bar : bars_) {
        if (bar.closed) continue;
        const std::uint64_t n = std::min<std::uint64_t>(o_.total, tick * o_.total / bar.ticks);
        if (n == bar.n) continue;
        bar.n = n;
        const bool full = n == o_.total;
        if (const ClientExit rc = send(bar, full ? "close" : "update"); rc != kSent) return rc;
        if (full) {
          bar.closed = true;
          clear_status();
          fmt::print("{} finished: {}/{} it in {}\n", bar.desc, bar.n, o_.total, elapsed(start_));
          std::fflush(stdout);  // live through a pipe too (`demo | tee demo.log`)
        }
        if (const int sig = interrupts.poll()) return interrupted(sig, interrupts);
      }
      show_status();
    }
    clear_status();
    fmt::print("Demo workload finished: {} bars, {} events in {}\n", bars_.size(), events_,
               elapsed(start_));
    return kSent;
  }

 private:
  ClientExit send(const Bar& bar, const char* status, std::optional<std::string> error = {}) {
    EventFields e;
    e.task_id = bar.task_id;
    e.status = status;
    e.n = static_cast<double>(bar.n);
    e.total = o_.total;
    e.desc = bar.desc;
    e.unit = "it";
    e.error = std::move(error);
    e.timestamp = now_seconds();
    body_.clear();
    append_event_json(body_, e);
    const ClientExit rc = client_.send({body_.data(), body_.size()});
    if (rc == kSent) ++events_;
    return rc;
  }

  std::size_t open_bars() const {
    return static_cast<std::size_t>(
        std::count_if(bars_.begin(), bars_.end(), [](const Bar& b) { return !b.closed; }));
  }

  // Bars stopped short of full end as errors, so no dashboard shows them as done; a full bar
  // whose close was still to be sent is closed. (Python's demo closes every bar alike.)
  int interrupted(int sig, const Interrupts& interrupts) {
    clear_status();
    const char* name = sig == SIGINT ? "SIGINT" : "SIGTERM";
    fmt::print("Interrupted by {}: closing the open bars\n", name);
    std::fflush(stdout);
    for (const Bar& bar : bars_) {
      if (!bar.started || bar.closed) continue;
      if (interrupts.poll() != 0) {
        fmt::print(stderr, "progressista demo: interrupted again; bars left open\n");
        break;
      }
      const bool full = bar.n == o_.total;
      const ClientExit rc =
          full ? send(bar, "close")
               : send(bar, "error",
                      fmt::format("demo interrupted by {} at {}/{}", name, bar.n, o_.total));
      if (rc != kSent) break;  // already reported; the next bars would fare no better
      fmt::print("{} {} at {}/{} it\n", bar.desc, full ? "closed" : "stopped (status error)", bar.n,
                 o_.total);
      std::fflush(stdout);
    }
    return 128 + sig;
  }

  // One line rewritten in place, on a terminal only.
  void show_status() {
    if (!tty_ || open_bars() == 0) return;
    std::uint64_t done = 0, all = 0;
    for (const Bar& bar : bars_) {
      done += bar.n;
      all += o_.total;
    }
    fmt::print("\r{}/{} bars open, {:.0f}% done, {} events sent", open_bars(), bars_.size(),
               100.0 * static_cast<double>(done) / static_cast<double>(all), events_);
    std::fflush(stdout);
    status_shown_ = true;
  }
  void clear_status() {
    if (!status_shown_) return;
    fmt::print("\r\033[K");
    status_shown_ = false;
  }

  const DemoOptions& o_;
  ProgressClient client_;
  std::vector<Bar> bars_;
  fmt::memory_buffer body_;
  std::uint64_t events_ = 0;
  Clock::time_point start_ = Clock::now();
  const bool tty_ = ::isatty(STDOUT_FILENO) == 1;
  bool status_shown_ = false;
};

}  // namespace

void add_demo_command(CLI::App& app) {
  auto o = std::make_shared<DemoOptions>();
  CLI::App* cmd = app.add_subcommand(
      "demo",
      "Post a few demonstration progress bars (demo:worker:1..N) to a running server, to "
      "watch a dashboard move; like Progressista's `progressista demo`");
  cmd->footer(
      "Each bar sends a start event, an update per step and a close; bars fill at different "
      "speeds, and the slowest takes --total steps of --delay seconds. Ctrl-C (or SIGTERM) stops "
      "the demo and ends its open bars: status error with an `error` saying where it stopped, "
      "or close for a bar already full.\n"
      "Exit codes: 0 every bar finished; 1 the server refused an event (status and detail on "
      "stderr); 2 no answer from the server; 130 interrupted by SIGINT (143: SIGTERM). Bad "
      "flags are usage errors, exit code 100 or more.");
  cmd->add_option("--bars", o->bars, "Progress bars running at once")
      ->capture_default_str()
      ->check(whole_number_in(1, 100));
  cmd->add_option("--total", o->total, "Steps of each bar")
      ->capture_default_str()
      ->check(whole_number_in(1, 1'000'000));
  cmd->add_option("--delay", o->delay, "Seconds between steps")
      ->capture_default_str()
      ->type_name("SECONDS")
      ->check(number_in(0, 60, "seconds"));
  add_client_options(*cmd, o->client);

  cmd->callback([o] {
    Demo demo(*o);
    if (const int rc = demo.run(); rc != kSent) throw CLI::RuntimeError(rc);
  });
}

}  // namespace progressista::daemon
