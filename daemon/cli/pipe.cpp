// `progressista pipe`. The copy runs on the main thread: splice(2) moves pages between the two
// ends without passing them through user space when either end is a pipe; otherwise (both
// files or sockets, a terminal, or --lines, which must see the bytes) read/write with a 1 MiB
// buffer. The TaskReporter's thread samples an atomic counter, so a slow server never slows
// the copy.
#include "cli/pipe.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli/progress_client.hpp"
#include "cli/task_reporter.hpp"
#include "option_checks.hpp"

namespace progressista::daemon {
namespace {

constexpr std::size_t kChunk = std::size_t{1} << 20;
constexpr int kExitIoError = 3;  // a read or write error other than a closed pipe

struct PipeOptions {
  ClientOptions client;
  std::string task_id;
  std::string desc;
  double total = 0;
  std::string size_from;
  bool lines = false;
  double interval = 0.5;
  bool verbose = false;
};

// The signal (SIGINT, SIGTERM) that interrupted the copy, 0 if none. Set by the handler; the
// blocking splice/read/write it interrupts returns EINTR (no SA_RESTART), and the loop checks.
std::atomic<int> g_interrupt{0};
extern "C" void on_interrupt(int sig) { g_interrupt.store(sig, std::memory_order_relaxed); }

// Installs the handlers above and ignores SIGPIPE (a closed reader is an EPIPE to report),
// restoring the previous actions when it goes.
class PipeSignals {
 public:
  PipeSignals() {
    struct sigaction act {};
    act.sa_handler = on_interrupt;
    sigemptyset(&act.sa_mask);
    act.sa_flags = 0;
    ::sigaction(SIGINT, &act, &saved_int_);
    ::sigaction(SIGTERM, &act, &saved_term_);
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    ::sigaction(SIGPIPE, &ignore, &saved_pipe_);
  }
  ~PipeSignals() {
    ::sigaction(SIGINT, &saved_int_, nullptr);
    ::sigaction(SIGTERM, &saved_term_, nullptr);
    ::sigaction(SIGPIPE, &saved_pipe_, nullptr);
  }
  PipeSignals(const PipeSignals&) = delete;
  PipeSignals& operator=(const PipeSignals&) = delete;

 private:
  struct sigaction saved_int_ {}, saved_term_ {}, saved_pipe_ {};
};

// SIGINT and SIGTERM blocked in this scope, so that a thread started in it never takes them
// (they must interrupt the copying thread's system call).
class BlockedInterrupts {
 public:
  BlockedInterrupts() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    ::pthread_sigmask(SIG_BLOCK, &set, &saved_);
  }
  ~BlockedInterrupts() { ::pthread_sigmask(SIG_SETMASK, &saved_, nullptr); }
  BlockedInterrupts(const BlockedInterrupts&) = delete;
  BlockedInterrupts& operator=(const BlockedInterrupts&) = delete;

 private:
  sigset_t saved_{};
};

enum class CopyEnd { kEof, kReaderGone, kReadError, kWriteError, kInterrupted };

struct CopyResult {
  CopyEnd end = CopyEnd::kEof;
  int error = 0;  // errno of a read or write error
};

// Waits until `fd` is ready for `events` (stdin or stdout left non-blocking by whoever
// opened it: splice, read and write then answer EAGAIN instead of waiting).
bool wait_ready(int fd, short events) {
  pollfd p{fd, events, 0};
  for (;;) {
    if (g_interrupt.load(std::memory_order_relaxed) != 0) return false;
    const int n = ::poll(&p, 1, -1);
    if (n > 0 || (n < 0 && errno != EINTR)) return true;
  }
}

// A larger pipe buffer means fewer wake-ups on both sides (pv does the same); 1 MiB is the
// unprivileged maximum by default, and a refusal changes nothing.
void widen_pipe(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode)) (void)::fcntl(fd, F_SETPIPE_SZ, 1 << 20);
}

class Copier {
 public:
  explicit Copier(bool lines) : lines_(lines) {}

  // Copies stdin to stdout until end of input, an error or an interrupt.
  CopyResult run() {
    widen_pipe(STDIN_FILENO);
    widen_pipe(STDOUT_FILENO);
    if (!lines_) {
      if (const std::optional<CopyResult> r = splice_all()) return *r;
    }
    return read_write_all();
  }

  [[nodiscard]] std::uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t lines() const { return newlines_.load(std::memory_order_relaxed); }

 private:
  // nullopt when splice does not apply to these ends (nothing was lost: a refused splice moves
  // no bytes), so that read/write takes over from where it stopped.
  std::optional<CopyResult> splice_all() {
    for (;;) {
      if (const int sig = g_interrupt.load(std::memory_order_relaxed)) {
        return CopyResult{CopyEnd::kInterrupted, sig};
      }
      const ssize_t n =
          ::splice(STDIN_FILENO, nullptr, STDOUT_FILENO, nullptr, kChunk, SPLICE_F_MOVE | SPLICE_F_MORE);
      if (n > 0) {
        add(static_cast<std::uint64_t>(n), 0);
      } else if (n == 0) {
        return CopyResult{};
      } else if (errno == EINTR) {
        continue;
      } else if (errno == EAGAIN) {
        if (!wait_ready(STDIN_FILENO, POLLIN) || !wait_ready(STDOUT_FILENO, POLLOUT)) continue;
      } else if (errno == EPIPE) {
        return CopyResult{CopyEnd::kReaderGone, EPIPE};
      } else {
        // EINVAL (neither end a pipe, a terminal, an O_APPEND file) and the like; a real I/O
        // error shows again below, where read and write say which side it is on.
        return std::nullopt;
      }
    }
  }

  CopyResult read_write_all() {
    const auto buffer = std::make_unique<char[]>(kChunk);
    for (;;) {
      if (const int sig = g_interrupt.load(std::memory_order_relaxed)) {
        return CopyResult{CopyEnd::kInterrupted, sig};
      }
      const ssize_t got = ::read(STDIN_FILENO, buffer.get(), kChunk);
      if (got == 0) return CopyResult{};
      if (got < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) {
          wait_ready(STDIN_FILENO, POLLIN);
          continue;
        }
        return CopyResult{CopyEnd::kReadError, errno};
      }
      const char* data = buffer.get();
      const auto size = static_cast<std::size_t>(got);
      if (const std::optional<CopyResult> r = write_all(data, size)) return *r;
      add(size, lines_ ? static_cast<std::uint64_t>(std::count(data, data + size, '\n')) : 0);
    }
  }

  // nullopt once every byte is written.
  std::optional<CopyResult> write_all(const char* data, std::size_t size) {
    while (size > 0) {
      const ssize_t put = ::write(STDOUT_FILENO, data, size);
      if (put > 0) {
        data += put;
        size -= static_cast<std::size_t>(put);
        continue;
      }
      if (put < 0 && errno == EINTR) {
        if (const int sig = g_interrupt.load(std::memory_order_relaxed)) {
          return CopyResult{CopyEnd::kInterrupted, sig};
        }
        continue;
      }
      if (put < 0 && errno == EAGAIN) {
        wait_ready(STDOUT_FILENO, POLLOUT);
        continue;
      }
      if (put < 0 && errno == EPIPE) return CopyResult{CopyEnd::kReaderGone, EPIPE};
      return CopyResult{CopyEnd::kWriteError, put < 0 ? errno : EIO};
    }
    return std::nullopt;
  }

  // One writer (this thread), one reader (the reporter): plain stores suffice.
  void add(std::uint64_t bytes, std::uint64_t lines) {
    bytes_.store(bytes_.load(std::memory_order_relaxed) + bytes, std::memory_order_relaxed);
    if (lines != 0) {
      newlines_.store(newlines_.load(std::memory_order_relaxed) + lines,
                      std::memory_order_relaxed);
    }
  }

  const bool lines_;
  std::atomic<std::uint64_t> bytes_{0};
  std::atomic<std::uint64_t> newlines_{0};
};

// The size of FILE for --size-from: a regular file's, or a block device's (seeking to its end).
double size_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw CLI::ValidationError("--size-from", fmt::format("cannot read the size of '{}': {}", path,
                                                          std::strerror(errno)));
  }
  if (S_ISREG(st.st_mode)) return static_cast<double>(st.st_size);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  const off_t end = fd >= 0 ? ::lseek(fd, 0, SEEK_END) : -1;
  if (fd >= 0) ::close(fd);
  if (end <= 0) {
    throw CLI::ValidationError(
        "--size-from", fmt::format("'{}' is not a regular file or a device with a size", path));
  }
  return static_cast<double>(end);
}

const char* signal_name(int sig) { return sig == SIGINT ? "SIGINT" : "SIGTERM"; }

int run_pipe(const PipeOptions& o, bool total_given) {
  EventFields task;
  task.task_id = o.task_id.empty() ? default_task_id("pipe") : o.task_id;
  if (!o.desc.empty()) task.desc = o.desc;
  task.unit = o.lines ? "lines" : "B";
  if (!o.size_from.empty()) {
    task.total = size_of(o.size_from);
  } else if (total_given) {
    task.total = o.total;
  }
  if (o.verbose) {
    fmt::print(stderr, "progressista pipe: task {} at {}\n", task.task_id,
               o.client.server_url);
  }

  const PipeSignals signals;
  g_interrupt.store(0);
  Copier copier(o.lines);
  const auto count = [&copier, lines = o.lines] {
    return static_cast<double>(lines ? copier.lines() : copier.bytes());
  };
  std::optional<TaskReporter> reporter;
  {
    const BlockedInterrupts blocked;  // the reporter's thread inherits the mask
    // Posts only when the count moved: a copy that stops shows as stalled on the board.
    reporter.emplace(o.client, "progressista pipe", task, o.interval,
                     TaskReporter::Cadence::kOnChange, [&count](EventFields& e) { e.n = count(); });
  }
  const auto began = std::chrono::steady_clock::now();
  const CopyResult copy = copier.run();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();

  const std::string done = fmt::format("{} bytes", copier.bytes());
  std::optional<std::string> error;
  int code = 0;
  switch (copy.end) {
    case CopyEnd::kEof:
      break;
    case CopyEnd::kReaderGone:
      // Silent on stderr, as `cat` killed by SIGPIPE; the exit code says it.
      error = fmt::format("the reader closed the pipe (EPIPE) after {}", done);
      code = 128 + SIGPIPE;
      break;
    case CopyEnd::kReadError:
      error = fmt::format("reading stdin failed after {}: {}", done, std::strerror(copy.error));
      code = kExitIoError;
      break;
    case CopyEnd::kWriteError:
      error = fmt::format("writing stdout failed after {}: {}", done, std::strerror(copy.error));
      code = kExitIoError;
      break;
    case CopyEnd::kInterrupted:
      error = fmt::format("interrupted by {} after {}", signal_name(copy.error), done);
      code = 128 + copy.error;
      break;
  }
  if (error && copy.end != CopyEnd::kReaderGone) {
    fmt::print(stderr, "progressista pipe: {}\n", *error);
  }
  const ClientExit sent = reporter->finish([&](EventFields& e) {
    if (error) {
      e.status = "error";
      e.error = error;
    } else if (!e.total) {
      e.total = e.n;  // an unknown total ends as what went through: a full bar
    }
  });
  if (o.verbose) {
    fmt::print(stderr, "progressista pipe: {} in {:.3f} s ({:.1f} MB/s){}\n",
               o.lines ? fmt::format("{} lines, {}", copier.lines(), done) : done, seconds,
               seconds > 0 ? static_cast<double>(copier.bytes()) / seconds / 1e6 : 0.0,
               sent == kSent ? "" : "; the server did not take the last event");
  }
  return code != 0 ? code : static_cast<int>(sent);
}

}  // namespace

void add_pipe_command(CLI::App& app) {
  auto o = std::make_shared<PipeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "pipe",
      "Copy stdin to stdout unchanged, at full speed, posting the bytes (or lines) that went "
      "through as a task's progress: `tar c data | progressista pipe --size-from data.tar "
      "--task-id backup | ssh host 'tar x'`");
  cmd->footer(
      "Progress is posted every --interval seconds when it moved (a copy that stops shows as "
      "stalled on the board), from a thread of its own, in bytes (unit B) or with --lines in newlines counted as `wc -l` does (unit lines); the task is closed "
      "at end of input (an unknown total becomes what went through), and fails (status error, "
      "the reason in `error`) when the reader goes away, on a read or write error, or on "
      "SIGINT/SIGTERM. A server that cannot be reached or refuses is reported once on stderr; "
      "the copy goes on and the server is retried quietly.\n"
      "Exit codes: 0 everything copied and the server took the last event; 1 everything "
      "copied, the server refused the last event; 2 everything copied, the server did not "
      "answer; 3 a read or write error (on stderr); 141 (128+SIGPIPE) the reader closed the "
      "pipe, as `cat` killed by SIGPIPE, nothing on stderr; 130 (143) interrupted by SIGINT "
      "(SIGTERM). Bad flags are usage errors, exit code 100 or more, and nothing is copied.");
  cmd->add_option("--task-id", o->task_id,
                  "The task's id (default: pipe-<host>-<pid>; --verbose prints it)");
  cmd->add_option("--desc", o->desc, "What goes through, shown on the task's bar")
      ->type_name("TEXT");
  auto* total = cmd->add_option("--total", o->total,
                                "Bytes expected (lines with --lines), for a percentage and ETA")
                    ->type_name("N")
                    ->check(number_in(0, 1e18, ""));
  auto* size_from = cmd->add_option("--size-from", o->size_from,
                                    "Take --total from this file's size (bytes)")
                        ->type_name("FILE");
  total->excludes(size_from);
  auto* lines = cmd->add_flag("--lines,-l", o->lines,
                              "Count lines ('\\n') instead of bytes; the bytes pass through "
                              "user space, so the copy is slower");
  lines->excludes(size_from);
  cmd->add_option("--interval", o->interval, "Seconds between two progress posts")
      ->capture_default_str()
      ->type_name("SECONDS")
      ->check(number_in(0.01, 3600, "seconds"));
  cmd->add_flag("--verbose,-v", o->verbose,
                "Print the task id at the start and the count and speed at the end (stderr)");
  add_client_options(*cmd, o->client);

  cmd->callback([o, cmd] {
    if (const int rc = run_pipe(*o, cmd->count("--total") > 0); rc != 0) {
      throw CLI::RuntimeError(rc);
    }
  });
}

}  // namespace progressista::daemon
