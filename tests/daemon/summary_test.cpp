// GET /summary: the windows its rates are made of (SampleRing, with made-up times), then a real
// `progressista serve` on loopback fed events over several projects and read back over HTTP.
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include "live/read_api.hpp"  // append_iso8601
#include "live/summary.hpp"
#include "support/daemon_process.hpp"
#include "support/http_client.hpp"
#include "support/segment_fixture.hpp"
#include "support/wait.hpp"

namespace progressista {
namespace {

using daemon::CounterSample;
using daemon::CounterWindow;
using daemon::SampleRing;
using testing::DaemonProcess;
using testing::eventually;
using ::testing::HasSubstr;
using testing::http;
using testing::HttpReply;
using testing::ScopedSegmentName;

CounterSample at(double t, std::uint64_t events, std::uint64_t closed = 0, std::uint64_t failed = 0,
                 std::uint64_t generation = 1) {
  return CounterSample{t, generation, events, closed, failed};
}

TEST(SampleRing, AYoungProcessCoversOnlyTheTimeItHasRun) {
  SampleRing ring;
  ring.push(at(100, 40));
  const CounterWindow w = ring.window(at(103, 70, 2, 1), 10);
  EXPECT_DOUBLE_EQ(w.seconds, 3);
  EXPECT_EQ(w.events, 30u);
  EXPECT_EQ(w.closed, 2u);
  EXPECT_EQ(w.failed, 1u);
}

TEST(SampleRing, AWindowStartsAtTheNewestSampleOldEnoughToCoverIt) {
  SampleRing ring;
  for (int t = 0; t <= 200; ++t) ring.push(at(t, 10u * static_cast<std::uint64_t>(t)));
  const CounterSample now = at(200.5, 2005);
  const CounterWindow ten = ring.window(now, 10);
  EXPECT_DOUBLE_EQ(ten.seconds, 10.5);  // from the sample at 190
  EXPECT_EQ(ten.events, 105u);
  const CounterWindow minute = ring.window(now, 60);
  EXPECT_DOUBLE_EQ(minute.seconds, 60.5);  // the ring still reaches back past a minute
  EXPECT_EQ(minute.events, 605u);
}

TEST(SampleRing, ARecreatedSegmentStartsTheHistoryAgain) {
  SampleRing ring;
  ring.push(at(0, 500));
  ring.push(at(1, 600));
  // Another generation: what came before says nothing about the new segment's counters.
  EXPECT_DOUBLE_EQ(ring.window(at(2, 3, 0, 0, 2), 10).seconds, 0);
  ring.push(at(2, 3, 0, 0, 2));
  EXPECT_EQ(ring.size(), 1u);
  EXPECT_EQ(ring.window(at(4, 13, 0, 0, 2), 10).events, 10u);
  // Counters lower than before under the same generation: also a new start.
  ring.push(at(5, 1, 0, 0, 2));
  EXPECT_EQ(ring.size(), 1u);
}

// The summary's JSON, looked up by JSON pointer.
struct SummaryJson {
  explicit SummaryJson(const std::string& text) : body(text) {
    ok = parser.parse(body).get(root) == simdjson::SUCCESS;
  }
  [[nodiscard]] std::uint64_t u64(std::string_view pointer) const {
    std::uint64_t v = 0;
    return ok && root.at_pointer(pointer).get_uint64().get(v) == simdjson::SUCCESS
               ? v
               : ~std::uint64_t{0};
  }
  [[nodiscard]] double num(std::string_view pointer) const {
    double v = 0;
    return ok && root.at_pointer(pointer).get_double().get(v) == simdjson::SUCCESS ? v
                                                                                   : std::nan("");
  }
  [[nodiscard]] std::string str(std::string_view pointer) const {
    std::string_view v;
    return ok && root.at_pointer(pointer).get_string().get(v) == simdjson::SUCCESS
               ? std::string(v)
               : std::string("<absent>");
  }
  [[nodiscard]] bool is_null(std::string_view pointer) const {
    return ok && root.at_pointer(pointer).is_null();
  }
  [[nodiscard]] std::vector<std::string> keys(std::string_view pointer) const {
    std::vector<std::string> out;
    simdjson::dom::object o;
    if (ok && root.at_pointer(pointer).get_object().get(o) == simdjson::SUCCESS) {
      for (auto [k, v] : o) out.emplace_back(k);
    }
    return out;
  }
  std::string body;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  bool ok = false;
};

std::string iso(double seconds) {
  fmt::memory_buffer out;
  EXPECT_TRUE(daemon::append_iso8601(out, seconds));
  return fmt::to_string(out);
}

class SummaryServe : public ::testing::Test {
 protected:
  void start(std::map<std::string, std::string> env = {}) {
    daemon_ = std::make_unique<DaemonProcess>(
        std::vector<std::string>{"serve", "--segment", seg_.str(), "--capacity", "64", "--threads",
                                 "2"},
        std::move(env));
    ASSERT_TRUE(daemon_->running()) << daemon_->log();
  }
  std::uint16_t port() const { return daemon_->port(); }
  void post(std::string_view event) {
    const HttpReply r = http(port(), "POST", "/progress", event);
    ASSERT_EQ(r.status, 200) << event << " -> " << r.body;
  }
  // A task's field as the daemon serves it.
  double task_time(std::string_view id, std::string_view field) {
    const HttpReply r = http(port(), "GET", fmt::format("/tasks/{}", id));
    SummaryJson task(r.body);
    return task.num(fmt::format("/{}", field));
  }

  ScopedSegmentName seg_;
  std::unique_ptr<DaemonProcess> daemon_;
};

TEST_F(SummaryServe, CountsProgressRatesAndFailuresPerProject) {
  start();
  // etl: the project field (it wins over meta.project); rows agree.
  post(R"({"task_id":"etl-a","project":"etl","status":"update","n":5,"total":10,"unit":"rows"})");
  post(R"({"task_id":"etl-b","project":"etl","status":"close","n":10,"total":10,"unit":"rows"})");
  post(R"({"task_id":"etl-c","project":"etl","status":"error","n":1,"total":4,"unit":"rows",)"
       R"("error":"disk full"})");
  post(R"({"task_id":"etl-z","project":"etl","meta":{"project":"render"},"status":"start"})");
  // render: meta.project only; units disagree.
  post(R"({"task_id":"r1","meta":{"project":"render","k":1},"status":"update","n":1,"total":2,)"
       R"("unit":"frame"})");
  post(R"({"task_id":"r2","meta":{"project":"render"},"status":"close","n":4,"total":4,)"
       R"("unit":"file"})");
  // No project: none at all, "project" only as a value, a project that is not a string.
  post(R"({"task_id":"loose-1","status":"update","n":3})");
  post(R"({"task_id":"loose-2","meta":{"k":"project"},"status":"failed","error":"x"})");
  post(R"({"task_id":"loose-3","meta":{"project":7},"status":"start"})");
  // etl-b reopened and closed again: two completions. An update of the closed r2 is accepted
  // and ignored: an event, no completion.
  post(R"({"task_id":"etl-b","status":"start"})");
  post(R"({"task_id":"etl-b","status":"close"})");
  post(R"({"task_id":"r2","status":"update","n":1})");
  constexpr std::uint64_t kEvents = 12;

  std::string body;
  ASSERT_TRUE(eventually(
      [&] {
        const HttpReply r = http(port(), "GET", "/summary");
        body = r.body;
        const SummaryJson s(body);
        return r.status == 200 && s.u64("/rates/1m/events") == kEvents &&
               s.num("/rates/10s/events_per_s") > 0;
      },
      std::chrono::seconds(20)))
      << body;
  const HttpReply reply = http(port(), "GET", "/summary");
  EXPECT_EQ(reply.header("content-type"), "application/json");
  EXPECT_EQ(reply.header("cache-control"), "no-store");
  const SummaryJson s(body);
  ASSERT_TRUE(s.ok) << body;

  EXPECT_EQ(s.u64("/tasks/total"), 9u) << body;
  EXPECT_EQ(s.u64("/tasks/start"), 2u);
  EXPECT_EQ(s.u64("/tasks/update"), 3u);
  EXPECT_EQ(s.u64("/tasks/close"), 2u);
  EXPECT_EQ(s.u64("/tasks/error"), 2u);
  EXPECT_EQ(s.u64("/tasks/stale"), 0u);
  EXPECT_EQ(s.u64("/tasks/recovered"), 0u);
  EXPECT_EQ(s.keys("/projects"), (std::vector<std::string>{"etl", "render"}));

  EXPECT_EQ(s.u64("/projects/etl/tasks/total"), 4u);
  EXPECT_EQ(s.u64("/projects/etl/tasks/close"), 1u);
  EXPECT_EQ(s.u64("/projects/etl/tasks/error"), 1u);
  EXPECT_EQ(s.u64("/projects/etl/by_tasks/done"), 1u);
  EXPECT_EQ(s.u64("/projects/etl/by_tasks/total"), 4u);
  EXPECT_DOUBLE_EQ(s.num("/projects/etl/by_tasks/fraction"), 0.25);
  EXPECT_EQ(s.str("/projects/etl/by_units/unit"), "rows");
  EXPECT_EQ(s.u64("/projects/etl/by_units/tasks"), 3u);
  EXPECT_DOUBLE_EQ(s.num("/projects/etl/by_units/n"), 16);
  EXPECT_DOUBLE_EQ(s.num("/projects/etl/by_units/total"), 24);
  EXPECT_DOUBLE_EQ(s.num("/projects/etl/by_units/fraction"), 0.667);
  EXPECT_TRUE(s.is_null("/projects/etl/by_units_reason"));
  const double etl_failed = task_time("etl-c", "done_at");
  ASSERT_TRUE(std::isfinite(etl_failed));
  EXPECT_EQ(s.str("/projects/etl/last_failure"), iso(etl_failed));

  EXPECT_EQ(s.u64("/projects/render/tasks/total"), 2u);
  EXPECT_EQ(s.u64("/projects/render/by_tasks/done"), 1u);
  EXPECT_DOUBLE_EQ(s.num("/projects/render/by_tasks/fraction"), 0.5);
  EXPECT_TRUE(s.is_null("/projects/render/by_units")) << body;
  EXPECT_THAT(s.str("/projects/render/by_units_reason"), HasSubstr("'frame'"));
  EXPECT_THAT(s.str("/projects/render/by_units_reason"), HasSubstr("'file'"));
  EXPECT_TRUE(s.is_null("/projects/render/last_failure"));

  EXPECT_EQ(s.u64("/no_project/tasks/total"), 3u);
  EXPECT_EQ(s.u64("/no_project/tasks/error"), 1u);
  EXPECT_EQ(s.u64("/no_project/by_tasks/done"), 0u);
  EXPECT_TRUE(s.is_null("/no_project/by_units"));
  EXPECT_EQ(s.str("/no_project/by_units_reason"), "no task has a total");
  const double loose_failed = task_time("loose-2", "done_at");
  EXPECT_EQ(s.str("/no_project/last_failure"), iso(loose_failed));
  EXPECT_EQ(s.str("/last_failure"), iso(std::max(etl_failed, loose_failed)));

  EXPECT_EQ(s.u64("/rates/1m/completions"), 3u) << body;
  EXPECT_EQ(s.u64("/rates/1m/failures"), 2u);
  EXPECT_GT(s.num("/rates/1m/completions_per_min"), 0);
  EXPECT_GT(s.num("/rates/1m/failures_per_min"), 0);
  EXPECT_GE(s.num("/rates/1m/window_s"), 1);
  EXPECT_LE(s.num("/rates/10s/window_s"), 11.5);
  EXPECT_TRUE(s.root.at_pointer("/ingest/alive").is_bool());
  EXPECT_GE(s.num("/ingest/heartbeat_age"), 0);
  EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();
}

TEST_F(SummaryServe, NeedsTheTokenAndOnlyAnswersGet) {
  start({{"PROGRESSISTA_API_TOKEN", "s3cret"}});
  const HttpReply anonymous = http(port(), "GET", "/summary");
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_EQ(anonymous.header("www-authenticate"), "Bearer");
  EXPECT_EQ(anonymous.body, R"({"detail":"Invalid API token"})");
  EXPECT_EQ(http(port(), "GET", "/summary", {}, "Authorization: Bearer wrong\r\n").status, 401);
  const HttpReply bearer = http(port(), "GET", "/summary", {}, "Authorization: Bearer s3cret\r\n");
  EXPECT_EQ(bearer.status, 200);
  EXPECT_THAT(bearer.body, HasSubstr(R"("tasks":{"total":0,)"));
  EXPECT_EQ(http(port(), "GET", "/summary?token=s3cret").status, 200);
  // The method is checked before the token.
  const HttpReply posted = http(port(), "POST", "/summary", "{}");
  EXPECT_EQ(posted.status, 405);
  EXPECT_EQ(posted.header("allow"), "GET, HEAD");
  EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();
}

}  // namespace
}  // namespace progressista
