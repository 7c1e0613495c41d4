// Child processes for the multi-process and crash tests: fork, run a function, _exit.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <thread>

namespace progressista::testing {

// Runs f() in a forked child, which _exits with f's result (never returns into gtest).
inline pid_t spawn(const std::function<int()>& f) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    int code = 99;
    try {
      code = f();
    } catch (...) {
      code = 98;
    }
    ::_exit(code);
  }
  return pid;
}

// Exit code of the child, 128 + signal if it was killed; a child still running after
// `timeout` is killed (so a hung child fails the test instead of hanging it) and -1 returned.
inline int wait_for(pid_t pid, std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0) return -2;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -3;
}

// A start line: children block in wait() until the parent calls release(), so that they
// begin at the same instant.
class StartGate {
 public:
  StartGate() {
    if (::pipe(fds_) != 0) std::abort();
  }
  ~StartGate() {
    close_fd(fds_[0]);
    close_fd(fds_[1]);
  }
  StartGate(const StartGate&) = delete;
  StartGate& operator=(const StartGate&) = delete;

  // In a child: blocks until release() (read returns 0 at EOF).
  void wait() {
    close_fd(fds_[1]);
    char c;
    while (::read(fds_[0], &c, 1) < 0) {
    }
  }
  // In the parent, after every child was spawned.
  void release() { close_fd(fds_[1]); }

 private:
  static void close_fd(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  int fds_[2] = {-1, -1};
};

}  // namespace progressista::testing
