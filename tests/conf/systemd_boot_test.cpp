// The shipped units under a real systemd as PID 1: systemd-nspawn (Debian's systemd-container)
// boots this machine's own /usr on a throw-away root (/etc and /var start as an empty tmpfs),
// with the build tree's `cmake --install` tree laid over /usr as the .deb would lay it: the
// unit files byte for byte as in conf/systemd, /usr/bin/progressista, the environment example.
// The package's own postinst then creates the user and /etc/progressista/progressista.env, and
// the tests only change the two ports in that file (to free ones: the container shares this
// machine's network, so the daemons answer here on 127.0.0.1).
//
// Skipped where nspawn cannot run (not root, no systemd-nspawn, no boot within 90 s) and in a
// sanitized tree (an ASan binary under MemoryDenyWriteExecute= and SystemCallFilter= says
// nothing about the shipped one). Each test boots its own container and ends it through the
// PID of the systemd-nspawn it started, also when an assertion fails.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "conf/conf_support.hpp"
#include "support/http_client.hpp"
#include "support/json_doc.hpp"

namespace progressista::testing {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

const std::vector<std::string> kUnits = {"progressista-ingest.service",
                                         "progressista-broadcast.service", "progressista.target"};
const std::string kIngest = "progressista-ingest.service";
const std::string kBroadcast = "progressista-broadcast.service";

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string tail(const std::string& text, std::size_t bytes = 3000) {
  return text.size() <= bytes ? text : text.substr(text.size() - bytes);
}

// A container booted by systemd-nspawn, its systemd as PID 1. Ended by SIGTERM to the
// systemd-nspawn started here, which SIGKILLs the container's PID 1 (--kill-signal=: nothing
// in a throw-away root is worth an orderly halt's second), taking its PID namespace with it;
// should systemd-nspawn outlive that by 30 s, that PID 1 and then systemd-nspawn are
// SIGKILLed from here, each by PID.
class BootedMachine {
 public:
  BootedMachine(const std::string& name, std::vector<std::string> options, const fs::path& log)
      : name_(name), nspawn_(nspawn_argv(name, std::move(options)), {}, log) {}
  ~BootedMachine() {
    if (nspawn_.stop(SIGTERM, 30s) < 0 && init_ > 0) ::kill(init_, SIGKILL);
    // ~BackgroundProcess SIGKILLs systemd-nspawn if it is still there. It leaves this folder
    // behind where /run is not a tmpfs; it is this machine's own.
    std::error_code ec;
    fs::remove(fs::path("/run/systemd/nspawn/propagate") / name_, ec);
  }
  BootedMachine(const BootedMachine&) = delete;
  BootedMachine& operator=(const BootedMachine&) = delete;

  // Waits for the container's systemd to come up and finish booting (`is-system-running`
  // says running, or degraded when a unit of this machine's /usr fails without its /etc);
  // "" once it has, otherwise why not.
  std::string boot(std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (init_ < 0 && std::chrono::steady_clock::now() < deadline && nspawn_.alive()) {
      const auto inits = children_named(nspawn_.pid(), "systemd");
      if (!inits.empty())
        init_ = inits.front();
      else
        std::this_thread::sleep_for(50ms);
    }
    if (init_ < 0) return "systemd-nspawn started no systemd:\n" + tail(nspawn_.log());
    std::string state;
    while (std::chrono::steady_clock::now() < deadline && nspawn_.alive()) {
      const auto left = std::chrono::duration_cast<std::chrono::seconds>(
          deadline - std::chrono::steady_clock::now());
      state = trimmed(run({"systemctl", "is-system-running", "--wait"}, left + 1s).out);
      if (state == "running" || state == "degraded") return {};
      std::this_thread::sleep_for(100ms);  // its systemd is not answering yet
    }
    return fmt::format("no boot within {} s (is-system-running: '{}'):\n{}", limit.count(), state,
                       tail(nspawn_.log()));
  }

  // argv run inside the container (every namespace of its PID 1), to completion.
  [[nodiscard]] ToolResult run(std::vector<std::string> argv,
                               std::chrono::seconds timeout = 60s) const {
    argv.insert(argv.begin(), {"nsenter", "--target", std::to_string(init_), "--all"});
    return run_tool(std::move(argv), {{"SYSTEMD_COLORS", "0"}, {"SYSTEMD_PAGER", ""}}, timeout);
  }

  // The container's files, seen from here.
  [[nodiscard]] fs::path root() const { return fs::path("/proc") / std::to_string(init_) / "root"; }

 private:
  static std::vector<std::string> nspawn_argv(const std::string& name,
                                              std::vector<std::string> options) {
    // --register=no and --keep-unit: no systemd-machined, no systemd outside to ask for a scope.
    std::vector<std::string> argv{"systemd-nspawn",      "--directory=/",        "--volatile=yes",
                                  "--machine=" + name,   "--register=no",        "--keep-unit",
                                  "--console=read-only", "--kill-signal=SIGKILL"};
    argv.insert(argv.end(), options.begin(), options.end());
    // Without firstboot=off an empty /etc makes it wait at a first-boot prompt. basic.target,
    // not multi-user.target: this machine's own services (nginx...) would share its network.
    for (const char* a : {"--boot", "--", "systemd.firstboot=off", "systemd.unit=basic.target"})
      argv.emplace_back(a);
    return argv;
  }

  std::string name_;
  BackgroundProcess nspawn_;
  pid_t init_ = -1;
};

class SystemdBoot : public ::testing::Test {
 protected:
  void SetUp() override {
    if (PROGRESSISTA_SANITIZED)
      GTEST_SKIP() << "a sanitized binary under MemoryDenyWriteExecute= and SystemCallFilter= "
                      "is not the shipped one: this runs in the release tree";
    if (::geteuid() != 0) GTEST_SKIP() << "systemd-nspawn needs root";
    if (!have_tool("systemd-nspawn"))
      GTEST_SKIP() << "systemd-nspawn is missing (Debian package systemd-container)";
    if (!have_tool("nsenter")) GTEST_SKIP() << "nsenter is missing (Debian package util-linux)";

    const fs::path stage = dir_.path() / "stage";
    const ToolResult installed =
        run_tool({"cmake", "--install", kBinaryDir.string(), "--prefix", "/usr"},
                 {{"DESTDIR", stage.string()}});
    ASSERT_EQ(installed.code, 0) << installed.out << installed.err;
    for (const auto& unit : kUnits) {
      ASSERT_EQ(read_file(stage / "usr/lib/systemd/system" / unit),
                read_file(kSourceDir / "conf/systemd" / unit))
          << unit << " is not installed unchanged";
    }

    // The staged /usr over this machine's; /etc/pam.d because the postinst's adduser runs
    // chfn, which aborts without a PAM configuration (an empty /etc has none; a Debian has).
    std::vector<std::string> options{"--overlay-ro=/usr:" + (stage / "usr").string() + ":/usr",
                                     "--bind-ro=/etc/pam.d"};
    for (const auto& [path, text] : etc_files_) {
      write_file(dir_.path() / "etc" / path, text);
      options.push_back(
          fmt::format("--bind-ro={}:/etc/{}", (dir_.path() / "etc" / path).string(), path));
    }
    machine_.emplace(fmt::format("progressista-test-{}-{}", ::getpid(), ++machines_), options,
                     dir_.path() / "nspawn.log");
    if (const std::string why = machine_->boot(90s); !why.empty()) GTEST_SKIP() << why;

    // The package's postinst, as dpkg runs it on a first install.
    write_file(machine_->root() / "run/progressista.postinst",
               read_file(kSourceDir / "conf/debian/postinst"));
    const ToolResult postinst = in({"sh", "/run/progressista.postinst", "configure"});
    ASSERT_EQ(postinst.code, 0) << postinst.out << postinst.err;

    ingest_port_ = free_loopback_port();
    do broadcast_port_ = free_loopback_port();
    while (broadcast_port_ == ingest_port_);
    std::string env = read_file(env_file());
    ASSERT_THAT(env, HasSubstr("\nPROGRESSISTA_INGEST_PORT=8001\n"));
    ASSERT_THAT(env, HasSubstr("\nPROGRESSISTA_BROADCAST_PORT=8002\n"));
    env = std::regex_replace(env, std::regex("\nPROGRESSISTA_INGEST_PORT=8001\n"),
                             fmt::format("\nPROGRESSISTA_INGEST_PORT={}\n", ingest_port_));
    env = std::regex_replace(env, std::regex("\nPROGRESSISTA_BROADCAST_PORT=8002\n"),
                             fmt::format("\nPROGRESSISTA_BROADCAST_PORT={}\n", broadcast_port_));
    write_file(env_file(), env);
  }

  [[nodiscard]] fs::path root() const { return machine_->root(); }
  [[nodiscard]] fs::path env_file() const { return root() / "etc/progressista/progressista.env"; }
  [[nodiscard]] ToolResult in(std::vector<std::string> argv,
                              std::chrono::seconds timeout = 60s) const {
    return machine_->run(std::move(argv), timeout);
  }
  [[nodiscard]] std::string show(const std::string& unit, const std::string& property) const {
    return trimmed(in({"systemctl", "show", "--property=" + property, "--value", unit}).out);
  }
  [[nodiscard]] std::string main_pid(const std::string& unit) const {
    return show(unit, "MainPID");
  }
  // Running (MainPID set) and active, with another MainPID than `old`.
  [[nodiscard]] bool restarted(const std::string& unit, const std::string& old) const {
    const std::string pid = main_pid(unit);
    return pid != old && pid != "0" && !pid.empty() && show(unit, "ActiveState") == "active";
  }
  [[nodiscard]] std::string journal(const std::string& unit) const {
    return in({"journalctl", "--unit=" + unit, "--no-pager", "--output=cat"}).out;
  }
  [[nodiscard]] std::string process_file(const std::string& pid, const std::string& name) const {
    return in({"cat", "/proc/" + pid + "/" + name}).out;
  }

  void start_target() {
    const ToolResult started = in({"systemctl", "start", "progressista.target"});
    ASSERT_EQ(started.code, 0) << started.out << started.err << journal(kIngest)
                               << journal(kBroadcast);
  }

  void post_task(const std::string& id) {
    const HttpReply r = http(ingest_port_, "POST", "/progress",
                             fmt::format(R"({{"task_id":"{}","n":3,"total":10}})", id));
    ASSERT_EQ(r.status, 200) << r.body;
  }

  // n of the task `id` in the broadcaster's GET /tasks; -1 when it is not there.
  [[nodiscard]] double broadcast_n(const std::string& id) const {
    const HttpReply r = http(broadcast_port_, "GET", "/tasks");
    EXPECT_EQ(r.status, 200) << r.body;
    return JsonDoc(r.body).n_of("tasks", id);
  }

  [[nodiscard]] std::uint64_t generation() const {
    return JsonDoc(http(broadcast_port_, "GET", "/health").body).u64("generation");
  }

  // Files laid into the container's /etc (relative paths) before it boots.
  std::map<std::string, std::string> etc_files_;
  std::uint16_t ingest_port_ = 0;
  std::uint16_t broadcast_port_ = 0;

 private:
  static inline int machines_ = 0;
  ScratchDir dir_;  // the staged /usr under the overlay: outlives the machine
  std::optional<BootedMachine> machine_;
};

TEST_F(SystemdBoot, StartingTheTargetReturnsOnceBothDaemonsAnswerAndTheyLogToTheJournal) {
  ASSERT_NO_FATAL_FAILURE(start_target());
  // Type=notify: no retry; a daemon that is not listening yet fails this.
  EXPECT_EQ(http(ingest_port_, "GET", "/health").status, 200);
  EXPECT_EQ(http(broadcast_port_, "GET", "/health").status, 200);
  EXPECT_EQ(show("progressista.target", "ActiveState"), "active");
  EXPECT_EQ(show(kIngest, "StatusText"),
            fmt::format("ingest listening on 127.0.0.1:{}", ingest_port_));
  EXPECT_EQ(show(kBroadcast, "StatusText"),
            fmt::format("broadcast listening on 127.0.0.1:{}", broadcast_port_));
  // User=, Group= and the environment file's PROGRESSISTA_SHM_MODE, in effect.
  EXPECT_EQ(trimmed(in({"stat", "--format=%U:%G %a", "/dev/shm/progressista"}).out),
            "progressista:progressista 660");

  // journald takes the daemons' stderr through a stream: a line may land after READY=1.
  for (const auto& [unit, line] :
       {std::pair{kIngest, fmt::format("ingest listening on http://127.0.0.1:{}", ingest_port_)},
        std::pair{kBroadcast,
                  fmt::format("broadcast listening on http://127.0.0.1:{}", broadcast_port_)}}) {
    EXPECT_TRUE(eventually([&] { return journal(unit).find(line) != std::string::npos; }, 10s))
        << journal(unit);
  }
}

// WatchdogSec=30s in the shipped unit would make this test wait half a minute: a drop-in
// shortens it to 3 s (the daemon pings at half of WATCHDOG_USEC, whatever it is).
class SystemdBootShortWatchdog : public SystemdBoot {
 protected:
  SystemdBootShortWatchdog() {
    etc_files_["systemd/system/progressista-ingest.service.d/test.conf"] =
        "# systemd_boot_test: the shipped 30 s, shortened so the test does not wait for it.\n"
        "[Service]\nWatchdogSec=3s\n";
  }
};

// A crash (kill -9) and a hang (SIGSTOP, caught by the watchdog): each time Restart=on-failure
// brings the ingest back, on the same segment (not one re-created and restored from the
// snapshot), and the broadcaster is left alone.
TEST_F(SystemdBootShortWatchdog, KilledOrHungIngestIsRestartedWithItsTasksStillInTheSegment) {
  ASSERT_NO_FATAL_FAILURE(start_target());
  ASSERT_NO_FATAL_FAILURE(post_task("before-crash"));
  ASSERT_EQ(broadcast_n("before-crash"), 3);
  const std::uint64_t segment = generation();
  const std::string broadcaster = main_pid(kBroadcast);

  std::string old = main_pid(kIngest);
  ASSERT_EQ(in({"kill", "-KILL", old}).code, 0);
  EXPECT_TRUE(eventually([&] { return restarted(kIngest, old); }, 20s)) << journal(kIngest);
  EXPECT_EQ(show(kIngest, "NRestarts"), "1");
  EXPECT_THAT(journal(kIngest), HasSubstr("status=9/KILL"));
  EXPECT_EQ(generation(), segment);
  EXPECT_EQ(broadcast_n("before-crash"), 3);
  ASSERT_NO_FATAL_FAILURE(post_task("after-crash"));

  ASSERT_EQ(show(kIngest, "WatchdogUSec"), "3s");
  // Armed at READY=1, this timestamp moves with each WATCHDOG=1: the next one comes within
  // the limit (the daemon pings at half of it).
  const auto ping = [&] { return show(kIngest, "WatchdogTimestampMonotonic"); };
  const std::string armed = ping();
  std::string pinged;
  ASSERT_TRUE(eventually([&] { return (pinged = ping()) != armed; }, 5s));
  EXPECT_LT(std::stoll(pinged) - std::stoll(armed), 3'000'000) << "microseconds";
  old = main_pid(kIngest);
  ASSERT_EQ(in({"kill", "-STOP", old}).code, 0);
  EXPECT_TRUE(eventually([&] { return restarted(kIngest, old); }, 30s)) << journal(kIngest);
  EXPECT_EQ(show(kIngest, "NRestarts"), "2");
  EXPECT_THAT(journal(kIngest), HasSubstr("Watchdog timeout"));
  EXPECT_EQ(generation(), segment);
  EXPECT_EQ(broadcast_n("before-crash"), 3);
  EXPECT_EQ(broadcast_n("after-crash"), 3);
  EXPECT_EQ(http(ingest_port_, "GET", "/health").status, 200);
  EXPECT_EQ(main_pid(kBroadcast), broadcaster);
}

TEST_F(SystemdBoot, RestartingTheBroadcasterAloneLeavesTheIngestUntouched) {
  ASSERT_NO_FATAL_FAILURE(start_target());
  ASSERT_NO_FATAL_FAILURE(post_task("across-restart"));
  const std::string ingest = main_pid(kIngest);
  const std::string ingest_since = show(kIngest, "ActiveEnterTimestampMonotonic");
  const std::string broadcaster = main_pid(kBroadcast);

  const ToolResult r = in({"systemctl", "restart", kBroadcast});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(main_pid(kBroadcast), broadcaster);
  EXPECT_EQ(main_pid(kIngest), ingest);
  EXPECT_EQ(show(kIngest, "ActiveEnterTimestampMonotonic"), ingest_since);
  EXPECT_EQ(show(kIngest, "NRestarts"), "0");
  // The new broadcaster is ready when restart returns, and serves the ingest's tasks.
  EXPECT_EQ(broadcast_n("across-restart"), 3);
  ASSERT_NO_FATAL_FAILURE(post_task("after-restart"));
  EXPECT_EQ(broadcast_n("after-restart"), 3);
}

// ProtectSystem=strict, seen by the daemon itself: its root is read-only, its StateDirectory
// writable; a snapshot pointed at a folder the user owns outside it fails with EROFS.
TEST_F(SystemdBoot, HardeningLeavesTheDaemonOnlyItsStateDirectoryToWrite) {
  ASSERT_NO_FATAL_FAILURE(start_target());
  ASSERT_NO_FATAL_FAILURE(post_task("saved"));
  const fs::path saved = root() / "var/lib/progressista/tasks.json";
  EXPECT_TRUE(
      eventually([&] { return read_file(saved).find("\"saved\"") != std::string::npos; }, 10s));

  const std::string pid = main_pid(kIngest);
  // mountinfo: "id parent dev root mount-point options ..."; the last entry for a point wins.
  std::map<std::string, std::string> options;
  std::stringstream mounts(process_file(pid, "mountinfo"));
  for (std::string line; std::getline(mounts, line);) {
    std::stringstream f(line);
    std::string id, parent, dev, source, point, opts;
    f >> id >> parent >> dev >> source >> point >> opts;
    options[point] = opts;
  }
  EXPECT_THAT(options["/"], ::testing::StartsWith("ro,"));
  EXPECT_THAT(options["/var/lib/progressista"], ::testing::StartsWith("rw,"));
  const std::string status = process_file(pid, "status");
  EXPECT_THAT(status, HasSubstr("NoNewPrivs:\t1\n"));
  EXPECT_THAT(status, HasSubstr("CapBnd:\t0000000000000000\n"));
  EXPECT_THAT(status, HasSubstr("Seccomp:\t2\n"));  // SystemCallFilter=

  // The user may write /srv/progressista; the unit may not.
  ASSERT_EQ(
      in({"install", "-d", "-o", "progressista", "-g", "progressista", "/srv/progressista"}).code,
      0);
  const ToolResult probe = in({"setpriv", "--reuid=progressista", "--regid=progressista",
                               "--clear-groups", "touch", "/srv/progressista/probe"});
  ASSERT_EQ(probe.code, 0) << probe.err;
  std::string env = read_file(env_file());
  ASSERT_THAT(env, HasSubstr("\nPROGRESSISTA_STORAGE_PATH=/var/lib/progressista/tasks.json\n"));
  env = std::regex_replace(env, std::regex("\nPROGRESSISTA_STORAGE_PATH=[^\n]*\n"),
                           "\nPROGRESSISTA_STORAGE_PATH=/srv/progressista/tasks.json\n");
  write_file(env_file(), env);
  ASSERT_EQ(in({"systemctl", "restart", kIngest}).code, 0);
  ASSERT_NO_FATAL_FAILURE(post_task("not-saved"));
  // A line of the daemon's naming the snapshot and EROFS (not EACCES: the user may write there).
  const std::regex refused(R"(/srv/progressista/tasks\.json[^\n]*: Read-only file system)");
  EXPECT_TRUE(eventually([&] { return std::regex_search(journal(kIngest), refused); }, 15s))
      << journal(kIngest);
  // The failure is reported where it is seen, by both daemons (it is kept in the segment).
  for (const std::uint16_t port : {ingest_port_, broadcast_port_}) {
    const std::string health = http(port, "GET", "/health").body;
    EXPECT_EQ(JsonDoc(health).str("status"), "degraded") << health;
    EXPECT_THAT(health, HasSubstr(R"("persistence":{"status":"failing")"));
    EXPECT_THAT(health, HasSubstr(R"("error":"Read-only file system")"));
  }
  EXPECT_THAT(http(broadcast_port_, "GET", "/metrics").body,
              HasSubstr("\nprogressista_persistence_failing 1\n"));
}

}  // namespace
}  // namespace progressista::testing
