// ngx_http_progressista_module inside a real nginx (tests/nginx/nginx_process.hpp), next to
// real `progressista ingest` and `broadcast` daemons on segments of their own or shared.
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "nginx/nginx_process.hpp"
#include "progressista/segment.hpp"
#include "progressista/store.hpp"
#include "support/child_process.hpp"
#include "support/daemon_process.hpp"
#include "support/http_client.hpp"
#include "support/segment_fixture.hpp"
#include "support/ws_client.hpp"

namespace progressista {
namespace {

using testing::Connection;
using testing::DaemonProcess;
using testing::eventually;
using ::testing::HasSubstr;
using testing::http;
using testing::http_request;
using testing::HttpReply;
using testing::NginxConfig;
using testing::NginxProcess;
using ::testing::Not;
using testing::ScopedSegmentName;
using testing::WsTestClient;
using namespace std::chrono_literals;

constexpr int kCapacity = 64;

// The module's locations, as the README shows them.
NginxConfig module_config(const ScopedSegmentName& seg, std::string server_extra = {},
                          int workers = 2) {
  NginxConfig c;
  c.http =
      fmt::format("    progressista_segment {} capacity={} mode=0660;\n", seg.str(), kCapacity);
  c.server =
      "        location = /progress { progressista_ingest; }\n"
      "        location = /tasks { progressista_tasks; }\n" +
      server_extra;
  c.workers = workers;
  return c;
}

std::vector<std::string> daemon_args(std::string role, const ScopedSegmentName& seg,
                                     std::vector<std::string> extra = {}) {
  std::vector<std::string> a{std::move(role),
                             "--segment",
                             seg.str(),
                             "--capacity",
                             std::to_string(kCapacity),
                             "--threads",
                             "1",
                             "--shm-mode",
                             "0660",
                             "--storage-path",
                             ""};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

// A segment the workers (group root) can open, created before nginx starts.
std::unique_ptr<Store> shared_segment(const ScopedSegmentName& seg) {
  SegmentOptions o = testing::options(seg, kCapacity);
  o.mode = 0660;
  return Store::open(o);
}

bool has_task(const Store& store, std::string_view id) {
  TaskRecord rec;
  return store.table().lookup(id, rec);
}

HttpReply post(std::uint16_t port, std::string_view body, std::string_view headers = {},
               std::string_view type = "application/json", std::string_view target = "/progress") {
  return http(port, "POST", target, body, headers, type);
}

TEST(NginxModule, EventsPostedThroughNginxAppearInTasksAndReachTheBroadcaster) {
  ScopedSegmentName seg;
  auto store = shared_segment(seg);
  NginxProcess nginx(module_config(seg));
  ASSERT_TRUE(nginx.running()) << nginx.output() << nginx.error_log();
  DaemonProcess broadcast(daemon_args("broadcast", seg));
  ASSERT_TRUE(broadcast.running()) << broadcast.log();
  WsTestClient ws(broadcast.port(), "/ws");
  ASSERT_TRUE(ws.open()) << ws.error();
  ASSERT_TRUE(ws.read());  // the first snapshot

  const HttpReply r =
      post(nginx.port(), R"({"task_id":"via-nginx","n":3,"total":10,"desc":"Copy"})");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"ok":true})");
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_TRUE(has_task(*store, "via-nginx"));

  const HttpReply tasks = http(nginx.port(), "GET", "/tasks?prefix=via-");
  EXPECT_EQ(tasks.status, 200);
  EXPECT_THAT(tasks.body, HasSubstr(R"("via-nginx":{"task_id":"via-nginx")"));
  EXPECT_EQ(tasks.header("cache-control"), "no-store");
  EXPECT_EQ(http(nginx.port(), "GET", "/tasks?prefix=zzz").body, R"({"tasks":{}})");

  std::string frame;
  EXPECT_TRUE(ws.read_until(
      [](const std::string& f) { return f.find("via-nginx") != std::string::npos; }, 10s, &frame))
      << frame;
}

// The same requests against `progressista ingest` and the module, on fresh segments of the
// same capacity, must get the same status, Content-Type and body, byte for byte.
TEST(NginxModule, AnswersAreByteForByteTheIngestDaemons) {
  ScopedSegmentName daemon_seg, module_seg;
  // One body limit for both (small, so that refused bodies fit in the socket buffers), and
  // nginx's memory buffer for bodies smaller still, so that larger bodies go to a temp file.
  DaemonProcess ingest(daemon_args("ingest", daemon_seg, {"--body-limit", "8192"}));
  ASSERT_TRUE(ingest.running()) << ingest.log();
  auto store = shared_segment(module_seg);
  NginxProcess nginx(module_config(
      module_seg, "        client_max_body_size 8k;\n        client_body_buffer_size 1k;\n"));
  ASSERT_TRUE(nginx.running()) << nginx.output() << nginx.error_log();

  std::string many_open;  // more open tasks than slots: 507s in a batch
  for (int i = 0; i < kCapacity + 6; ++i)
    many_open += fmt::format("{{\"task_id\":\"open-{}\"}}\n", i);
  std::string spilled;  // larger than client_body_buffer_size: nginx writes it to a temp file
  for (int i = 0; spilled.size() < 6 * 1024; ++i)
    spilled += fmt::format("{{\"task_id\":\"open-{}\",\"n\":{},\"desc\":\"{}\"}}\n", i % 8, i,
                           std::string(200, 'x'));

  struct Case {
    std::string type, body;
  };
  const std::vector<Case> cases = {
      {"application/json", R"({"task_id":"a","n":1,"total":4,"status":"start"})"},
      {"application/json", R"({"task_id":"a","n":2,"timestamp":1})"},
      {"", R"({"task_id":"b"})"},
      {"application/json", R"([{"task_id":"c"},{"task_id":7},{"n":1},{"task_id":"d","n":"x"}])"},
      {"application/x-ndjson",
       "{\"task_id\":\"e\"}\nnot json\n{\"task_id\":\"f\",\"status\":\"close\"}\n"},
      {"application/json", "{"},
      {"application/json", ""},
      {"application/json", "42"},
      {"application/json", R"({"task_id":"g","status":"dancing"})"},
      {"application/json", R"({"task_id":"a","status":"close"})"},
      {"application/json", R"({"task_id":"a","n":9})"},
      {"text/plain", R"({"task_id":"h"})"},
      {"application/xml", "<x/>"},
      {"application/vnd.progress+json", R"({"task_id":"i"})"},
      {"application/x-ndjson", many_open},
      {"application/json", R"({"task_id":"one-too-many"})"},
      {"application/x-ndjson", spilled},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const HttpReply d = post(ingest.port(), cases[i].body, {}, cases[i].type);
    const HttpReply m = post(nginx.port(), cases[i].body, {}, cases[i].type);
    EXPECT_EQ(m.status, d.status) << "case " << i;
    EXPECT_EQ(m.body, d.body) << "case " << i;
    EXPECT_EQ(m.header("content-type"), d.header("content-type")) << "case " << i;
  }
  EXPECT_THAT(nginx.error_log(), HasSubstr("buffered to a temporary file"));

  // A wrong method, then a body over the limit, declared and chunked.
  const HttpReply d405 = http(ingest.port(), "GET", "/progress");
  const HttpReply m405 = http(nginx.port(), "GET", "/progress");
  EXPECT_EQ(m405.status, 405);
  EXPECT_EQ(m405.body, d405.body);
  EXPECT_EQ(m405.header("allow"), "POST");

  const std::string huge(8193, ' ');
  const HttpReply d413 = post(ingest.port(), huge);
  const HttpReply m413 = post(nginx.port(), huge);
  EXPECT_EQ(m413.status, 413);
  EXPECT_EQ(m413.body, d413.body);
  EXPECT_EQ(m413.header("content-type"), "application/json");

  Connection chunked(nginx.port());
  std::string req =
      "POST /progress HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 3; ++i) req += fmt::format("{:x}\r\n{}\r\n", 4096, std::string(4096, ' '));
  req += "0\r\n\r\n";
  ASSERT_TRUE(chunked.send(req));
  const HttpReply c413 = chunked.read_reply();
  EXPECT_EQ(c413.status, 413);
  EXPECT_EQ(c413.body, d413.body);

  // Every refusal went to the segment's counters, as the daemon's do.
  EXPECT_EQ(store->counters().get(Counter::kRejectedTooLarge), 2u);
  EXPECT_EQ(store->counters().get(Counter::kRejectedMethod), 1u);
  EXPECT_EQ(store->counters().get(Counter::kRejectedUnsupportedMedia), 2u);
  EXPECT_GE(store->counters().get(Counter::kRejectedMalformed), 2u);
}

TEST(NginxModule, TokensGuardWritesAndReadsLikeTheDaemons) {
  ScopedSegmentName seg;
  auto store = shared_segment(seg);
  const std::string tokens_file = fmt::format("/tmp/progressista-nginx-tokens-{}", ::getpid());
  {
    std::ofstream f(tokens_file);
    f << "# for /progress-file\nfrom-file\n";
  }
  NginxProcess nginx(
      module_config(seg, fmt::format("        progressista_token s3cret;\n"
                                     "        location = /progress-file {{ progressista_ingest; "
                                     "progressista_tokens_file {}; }}\n",
                                     tokens_file)));
  std::filesystem::remove(tokens_file);  // read by the master at start-up
  ASSERT_TRUE(nginx.running()) << nginx.output() << nginx.error_log();

  const std::string event = R"({"task_id":"guarded"})";
  const HttpReply none = post(nginx.port(), event);
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.body, R"({"detail":"Invalid API token"})");
  EXPECT_EQ(none.header("www-authenticate"), "Bearer");
  EXPECT_EQ(post(nginx.port(), event, "Authorization: Bearer wrong\r\n").status, 401);
  EXPECT_EQ(post(nginx.port(), event, "Authorization: Bearer s3cret\r\n").status, 200);
  EXPECT_EQ(post(nginx.port(), event, {}, "application/json", "/progress?token=s3cret").status,
            200);
  EXPECT_EQ(post(nginx.port(), R"({"task_id":"m","meta":{"_token":"s3cret"}})").status, 200);
  EXPECT_EQ(post(nginx.port(), event, "Authorization: Bearer from-file\r\n").status, 401);
  EXPECT_EQ(post(nginx.port(), event, "Authorization: Bearer from-file\r\n", "application/json",
                 "/progress-file")
                .status,
            200);

  const HttpReply read_none = http(nginx.port(), "GET", "/tasks");
  EXPECT_EQ(read_none.status, 401);
  EXPECT_EQ(read_none.header("www-authenticate"), "Bearer");
  const HttpReply read_meta =
      http(nginx.port(), "GET", "/tasks", {}, "Authorization: Bearer s3cret\r\n");
  EXPECT_EQ(read_meta.status, 200);
  EXPECT_THAT(read_meta.body, HasSubstr(R"("guarded":)"));
  EXPECT_EQ(http(nginx.port(), "GET", "/tasks?token=s3cret").status, 200);
  EXPECT_EQ(store->counters().get(Counter::kRejectedAuth), 4u);
}

TEST(NginxModule, BadDirectivesFailTheConfigurationTest) {
  ScopedSegmentName seg;
  NginxConfig c = module_config(seg);
  c.http = fmt::format("    progressista_segment {} capacity=lots;\n", seg.str());
  NginxProcess nginx(c);
  EXPECT_FALSE(nginx.running());
  std::string out;
  EXPECT_NE(nginx.test_config(&out), 0);
  EXPECT_THAT(out, HasSubstr("invalid capacity \"capacity=lots\""));
}

TEST(NginxModule, SegmentNameAndModeFollowTheDaemonsRules) {
  ScopedSegmentName seg;
  NginxConfig c = module_config(seg);
  c.http = "    progressista_segment a/b;\n";
  NginxProcess bad_name(c);
  EXPECT_FALSE(bad_name.running());
  std::string out;
  EXPECT_NE(bad_name.test_config(&out), 0);
  EXPECT_THAT(out, HasSubstr(segment_name_problem("a/b")));

  c.http = fmt::format("    progressista_segment {} mode=0640;\n", seg.str());
  NginxProcess bad_mode(c);
  EXPECT_FALSE(bad_mode.running());
  EXPECT_NE(bad_mode.test_config(&out), 0);
  EXPECT_THAT(out, HasSubstr(fmt::format("invalid mode \"mode=0640\": use {}", kSegmentModes)));
}

TEST(NginxModule, ABlankTokenFailsTheConfigurationTestWithItsOwnReason) {
  ScopedSegmentName seg;
  NginxProcess nginx(module_config(
      seg, "        location = /guarded { progressista_ingest; progressista_token \"  \"; }\n"));
  EXPECT_FALSE(nginx.running());
  std::string out;
  EXPECT_NE(nginx.test_config(&out), 0);
  EXPECT_THAT(out, HasSubstr("progressista_token: every value is blank"));
  EXPECT_THAT(out, Not(HasSubstr("progressista_tokens_file")));
}

TEST(NginxModule, UnreadableSegmentGets503UntilItsModeIsFixed) {
  ScopedSegmentName seg;
  auto store = Store::open(testing::options(seg, kCapacity));  // 0600, root's: not the workers'
  NginxProcess nginx(module_config(seg));
  ASSERT_TRUE(nginx.running()) << nginx.output() << nginx.error_log();

  const HttpReply r = post(nginx.port(), R"({"task_id":"x"})");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_THAT(r.body,
              HasSubstr(fmt::format(R"({{"detail":"progressista segment \"{}\" is not attached)",
                                    seg.str())));
  EXPECT_THAT(nginx.error_log(), HasSubstr(fmt::format("cannot attach segment \"{}\"", seg.str())));
  EXPECT_THAT(nginx.error_log(), HasSubstr("permission denied"));

  // Workers retry (at most once a second) and recover without a restart.
  ASSERT_EQ(::chmod(("/dev/shm/" + seg.str()).c_str(), 0660), 0);
  EXPECT_TRUE(
      eventually([&] { return post(nginx.port(), R"({"task_id":"x"})").status == 200; }, 10s));
  EXPECT_TRUE(has_task(*store, "x"));
}

TEST(NginxModule, ReloadKeepsServing) {
  ScopedSegmentName seg;
  auto store = shared_segment(seg);
  NginxProcess nginx(module_config(seg));
  ASSERT_TRUE(nginx.running()) << nginx.output() << nginx.error_log();
  ASSERT_EQ(post(nginx.port(), R"({"task_id":"before"})").status, 200);
  for (int round = 0; round < 2; ++round) {
    ASSERT_TRUE(nginx.reload(2)) << nginx.error_log();
    EXPECT_EQ(post(nginx.port(), fmt::format(R"({{"task_id":"after-{}"}})", round)).status, 200);
  }
  const HttpReply tasks = http(nginx.port(), "GET", "/tasks");
  EXPECT_THAT(tasks.body, HasSubstr(R"("before":)"));
  EXPECT_THAT(tasks.body, HasSubstr(R"("after-1":)"));
  EXPECT_THAT(nginx.error_log(), HasSubstr("detached segment"));
  // Old workers left the segment's process list; the two current ones are in it.
  EXPECT_TRUE(eventually([&] {
    int live_nginx = 0;
    for (const auto& p : store->processes().list()) live_nginx += p.role == Role::kNginx && p.alive;
    return live_nginx == 2;
  }));
}

// USR2 → new master and workers beside the old ones → WINCH → QUIT: writes keep landing in
// the same segment through every step, and the old workers leave its process list.
TEST(NginxModule, BinaryUpgradeKeepsTheSegmentAttached) {
  ScopedSegmentName seg;
  auto store = shared_segment(seg);
  NginxConfig config = module_config(seg);
  config.orphaned = true;
  NginxProcess nginx(config);
  ASSERT_TRUE(nginx.running()) << nginx.output() << nginx.error_log();
  ASSERT_EQ(post(nginx.port(), R"({"task_id":"before-upgrade","n":1})").status, 200);
  const pid_t old_master = nginx.master();

  ASSERT_TRUE(nginx.upgrade_binary(2)) << nginx.output() << nginx.error_log();
  EXPECT_NE(nginx.master(), old_master);
  for (int i = 0; i < 8; ++i) {
    const std::string id = fmt::format("after-upgrade-{}", i);
    ASSERT_EQ(post(nginx.port(), fmt::format(R"({{"task_id":"{}","n":2}})", id)).status, 200);
    EXPECT_TRUE(has_task(*store, id)) << id;
  }
  const HttpReply tasks = http(nginx.port(), "GET", "/tasks");
  EXPECT_THAT(tasks.body, HasSubstr(R"("before-upgrade":)"));
  EXPECT_THAT(tasks.body, HasSubstr(R"("after-upgrade-7":)"));
  EXPECT_TRUE(eventually([&] {
    int live_nginx = 0;
    for (const auto& p : store->processes().list()) live_nginx += p.role == Role::kNginx && p.alive;
    return live_nginx == 2;
  })) << nginx.error_log();
}

// Workers beat on a timer, not only when they serve: an idle nginx does not look stale.
TEST(NginxModule, IdleWorkersKeepTheirHeartbeatFresh) {
  ScopedSegmentName seg;
  auto store = shared_segment(seg);
  NginxProcess nginx(module_config(seg));
  ASSERT_TRUE(nginx.running()) << nginx.output() << nginx.error_log();
  std::this_thread::sleep_for(2500ms);  // no request at all meanwhile
  int fresh = 0;
  for (const auto& p : store->processes().list()) {
    if (p.role != Role::kNginx || !p.alive) continue;
    const double age_s = static_cast<double>(now_ns() - p.beat_ns) / 1e9;
    EXPECT_LT(age_s, 2.0) << "worker " << p.pid;
    ++fresh;
  }
  EXPECT_EQ(fresh, 2) << nginx.error_log();
}

TEST(NginxModule, SegmentRecreatedByADaemonIsReattached) {
  ScopedSegmentName seg;
  auto first = shared_segment(seg);
  NginxProcess nginx(module_config(seg));
  ASSERT_TRUE(nginx.running()) << nginx.output() << nginx.error_log();
  ASSERT_EQ(post(nginx.port(), R"({"task_id":"old"})").status, 200);
  ASSERT_TRUE(has_task(*first, "old"));

  ASSERT_TRUE(Segment::remove(seg.str()));
  DaemonProcess ingest(daemon_args("ingest", seg));  // creates a new generation
  ASSERT_TRUE(ingest.running()) << ingest.log();
  auto second = Store::open(testing::options(seg, kCapacity));
  ASSERT_NE(second->segment().generation(), first->segment().generation());

  // Each worker notices on its next request; every request lands in the new segment.
  for (int i = 0; i < 8; ++i) {
    const std::string id = fmt::format("new-{}", i);
    EXPECT_EQ(post(nginx.port(), fmt::format(R"({{"task_id":"{}"}})", id)).status, 200);
    EXPECT_TRUE(has_task(*second, id)) << id;
    EXPECT_FALSE(has_task(*first, id)) << id;
  }
  EXPECT_THAT(http(nginx.port(), "GET", "/tasks").body, Not(HasSubstr(R"("old":)")));
  EXPECT_THAT(nginx.error_log(), HasSubstr("re-attaching"));
}

// Without capacity=, workers follow a resize made by `ingest --memory` (every task kept).
TEST(NginxModule, SegmentResizedByADaemonIsFollowedWithItsTasks) {
  ScopedSegmentName seg;
  auto first = shared_segment(seg);
  NginxConfig config = module_config(seg);
  config.http = fmt::format("    progressista_segment {} mode=0660;\n", seg.str());
  NginxProcess nginx(config);
  ASSERT_TRUE(nginx.running()) << nginx.output() << nginx.error_log();
  ASSERT_EQ(post(nginx.port(), R"({"task_id":"old"})").status, 200);
  ASSERT_TRUE(has_task(*first, "old"));

  DaemonProcess ingest({"ingest", "--segment", seg.str(), "--memory", "2M", "--threads", "1",
                        "--shm-mode", "0660", "--storage-path", ""});
  ASSERT_TRUE(ingest.running()) << ingest.log();
  EXPECT_THAT(ingest.log(), HasSubstr("resized segment"));
  SegmentOptions attach;
  attach.name = seg.str();
  attach.create = false;
  auto second = Store::open(attach);
  ASSERT_NE(second->segment().generation(), first->segment().generation());
  EXPECT_GT(second->segment().capacity(), static_cast<std::uint32_t>(kCapacity));
  EXPECT_TRUE(has_task(*second, "old"));

  for (int i = 0; i < 8; ++i) {
    const std::string id = fmt::format("new-{}", i);
    EXPECT_EQ(post(nginx.port(), fmt::format(R"({{"task_id":"{}"}})", id)).status, 200);
    EXPECT_TRUE(has_task(*second, id)) << id;
  }
  EXPECT_THAT(http(nginx.port(), "GET", "/tasks").body, HasSubstr(R"("old":)"));
}

// Clients keep posting to one hot task (same slot, same lock) over keep-alive connections
// while one worker is killed with SIGKILL. Bounded: 4 clients, at most 4000 requests each,
// at most 20 s.
TEST(NginxModule, KilledWorkerLeavesTheSegmentUsableAndTheOthersWriting) {
  ScopedSegmentName seg;
  auto store = shared_segment(seg);
  NginxProcess nginx(module_config(seg));
  ASSERT_TRUE(nginx.running()) << nginx.output() << nginx.error_log();
  const std::set<pid_t> before = nginx.workers();
  ASSERT_EQ(before.size(), 2u);

  std::atomic<bool> killed{false}, stop{false};
  std::atomic<int> ok_after_kill{0}, ok_total{0};
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      auto conn = std::make_unique<Connection>(nginx.port());
      for (int i = 0; i < 4000 && !stop && std::chrono::steady_clock::now() < deadline; ++i) {
        const std::string body =
            fmt::format(R"({{"task_id":"hot","n":{},"message":"client {}"}})", i, t);
        if (!conn->connected() || !conn->send(http_request("POST", "/progress", body))) {
          conn = std::make_unique<Connection>(nginx.port());
          continue;
        }
        const HttpReply r = conn->read_reply(2s);
        if (r.status == 200) {
          ++ok_total;
          if (killed) ++ok_after_kill;
        } else {
          conn = std::make_unique<Connection>(nginx.port());  // our worker died under us
        }
        if (ok_after_kill > 400) stop = true;
      }
    });
  }
  ASSERT_TRUE(eventually([&] { return ok_total > 200; }, 10s));
  ::kill(*before.begin(), SIGKILL);
  killed = true;
  for (auto& c : clients) c.join();
  EXPECT_GT(ok_after_kill.load(), 400);

  // The master respawned the worker; the hot task's lock is free for anyone (a child process,
  // bounded, so a stuck lock fails the test instead of hanging it).
  EXPECT_TRUE(eventually([&] {
    const std::set<pid_t> now = nginx.workers();
    return now.size() == 2 && !now.count(*before.begin());
  }));
  const pid_t child = testing::spawn([&] {
    auto s = Store::open(testing::options(seg, kCapacity));
    Event e;
    e.task_id = "hot";
    e.n = 1e6;
    return s->table().upsert(e, now_seconds()) == Upsert::kUpdated ? 0 : 1;
  });
  EXPECT_EQ(testing::wait_for(child, 10s), 0);
  EXPECT_EQ(post(nginx.port(), R"({"task_id":"hot","n":7})").status, 200);
  TaskRecord rec;
  ASSERT_TRUE(store->table().lookup("hot", rec));
  EXPECT_EQ(rec.n, 7);
}

}  // namespace
}  // namespace progressista
