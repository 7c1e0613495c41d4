// The board's rules served by a real `progressista serve` on loopback: acknowledging a failure
// (POST /tasks/{id}/acknowledge, seen by every live client), the "stalled" flag of GET /tasks,
// and GET /summary's stalled and acknowledged counts, project-from-id rule, throughput and
// ten-minute history (HistoryRing, with made-up times).
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include "live/board_rules.hpp"
#include "live/summary.hpp"
#include "support/daemon_process.hpp"
#include "support/http_client.hpp"
#include "support/segment_fixture.hpp"
#include "support/wait.hpp"
#include "support/ws_client.hpp"

namespace progressista {
namespace {

using daemon::CounterSample;
using daemon::HistoryRing;
using daemon::project_from_id;
using testing::DaemonProcess;
using testing::eventually;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::http;
using testing::HttpReply;
using testing::ScopedSegmentName;
using testing::WsTestClient;
using namespace std::chrono_literals;

CounterSample at(double t, std::uint64_t events, std::uint64_t closed = 0,
                 std::uint64_t failed = 0, std::uint64_t generation = 1) {
  return CounterSample{t, generation, events, closed, failed};
}

TEST(HistoryRing, KeepsTenSecondBucketsAndAPartialLastOne) {
  HistoryRing ring;
  EXPECT_TRUE(ring.buckets(at(0, 0)).empty());
  ring.push(at(0, 0));
  // Samples come every second; one is kept every ten seconds.
  for (int s = 1; s <= 25; ++s) ring.push(at(s, static_cast<std::uint64_t>(s) * 100, s / 5, s / 10));
  const auto b = ring.buckets(at(25.5, 2550, 5, 2));
  ASSERT_EQ(b.size(), 3u);  // 0-10, 10-20, 20-25.5
  EXPECT_DOUBLE_EQ(b[0].seconds, 10);
  EXPECT_EQ(b[0].events, 1000u);
  EXPECT_EQ(b[0].closed, 2u);
  EXPECT_EQ(b[1].failed, 1u);
  EXPECT_DOUBLE_EQ(b[2].seconds, 5.5);
  EXPECT_EQ(b[2].events, 550u);
  // Less than a second since the last kept sample: no partial bucket (a rate would be noise).
  EXPECT_EQ(ring.buckets(at(20.5, 2050, 4, 2)).size(), 2u);
}

TEST(HistoryRing, ServesTheLastTenMinutesAndStartsAgainOnANewSegment) {
  HistoryRing ring;
  for (int s = 0; s <= 1200; s += 10) ring.push(at(s, static_cast<std::uint64_t>(s)));
  const auto b = ring.buckets(at(1205, 1205));
  ASSERT_EQ(b.size(), HistoryRing::kPoints);
  EXPECT_DOUBLE_EQ(b.back().seconds, 5);
  EXPECT_EQ(b.front().events, 10u);
  ring.push(at(1210, 3, 0, 0, 2));  // another generation
  EXPECT_TRUE(ring.buckets(at(1210.5, 4, 0, 0, 2)).empty());
  EXPECT_EQ(ring.buckets(at(1212, 30, 0, 0, 2)).size(), 1u);
}

TEST(BoardRules, ProjectFromTheIdUpToTheFirstSeparator) {
  EXPECT_EQ(project_from_id("ads-features/shard-007", "/:"), "ads-features");
  EXPECT_EQ(project_from_id("etl:2026-12-01:7", "/:"), "etl");
  EXPECT_EQ(project_from_id("/leading", "/:"), "") << "nothing before the separator";
  EXPECT_EQ(project_from_id("plain-id", "/:"), "");
  EXPECT_EQ(project_from_id("a/b", ""), "") << "no rule";
}

// A JSON document looked up by JSON pointer.
struct Doc {
  explicit Doc(std::string text) : body(std::move(text)) {
    ok = parser.parse(body).get(root) == simdjson::SUCCESS;
  }
  [[nodiscard]] double num(std::string_view pointer) const {
    double v = 0;
    return ok && root.at_pointer(pointer).get_double().get(v) == simdjson::SUCCESS ? v
                                                                                   : std::nan("");
  }
  [[nodiscard]] std::uint64_t u64(std::string_view pointer) const {
    std::uint64_t v = 0;
    return ok && root.at_pointer(pointer).get_uint64().get(v) == simdjson::SUCCESS
               ? v
               : ~std::uint64_t{0};
  }
  [[nodiscard]] std::string str(std::string_view pointer) const {
    std::string_view v;
    return ok && root.at_pointer(pointer).get_string().get(v) == simdjson::SUCCESS
               ? std::string(v)
               : std::string("<absent>");
  }
  [[nodiscard]] bool has(std::string_view pointer) const {
    return ok && root.at_pointer(pointer).error() == simdjson::SUCCESS;
  }
  [[nodiscard]] std::size_t array_size(std::string_view pointer) const {
    simdjson::dom::array a;
    return ok && root.at_pointer(pointer).get_array().get(a) == simdjson::SUCCESS ? a.size() : 0;
  }
  std::string body;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  bool ok = false;
};

class BoardServe : public ::testing::Test {
 protected:
  void start(std::vector<std::string> extra = {}, std::map<std::string, std::string> env = {}) {
    std::vector<std::string> args{"serve",     "--segment", seg_.str(), "--capacity", "64",
                                  "--threads", "2"};
    args.insert(args.end(), extra.begin(), extra.end());
    daemon_ = std::make_unique<DaemonProcess>(std::move(args), std::move(env));
    ASSERT_TRUE(daemon_->running()) << daemon_->log();
  }
  std::uint16_t port() const { return daemon_->port(); }
  void post(std::string_view event, std::string_view headers = {}) {
    const HttpReply r = http(port(), "POST", "/progress", event, headers);
    ASSERT_EQ(r.status, 200) << event << " -> " << r.body;
  }
  Doc task(std::string_view id) { return Doc(http(port(), "GET", fmt::format("/tasks/{}", id)).body); }

  ScopedSegmentName seg_;
  std::unique_ptr<DaemonProcess> daemon_;
};

TEST_F(BoardServe, AnAcknowledgedFailureReachesEveryClientUntilTheTaskMovesAgain) {
  start();
  post(R"({"task_id":"etl/7","status":"error","error":"disk full","project":"etl"})");
  post(R"({"task_id":"etl/8","status":"update","n":1,"project":"etl"})");
  WsTestClient v1(port(), "/ws?protocol=delta");
  WsTestClient v2(port(), "/ws?protocol=delta2");
  ASSERT_TRUE(v1.open()) << v1.error();
  ASSERT_TRUE(v2.open()) << v2.error();

  // The route's refusals: unknown task, a task that has not failed, an id cut short.
  const HttpReply missing = http(port(), "POST", "/tasks/nope/acknowledge", "");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body, R"({"detail":"Task not found"})");
  const HttpReply running = http(port(), "POST", "/tasks/etl%2F8/acknowledge", "");
  EXPECT_EQ(running.status, 409);
  EXPECT_THAT(running.body, HasSubstr("has not failed (its status is 'update')"));
  EXPECT_EQ(http(port(), "POST", "/tasks/etl%2/acknowledge", "").status, 422);

  // The id in the path percent-escaped or raw (a slash in it) names the same task.
  const HttpReply acked = http(port(), "POST", "/tasks/etl%2F7/acknowledge", "");
  ASSERT_EQ(acked.status, 200) << acked.body;
  const Doc a(acked.body);
  EXPECT_EQ(a.str("/task_id"), "etl/7");
  const double when = a.num("/acknowledged_at");
  EXPECT_NEAR(when, std::chrono::duration<double>(
                        std::chrono::system_clock::now().time_since_epoch()).count(), 60);
  // Twice: the first time stands.
  const HttpReply again = http(port(), "POST", "/tasks/etl/7/acknowledge", "");
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_DOUBLE_EQ(Doc(again.body).num("/acknowledged_at"), when);
  EXPECT_DOUBLE_EQ(task("etl%2F7").num("/acknowledged_at"), when);

  // Every live client hears of it: the delta protocol's whole task, delta2's short key.
  std::string last;
  EXPECT_TRUE(v1.read_until([](const std::string& f) { return f.find("\"acknowledged_at\":") != std::string::npos; },
                            20s, &last))
      << last;
  EXPECT_TRUE(v2.read_until([](const std::string& f) { return f.find("\"ak\":") != std::string::npos; }, 20s,
                            &last))
      << last;
  EXPECT_TRUE(eventually(
      [&] { return Doc(http(port(), "GET", "/summary").body).u64("/tasks/acknowledged") == 1; },
      20s));
  EXPECT_EQ(Doc(http(port(), "GET", "/summary").body).u64("/projects/etl/tasks/acknowledged"), 1u);

  // Withdrawn, then acknowledged again, then a new run of the task: the acknowledgement goes.
  const HttpReply undone = http(port(), "POST", "/tasks/etl%2F7/unacknowledge", "");
  ASSERT_EQ(undone.status, 200) << undone.body;
  EXPECT_EQ(undone.body, R"({"ok":true,"task_id":"etl/7","acknowledged":false})");
  EXPECT_FALSE(task("etl%2F7").has("/acknowledged_at"));
  ASSERT_EQ(http(port(), "POST", "/tasks/etl%2F7/acknowledge", "").status, 200);
  post(R"({"task_id":"etl/7","status":"start"})");
  EXPECT_FALSE(task("etl%2F7").has("/acknowledged_at"));
  EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();
}

TEST_F(BoardServe, AcknowledgingNeedsTheWriteToken) {
  start({}, {{"PROGRESSISTA_API_TOKEN", "s3cret"}});
  post(R"({"task_id":"f","status":"error"})", "Authorization: Bearer s3cret\r\n");
  const HttpReply anonymous = http(port(), "POST", "/tasks/f/acknowledge", "");
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_EQ(anonymous.header("www-authenticate"), "Bearer");
  EXPECT_EQ(http(port(), "POST", "/tasks/f/acknowledge", "", "Authorization: Bearer s3cret\r\n")
                .status,
            200);
  EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();
}

TEST_F(BoardServe, GetTasksFlagsAStalledTaskAndFiltersOnIt) {
  // One second at the least, twice the task's cadence: quick enough for a test.
  start({"--stalled-min-seconds", "1", "--stalled-factor", "2"});
  post(R"({"task_id":"quiet","status":"start","n":1,"total":10,"timestamp":1000})");
  post(R"({"task_id":"quiet","n":2,"timestamp":1001})");  // a rate: 1 a second
  post(R"({"task_id":"done","status":"close","n":10,"total":10})");
  EXPECT_FALSE(task("quiet").has("/stalled"));
  ASSERT_TRUE(eventually([&] { return task("quiet").has("/stalled"); }, 30s))
      << task("quiet").body;
  const Doc stalled(http(port(), "GET", "/tasks?stalled=true").body);
  EXPECT_TRUE(stalled.has("/tasks/quiet/stalled")) << stalled.body;
  EXPECT_FALSE(stalled.has("/tasks/done"));
  const Doc not_stalled(http(port(), "GET", "/tasks?stalled=false").body);
  EXPECT_TRUE(not_stalled.has("/tasks/done")) << not_stalled.body;
  EXPECT_FALSE(not_stalled.has("/tasks/quiet"));
  const HttpReply bad = http(port(), "GET", "/tasks?stalled=maybe");
  EXPECT_EQ(bad.status, 422);
  EXPECT_THAT(bad.body, HasSubstr("stalled must be true or false, got 'maybe'"));
  EXPECT_TRUE(eventually(
      [&] { return Doc(http(port(), "GET", "/summary").body).u64("/tasks/stalled") == 1; }, 20s));
  const Doc summary(http(port(), "GET", "/summary").body);
  EXPECT_DOUBLE_EQ(summary.num("/stalled_rule/factor"), 2);
  EXPECT_DOUBLE_EQ(summary.num("/stalled_rule/min_seconds"), 1);
  // A stalled task's last rate is no throughput: its units are still to go, at no known pace.
  EXPECT_DOUBLE_EQ(summary.num("/no_project/by_units/rate"), 0) << summary.body;
  EXPECT_DOUBLE_EQ(summary.num("/no_project/by_units/remaining"), 8);
  EXPECT_TRUE(summary.ok && summary.root.at_pointer("/no_project/by_units/eta").is_null());
  // An event: running again, and the live frames never carried the flag.
  post(R"({"task_id":"quiet","n":3})");
  EXPECT_FALSE(task("quiet").has("/stalled"));
  EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();
}

TEST_F(BoardServe, SummaryRollsUpProjectsFromIdsWithThroughputAndHistory) {
  start();
  // Two shards of `ads` by their ids, rows a second from their rates; one failed.
  for (int step = 0; step < 3; ++step) {
    for (const char* id : {"ads/shard-1", "ads/shard-2"}) {
      post(fmt::format(R"({{"task_id":"{}","status":"update","n":{},"total":100,"unit":"rows",)"
                       R"("timestamp":{}}})",
                       id, step * 10, 1000 + step));
    }
  }
  post(R"({"task_id":"ads:loader","status":"error","error":"x"})");
  post(R"({"task_id":"/odd","status":"start"})");
  std::string body;
  ASSERT_TRUE(eventually(
      [&] {
        body = http(port(), "GET", "/summary").body;
        const Doc s(body);
        return s.u64("/projects/ads/tasks/total") == 3 && s.array_size("/history/events_per_second") >= 1 &&
               s.num("/history/events_per_second/0") > 0;
      },
      30s))
      << body;
  const Doc s(body);
  EXPECT_EQ(s.u64("/projects/ads/tasks/error"), 1u);
  EXPECT_EQ(s.u64("/no_project/tasks/total"), 1u) << "an id that starts with the separator";
  EXPECT_EQ(s.str("/project_rule/id_separators"), "/:");
  EXPECT_EQ(s.str("/projects/ads/by_units/unit"), "rows");
  EXPECT_DOUBLE_EQ(s.num("/projects/ads/by_units/rate"), 20) << body;  // 10 rows/s each
  EXPECT_DOUBLE_EQ(s.num("/projects/ads/by_units/remaining"), 160);
  EXPECT_DOUBLE_EQ(s.num("/projects/ads/by_units/eta"), 8);
  EXPECT_DOUBLE_EQ(s.num("/history/step"), 10);
  const std::size_t points = s.array_size("/history/seconds");
  EXPECT_GE(points, 1u);
  EXPECT_EQ(s.array_size("/history/closed_per_minute"), points);
  EXPECT_EQ(s.array_size("/history/failed_per_minute"), points);
  EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();
}

TEST_F(BoardServe, TheProjectRuleIsConfigurable) {
  start({"--project-id-separators", ""});
  post(R"({"task_id":"ads/shard-1","status":"start"})");
  std::string body;
  ASSERT_TRUE(eventually(
      [&] {
        body = http(port(), "GET", "/summary").body;
        return Doc(body).u64("/no_project/tasks/total") == 1;
      },
      20s))
      << body;
  EXPECT_THAT(body, Not(HasSubstr("\"ads\"")));
  EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();
}

}  // namespace
}  // namespace progressista
