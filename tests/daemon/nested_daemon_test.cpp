// Nested progress through a real `progressista serve`: parents from POST /progress (the
// `parent` field and RemoteTqdm's meta.parent), served by GET /tasks, ?parent=, the 422 for a
// cycle, the 409 for deleting a parent with children, and the live SSE stream.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include "support/daemon_process.hpp"
#include "support/http_client.hpp"
#include "support/json_doc.hpp"
#include "support/segment_fixture.hpp"
#include "support/sse_reader.hpp"
#include "support/wait.hpp"

namespace progressista {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::DaemonProcess;
using testing::eventually;
using testing::http;
using testing::ScopedSegmentName;
using testing::SseReader;
using Json = testing::JsonDoc;
using namespace std::chrono_literals;

class NestedDaemon : public ::testing::Test {
 protected:
  void start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"serve", "--segment", seg_.str(), "--capacity", "1024",
                                  "--threads", "2", "--tick", "0.02"};
    args.insert(args.end(), extra.begin(), extra.end());
    daemon_ = std::make_unique<DaemonProcess>(std::move(args));
    ASSERT_TRUE(daemon_->running()) << daemon_->log();
  }
  std::uint16_t port() const { return daemon_->port(); }
  testing::HttpReply post(const std::string& body) { return http(port(), "POST", "/progress", body); }
  // GET /tasks/{id}'s number at `path` ("n", "children/count"), or -1.
  double number(const std::string& id, const char* a, const char* b = nullptr) {
    const testing::HttpReply r = http(port(), "GET", "/tasks/" + id);
    Json j(r.body);
    double v = -1;
    if (!j.ok) return v;
    auto x = b ? j.root[a][b] : j.root[a];
    double d = 0;
    std::int64_t i = 0;
    if (x.get_double().get(d) == simdjson::SUCCESS) v = d;
    else if (x.get_int64().get(i) == simdjson::SUCCESS) v = static_cast<double>(i);
    return v;
  }

  ScopedSegmentName seg_;
  std::unique_ptr<DaemonProcess> daemon_;
};

TEST_F(NestedDaemon, ChildrenPostedOverHttpRollUpIntoAnImplicitParent) {
  start();
  ASSERT_EQ(post(R"({"task_id":"w1","n":3,"total":10,"parent":"job"})").status, 200);
  // RemoteTqdm can only send meta.
  ASSERT_EQ(post(R"({"task_id":"w2","n":4,"total":10,"meta":{"parent":"job"}})").status, 200);
  EXPECT_EQ(number("job", "n"), 7);
  EXPECT_EQ(number("job", "total"), 20);
  EXPECT_EQ(number("job", "children", "count"), 2);
  EXPECT_EQ(number("job", "children", "running"), 2);
  const testing::HttpReply w2 = http(port(), "GET", "/tasks/w2");
  EXPECT_THAT(w2.body, HasSubstr(R"("parent":"job")"));

  ASSERT_EQ(post(R"({"task_id":"w1","status":"error","error":"boom"})").status, 200);
  EXPECT_THAT(http(port(), "GET", "/tasks/job").body, HasSubstr(R"("status":"error")"));
  EXPECT_EQ(number("job", "children", "failed"), 1);

  const testing::HttpReply kids = http(port(), "GET", "/tasks?parent=job");
  EXPECT_EQ(Json(kids.body).keys("tasks"), (std::set<std::string>{"w1", "w2"}));
  const testing::HttpReply top = http(port(), "GET", "/tasks?parent=");
  EXPECT_EQ(Json(top.body).keys("tasks"), (std::set<std::string>{"job"}));
}

TEST_F(NestedDaemon, ACycleIsRefusedWith422AndCounted) {
  start();
  ASSERT_EQ(post(R"({"task_id":"a","parent":"b"})").status, 200);
  const testing::HttpReply r = post(R"({"task_id":"b","parent":"a"})");
  EXPECT_EQ(r.status, 422);
  EXPECT_THAT(r.body, HasSubstr("cycle"));
  const testing::HttpReply batch =
      post(R"([{"task_id":"c","parent":"c"},{"task_id":"d","parent":"a"}])");
  EXPECT_EQ(batch.status, 200);
  EXPECT_THAT(batch.body, HasSubstr(R"("accepted":1)"));
  EXPECT_THAT(batch.body, HasSubstr(R"("index":0)"));
  EXPECT_THAT(http(port(), "GET", "/metrics").body, HasSubstr(R"(progressista_rejected_total{reason="parent_cycle"} 2)"));
}

TEST_F(NestedDaemon, DeletingAParentWithChildrenIs409AndTheChildFirstWorks) {
  start();
  ASSERT_EQ(post(R"({"task_id":"c1","n":1,"parent":"p"})").status, 200);
  const testing::HttpReply refused = http(port(), "DELETE", "/tasks/p");
  EXPECT_EQ(refused.status, 409);
  EXPECT_THAT(refused.body, HasSubstr("has 1 children"));
  EXPECT_EQ(http(port(), "DELETE", "/tasks/c1").status, 200);
  EXPECT_EQ(number("p", "n"), 1) << "a childless parent keeps its last numbers";
  EXPECT_EQ(http(port(), "DELETE", "/tasks/p").status, 200);
  EXPECT_EQ(http(port(), "GET", "/tasks/p").status, 404);
}

TEST_F(NestedDaemon, TheLiveStreamCarriesTheParentsChanges) {
  start();
  SseReader sse(port());
  ASSERT_TRUE(sse.opened());
  ASSERT_EQ(post(R"({"task_id":"w","n":5,"total":8,"parent":"fleet"})").status, 200);
  std::string id, data;
  bool seen = false;
  for (int i = 0; i < 50 && !seen && sse.next(id, data, 20s); ++i) {
    seen = data.find(R"("task_id":"fleet")") != std::string::npos &&
           data.find(R"("children":{"count":1,"closed":0,"failed":0,"running":1})") !=
               std::string::npos;
  }
  EXPECT_TRUE(seen) << data;
}

TEST_F(NestedDaemon, ParentFailsWithChildCanBeTurnedOff) {
  start({"--no-parent-fails-with-child"});
  ASSERT_EQ(post(R"({"task_id":"a","parent":"p"})").status, 200);
  ASSERT_EQ(post(R"({"task_id":"b","parent":"p"})").status, 200);
  ASSERT_EQ(post(R"({"task_id":"a","status":"error"})").status, 200);
  EXPECT_THAT(http(port(), "GET", "/tasks/p").body, Not(HasSubstr(R"("status":"error")")));
  ASSERT_EQ(post(R"({"task_id":"b","status":"close"})").status, 200);
  EXPECT_THAT(http(port(), "GET", "/tasks/p").body, HasSubstr(R"("status":"close")"));
}

}  // namespace
}  // namespace progressista
