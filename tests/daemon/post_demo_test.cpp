// `progressista post` and `progressista demo`, run as the real binary against a real
// `progressista ingest`, checked through the segment the daemon writes.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "progressista/bookkeeping.hpp"
#include "progressista/store.hpp"
#include "progressista/task.hpp"
#include "support/daemon_process.hpp"
#include "support/run_binary.hpp"
#include "support/segment_fixture.hpp"
#include "support/wait.hpp"

namespace progressista {
namespace {

using testing::DaemonProcess;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::run;
using testing::RunResult;
using testing::ScopedSegmentName;
using testing::eventually;


// A loopback socket bound and listening but never accepting: the kernel completes the
// handshake, and nothing ever answers.
class SilentServer {
 public:
  SilentServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(fd_, 8) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "cannot listen on loopback";
    }
    port_ = ntohs(addr.sin_port);
  }
  ~SilentServer() { ::close(fd_); }
  SilentServer(const SilentServer&) = delete;
  SilentServer& operator=(const SilentServer&) = delete;
  [[nodiscard]] std::uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

// A loopback port nobody listens on (bound once to learn a free one, then released).
std::uint16_t closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), len);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

class PostDemo : public ::testing::Test {
 protected:
  void start(std::vector<std::string> extra = {}, std::map<std::string, std::string> env = {}) {
    std::vector<std::string> args{"ingest", "--segment", seg_.str(), "--capacity",
                                  "64",     "--threads", "2"};
    args.insert(args.end(), extra.begin(), extra.end());
    daemon_ = std::make_unique<DaemonProcess>(std::move(args), std::move(env));
    ASSERT_TRUE(daemon_->running()) << daemon_->log();
    store_ = Store::open(testing::options(seg_, 64));
  }
  [[nodiscard]] std::string url() const {
    return fmt::format("http://127.0.0.1:{}", daemon_->port());
  }
  // `progressista post --server-url <the daemon> args...`
  RunResult post(std::vector<std::string> args,
                 const std::map<std::string, std::string>& env = {}) {
    args.insert(args.begin(), {"post", "--server-url", url()});
    return run(args, env);
  }
  RunResult demo(std::vector<std::string> args,
                 const std::map<std::string, std::string>& env = {}) {
    args.insert(args.begin(), {"demo", "--server-url", url()});
    return run(args, env);
  }
  [[nodiscard]] TaskRecord task(std::string_view id) const {
    TaskRecord rec;
    EXPECT_TRUE(store_->table().lookup(id, rec)) << "no task " << id;
    return rec;
  }
  [[nodiscard]] bool has(std::string_view id) const {
    TaskRecord rec;
    return store_->table().lookup(id, rec);
  }

  ScopedSegmentName seg_;
  std::unique_ptr<DaemonProcess> daemon_;
  std::unique_ptr<Store> store_;
};

// ---- post --------------------------------------------------------------------------------

TEST_F(PostDemo, PostCreatesATaskWithEveryFieldItWasGiven) {
  start();
  const std::string desc = "Copy \"files\" to C:\\backup\n\tnow \u00e9t\u00e9";
  const RunResult r = post({"--task-id",   "job-1",
                            "--status",    "start",
                            "--n",         "3",
                            "--total",     "10.5",
                            "--desc",      desc,
                            "--unit",      "files",
                            "--message",   "half way",
                            "--error",     "none yet",
                            "--project",   "nightly",
                            "--phase",     "copy",
                            "--meta",      R"({ "run" : 7, "tags": ["a", {"b": null}] })",
                            "--timestamp", "1700000000.25"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
  const TaskRecord rec = task("job-1");
  EXPECT_EQ(rec.status, Status::kStart);
  EXPECT_EQ(rec.n, 3);
  EXPECT_EQ(rec.total, 10.5);
  EXPECT_EQ(rec.desc.view(), desc);
  EXPECT_EQ(rec.unit.view(), "files");
  EXPECT_EQ(rec.message.view(), "half way");
  EXPECT_EQ(rec.error.view(), "none yet");
  EXPECT_EQ(rec.project.view(), "nightly");
  EXPECT_EQ(rec.phase.view(), "copy");
  EXPECT_EQ(rec.meta.view(), R"({"run":7,"tags":["a",{"b":null}]})");
  EXPECT_EQ(rec.timestamp, 1700000000.25);
}

TEST_F(PostDemo, PostLeavesOutWhatItIsNotGivenAndCloses) {
  start();
  ASSERT_EQ(post({"--task-id", "job", "--desc", "Backup", "--unit", "MB", "--total", "10"}).code,
            0);
  RunResult r = post({"--task-id", "job", "--n", "7"});
  ASSERT_EQ(r.code, 0) << r.err;
  TaskRecord rec = task("job");
  EXPECT_EQ(rec.n, 7);
  EXPECT_EQ(rec.total, 10);
  EXPECT_EQ(rec.desc.view(), "Backup");
  EXPECT_EQ(rec.unit.view(), "MB");
  EXPECT_EQ(rec.status, Status::kUpdate);
  EXPECT_FALSE(rec.has(kHasMessage));

  r = post({"--task-id", "job", "--n", "10", "--status", "close"});
  ASSERT_EQ(r.code, 0) << r.err;
  rec = task("job");
  EXPECT_EQ(rec.status, Status::kClose);
  EXPECT_EQ(rec.n, 10);
  EXPECT_TRUE(rec.has(kHasDoneAt));
  EXPECT_EQ(rec.desc.view(), "Backup");
}

TEST_F(PostDemo, PostProgressStandsInForNAndTotal) {
  start();
  const RunResult r = post({"--task-id", "pct", "--progress", "42"});
  ASSERT_EQ(r.code, 0) << r.err;
  const TaskRecord rec = task("pct");
  EXPECT_EQ(rec.n, 42);
  EXPECT_EQ(rec.total, 100);
}

TEST_F(PostDemo, PostTimestampDefaultsToNowWithFractions) {
  start();
  const double before = now_seconds();
  const RunResult r = post({"--task-id", "now"});
  const double after = now_seconds();
  ASSERT_EQ(r.code, 0) << r.err;
  const TaskRecord rec = task("now");
  EXPECT_GE(rec.timestamp, before);
  EXPECT_LE(rec.timestamp, after);
  EXPECT_NE(rec.timestamp, std::floor(rec.timestamp)) << "seconds with fractions, like time.time()";
}

TEST_F(PostDemo, ServerUrlMayBeTheBaseOrTheEndpointFromFlagOrEnvironment) {
  start();
  EXPECT_EQ(run({"post", "--task-id", "base", "--server-url", url()}).code, 0);
  EXPECT_EQ(run({"post", "--task-id", "slash", "--server-url", url() + "/"}).code, 0);
  EXPECT_EQ(run({"post", "--task-id", "endpoint", "--server-url", url() + "/progress"}).code, 0);
  const RunResult env =
      run({"post", "--task-id", "env"}, {{"PROGRESSISTA_SERVER_URL", url() + "/progress"}});
  EXPECT_EQ(env.code, 0) << env.err;
  const RunResult flag_wins = run({"post", "--task-id", "flag", "--server-url", url()},
                                  {{"PROGRESSISTA_SERVER_URL", "http://127.0.0.1:1"}});
  EXPECT_EQ(flag_wins.code, 0) << flag_wins.err;
  for (const char* id : {"base", "slash", "endpoint", "env", "flag"}) EXPECT_TRUE(has(id)) << id;
}

TEST_F(PostDemo, AnotherPathIsUsedAsGivenAndA404SaysSo) {
  start();
  const RunResult r = run({"post", "--task-id", "x", "--server-url", url() + "/api/events"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("progressista post: 404 Not Found: Not Found"));
  EXPECT_THAT(r.err, HasSubstr(url() + "/api/events as given"));
}

TEST_F(PostDemo, MetaThatIsNotAJsonObjectIsRefusedBeforeSending) {
  start();
  RunResult r = post({"--task-id", "m", "--meta", R"({"k":)"});
  EXPECT_GE(r.code, 100) << "a usage error";
  EXPECT_THAT(r.err, HasSubstr("--meta: not valid JSON"));
  r = post({"--task-id", "m", "--meta", "[1, 2]"});
  EXPECT_GE(r.code, 100);
  EXPECT_THAT(r.err, HasSubstr("--meta: a JSON object is needed"));
  EXPECT_THAT(r.err, HasSubstr("not an array"));
  r = post({"--task-id", "m", "--meta", "7"});
  EXPECT_GE(r.code, 100);
  EXPECT_THAT(r.err, HasSubstr("not a single value"));
  EXPECT_FALSE(has("m"));
  EXPECT_EQ(store_->counters().get(Counter::kEventsApplied), 0u);
  EXPECT_EQ(store_->counters().get(Counter::kRejectedMalformed), 0u);
  EXPECT_EQ(store_->counters().get(Counter::kRejectedValidation), 0u);
}

TEST_F(PostDemo, NumbersThatJsonCannotCarryAreRefusedBeforeSending) {
  start();
  for (const char* bad : {"nan", "inf", "1e999", "ten", "3x"}) {
    const RunResult r = post({"--task-id", "n", "--n", bad});
    EXPECT_GE(r.code, 100) << bad;
    EXPECT_THAT(r.err, HasSubstr(fmt::format("--n: '{}' is not a finite number", bad)));
  }
  EXPECT_FALSE(has("n"));
}

TEST_F(PostDemo, ServerRefusalExits1WithTheServersDetail) {
  start();
  RunResult r = post({"--task-id", "s", "--status", "exploded"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("progressista post: 422 Unprocessable Entity: status 'exploded' is "
                               "not accepted; use one of: start, update, close"));
  r = post({"--task-id", "s", "--progress", "150"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("422 Unprocessable Entity: progress must be between 0 and 100"));
  r = post({"--task-id", ""});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("422 Unprocessable Entity: task_id must not be empty"));
  EXPECT_EQ(store_->table().size(), 0u);
  EXPECT_EQ(store_->counters().get(Counter::kRejectedValidation), 3u);
}

TEST_F(PostDemo, TokenComesFromTheEnvironmentOrTheFlag) {
  start({}, {{"PROGRESSISTA_API_TOKEN", "s3cret"}});
  RunResult r = post({"--task-id", "from-env"}, {{"PROGRESSISTA_API_TOKEN", "s3cret"}});
  EXPECT_EQ(r.code, 0) << r.err;
  r = post({"--task-id", "from-flag", "--token", "s3cret"});
  EXPECT_EQ(r.code, 0) << r.err;
  r = post({"--task-id", "python-spelling", "--api-token", "s3cret"});
  EXPECT_EQ(r.code, 0) << r.err;
  r = post({"--task-id", "flag-wins", "--token", "s3cret"}, {{"PROGRESSISTA_API_TOKEN", "stale"}});
  EXPECT_EQ(r.code, 0) << r.err;
  for (const char* id : {"from-env", "from-flag", "python-spelling", "flag-wins"}) {
    EXPECT_TRUE(has(id)) << id;
  }
}

TEST_F(PostDemo, MissingTokenGets401AndAHint) {
  start({}, {{"PROGRESSISTA_API_TOKEN", "s3cret"}});
  const RunResult r = post({"--task-id", "t"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("progressista post: 401 Unauthorized: Invalid API token"));
  EXPECT_THAT(r.err, HasSubstr("no token was sent: set PROGRESSISTA_API_TOKEN or pass --token"));
  EXPECT_FALSE(has("t"));
}

TEST_F(PostDemo, WrongTokenGets401WithTheServersDetail) {
  start({}, {{"PROGRESSISTA_API_TOKEN", "s3cret"}});
  const RunResult r = post({"--task-id", "t", "--token", "wrong"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("progressista post: 401 Unauthorized: Invalid API token\n"));
  EXPECT_THAT(r.err, Not(HasSubstr("no token was sent")));
  EXPECT_FALSE(has("t"));
  EXPECT_EQ(store_->counters().get(Counter::kRejectedAuth), 1u);
}

TEST(Post, ServerDownExits2NamingTheUrl) {
  const std::uint16_t port = closed_port();
  const RunResult r =
      run({"post", "--task-id", "x", "--server-url", fmt::format("http://127.0.0.1:{}", port)});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err,
              HasSubstr(fmt::format(
                  "progressista post: cannot reach the server at http://127.0.0.1:{}/progress: "
                  "Connection refused",
                  port)));
}

TEST(Post, NoAnswerWithinTheTimeoutExits2) {
  SilentServer silent;
  const auto started = std::chrono::steady_clock::now();
  const RunResult r = run({"post", "--task-id", "x", "--timeout", "0.3", "--server-url",
                           fmt::format("http://127.0.0.1:{}", silent.port())});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr(fmt::format(
                         "progressista post: no answer from http://127.0.0.1:{}/progress: no "
                         "answer within 0.3 s",
                         silent.port())));
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
}

TEST(Post, HttpsIsRefusedWithAdvice) {
  const RunResult r = run({"post", "--task-id", "x", "--server-url", "https://example.org"});
  EXPECT_GE(r.code, 100);
  EXPECT_THAT(r.err, HasSubstr("--server-url: https:// is not supported"));
  EXPECT_THAT(r.err, HasSubstr("reverse proxy"));
}

TEST(Post, MalformedServerUrlsAreRefused) {
  for (const char* bad : {"127.0.0.1:8000", "ftp://host/", "http://", "http://host:0",
                          "http://host:99999", "http://user:pw@host/", "http://a b/"}) {
    const RunResult r = run({"post", "--task-id", "x", "--server-url", bad});
    EXPECT_GE(r.code, 100) << bad;
    EXPECT_THAT(r.err, HasSubstr("--server-url")) << bad;
  }
}

TEST(Post, TaskIdIsRequired) {
  const RunResult r = run({"post", "--n", "1"});
  EXPECT_GE(r.code, 100);
  EXPECT_THAT(r.err, HasSubstr("--task-id is required"));
}

TEST(Post, HelpDocumentsTheVariablesAndExitCodes) {
  const RunResult r = run({"post", "--help"});
  EXPECT_EQ(r.code, 0);
  for (const char* text : {"--task-id", "--meta", "--timestamp", "--server-url",
                           "PROGRESSISTA_SERVER_URL", "PROGRESSISTA_API_TOKEN", "--timeout",
                           "Exit codes: 0", "1 the server refused", "2 no answer"}) {
    EXPECT_THAT(r.out, HasSubstr(text));
  }
}

// ---- demo --------------------------------------------------------------------------------

TEST_F(PostDemo, DemoEndsWithEveryBarClosedAndFull) {
  start();
  const RunResult r = demo({"--bars", "3", "--total", "5", "--delay", "0.01"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_THAT(r.out, HasSubstr("Starting demo workload: 3 bars of 5 it to " + url() + "/progress"));
  EXPECT_THAT(r.out, HasSubstr("Demo workload finished: 3 bars"));
  EXPECT_EQ(store_->table().size(), 3u);
  for (int i = 1; i <= 3; ++i) {
    EXPECT_THAT(r.out, HasSubstr(fmt::format("worker {} finished: 5/5 it", i)));
    const TaskRecord rec = task(fmt::format("demo:worker:{}", i));
    EXPECT_EQ(rec.status, Status::kClose) << i;
    EXPECT_EQ(rec.n, 5) << i;
    EXPECT_EQ(rec.total, 5) << i;
    EXPECT_EQ(rec.desc.view(), fmt::format("worker {}", i));
    EXPECT_EQ(rec.unit.view(), "it");
  }
}

TEST_F(PostDemo, DemoSurvivesTheServerClosingItsIdleConnection) {
  start({"--idle-timeout", "0.1"});
  const RunResult r = demo({"--bars", "1", "--total", "3", "--delay", "0.3"});
  ASSERT_EQ(r.code, 0) << r.err;
  const TaskRecord rec = task("demo:worker:1");
  EXPECT_EQ(rec.status, Status::kClose);
  EXPECT_EQ(rec.n, 3);
}

TEST_F(PostDemo, DemoInterruptedBySigintEndsItsOpenBarsAsErrors) {
  start();
  std::atomic<pid_t> pid{-1};
  RunResult r;
  std::thread runner([&] {
    // Ten seconds, unless interrupted.
    r = run({"demo", "--server-url", url(), "--bars", "2", "--total", "1000", "--delay", "0.01"},
            {}, [&](pid_t child) { pid = child; });
  });
  const bool moving = eventually([&] {
    TaskRecord rec;
    return store_->table().lookup("demo:worker:2", rec) && rec.n >= 3;
  });
  if (pid > 0) ::kill(pid, SIGINT);
  runner.join();
  ASSERT_TRUE(moving) << r.out << r.err;
  EXPECT_EQ(r.code, 128 + SIGINT) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_THAT(r.out, HasSubstr("Interrupted by SIGINT: closing the open bars"));
  EXPECT_THAT(r.out, Not(HasSubstr("Demo workload finished")));
  for (int i = 1; i <= 2; ++i) {
    const TaskRecord rec = task(fmt::format("demo:worker:{}", i));
    EXPECT_EQ(rec.status, Status::kError) << i;
    EXPECT_GE(rec.n, 3) << i;
    EXPECT_LT(rec.n, 1000) << i;
    const auto n = static_cast<int>(rec.n);
    EXPECT_EQ(rec.error.view(), fmt::format("demo interrupted by SIGINT at {}/1000", n));
    EXPECT_THAT(r.out,
                HasSubstr(fmt::format("worker {} stopped (status error) at {}/1000 it", i, n)));
  }
}

TEST_F(PostDemo, DemoStopsAtTheFirstRefusal) {
  start({}, {{"PROGRESSISTA_API_TOKEN", "s3cret"}});
  const RunResult r = demo({"--bars", "2", "--total", "5", "--delay", "0"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("progressista demo: 401 Unauthorized: Invalid API token"));
  EXPECT_THAT(r.out, Not(HasSubstr("finished")));
  EXPECT_EQ(store_->counters().get(Counter::kRejectedAuth), 1u) << "no event after the first";
  EXPECT_EQ(store_->table().size(), 0u);
}

TEST_F(PostDemo, DemoSendsTheTokenOnEveryEvent) {
  start({}, {{"PROGRESSISTA_API_TOKEN", "s3cret"}});
  const RunResult r =
      demo({"--bars", "2", "--total", "3", "--delay", "0"}, {{"PROGRESSISTA_API_TOKEN", "s3cret"}});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(task("demo:worker:2").status, Status::kClose);
  EXPECT_EQ(store_->counters().get(Counter::kRejectedAuth), 0u);
}

TEST(Demo, ServerDownExits2) {
  const std::uint16_t port = closed_port();
  const RunResult r =
      run({"demo", "--bars", "2", "--server-url", fmt::format("http://127.0.0.1:{}", port)});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr(fmt::format("progressista demo: cannot reach the server at "
                                           "http://127.0.0.1:{}/progress: Connection refused",
                                           port)));
}

TEST(Demo, HelpDocumentsInterruptsAndExitCodes) {
  const RunResult r = run({"demo", "--help"});
  EXPECT_EQ(r.code, 0);
  for (const char* text : {"--bars", "--total", "--delay", "PROGRESSISTA_SERVER_URL",
                           "status error", "130 interrupted"}) {
    EXPECT_THAT(r.out, HasSubstr(text));
  }
}

TEST(Cli, HelpListsPostAndDemo) {
  const RunResult r = run({"--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("post"));
  EXPECT_THAT(r.out, HasSubstr("demo"));
}

}  // namespace
}  // namespace progressista
