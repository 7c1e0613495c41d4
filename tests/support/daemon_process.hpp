// A real `progressista` daemon for integration tests: started without a shell on port 0,
// its log captured to a file, its port read from the "listening on" line, stopped by PID.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

extern char** environ;

namespace progressista::testing {

class DaemonProcess {
 public:
  // `args` follow the binary (e.g. {"ingest", "--segment", name}); "--port 0" is added unless
  // the args name a port. `env` is added to this environment minus every PROGRESSISTA_*.
  DaemonProcess(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    static int counter = 0;
    log_path_ = fmt::format("/tmp/progressista-test-{}-{}.log", ::getpid(), counter++);
    bool has_port = env.count("PROGRESSISTA_PORT") > 0;
    for (const auto& a : args) has_port |= (a == "--port");
    if (!has_port) {
      args.push_back("--port");
      args.push_back("0");
    }
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::string_view(*e).rfind("PROGRESSISTA_", 0) != 0) env_strings.emplace_back(*e);
    }
    for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> argv_strings{PROGRESSISTA_BIN};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : argv_strings) argv.push_back(s.data());
    argv.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    if (::posix_spawn(&pid_, PROGRESSISTA_BIN, &actions, nullptr, argv.data(), envp.data()) != 0)
      pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    wait_listening();
  }
  ~DaemonProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::unlink(log_path_.c_str());
  }
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] bool running() const { return port_ != 0; }

  [[nodiscard]] std::string log() const {
    std::ifstream in(log_path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  // SIGTERM, then the exit code (128 + signal if killed; -1 if it did not stop in `timeout`).
  int stop(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    if (pid_ <= 0) return reaped_code_;
    ::kill(pid_, SIGTERM);
    return wait_exit(timeout);
  }
  // The exit code once the process ends by itself (e.g. a start-up failure).
  int wait_exit(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    if (pid_ <= 0) return reaped_code_;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        if (WIFEXITED(status)) return WEXITSTATUS(status);
        if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
        return -3;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return -1;
  }

 private:
  void wait_listening() {
    if (pid_ <= 0) return;
    static const std::regex listening(R"(listening on http://[^ ]+:([0-9]+))");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      std::smatch m;
      const std::string text = log();
      if (std::regex_search(text, m, listening)) {
        port_ = static_cast<std::uint16_t>(std::stoi(m[1]));
        return;
      }
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        reaped_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  pid_t pid_ = -1;
  int reaped_code_ = -1;
  std::uint16_t port_ = 0;
  std::string log_path_;
};

}  // namespace progressista::testing
