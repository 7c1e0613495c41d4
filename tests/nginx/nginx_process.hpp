// A real nginx for the module's tests: its own prefix in a temp dir, `daemon off` with a
// master (`daemon on` for the binary upgrade), the built module loaded, one loopback port;
// stopped (and its workers) by PID.
//
// Workers run as `user nobody root`: not root, as in production, and in group root, the
// group of every segment the tests and the root-run daemons create with mode 0660 — the
// test's stand-in for the shared group a deployment gives nginx and the daemons. A segment
// left at 0600 is therefore unreadable to the workers, as it would be in production.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "support/http_client.hpp"
#include "support/wait.hpp"

extern char** environ;

namespace progressista::testing {


// The PIDs whose parent is `parent` (from /proc).
inline std::set<pid_t> children_of(pid_t parent) {
  std::set<pid_t> out;
  DIR* dir = ::opendir("/proc");
  if (dir == nullptr) return out;
  while (const dirent* e = ::readdir(dir)) {
    const pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0) continue;
    std::ifstream stat(fmt::format("/proc/{}/stat", pid));
    std::string text;
    std::getline(stat, text);
    const auto close_paren = text.rfind(')');
    if (close_paren == std::string::npos) continue;
    std::istringstream rest(text.substr(close_paren + 2));
    char state = 0;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent && state != 'Z') out.insert(pid);
  }
  ::closedir(dir);
  return out;
}


struct NginxConfig {
  std::string http;    // directives inside http{} (before the server)
  std::string server;  // directives inside server{}
  int workers = 2;
  // `daemon on`: the master forks away from this test, which then holds it by the PID in its
  // pid file. nginx 1.22 ignores a binary upgrade (SIGUSR2) under `daemon off`.
  bool orphaned = false;
};

class NginxProcess {
 public:
  explicit NginxProcess(const NginxConfig& config) {
    char dir_template[] = "/tmp/progressista-nginx-XXXXXX";
    dir_ = ::mkdtemp(dir_template);
    // The workers (nobody) must reach their temp dirs under the prefix.
    ::chmod(dir_.c_str(), 0755);
    std::filesystem::create_directories(dir_ + "/logs");
    port_ = free_loopback_port();
    write_config(config);
    adopted_ = config.orphaned;
    start(static_cast<std::size_t>(config.workers));
  }
  ~NginxProcess() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  NginxProcess(const NginxProcess&) = delete;
  NginxProcess& operator=(const NginxProcess&) = delete;

  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] pid_t master() const { return master_; }
  [[nodiscard]] const std::string& dir() const { return dir_; }
  [[nodiscard]] bool running() const { return ready_; }
  [[nodiscard]] std::set<pid_t> workers() const { return master_ > 0 ? children_of(master_) : std::set<pid_t>{}; }

  [[nodiscard]] std::string error_log() const { return read(dir_ + "/logs/error.log"); }
  [[nodiscard]] std::string output() const { return read(dir_ + "/logs/out.log"); }

  // `nginx -t` on the same files; its exit code, with its output in `out`.
  int test_config(std::string* out = nullptr) const {
    const std::string log = dir_ + "/logs/test.log";
    const std::string cmd = fmt::format("/usr/sbin/nginx -t -p {0} -c {0}/nginx.conf -e {0}/logs/error.log > {1} 2>&1",
                                        dir_, log);
    const int rc = std::system(cmd.c_str());
    if (out) *out = read(log);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  }

  // SIGHUP, then waits until none of the old workers is left and `count` new ones run.
  bool reload(std::size_t count) {
    const std::set<pid_t> old = workers();
    ::kill(master_, SIGHUP);
    return eventually(
        [&] {
          const std::set<pid_t> now = workers();
          if (now.size() != count) return false;
          for (pid_t p : now)
            if (old.count(p)) return false;
          return true;
        },
        std::chrono::seconds(20));
  }

  // True once `pid` has exited (reaped here when it is this process's child; a zombie
  // another parent has not reaped yet counts as gone).
  static bool gone(pid_t pid) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return true;
    std::ifstream stat(fmt::format("/proc/{}/stat", pid));
    std::string text;
    if (!std::getline(stat, text)) return true;
    const auto close_paren = text.rfind(')');
    return close_paren != std::string::npos && close_paren + 2 < text.size() &&
           text[close_paren + 2] == 'Z';
  }

  // nginx's binary upgrade, as an operator runs it: SIGUSR2 starts a new master from the same
  // binary (it inherits the listening socket), SIGWINCH retires the old workers, SIGQUIT the
  // old master. On success the new master (not this process's child) is the one held.
  bool upgrade_binary(std::size_t count) {
    const pid_t old_master = master_;
    const std::set<pid_t> old_workers = workers();
    ::kill(old_master, SIGUSR2);
    pid_t next = -1;
    if (!eventually(
            [&] {
              const std::set<pid_t> kids = children_of(old_master);
              for (pid_t p : kids) {
                if (!old_workers.count(p) && children_of(p).size() == count) {
                  next = p;
                  return true;
                }
              }
              return false;
            },
            std::chrono::seconds(20))) {
      return false;
    }
    ::kill(old_master, SIGWINCH);
    if (!eventually([&] { return children_of(old_master) == std::set<pid_t>{next}; },
                    std::chrono::seconds(20))) {
      return false;
    }
    ::kill(old_master, SIGQUIT);
    const bool old_gone = eventually([&] { return gone(old_master); }, std::chrono::seconds(20));
    master_ = next;
    adopted_ = true;
    return old_gone && !gone(next);
  }

  // Graceful stop (SIGQUIT) bounded in time, then SIGKILL of the master and its workers.
  void stop() {
    if (master_ <= 0) return;
    if (adopted_) {
      // Not our child (started orphaned, or a binary upgrade's master): watch /proc instead.
      const std::set<pid_t> kids = workers();
      ::kill(master_, SIGQUIT);
      if (!eventually([&] { return gone(master_); }, std::chrono::seconds(10))) {
        ::kill(master_, SIGKILL);
      }
      for (pid_t p : kids) {
        if (!gone(p)) ::kill(p, SIGKILL);
      }
      master_ = -1;
      ready_ = false;
      return;
    }
    const std::set<pid_t> kids = workers();
    ::kill(master_, SIGQUIT);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    int status = 0;
    while (::waitpid(master_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        for (pid_t p : workers()) ::kill(p, SIGKILL);
        ::kill(master_, SIGKILL);
        ::waitpid(master_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    // Workers of a killed master would be reparented: make sure ours are gone.
    for (pid_t p : kids) {
      if (std::filesystem::exists(fmt::format("/proc/{}", p))) ::kill(p, SIGKILL);
    }
    master_ = -1;
    ready_ = false;
  }

 private:
  static std::string read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  void write_config(const NginxConfig& c) {
    std::ofstream out(dir_ + "/nginx.conf");
    out << fmt::format(R"(# Written by tests/nginx: one test's nginx.
daemon {daemon};
master_process on;
worker_processes {workers};
user nobody root;
pid {dir}/nginx.pid;
error_log {dir}/logs/error.log info;
load_module {module};
events {{
    worker_connections 512;
}}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
{http}
    server {{
        listen 127.0.0.1:{port};
{server}
    }}
}}
)",
                       fmt::arg("daemon", c.orphaned ? "on" : "off"),
                       fmt::arg("workers", c.workers), fmt::arg("dir", dir_),
                       fmt::arg("module", PROGRESSISTA_NGINX_MODULE), fmt::arg("http", c.http),
                       fmt::arg("port", port_), fmt::arg("server", c.server));
  }

  // Ready once the port answers and every worker has been forked.
  void start(std::size_t worker_count) {
    const std::string conf = dir_ + "/nginx.conf";
    const std::string err = dir_ + "/logs/error.log";
    const std::string out = dir_ + "/logs/out.log";
    std::vector<std::string> args{"/usr/sbin/nginx", "-p", dir_, "-c", conf, "-e", err};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    if (::posix_spawn(&master_, args[0].c_str(), &actions, nullptr, argv.data(), environ) != 0) master_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    if (master_ <= 0) return;
    if (adopted_) {
      int status = 0;
      ::waitpid(master_, &status, 0);  // the launcher, once the master has forked away
      std::ifstream pid_file(dir_ + "/nginx.pid");
      master_ = -1;
      pid_file >> master_;
      if (master_ <= 0) return;
    }
    ready_ = eventually(
        [&] {
          if (gone(master_)) {
            master_ = -1;
            return true;  // exited: not ready
          }
          Connection c(port_);
          return c.connected();
        },
        std::chrono::seconds(20));
    ready_ = ready_ && master_ > 0 &&
             eventually([&] { return workers().size() == worker_count; }, std::chrono::seconds(20));
  }

  std::string dir_;
  std::uint16_t port_ = 0;
  pid_t master_ = -1;
  bool adopted_ = false;  // master_ came from a binary upgrade
  bool ready_ = false;
};

}  // namespace progressista::testing
