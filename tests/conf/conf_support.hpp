// Helpers for the tests of the shipped configuration (conf/): scratch folders, external tools
// (systemd-analyze, nginx, cmake, cpack, dpkg-deb) run without a shell, the unit and
// environment files read the way systemd reads them, and free loopback ports.
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
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "support/run_binary.hpp"
#include "support/wait.hpp"

extern char** environ;

namespace progressista::testing {

namespace fs = std::filesystem;

inline const fs::path kSourceDir = PROGRESSISTA_SOURCE_DIR;
inline const fs::path kBinaryDir = PROGRESSISTA_BINARY_DIR;

// A folder under /tmp, removed with everything in it when the test ends.
class ScratchDir {
 public:
  ScratchDir() {
    std::string templ = (fs::temp_directory_path() / "progressista-conf-XXXXXX").string();
    if (::mkdtemp(templ.data()) != nullptr) path_ = templ;
  }
  ~ScratchDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_file(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

using ToolResult = RunResult;

// Runs argv[0] (looked up in PATH) to completion, capturing stdout and stderr; a tool still
// running after `timeout` is killed and the test fails.
inline ToolResult run_tool(std::vector<std::string> argv,
                           const std::map<std::string, std::string>& env = {},
                           std::chrono::seconds timeout = std::chrono::seconds(60)) {
  return run_program(std::move(argv), env, {}, timeout);
}

inline bool have_tool(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (::access((fs::path(dir) / name).c_str(), X_OK) == 0) return true;
  }
  return ::access((fs::path("/usr/sbin") / name).c_str(), X_OK) == 0;
}

// A long-running process started by the test (nginx, an installed binary), its stdout and
// stderr in a log file; stopped by its PID only, SIGKILLed if it outlives the test.
class BackgroundProcess {
 public:
  BackgroundProcess(std::vector<std::string> argv, const std::map<std::string, std::string>& env,
                    fs::path log)
      : log_(std::move(log)) {
    std::vector<std::string> env_strings = child_environment(env);
    std::vector<char*> envp = c_strings(env_strings);
    std::vector<char*> args = c_strings(argv);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    if (::posix_spawnp(&pid_, argv[0].c_str(), &actions, nullptr, args.data(), envp.data()) != 0)
      pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~BackgroundProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] bool alive() const { return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0; }
  [[nodiscard]] std::string log() const { return read_file(log_); }

  // Sends `signal` and waits for the exit: its code, 128 + signal, or -1 after `timeout`.
  int stop(int signal, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, signal);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
  fs::path log_;
};


// True once something accepts connections on 127.0.0.1:port, within `timeout`.
inline bool wait_listening(std::uint16_t port, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    if (ok) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// The PIDs of `parent`'s children whose command name is `comm`, from /proc/<pid>/stat
// ("pid (comm) state ppid ..."; comm may hold spaces and parentheses, so it ends at the last ')').
inline std::vector<pid_t> children_named(pid_t parent, const std::string& comm) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string stat = read_file(e.path() / "stat");
    const auto open = stat.find('(');
    const auto close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close < open) continue;
    std::stringstream rest(stat.substr(close + 1));
    std::string state;
    pid_t ppid = -1;
    rest >> state >> ppid;
    if (ppid == parent && stat.substr(open + 1, close - open - 1) == comm)
      out.push_back(static_cast<pid_t>(std::stoi(name)));
  }
  return out;
}

// One section of a unit file as systemd reads it: key -> every value assigned, in order
// (Environment= and SystemCallFilter= may repeat). Comments and blank lines are skipped.
using UnitSection = std::map<std::string, std::vector<std::string>>;
using UnitFile = std::map<std::string, UnitSection>;

inline UnitFile parse_unit(const std::string& text) {
  UnitFile unit;
  std::string section;
  std::stringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line[0] == '[') {
      section = line.substr(1, line.find(']') - 1);
      continue;
    }
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    unit[section][line.substr(0, eq)].push_back(line.substr(eq + 1));
  }
  return unit;
}

// The single value of `key` in `section`, or "" (and a test failure when it repeats).
inline std::string unit_value(const UnitFile& unit, const std::string& section,
                              const std::string& key) {
  const auto s = unit.find(section);
  if (s == unit.end()) return {};
  const auto k = s->second.find(key);
  if (k == s->second.end()) return {};
  EXPECT_EQ(k->second.size(), 1u) << section << "." << key << " is set more than once";
  return k->second.back();
}

inline UnitFile shipped_unit(const std::string& name) {
  return parse_unit(read_file(kSourceDir / "conf/systemd" / name));
}

// VAR=value lines of an EnvironmentFile (no quotes, no continuation lines: the example keeps
// to that subset).
inline std::map<std::string, std::string> parse_env_file(const std::string& text) {
  std::map<std::string, std::string> env;
  std::stringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    env[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return env;
}

// The environment a service gets: its Environment= assignments, then its EnvironmentFile
// (the shipped example standing in for /etc/progressista/progressista.env), which wins.
inline std::map<std::string, std::string> service_environment(const UnitFile& unit) {
  std::map<std::string, std::string> env;
  const auto s = unit.find("Service");
  if (s != unit.end() && s->second.count("Environment")) {
    for (const auto& assignments : s->second.at("Environment")) {
      std::stringstream words(assignments);
      for (std::string w; words >> w;) {
        const auto eq = w.find('=');
        if (eq != std::string::npos) env[w.substr(0, eq)] = w.substr(eq + 1);
      }
    }
  }
  for (const auto& [k, v] : parse_env_file(read_file(kSourceDir / "conf/progressista.env.example")))
    env[k] = v;
  return env;
}

// ExecStart= split into words with ${VAR} replaced from `env`, as systemd does for a whole-word
// ${VAR}; the first word (/usr/bin/progressista) is left for the caller to replace.
inline std::vector<std::string> exec_start(const UnitFile& unit,
                                           const std::map<std::string, std::string>& env) {
  std::vector<std::string> words;
  std::stringstream in(unit_value(unit, "Service", "ExecStart"));
  static const std::regex var(R"(^\$\{([A-Za-z0-9_]+)\}$)");
  for (std::string w; in >> w;) {
    std::smatch m;
    if (std::regex_match(w, m, var)) {
      const auto it = env.find(m[1]);
      w = it == env.end() ? std::string() : it->second;
    }
    words.push_back(w);
  }
  return words;
}

}  // namespace progressista::testing
