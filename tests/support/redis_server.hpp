// A real `redis-server` for the federation tests: started without a shell on a free loopback
// port, no persistence (`--save "" --appendonly no`, its own temporary --dir), optionally with
// `--requirepass`; ready once PING answers PONG. It can be stopped (SIGTERM), killed (SIGKILL)
// and restarted on the same port, which is what a node sees when its Redis goes away and
// comes back. Every signal goes to the PID this fixture spawned, nothing else.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "support/wait.hpp"

extern char** environ;

namespace progressista::testing {

// The redis-server binary on PATH, or "" (the caller fails the test naming the package).
inline std::string redis_server_binary() {
  const char* path = std::getenv("PATH");
  std::string_view dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  while (!dirs.empty()) {
    const std::size_t colon = dirs.find(':');
    const std::string candidate = fmt::format("{}/redis-server", dirs.substr(0, colon));
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    if (colon == std::string_view::npos) break;
    dirs.remove_prefix(colon + 1);
  }
  return {};
}

class RedisServer {
 public:
  // Starts at once; check started() (and missing(): redis-server is not installed).
  explicit RedisServer(std::string password = {}) : password_(std::move(password)) {
    binary_ = redis_server_binary();
    if (binary_.empty()) return;
    char dir[] = "/tmp/progressista-redis-XXXXXX";
    if (::mkdtemp(dir) == nullptr) return;
    dir_ = dir;
    // Another process may take the port between free_loopback_port() and redis' bind: then
    // redis exits at once and another port is tried. A restart keeps the port it got.
    for (int attempt = 0; attempt < 5 && !started_; ++attempt) {
      port_ = free_loopback_port();
      started_ = start();
    }
  }
  ~RedisServer() {
    kill9();
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  [[nodiscard]] bool missing() const { return binary_.empty(); }
  [[nodiscard]] bool started() const { return started_; }
  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] pid_t pid() const { return pid_; }
  // redis://127.0.0.1:P, with `password` (not necessarily the server's) in the user-info part.
  [[nodiscard]] std::string url(std::string_view password) const {
    if (password.empty()) return fmt::format("redis://127.0.0.1:{}", port_);
    return fmt::format("redis://:{}@127.0.0.1:{}", password, port_);
  }
  [[nodiscard]] std::string url() const { return url(password_); }

  // Why it is not running, for a failure's message.
  [[nodiscard]] std::string describe() const {
    if (missing())
      return "redis-server is not installed (package redis-server, in the Makefile's "
             "APT_PACKAGES: run `make deps`)";
    return fmt::format("redis-server on port {} (dir {}), its log:\n{}", port_, dir_, log());
  }
  [[nodiscard]] std::string log() const {
    std::ifstream in(dir_ + "/redis.log");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  // SIGTERM and wait for the exit (redis saves nothing: --save "").
  void stop() { signal_and_reap(SIGTERM); }
  // SIGKILL: gone at once, connections reset, as in a crash.
  void kill9() { signal_and_reap(SIGKILL); }
  // Starts again on the same port (after stop() or kill9()); the data is gone, as after a
  // crash without persistence.
  bool restart() {
    if (pid_ > 0) return false;
    // A port just released may be refused for a moment: retry within a generous limit.
    return eventually([&] { return start(); }, std::chrono::seconds(30));
  }

  // One command in Redis' inline form ("XLEN progressista:events") on a fresh connection,
  // authenticated when the server has a password; the reply's first line (":12", "+OK",
  // "-ERR ..."), or "" when nothing answered. For the few looks into Redis a test makes.
  [[nodiscard]] std::string command(const std::string& inline_command) const {
    std::string request;
    if (!password_.empty()) request += fmt::format("AUTH {}\r\n", password_);
    request += inline_command + "\r\n";
    const std::string reply = exchange(request, password_.empty() ? 1 : 2);
    std::size_t start = 0;
    if (!password_.empty()) start = reply.find("\r\n") == std::string::npos ? reply.size()
                                                                            : reply.find("\r\n") + 2;
    const std::size_t end = reply.find("\r\n", start);
    return end == std::string::npos ? std::string() : reply.substr(start, end - start);
  }
  // The integer of an integer reply (XLEN, DBSIZE...), -1 for any other reply.
  [[nodiscard]] long long integer(const std::string& inline_command) const {
    const std::string r = command(inline_command);
    if (r.size() < 2 || r[0] != ':') return -1;
    return std::stoll(r.substr(1));
  }

 private:
  bool start() {
    std::vector<std::string> args{binary_,      "--port",       std::to_string(port_),
                                  "--bind",     "127.0.0.1",    "--save",
                                  "",           "--appendonly", "no",
                                  "--dir",      dir_,           "--daemonize",
                                  "no",         "--logfile",    ""};
    if (!password_.empty()) {
      args.push_back("--requirepass");
      args.push_back(password_);
    }
    std::vector<char*> argv;
    for (auto& s : args) argv.push_back(s.data());
    argv.push_back(nullptr);
    const std::string log_path = dir_ + "/redis.log";
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    const int rc = ::posix_spawn(&pid_, binary_.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      pid_ = -1;
      return false;
    }
    // Generous: a loaded machine (ASan builds alongside) can take seconds to start it.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {  // exited: the port was taken
        pid_ = -1;
        return false;
      }
      if (command("PING") == "+PONG") return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill9();
    return false;
  }

  void signal_and_reap(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    pid_ = -1;
  }

  // Sends `request` and reads until `lines` reply lines came (each reply here is one line),
  // within two seconds.
  [[nodiscard]] std::string exchange(const std::string& request, int lines) const {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return {};
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port_);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string reply;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(request.size())) {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
      auto complete = [&] {
        int n = 0;
        for (std::size_t p = reply.find("\r\n"); p != std::string::npos;
             p = reply.find("\r\n", p + 2))
          ++n;
        return n >= lines;
      };
      while (!complete() && std::chrono::steady_clock::now() < deadline) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        char buf[4096];
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        reply.append(buf, static_cast<std::size_t>(n));
      }
    }
    ::close(fd);
    return reply;
  }

  std::string binary_;
  std::string password_;
  std::string dir_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
  bool started_ = false;
};

}  // namespace progressista::testing
