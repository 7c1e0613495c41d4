// `progressista run`. The command is spawned first (so it inherits none of the client's
// sockets), then the TaskReporter posts start and heartbeats from its own thread while this
// thread waits on one poll(): the command's stderr, passed through and its last line kept,
// and a signalfd for SIGCHLD and the SIGINT/SIGTERM to forward.
#include "cli/run_command.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli/progress_client.hpp"
#include "cli/task_reporter.hpp"
#include "option_checks.hpp"

extern char** environ;

namespace progressista::daemon {
namespace {

// The server keeps 512 bytes of `error`; the line is cut well before, leaving room for
// "exit status N: ".
constexpr std::size_t kLineMax = 400;

struct RunOptions {
  ClientOptions client;
  std::string task_id;
  std::string desc;
  double heartbeat = 10;
  std::vector<std::string> command;
};

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  [[nodiscard]] int get() const { return fd_; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

// `text` as valid UTF-8 of at most `max` bytes: an invalid byte becomes U+FFFD, and the cut
// falls between characters. (The server refuses invalid UTF-8, and a command's stderr may be
// anything.)
std::string utf8_text(std::string_view text, std::size_t max) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool valid = len != 0 && i + len <= text.size() && !(len == 2 && c < 0xC2);
    for (std::size_t k = 1; valid && k < len; ++k) {
      valid = (static_cast<unsigned char>(text[i + k]) & 0xC0) == 0x80;
    }
    if (valid && len == 3) {  // no overlong forms, no surrogates
      const auto c1 = static_cast<unsigned char>(text[i + 1]);
      valid = !(c == 0xE0 && c1 < 0xA0) && !(c == 0xED && c1 >= 0xA0);
    } else if (valid && len == 4) {
      const auto c1 = static_cast<unsigned char>(text[i + 1]);
      valid = !(c == 0xF0 && c1 < 0x90) && !(c == 0xF4 && c1 >= 0x90) && c <= 0xF4;
    }
    const std::string_view piece = valid ? text.substr(i, len) : std::string_view("\xEF\xBF\xBD");
    if (out.size() + piece.size() > max) break;
    out.append(piece);
    i += valid ? len : 1;
  }
  return out;
}

// The last non-blank line of a stream seen in pieces; only the first 4 KiB of a line are kept.
class LastLine {
 public:
  void feed(std::string_view bytes) {
    for (const char ch : bytes) {
      if (ch == '\n') {
        end_line();
      } else if (current_.size() < 4096) {
        current_.push_back(ch);
      }
    }
  }
  [[nodiscard]] std::string last() {
    end_line();
    return utf8_text(last_, kLineMax);
  }

 private:
  void end_line() {
    while (!current_.empty() && (current_.back() == '\r' || current_.back() == ' ' ||
                                 current_.back() == '\t')) {
      current_.pop_back();
    }
    const auto start = current_.find_first_not_of(" \t");
    if (start != std::string::npos) last_ = current_.substr(start);
    current_.clear();
  }
  std::string current_, last_;
};

void write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t put = ::write(fd, data, size);
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) return;  // our stderr is gone: the line is still kept, the child not blocked
    data += put;
    size -= static_cast<std::size_t>(put);
  }
}

std::string signal_text(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return abbrev != nullptr ? fmt::format("SIG{}", abbrev) : fmt::format("signal {}", sig);
}

std::string command_line(const std::vector<std::string>& command) {
  std::string line;
  for (const std::string& word : command) {
    if (!line.empty()) line += ' ';
    line += word;
  }
  return utf8_text(line, 200);
}

class CommandRun {
 public:
  explicit CommandRun(const RunOptions& o) : o_(o) {
    sigemptyset(&signals_);
    sigaddset(&signals_, SIGCHLD);
    sigaddset(&signals_, SIGINT);
    sigaddset(&signals_, SIGTERM);
  }

  int run() {
    // Blocked before the child and the reporter's thread exist, so that each signal is read
    // from the signalfd here and none is lost in between.
    sigset_t saved;
    ::pthread_sigmask(SIG_BLOCK, &signals_, &saved);
    const int code = supervise();
    ::pthread_sigmask(SIG_SETMASK, &saved, nullptr);
    return code;
  }

 private:
  int supervise() {
    signal_fd_.reset(::signalfd(-1, &signals_, SFD_CLOEXEC | SFD_NONBLOCK));
    int fds[2];
    if (signal_fd_.get() < 0 || ::pipe2(fds, O_CLOEXEC) != 0) {
      fmt::print(stderr, "progressista run: {}\n", std::strerror(errno));
      return 125;
    }
    stderr_.reset(fds[0]);
    Fd write_end(fds[1]);
    const int spawn_error = spawn(write_end.get());
    write_end.reset();

    EventFields task;
    task.task_id = o_.task_id;
    task.desc = o_.desc.empty() ? command_line(o_.command) : o_.desc;
    TaskReporter reporter(o_.client, "progressista run", task, o_.heartbeat,
                          TaskReporter::Cadence::kHeartbeat, {});
    if (spawn_error != 0) {
      const std::string why = fmt::format("cannot run '{}': {}", utf8_text(o_.command[0], 200),
                                          std::strerror(spawn_error));
      fmt::print(stderr, "progressista run: {}\n", why);
      (void)reporter.finish([&](EventFields& e) {
        e.status = "error";
        e.error = why;
      });
      // The shells' codes: 127 not found, 126 found but not runnable.
      return spawn_error == ENOENT ? 127 : 126;
    }

    const int status = wait_child();
    std::string outcome;
    int code = 0;
    if (WIFEXITED(status)) {
      code = WEXITSTATUS(status);
      outcome = fmt::format("exit status {}", code);
    } else {
      const int sig = WIFSIGNALED(status) ? WTERMSIG(status) : SIGKILL;
      code = 128 + sig;
      outcome = fmt::format("killed by {}", signal_text(sig));
    }
    const std::string line = last_line_.last();
    (void)reporter.finish([&](EventFields& e) {
      if (code == 0) return;
      e.status = "error";
      e.error = line.empty() ? outcome : fmt::format("{}: {}", outcome, line);
      e.meta = WIFEXITED(status) ? fmt::format("{{\"exit_status\":{}}}", code)
                                 : fmt::format("{{\"signal\":{}}}", code - 128);
    });
    return code;
  }

  // The spawn's errno, 0 when the command runs.
  int spawn(int stderr_write) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, stderr_write, STDERR_FILENO);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    for (const int sig : {SIGINT, SIGTERM, SIGPIPE, SIGCHLD, SIGQUIT}) sigaddset(&defaults, sig);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    std::vector<char*> argv;
    for (const std::string& word : o_.command) argv.push_back(const_cast<char*>(word.c_str()));
    argv.push_back(nullptr);
    const int rc = ::posix_spawnp(&child_, argv[0], &actions, &attr, argv.data(), environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    return rc;
  }

  // Passes the child's stderr through and forwards signals until the child has exited and its
  // stderr is drained (or held open only by something it left running). Its wait status.
  int wait_child() {
    int status = 0;
    bool exited = false;
    bool stderr_open = true;
    while (!exited || stderr_open) {
      pollfd fds[2] = {{signal_fd_.get(), POLLIN, 0}, {stderr_.get(), POLLIN, 0}};
      // Once the child is gone, only what its stderr already holds is read: a grandchild that
      // keeps it open does not keep us waiting.
      const int ready = ::poll(fds, stderr_open ? 2 : 1, exited ? 0 : -1);
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) break;
      if (stderr_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        stderr_open = pass_stderr();
      }
      if ((fds[0].revents & POLLIN) != 0) {
        signalfd_siginfo info{};
        while (::read(signal_fd_.get(), &info, sizeof info) == sizeof info) {
          const auto sig = static_cast<int>(info.ssi_signo);
          // A terminal's Ctrl-C (sent by the kernel) already reached the command, which is in
          // the same process group; only a signal sent to us alone (kill) is forwarded.
          if ((sig == SIGINT || sig == SIGTERM) && !exited && info.ssi_code != SI_KERNEL) {
            ::kill(child_, sig);
          }
          if (!exited && ::waitpid(child_, &status, WNOHANG) == child_) exited = true;
        }
      }
    }
    return status;
  }

  // false at end of file.
  bool pass_stderr() {
    char buffer[65536];
    const ssize_t got = ::read(stderr_.get(), buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) return true;
    if (got <= 0) return false;
    write_all(STDERR_FILENO, buffer, static_cast<std::size_t>(got));
    last_line_.feed({buffer, static_cast<std::size_t>(got)});
    return true;
  }

  const RunOptions& o_;
  sigset_t signals_{};
  Fd signal_fd_;
  Fd stderr_;
  pid_t child_ = -1;
  LastLine last_line_;
};

}  // namespace

void add_run_command(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand(
      "run",
      "Run a command as a task on the board: start, a heartbeat while it runs, then close or "
      "error with its exit status: `progressista run --task-id nightly-db -- pg_dump -f db.sql "
      "mydb`");
  cmd->footer(
      "The command's stdin, stdout and stderr stay yours (stderr is passed through, its last "
      "line kept for the task's `error`). A heartbeat (an update) every --heartbeat seconds "
      "keeps the task fresh, so the board's \"stalled\" means the command hangs. Exit 0 closes "
      "the task; any other status, or a signal, fails it with `error: \"exit status 3: <last "
      "stderr line>\"` (or \"killed by SIGKILL: ...\") and meta {\"exit_status\":3} (or "
      "{\"signal\":9}). A SIGINT or SIGTERM sent to `run` is forwarded to the command (a "
      "terminal's Ctrl-C reaches it directly). A server that cannot be reached or refuses is "
      "reported once on stderr and retried quietly.\n"
      "Exit code: the command's own; 128+N when a signal N killed it; 127 the command was not "
      "found, 126 it could not be run. The server never changes it. Bad flags are usage "
      "errors, exit code 100 or more, and nothing is run.");
  cmd->add_option("--task-id", o->task_id, "The task's id")->required();
  cmd->add_option("--desc", o->desc, "What the command does (default: the command line)")
      ->type_name("TEXT");
  cmd->add_option("--heartbeat", o->heartbeat, "Seconds between two heartbeats")
      ->capture_default_str()
      ->type_name("SECONDS")
      ->check(number_in(0.01, 3600, "seconds"));
  add_client_options(*cmd, o->client);
  // After `--`, so that the command's own options (`sh -c`) are never read as ours.
  cmd->add_option("command", o->command, "The command and its arguments, after --")
      ->required()
      ->type_name("COMMAND");

  cmd->callback([o] {
    CommandRun command(*o);
    if (const int rc = command.run(); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace progressista::daemon
