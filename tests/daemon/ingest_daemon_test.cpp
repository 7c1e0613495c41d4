// `progressista ingest` as a real process on a loopback port, checked through HTTP and
// through the shared segment it writes.
#include <sys/socket.h>
#include <sys/un.h>

#include <filesystem>
#include <set>
#include <fstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include "config.hpp"
#include "progressista/task_json.hpp"
#include "progressista/store.hpp"
#include "support/daemon_process.hpp"
#include "support/http_client.hpp"
#include "support/run_binary.hpp"
#include "support/segment_fixture.hpp"
#include "support/wait.hpp"

namespace progressista {
namespace {

using testing::Connection;
using testing::DaemonProcess;
using ::testing::HasSubstr;
using testing::http;
using testing::http_request;
using ::testing::Not;
using testing::ScopedSegmentName;
using testing::eventually;

std::vector<std::string> ingest_args(const ScopedSegmentName& seg,
                                     std::vector<std::string> extra = {}) {
  std::vector<std::string> a{"ingest", "--segment", seg.str(), "--capacity",
                             "64",     "--threads", "2"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}


class IngestDaemon : public ::testing::Test {
 protected:
  void start(std::vector<std::string> extra = {}, std::map<std::string, std::string> env = {}) {
    daemon_ = std::make_unique<DaemonProcess>(ingest_args(seg_, std::move(extra)), std::move(env));
    ASSERT_TRUE(daemon_->running()) << daemon_->log();
    store_ = Store::open(testing::options(seg_, 64));
  }
  std::uint16_t port() const { return daemon_->port(); }
  std::uint64_t count(Counter c) const { return store_->counters().get(c); }
  bool has(std::string_view id) const {
    TaskRecord rec;
    return store_->table().lookup(id, rec);
  }

  ScopedSegmentName seg_;
  std::unique_ptr<DaemonProcess> daemon_;
  std::unique_ptr<Store> store_;
};

TEST_F(IngestDaemon, OneEventIsWrittenIntoTheSegment) {
  start();
  const auto r =
      http(port(), "POST", "/progress", R"({"task_id":"job-1","n":3,"total":10,"desc":"Copy"})");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"ok":true})");
  EXPECT_EQ(r.header("content-type"), "application/json");
  TaskRecord rec;
  ASSERT_TRUE(store_->table().lookup("job-1", rec));
  EXPECT_EQ(rec.n, 3);
  EXPECT_EQ(rec.desc.view(), "Copy");
  EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();
}

// The requests RemoteTqdm makes for `for x in RemoteTqdm(range(3), desc="Resize", unit="img")`:
// python-requests headers, json.dumps spacing, float timestamps, total known from the start.
// The task that results must carry every key, with the same values, that Progressista would
// serve for it; our only additions are the derived `rate` and `eta`.
TEST_F(IngestDaemon, RemoteTqdmSequenceYieldsProgressistasTask) {
  start();
  const std::string_view requests_headers =
      "User-Agent: python-requests/2.31.0\r\nAccept-Encoding: gzip, deflate\r\nAccept: */*\r\n"
      "Connection: keep-alive\r\n";
  const std::vector<std::string> bodies = {
      R"({"status": "start", "n": 0, "total": 3, "desc": "Resize", "unit": "img", "task_id": "host:1700000000:140230", "timestamp": 1700000000.25})",
      R"({"status": "update", "n": 1, "total": 3, "desc": "Resize", "task_id": "host:1700000000:140230", "timestamp": 1700000000.5, "unit": "img"})",
      R"({"status": "update", "n": 3, "total": 3, "desc": "Resize", "task_id": "host:1700000000:140230", "timestamp": 1700000001.0, "unit": "img"})",
      R"({"status": "close", "n": 3, "total": 3, "desc": "Resize", "task_id": "host:1700000000:140230", "timestamp": 1700000001.125, "unit": "img"})",
  };
  for (const auto& body : bodies) {
    // requests.post opens a new connection for every event.
    const auto r = http(port(), "POST", "/progress", body, requests_headers);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body, R"({"ok":true})");
  }
  TaskRecord rec;
  ASSERT_TRUE(store_->table().lookup("host:1700000000:140230", rec));
  fmt::memory_buffer out;
  append_task_json(out, rec);
  simdjson::dom::parser parser;
  simdjson::dom::object task;
  ASSERT_EQ(parser.parse(out.data(), out.size()).get(task), simdjson::SUCCESS) << fmt::to_string(out);

  EXPECT_EQ(std::string_view(task["task_id"]), "host:1700000000:140230");
  EXPECT_EQ(std::string_view(task["desc"]), "Resize");
  EXPECT_EQ(std::string_view(task["unit"]), "img");
  EXPECT_EQ(std::string_view(task["status"]), "close");
  EXPECT_EQ(double(task["n"]), 3);
  EXPECT_EQ(double(task["total"]), 3);
  EXPECT_EQ(double(task["timestamp"]), 1700000001.125);
  const double created = task["created_at"], updated = task["updated_at"], done = task["done_at"];
  EXPECT_LE(created, updated);
  EXPECT_LE(done, updated);
  EXPECT_GT(created, 1.7e9);
  std::set<std::string> keys;
  for (auto [k, v] : task) keys.emplace(k);
  const std::set<std::string> progressista_keys = {"task_id", "desc", "n", "total", "unit", "status",
                                                   "timestamp", "created_at", "updated_at", "done_at"};
  for (const auto& k : progressista_keys) EXPECT_TRUE(keys.count(k)) << "missing " << k;
  for (const auto& k : keys) {
    // Our additions, documented (README "Rules"): rate, eta, and the cadence the stalled flag
    // is judged by.
    EXPECT_TRUE(progressista_keys.count(k) || k == "rate" || k == "eta" || k == "cadence")
        << "unexpected " << k;
  }
}

TEST_F(IngestDaemon, BatchesAsArrayAndNdjson) {
  start();
  auto r = http(port(), "POST", "/progress", R"([{"task_id":"a"},{"task_id":"b","n":"x"}])");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(
      r.body,
      R"({"ok":true,"accepted":1,"ignored":0,"rejected":[{"index":1,"detail":"n must be a number, got string"}]})");
  r = http(port(), "POST", "/progress", "{\"task_id\":\"c\"}\n{\"task_id\":\"d\"}\n", {},
           "application/x-ndjson");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"ok":true,"accepted":2,"ignored":0,"rejected":[]})");
  EXPECT_TRUE(has("a") && has("c") && has("d"));
}

TEST_F(IngestDaemon, BadInputGetsAClearErrorAndACounter) {
  start({"--body-limit", "1024"});
  auto r = http(port(), "POST", "/progress", R"({"task_id":)");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr(R"({"detail":"malformed JSON)"));
  r = http(port(), "POST", "/progress", R"({"task_id":"a","total":"ten"})");
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.body, R"({"detail":"total must be a number, got string"})");
  r = http(port(), "POST", "/progress", "task_id=a", {}, "application/x-www-form-urlencoded");
  EXPECT_EQ(r.status, 415);
  EXPECT_THAT(r.body, HasSubstr("unsupported media type 'application/x-www-form-urlencoded'"));
  r = http(port(), "POST", "/progress", std::string(5000, ' '));
  EXPECT_EQ(r.status, 413);
  EXPECT_THAT(r.body, HasSubstr("larger than the limit of 1024 bytes"));
  r = http(port(), "GET", "/nowhere");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, R"({"detail":"Not Found"})");
  r = http(port(), "GET", "/progress");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("allow"), "POST");
  r = http(port(), "PUT", "/progress", "{}");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(count(Counter::kRejectedMalformed), 1u);
  EXPECT_EQ(count(Counter::kRejectedValidation), 1u);
  EXPECT_EQ(count(Counter::kRejectedUnsupportedMedia), 1u);
  EXPECT_EQ(count(Counter::kRejectedTooLarge), 1u);
  EXPECT_EQ(count(Counter::kRejectedNotFound), 1u);
  EXPECT_EQ(count(Counter::kRejectedMethod), 2u);
  // Nothing of that disturbed the daemon.
  EXPECT_EQ(http(port(), "POST", "/progress", R"({"task_id":"ok"})").status, 200);
  // Not HTTP at all.
  Connection c(port());
  ASSERT_TRUE(c.send("\x16\x03\x01 definitely not http\r\n\r\n"));
  EXPECT_EQ(c.read_reply().status, 400);
  EXPECT_EQ(count(Counter::kRejectedBadRequest), 1u);
}

TEST_F(IngestDaemon, TokensAreRequiredWhenConfigured) {
  start({}, {{"PROGRESSISTA_API_TOKENS", "s3cret, other"}});
  auto r = http(port(), "POST", "/progress", R"({"task_id":"a"})");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.body, R"({"detail":"Invalid API token"})");
  EXPECT_EQ(
      http(port(), "POST", "/progress", R"({"task_id":"a"})", "Authorization: Bearer wrong\r\n")
          .status,
      401);
  EXPECT_EQ(
      http(port(), "POST", "/progress", R"({"task_id":"a"})", "Authorization: Bearer s3cret\r\n")
          .status,
      200);
  EXPECT_EQ(http(port(), "POST", "/progress?token=other", R"({"task_id":"b"})").status, 200);
  EXPECT_EQ(http(port(), "POST", "/progress", R"({"task_id":"c","meta":{"_token":"s3cret","k":1}})")
                .status,
            200);
  TaskRecord rec;
  ASSERT_TRUE(store_->table().lookup("c", rec));
  EXPECT_EQ(rec.meta.view(), R"({"k":1})");
  EXPECT_EQ(http(port(), "DELETE", "/tasks/a").status, 401);
  EXPECT_EQ(http(port(), "DELETE", "/tasks/a?token=s3cret").status, 200);
  EXPECT_EQ(count(Counter::kRejectedAuth), 3u);
}

TEST_F(IngestDaemon, DeletesOneTaskOrManyByFilter) {
  start();
  for (const char* body : {R"({"task_id":"a b/c"})", R"({"task_id":"x","status":"close"})",
                           R"({"task_id":"y","status":"close"})", R"({"task_id":"z"})"}) {
    ASSERT_EQ(http(port(), "POST", "/progress", body).status, 200);
  }
  auto r = http(port(), "DELETE", "/tasks/a%20b%2Fc");
  EXPECT_EQ(r.body, R"({"removed":true})");
  EXPECT_EQ(http(port(), "DELETE", "/tasks/a%20b%2Fc").body, R"({"removed":false})");
  EXPECT_EQ(http(port(), "DELETE", "/tasks?status=close&older_than=3600").body,
            R"({"removed":[]})");
  r = http(port(), "DELETE", "/tasks?status=completed");
  EXPECT_THAT(r.body, HasSubstr(R"("x")"));
  EXPECT_THAT(r.body, HasSubstr(R"("y")"));
  EXPECT_TRUE(has("z"));
  EXPECT_EQ(http(port(), "DELETE", "/tasks?older_than=soon").status, 422);
  EXPECT_EQ(http(port(), "DELETE", "/tasks?status=exploded").status, 422);
  EXPECT_EQ(http(port(), "DELETE", "/tasks").body, R"({"removed":["z"]})");
}

TEST_F(IngestDaemon, HealthSaysWhetherTheBroadcasterIsAlive) {
  start();
  auto r = http(port(), "GET", "/health");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr(R"("status":"ok","tasks":0,"capacity":64)"));
  EXPECT_THAT(r.body, HasSubstr(R"("role":"ingest")"));
  EXPECT_THAT(r.body, HasSubstr(R"("broadcast":{"alive":false,"heartbeat_age":null})"));
  const int entry = store_->processes().enroll(Role::kBroadcast);
  ASSERT_GE(entry, 0);
  r = http(port(), "GET", "/health");
  EXPECT_THAT(r.body, HasSubstr(R"("broadcast":{"alive":true)"));
  store_->processes().leave(entry);
}

TEST_F(IngestDaemon, CorsOnlyForListedOrigins) {
  start({"--allow-origins", "https://dash.example, http://localhost:3000"});
  auto r =
      http(port(), "POST", "/progress", R"({"task_id":"a"})", "Origin: https://dash.example\r\n");
  EXPECT_EQ(r.header("access-control-allow-origin"), "https://dash.example");
  r = http(port(), "POST", "/progress", R"({"task_id":"a"})", "Origin: https://evil.example\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("access-control-allow-origin"), "");
  r = http(port(), "OPTIONS", "/progress", {},
           "Origin: http://localhost:3000\r\nAccess-Control-Request-Method: POST\r\n"
           "Access-Control-Request-Headers: content-type, authorization\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("access-control-allow-origin"), "http://localhost:3000");
  EXPECT_THAT(r.header("access-control-allow-methods"), HasSubstr("POST"));
  EXPECT_EQ(r.header("access-control-allow-headers"), "content-type, authorization");
  r = http(port(), "OPTIONS", "/progress", {},
           "Origin: https://evil.example\r\nAccess-Control-Request-Method: POST\r\n");
  EXPECT_EQ(r.status, 400);
}

TEST_F(IngestDaemon, KeepAliveAndPipelinedRequestsAnswerInOrder) {
  start();
  Connection c(port());
  std::string burst;
  for (int i = 0; i < 20; ++i)
    burst += http_request("POST", "/progress", fmt::format(R"({{"task_id":"p{}"}})", i));
  burst += http_request("GET", "/nowhere");
  ASSERT_TRUE(c.send(burst));
  for (int i = 0; i < 20; ++i) {
    const auto r = c.read_reply();
    ASSERT_EQ(r.status, 200) << i;
  }
  EXPECT_EQ(c.read_reply().status, 404);
  // Still open for more.
  ASSERT_TRUE(c.send(http_request("POST", "/progress", R"({"task_id":"last"})")));
  EXPECT_EQ(c.read_reply().status, 200);
  EXPECT_EQ(store_->table().size(), 21u);
}

TEST_F(IngestDaemon, SlowClientsAreCutOffWithoutStallingOthers) {
  start({"--header-timeout", "0.5", "--idle-timeout", "1"});
  Connection slow(port());
  ASSERT_TRUE(slow.send("POST /progress HTTP/1.1\r\nHost: x\r\nContent-Le"));
  // Meanwhile everyone else is served at once.
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(http(port(), "POST", "/progress", R"({"task_id":"fast"})").status, 200);
  const auto r = slow.read_reply(std::chrono::seconds(5));
  EXPECT_EQ(r.status, 408);
  EXPECT_TRUE(slow.closed_by_peer(std::chrono::seconds(5)));
  EXPECT_EQ(count(Counter::kRejectedTimeout), 1u);
  // An idle keep-alive connection is closed too, without a rejection.
  Connection idle(port());
  EXPECT_TRUE(idle.closed_by_peer(std::chrono::seconds(5)));
  EXPECT_EQ(count(Counter::kRejectedTimeout), 1u);
}

TEST_F(IngestDaemon, ConnectionsOverTheLimitGet503) {
  start({"--max-connections", "2"});
  Connection a(port()), b(port());
  ASSERT_TRUE(a.send(http_request("POST", "/progress", R"({"task_id":"a"})")));
  ASSERT_EQ(a.read_reply().status, 200);
  ASSERT_TRUE(b.send(http_request("POST", "/progress", R"({"task_id":"b"})")));
  ASSERT_EQ(b.read_reply().status, 200);
  const auto r = http(port(), "POST", "/progress", R"({"task_id":"c"})");
  EXPECT_EQ(r.status, 503);
  EXPECT_THAT(r.body, HasSubstr("too many connections"));
  EXPECT_EQ(count(Counter::kRejectedOverload), 1u);
}

TEST_F(IngestDaemon, TwoProcessesShareOnePort) {
  start();
  DaemonProcess second(ingest_args(seg_, {"--port", std::to_string(port())}));
  ASSERT_TRUE(second.running()) << second.log();
  EXPECT_EQ(second.port(), port());
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(http(port(), "POST", "/progress", fmt::format(R"({{"task_id":"t{}"}})", i)).status,
              200);
  }
  EXPECT_EQ(store_->table().size(), 50u);
  EXPECT_EQ(second.stop(), 0);
  // The first keeps serving alone.
  EXPECT_EQ(http(port(), "POST", "/progress", R"({"task_id":"after"})").status, 200);
}

TEST_F(IngestDaemon, JanitorRemovesOldClosedTasksAndMarksIdleOnesStale) {
  start({"--cleanup-interval", "0.1", "--retention-seconds", "0.3", "--stale-seconds", "0.3"});
  ASSERT_EQ(http(port(), "POST", "/progress", R"({"task_id":"done","status":"close"})").status,
            200);
  ASSERT_EQ(http(port(), "POST", "/progress", R"({"task_id":"idle","n":1})").status, 200);
  EXPECT_TRUE(eventually([&] { return !has("done"); }));
  TaskRecord rec;
  EXPECT_TRUE(eventually(
      [&] { return store_->table().lookup("idle", rec) && rec.status == Status::kStale; }));
  EXPECT_TRUE(rec.has(kHasStaleAt));
  EXPECT_EQ(store_->janitor().holder(), static_cast<std::uint32_t>(daemon_->pid()));
}

// Progressista 0.2.1: retention removes closed tasks only; a failed task stays, and is only
// removed by --max-task-age (or evicted when the budget is reached).
TEST_F(IngestDaemon, RetentionRemovesClosedTasksButKeepsFailedOnes) {
  start({"--cleanup-interval", "0.1", "--retention-seconds", "0.3"});
  ASSERT_EQ(http(port(), "POST", "/progress", R"({"task_id":"failed","status":"error"})").status,
            200);
  ASSERT_EQ(http(port(), "POST", "/progress", R"({"task_id":"closed","status":"close"})").status,
            200);
  TaskRecord rec;
  ASSERT_TRUE(store_->table().lookup("failed", rec));
  const double failed_at = rec.updated_at;
  EXPECT_TRUE(eventually([&] { return !has("closed"); }));
  // Past the retention several times over, and several sweeps later, still there.
  EXPECT_FALSE(eventually(
      [&] { return !has("failed"); },
      std::chrono::milliseconds(static_cast<int>(1000 * (3 * 0.3)) + 500)));
  ASSERT_TRUE(store_->table().lookup("failed", rec));
  EXPECT_EQ(rec.status, Status::kError);
  EXPECT_GT(now_seconds() - failed_at, 3 * 0.3);
}

TEST_F(IngestDaemon, MaxTaskAgeRemovesFailedTasksToo) {
  start({"--cleanup-interval", "0.1", "--max-task-age", "0.3"});
  ASSERT_EQ(http(port(), "POST", "/progress", R"({"task_id":"failed","status":"error"})").status,
            200);
  EXPECT_TRUE(eventually([&] { return !has("failed"); }));
}

TEST_F(IngestDaemon, RetentionDefaultsToADay) {
  const auto r = testing::run({"show-config"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(R"("retention_seconds": 86400,)"));
}

TEST_F(IngestDaemon, AKilledJanitorIsReplacedWithinTwoIntervals) {
  start({"--cleanup-interval", "0.2"});
  ASSERT_TRUE(eventually(
      [&] { return store_->janitor().holder() == static_cast<std::uint32_t>(daemon_->pid()); }));
  DaemonProcess second(ingest_args(seg_, {"--cleanup-interval", "0.2"}));
  ASSERT_TRUE(second.running());
  ::kill(daemon_->pid(), SIGKILL);
  EXPECT_TRUE(eventually(
      [&] { return store_->janitor().holder() == static_cast<std::uint32_t>(second.pid()); },
      std::chrono::milliseconds(1500)));
}

TEST_F(IngestDaemon, TasksSurviveARestartThroughTheStorageFile) {
  const std::string file = fmt::format("/tmp/progressista-storage-{}.json", ::getpid());
  std::filesystem::remove(file);
  start({"--storage-path", file});
  ASSERT_EQ(http(port(), "POST", "/progress",
                 R"({"task_id":"keep","n":7,"total":9,"desc":"d","meta":{"k":[1]}})")
                .status,
            200);
  ASSERT_EQ(http(port(), "POST", "/progress", R"({"task_id":"shut","status":"close"})").status,
            200);
  // Saved within the debounce window, without waiting for shutdown.
  EXPECT_TRUE(eventually([&] { return std::filesystem::exists(file); }, std::chrono::seconds(5)));
  EXPECT_EQ(daemon_->stop(), 0);
  store_.reset();
  Segment::remove(seg_.str());

  start({"--storage-path", file});
  TaskRecord rec;
  ASSERT_TRUE(store_->table().lookup("keep", rec)) << daemon_->log();
  EXPECT_EQ(rec.status, Status::kRecovered);
  EXPECT_TRUE(rec.has(kHasRecovered));
  EXPECT_EQ(rec.n, 7);
  EXPECT_EQ(rec.meta.view(), R"({"k":[1]})");
  ASSERT_TRUE(store_->table().lookup("shut", rec));
  EXPECT_EQ(rec.status, Status::kClose);
  EXPECT_THAT(daemon_->log(), HasSubstr("restored 2 tasks"));
  // The next event makes it live again.
  ASSERT_EQ(http(port(), "POST", "/progress", R"({"task_id":"keep","n":8})").status, 200);
  ASSERT_TRUE(store_->table().lookup("keep", rec));
  EXPECT_FALSE(rec.has(kHasRecovered));
  EXPECT_EQ(daemon_->stop(), 0);
  std::filesystem::remove(file);
}

TEST_F(IngestDaemon, AnUnreadableStorageFileIsSetAsideNotLost) {
  const std::string file = fmt::format("/tmp/progressista-bad-{}.json", ::getpid());
  std::ofstream(file) << "{\"tasks\": {oops";
  start({"--storage-path", file});
  EXPECT_THAT(daemon_->log(), HasSubstr("could not load"));
  EXPECT_THAT(daemon_->log(), HasSubstr(".unreadable-"));
  EXPECT_FALSE(std::filesystem::exists(file));
  bool found = false;
  for (const auto& e : std::filesystem::directory_iterator("/tmp")) {
    const std::string name = e.path().string();
    if (name.rfind(file + ".unreadable-", 0) == 0) {
      found = true;
      std::filesystem::remove(e.path());
    }
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(daemon_->stop(), 0);
  std::filesystem::remove(file);
}

// systemd's side of Type=notify, played by a datagram socket.
TEST_F(IngestDaemon, TellsSystemdWhenReadyAndWhenStopping) {
  const std::string path = fmt::format("/tmp/progressista-notify-{}.sock", ::getpid());
  ::unlink(path.c_str());
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  start({}, {{"NOTIFY_SOCKET", path}, {"WATCHDOG_USEC", "200000"}});
  std::string seen;
  const auto receive_until = [&](std::string_view what) {
    return eventually([&] {
      char buf[512];
      const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) seen.append(buf, static_cast<std::size_t>(n)).push_back('\n');
      return seen.find(what) != std::string::npos;
    });
  };
  EXPECT_TRUE(receive_until("READY=1")) << seen;
  EXPECT_TRUE(receive_until("WATCHDOG=1")) << seen;
  ::kill(daemon_->pid(), SIGTERM);
  EXPECT_TRUE(receive_until("STOPPING=1")) << seen;
  EXPECT_EQ(daemon_->wait_exit(), 0);
  ::close(fd);
  ::unlink(path.c_str());
}

TEST_F(IngestDaemon, InvalidSettingsFailAtStartWithTheReason) {
  DaemonProcess bad(ingest_args(seg_), {{"PROGRESSISTA_PORT", "eighty"}});
  EXPECT_FALSE(bad.running());
  EXPECT_NE(bad.wait_exit(), 0);
  EXPECT_THAT(bad.log(), HasSubstr("PROGRESSISTA_PORT"));
  DaemonProcess worse(ingest_args(seg_, {"--retention-seconds", "-1"}));
  EXPECT_FALSE(worse.running());
  EXPECT_THAT(worse.log(), HasSubstr("--retention-seconds"));
}

// --memory takes bytes with K, M or G suffixes (powers of 1024); --capacity and --memory are
// both unset by default and shown as null.
TEST_F(IngestDaemon, MemoryAndCapacitySettingsParseAndShow) {
  auto r = testing::run({"show-config"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(R"("capacity": null,)"));
  EXPECT_THAT(r.out, HasSubstr(R"("memory": null,)"));
  r = testing::run({"show-config", "--memory", "256M", "--capacity", "1000"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(R"("memory": 268435456,)"));
  EXPECT_THAT(r.out, HasSubstr(R"("capacity": 1000,)"));
  r = testing::run({"show-config"}, {{"PROGRESSISTA_MEMORY", "2G"}});
  EXPECT_THAT(r.out, HasSubstr(R"("memory": 2147483648,)"));
  r = testing::run({"show-config"}, {{"PROGRESSISTA_MEMORY", "512K"}, {"PROGRESSISTA_CAPACITY", "1"}});
  // Too small for even one task's share of the fixed structures: refused with the sizes.
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.err, HasSubstr("--memory (PROGRESSISTA_MEMORY)"));
  EXPECT_THAT(r.err, HasSubstr("too small"));

  std::uint64_t v = 0;
  EXPECT_TRUE(daemon::parse_bytes("1024", v));
  EXPECT_EQ(v, 1024u);
  EXPECT_TRUE(daemon::parse_bytes("64k", v));
  EXPECT_EQ(v, 64u << 10);
  EXPECT_TRUE(daemon::parse_bytes("3GiB", v));
  EXPECT_EQ(v, std::uint64_t{3} << 30);
  for (const char* bad : {"12Q", "-1M", "1.5G", "M", "1MB", "99999999999999999999G"})
    EXPECT_FALSE(daemon::parse_bytes(bad, v)) << bad;
}

TEST_F(IngestDaemon, BadMemoryValuesFailAtStartNamingTheVariable) {
  DaemonProcess bad(ingest_args(seg_), {{"PROGRESSISTA_MEMORY", "lots"}});
  EXPECT_FALSE(bad.running());
  EXPECT_NE(bad.wait_exit(), 0);
  EXPECT_THAT(bad.log(), HasSubstr("progressista ingest: PROGRESSISTA_MEMORY=lots (for --memory): "
                                   "must be a number of bytes"));
  DaemonProcess huge(ingest_args(seg_, {"--memory", "65G"}));
  EXPECT_FALSE(huge.running());
  EXPECT_THAT(huge.log(), HasSubstr("--memory: must be at most"));
  DaemonProcess many(ingest_args(seg_, {"--capacity", "99999999"}));
  EXPECT_FALSE(many.running());
  EXPECT_THAT(many.log(), HasSubstr("--capacity"));
}

// Writers resize a segment of another shape (every task kept) and say so; a restart without
// --capacity/--memory attaches as it is; the broadcaster refuses another shape.
TEST_F(IngestDaemon, StartingWithAnotherShapeResizesKeepingEveryTask) {
  start();
  for (int i = 0; i < 30; ++i)
    ASSERT_EQ(http(port(), "POST", "/progress", fmt::format(R"({{"task_id":"t{}","n":{}}})", i, i))
                  .status,
              200);
  const std::uint64_t before = store_->segment().generation();
  DaemonProcess bigger({"ingest", "--segment", seg_.str(), "--memory", "8M", "--threads", "1"});
  ASSERT_TRUE(bigger.running()) << bigger.log();
  EXPECT_THAT(bigger.log(), HasSubstr("resized segment"));
  EXPECT_THAT(bigger.log(), HasSubstr("from 64 tasks at most"));
  EXPECT_THAT(bigger.log(), HasSubstr("its 30 tasks were kept"));
  SegmentOptions attach;
  attach.name = seg_.str();
  attach.create = false;
  auto now = Store::open(attach);
  EXPECT_NE(now->segment().generation(), before);
  EXPECT_LE(now->segment().size(), 8u << 20);
  EXPECT_GT(now->segment().size(), (8u << 20) - 4096);
  EXPECT_THAT(bigger.log(), HasSubstr(fmt::format("to {} tasks at most, {} bytes",
                                                  now->segment().capacity(), now->segment().size())));
  EXPECT_EQ(now->table().size(), 30u);
  TaskRecord rec;
  ASSERT_TRUE(now->table().lookup("t29", rec));
  EXPECT_EQ(rec.n, 29);
  EXPECT_EQ(bigger.stop(), 0);

  // No shape given: attaches as it is, whatever it is.
  DaemonProcess plain({"ingest", "--segment", seg_.str(), "--threads", "1"});
  ASSERT_TRUE(plain.running()) << plain.log();
  EXPECT_THAT(plain.log(), Not(HasSubstr("resized")));
  EXPECT_EQ(plain.stop(), 0);
  // The broadcaster never resizes: another shape is refused with the store's message.
  DaemonProcess reader({"broadcast", "--segment", seg_.str(), "--capacity", "32"});
  EXPECT_FALSE(reader.running());
  EXPECT_NE(reader.wait_exit(), 0);
  EXPECT_THAT(reader.log(), HasSubstr("to resize it"));
  EXPECT_EQ(now->segment().generation(), Store::open(attach)->segment().generation());
}

}  // namespace
}  // namespace progressista
