// Runs a program to completion without a shell, capturing its output: the real `progressista`
// binary for tests of the CLI verbs, and external tools (nginx -t, systemd-analyze, cpack).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

extern char** environ;

namespace progressista::testing {

struct RunResult {
  int code = -1;  // exit status, 128 + signal, or -1 when it could not start or timed out
  std::string out;
  std::string err;
};

// The null-terminated array execve wants; it points into `strings`.
inline std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (auto& s : strings) {
    out.push_back(s.data());
  }
  out.push_back(nullptr);
  return out;
}

// This process's environment with `extra` set (replacing same-named variables) and every
// PROGRESSISTA_* variable dropped, so a developer's settings never leak into a test.
inline std::vector<std::string> child_environment(const std::map<std::string, std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view kv = *e;
    const std::string name(kv.substr(0, kv.find('=')));
    if (name.rfind("PROGRESSISTA_", 0) == 0 || extra.count(name) != 0) {
      continue;
    }
    env.emplace_back(kv);
  }
  for (const auto& [k, v] : extra) {
    env.push_back(fmt::format("{}={}", k, v));
  }
  return env;
}

// Runs argv[0] (a path, or a name looked up in PATH) to completion without a shell, stdin
// from /dev/null, capturing stdout and stderr. The child gets child_environment(env) and
// starts with SIGINT and SIGTERM unblocked and at their default action. `started`, if given,
// is told the child's PID as soon as it runs (e.g. to signal it from another thread). A child
// still running after `timeout` is killed and the test fails.
inline RunResult run_program(std::vector<std::string> argv_strings,
                             const std::map<std::string, std::string>& env = {},
                             const std::function<void(pid_t)>& started = {},
                             std::chrono::seconds timeout = std::chrono::seconds(60)) {
  std::vector<std::string> env_strings = child_environment(env);
  std::vector<char*> envp = c_strings(env_strings);
  std::vector<char*> argv = c_strings(argv_strings);
  const std::string& bin = argv_strings.at(0);

  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << std::generic_category().message(errno);
    return {};
  }
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << std::generic_category().message(errno);
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return {};
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t signals;
  sigemptyset(&signals);
  posix_spawnattr_setsigmask(&attr, &signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  posix_spawnattr_setsigdefault(&attr, &signals);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, bin.c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  RunResult r;
  if (rc != 0) {
    ADD_FAILURE() << "posix_spawn " << bin << ": " << std::generic_category().message(rc);
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    return r;
  }
  if (started) {
    started(pid);
  }

  // Drain both pipes together so that neither can fill up and block the child.
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int open_fds = 2;
  bool timed_out = false;
  while (open_fds > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ADD_FAILURE() << bin << " did not finish within " << timeout.count() << " s; killing it";
      ::kill(pid, SIGKILL);
      timed_out = true;
      break;
    }
    const int n = ::poll(fds, 2, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) {
        continue;
      }
      char buf[8192];
      const ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (const auto& fd : fds) {
    if (fd.fd >= 0) {
      ::close(fd.fd);
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!timed_out) {
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  return r;
}

#ifdef PROGRESSISTA_BIN
// Runs the `progressista` binary under test with `args` (see run_program).
inline RunResult run(const std::vector<std::string>& args,
                     const std::map<std::string, std::string>& env = {},
                     const std::function<void(pid_t)>& started = {}) {
  std::vector<std::string> argv{PROGRESSISTA_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_program(std::move(argv), env, started);
}
#endif

}  // namespace progressista::testing
