// The broadcaster's read API (GET /tasks, /tasks/{id}, /projects/{p}/progress), called
// directly against a real segment filled through the real Ingestor.
#include <algorithm>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include "live/read_api.hpp"
#include "progressista/event_parser.hpp"
#include "progressista/ingest.hpp"
#include "progressista/snapshot.hpp"
#include "progressista/store.hpp"
#include "progressista/task_json.hpp"
#include "support/route_request.hpp"
#include "support/segment_fixture.hpp"

namespace progressista {
namespace {

using daemon::ApiContext;
using daemon::Cors;
using daemon::HttpResponse;
using daemon::ReadRoutes;
using ::testing::HasSubstr;
using testing::response_header;
using testing::RouteRequest;

// 2026-11-23T10:00:00Z
constexpr double kT0 = 1795428000.0;

class ReadRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = Store::open(testing::options(seg_, 64));
    ctx_ =
        std::make_unique<ApiContext>(ApiContext{*store_, TokenSet{}, Cors({}), Role::kBroadcast});
    // The tasks here are posted at fixed times long past: with the stall rule on, every
    // running one would be "stalled" (board_rules_test.cpp covers the flag).
    routes_ = std::make_unique<ReadRoutes>(*ctx_, StallRule{0, 0});
  }

  // Posts one JSON body through the Ingestor, as the ingest daemon would, at server time `now`.
  void post(std::string_view json, double now) {
    PaddedBody body;
    body.assign(json);
    Ingestor ingestor(*store_);
    fmt::memory_buffer out;
    ASSERT_EQ(ingestor.apply(body.view(), body.capacity(), BodyFormat::kJson, now, out), 200)
        << fmt::to_string(out);
  }

  using Answer = testing::RouteAnswer;
  Answer call(std::string method, std::string target,
              std::map<std::string, std::string> headers = {}) {
    return testing::call_route(*routes_, std::move(method), std::move(target), std::move(headers));
  }
  Answer get(std::string target) { return call("GET", std::move(target)); }

  // The task ids of a {"tasks": {...}} body, in body order.
  static std::vector<std::string> task_ids(const std::string& body) {
    simdjson::dom::parser parser;
    simdjson::dom::object tasks;
    EXPECT_EQ(parser.parse(body).at_key("tasks").get(tasks), simdjson::SUCCESS) << body;
    std::vector<std::string> ids;
    for (auto [k, v] : tasks) ids.emplace_back(k);
    std::sort(ids.begin(), ids.end());
    return ids;
  }

  // The operationId of each operation of a {"operations": [...]} body, in body order.
  static std::vector<std::string> operation_ids(const std::string& body) {
    simdjson::dom::parser parser;
    simdjson::dom::array ops;
    EXPECT_EQ(parser.parse(body).at_key("operations").get(ops), simdjson::SUCCESS) << body;
    std::vector<std::string> ids;
    for (simdjson::dom::element op : ops) ids.emplace_back(std::string_view(op["operationId"]));
    return ids;
  }

  std::uint64_t count(Counter c) const { return store_->counters().get(c); }

  testing::ScopedSegmentName seg_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<ApiContext> ctx_;
  std::unique_ptr<ReadRoutes> routes_;
};

TEST_F(ReadRoutesTest, TasksAnswersTheSnapshotShapeByteForByte) {
  post(R"({"task_id":"a","n":1,"total":4,"desc":"Copy","unit":"file","meta":{"k":[1,2]}})", kT0);
  post(R"({"task_id":"b","status":"close","project":"p"})", kT0 + 1);
  const auto a = get("/tasks");
  ASSERT_TRUE(a.handled);
  EXPECT_EQ(a.response.status, 200);
  EXPECT_EQ(a.response.content_type, "application/json");
  EXPECT_EQ(response_header(a.response, "Cache-Control"), "no-store");
  fmt::memory_buffer expected;
  append_snapshot(expected, store_->table());
  EXPECT_EQ(a.response.body, fmt::to_string(expected));
  EXPECT_EQ(task_ids(a.response.body), (std::vector<std::string>{"a", "b"}));
}

TEST_F(ReadRoutesTest, HeadAnswersLikeGet) {
  post(R"({"task_id":"a"})", kT0);
  const auto g = get("/tasks");
  const auto h = call("HEAD", "/tasks");
  ASSERT_TRUE(h.handled);
  EXPECT_EQ(h.response.status, 200);
  EXPECT_EQ(h.response.body, g.response.body);
}

TEST_F(ReadRoutesTest, StatusFilterAcceptsCanonicalNamesAndAliases) {
  post(R"({"task_id":"done-1","status":"close"})", kT0);
  post(R"({"task_id":"done-2","status":"completed"})", kT0);
  post(R"({"task_id":"running","status":"update"})", kT0);
  post(R"({"task_id":"broken","status":"failed"})", kT0);
  EXPECT_EQ(task_ids(get("/tasks?status=close").response.body),
            (std::vector<std::string>{"done-1", "done-2"}));
  EXPECT_EQ(task_ids(get("/tasks?status=Completed").response.body),
            (std::vector<std::string>{"done-1", "done-2"}));
  EXPECT_EQ(task_ids(get("/tasks?status=in_progress").response.body),
            (std::vector<std::string>{"running"}));
  EXPECT_EQ(task_ids(get("/tasks?status=error").response.body),
            (std::vector<std::string>{"broken"}));
  EXPECT_EQ(task_ids(get("/tasks?status=").response.body).size(), 4u);
}

TEST_F(ReadRoutesTest, UnknownStatusFilterGets422WithTheAcceptedList) {
  const auto before = count(Counter::kRejectedValidation);
  const auto a = get("/tasks?status=sleeping");
  ASSERT_TRUE(a.handled);
  EXPECT_EQ(a.response.status, 422);
  EXPECT_THAT(a.response.body, HasSubstr("status 'sleeping' is not accepted"));
  EXPECT_THAT(a.response.body, HasSubstr("in_progress"));
  EXPECT_EQ(count(Counter::kRejectedValidation), before + 1);
}

TEST_F(ReadRoutesTest, ActiveMeansNeitherClosedNorFailed) {
  post(R"({"task_id":"started","status":"start"})", kT0);
  post(R"({"task_id":"updating"})", kT0);
  post(R"({"task_id":"stale","status":"stale"})", kT0);
  post(R"({"task_id":"recovered","status":"recovered"})", kT0);
  post(R"({"task_id":"closed","status":"close"})", kT0);
  post(R"({"task_id":"failed","status":"error"})", kT0);
  const std::vector<std::string> active{"recovered", "stale", "started", "updating"};
  EXPECT_EQ(task_ids(get("/tasks?active=true").response.body), active);
  EXPECT_EQ(task_ids(get("/tasks?active=1").response.body), active);
  EXPECT_EQ(task_ids(get("/tasks?active=false").response.body).size(), 6u);
}

TEST_F(ReadRoutesTest, BadActiveValueGets422) {
  const auto a = get("/tasks?active=maybe");
  EXPECT_EQ(a.response.status, 422);
  EXPECT_THAT(a.response.body, HasSubstr("active must be true or false"));
}

TEST_F(ReadRoutesTest, FiltersCombineWithAnd) {
  post(R"({"task_id":"etl/a","project":"etl"})", kT0);
  post(R"({"task_id":"etl/b","project":"etl","status":"close"})", kT0);
  post(R"({"task_id":"ml/a","project":"etl"})", kT0);
  post(R"({"task_id":"etl/c","project":"ml"})", kT0);
  post(R"({"task_id":"etl/d"})", kT0);
  EXPECT_EQ(task_ids(get("/tasks?project=etl").response.body),
            (std::vector<std::string>{"etl/a", "etl/b", "ml/a"}));
  EXPECT_EQ(task_ids(get("/tasks?prefix=etl%2F").response.body),
            (std::vector<std::string>{"etl/a", "etl/b", "etl/c", "etl/d"}));
  EXPECT_EQ(task_ids(get("/tasks?project=etl&prefix=etl/").response.body),
            (std::vector<std::string>{"etl/a", "etl/b"}));
  EXPECT_EQ(task_ids(get("/tasks?project=etl&prefix=etl/&active=true").response.body),
            (std::vector<std::string>{"etl/a"}));
  EXPECT_EQ(task_ids(get("/tasks?project=etl&status=close").response.body),
            (std::vector<std::string>{"etl/b"}));
  EXPECT_TRUE(task_ids(get("/tasks?project=nothing").response.body).empty());
  EXPECT_EQ(get("/tasks?project=nothing").response.body, R"({"tasks":{}})");
}

TEST_F(ReadRoutesTest, OneTaskByPercentEncodedId) {
  post(R"({"task_id":"host:1/a b+c","n":2,"total":5})", kT0);
  const auto a = get("/tasks/host%3A1%2Fa%20b+c");
  ASSERT_TRUE(a.handled);
  ASSERT_EQ(a.response.status, 200) << a.response.body;
  TaskRecord rec;
  ASSERT_TRUE(store_->table().lookup("host:1/a b+c", rec));
  fmt::memory_buffer expected;
  append_task_json(expected, rec);
  EXPECT_EQ(a.response.body, fmt::to_string(expected));
  // Unencoded slashes in the id reach the route too.
  EXPECT_EQ(get("/tasks/host:1/a%20b+c").response.body, fmt::to_string(expected));
}

TEST_F(ReadRoutesTest, MissingTaskGets404) {
  const auto a = get("/tasks/nope");
  ASSERT_TRUE(a.handled);
  EXPECT_EQ(a.response.status, 404);
  EXPECT_EQ(a.response.body, R"({"detail":"Task not found"})");
}

TEST_F(ReadRoutesTest, MalformedEscapeInTaskIdGets422) {
  const auto a = get("/tasks/a%zz");
  EXPECT_EQ(a.response.status, 422);
}

TEST_F(ReadRoutesTest, ProjectProgressInTheOperationsTrackerShape) {
  post(R"({"task_id":"op-1","desc":"Import \"users\"","project":"etl","phase":"load",)"
       R"("message":"batch 3","n":30,"total":120,"meta":{"dataset":"users_v2","x":1}})",
       kT0 + 0.123);
  post(R"({"task_id":"op-1","status":"error","error":"disk full"})", kT0 + 61.5);
  const auto a = get("/projects/etl/progress");
  ASSERT_TRUE(a.handled);
  ASSERT_EQ(a.response.status, 200);
  EXPECT_EQ(response_header(a.response, "Cache-Control"), "no-store");
  EXPECT_EQ(a.response.body,
            R"({"operations":[{"operationId":"op-1","operation":"Import \"users\"",)"
            R"("project":"etl","dataset":"users_v2","status":"failed","phase":"load",)"
            R"("progress":25,"message":"batch 3","startedAt":"2026-11-23T10:00:00.123Z",)"
            R"("updatedAt":"2026-11-23T10:01:01.500Z","completedAt":"2026-11-23T10:01:01.500Z",)"
            R"("error":"disk full"}]})");
}

TEST_F(ReadRoutesTest, OperationWithoutOptionalFieldsHasNulls) {
  post(R"({"task_id":"bare","project":"p"})", kT0);
  const auto a = get("/projects/p/progress");
  EXPECT_EQ(a.response.body,
            R"({"operations":[{"operationId":"bare","operation":"bare","project":"p",)"
            R"("dataset":null,"status":"in_progress","phase":null,"progress":null,)"
            R"("message":null,"startedAt":"2026-11-23T10:00:00.000Z",)"
            R"("updatedAt":"2026-11-23T10:00:00.000Z","completedAt":null,"error":null}]})");
}

TEST_F(ReadRoutesTest, OperationStatusMapsOntoFourStates) {
  post(R"({"task_id":"s","status":"start"})", kT0);
  post(R"({"task_id":"u","status":"update"})", kT0 + 1);
  post(R"({"task_id":"st","status":"stale"})", kT0 + 2);
  post(R"({"task_id":"r","status":"recovered"})", kT0 + 3);
  post(R"({"task_id":"c","status":"close"})", kT0 + 4);
  post(R"({"task_id":"e","status":"error"})", kT0 + 5);
  simdjson::dom::parser parser;
  const std::string body = get("/projects/all/progress").response.body;
  simdjson::dom::array ops;
  ASSERT_EQ(parser.parse(body).at_key("operations").get(ops), simdjson::SUCCESS) << body;
  std::map<std::string, std::string> status;
  for (simdjson::dom::element op : ops) {
    status[std::string(std::string_view(op["operationId"]))] = std::string_view(op["status"]);
  }
  EXPECT_EQ(status, (std::map<std::string, std::string>{{"s", "started"},
                                                        {"u", "in_progress"},
                                                        {"st", "in_progress"},
                                                        {"r", "in_progress"},
                                                        {"c", "completed"},
                                                        {"e", "failed"}}));
}

TEST_F(ReadRoutesTest, OperationsAreSortedByUpdatedAtDescending) {
  post(R"({"task_id":"old","project":"p"})", kT0);
  post(R"({"task_id":"new","project":"p"})", kT0 + 20);
  post(R"({"task_id":"mid","project":"p"})", kT0 + 10);
  post(R"({"task_id":"old","project":"p","n":1})", kT0 + 30);  // now the newest
  EXPECT_EQ(operation_ids(get("/projects/p/progress").response.body),
            (std::vector<std::string>{"old", "new", "mid"}));
}

TEST_F(ReadRoutesTest, AllProjectsActiveAndProjectFilters) {
  post(R"({"task_id":"a","project":"p"})", kT0);
  post(R"({"task_id":"b","project":"q"})", kT0 + 1);
  post(R"({"task_id":"c","project":"p","status":"close"})", kT0 + 2);
  post(R"({"task_id":"d"})", kT0 + 3);
  post(R"({"task_id":"e","project":"a b/c"})", kT0 + 4);
  EXPECT_EQ(operation_ids(get("/projects/all/progress").response.body),
            (std::vector<std::string>{"e", "d", "c", "b", "a"}));
  EXPECT_EQ(operation_ids(get("/projects/all/progress?active=true").response.body),
            (std::vector<std::string>{"e", "d", "b", "a"}));
  EXPECT_EQ(operation_ids(get("/projects/p/progress").response.body),
            (std::vector<std::string>{"c", "a"}));
  EXPECT_EQ(operation_ids(get("/projects/p/progress?active=yes").response.body),
            (std::vector<std::string>{"a"}));
  EXPECT_EQ(operation_ids(get("/projects/a%20b%2Fc/progress").response.body),
            (std::vector<std::string>{"e"}));
  EXPECT_EQ(get("/projects/none/progress").response.body, R"({"operations":[]})");
}

TEST_F(ReadRoutesTest, OperationIdAnswersTheSingleOperationOr404) {
  post(R"({"task_id":"job 1","project":"p","n":5,"total":10})", kT0);
  post(R"({"task_id":"job-2","project":"q","status":"close"})", kT0);
  const auto one = get("/projects/p/progress?operationId=job%201");
  ASSERT_EQ(one.response.status, 200);
  simdjson::dom::parser parser;
  simdjson::dom::object op;
  ASSERT_EQ(parser.parse(one.response.body).get(op), simdjson::SUCCESS) << one.response.body;
  EXPECT_EQ(std::string_view(op["operationId"]), "job 1");
  EXPECT_EQ(double(op["progress"]), 50);
  EXPECT_EQ(get("/projects/all/progress?operationId=job-2").response.status, 200);

  for (const char* target : {"/projects/p/progress?operationId=missing",
                             "/projects/p/progress?operationId=job-2",  // another project
                             "/projects/all/progress?operationId=job-2&active=true"}) {
    const auto a = get(target);
    EXPECT_EQ(a.response.status, 404) << target;
    EXPECT_EQ(a.response.body, R"({"detail":"Operation not found"})") << target;
  }
}

TEST_F(ReadRoutesTest, ProgressIsAClampedPercentageOrNull) {
  post(R"({"task_id":"over","n":15,"total":10})", kT0);
  post(R"({"task_id":"zero-total","n":3,"total":0})", kT0 + 1);
  post(R"({"task_id":"pct","progress":37.5})", kT0 + 2);
  post(R"({"task_id":"no-total","n":3})", kT0 + 3);
  simdjson::dom::parser parser;
  const std::string body = get("/projects/all/progress").response.body;
  simdjson::dom::array ops;
  ASSERT_EQ(parser.parse(body).at_key("operations").get(ops), simdjson::SUCCESS);
  std::map<std::string, std::string> progress;
  for (simdjson::dom::element op : ops) {
    progress[std::string(std::string_view(op["operationId"]))] = simdjson::minify(op["progress"]);
  }
  EXPECT_EQ(progress,
            (std::map<std::string, std::string>{
                {"over", "100"}, {"zero-total", "null"}, {"pct", "37.5"}, {"no-total", "null"}}));
}

TEST_F(ReadRoutesTest, DatasetComesFromMetaOnlyWhenItIsAString) {
  post(R"({"task_id":"s","meta":{"dataset":"tab\t\"q\"\u00e9"}})", kT0 + 3);
  post(R"({"task_id":"n","meta":{"dataset":5}})", kT0 + 2);
  post(R"({"task_id":"nested","meta":{"x":{"dataset":"no"}}})", kT0 + 1);
  post(R"({"task_id":"none"})", kT0);
  simdjson::dom::parser parser;
  const std::string body = get("/projects/all/progress").response.body;
  simdjson::dom::array ops;
  ASSERT_EQ(parser.parse(body).at_key("operations").get(ops), simdjson::SUCCESS) << body;
  std::vector<std::string> datasets;
  for (simdjson::dom::element op : ops) datasets.push_back(simdjson::minify(op["dataset"]));
  EXPECT_EQ(datasets, (std::vector<std::string>{R"("tab\t\"q\")"
                                                "\xc3\xa9\"",
                                                "null", "null", "null"}));
}

TEST_F(ReadRoutesTest, EveryRouteNeedsATokenWhenTokensAreSet) {
  ctx_->tokens = TokenSet({"s3cret"});
  post(R"({"task_id":"a","project":"p"})", kT0);
  for (const char* target :
       {"/tasks", "/tasks/a", "/projects/p/progress", "/projects/all/progress?operationId=a"}) {
    const auto before = count(Counter::kRejectedAuth);
    const auto denied = get(target);
    ASSERT_TRUE(denied.handled) << target;
    EXPECT_EQ(denied.response.status, 401) << target;
    EXPECT_EQ(denied.response.body, R"({"detail":"Invalid API token"})");
    EXPECT_EQ(response_header(denied.response, "WWW-Authenticate"), "Bearer");
    EXPECT_EQ(count(Counter::kRejectedAuth), before + 1);

    EXPECT_EQ(call("GET", target, {{"Authorization", "Bearer wrong"}}).response.status, 401);
    EXPECT_EQ(call("GET", target, {{"Authorization", "Bearer s3cret"}}).response.status, 200)
        << target;
    const std::string with_query =
        std::string(target) + (std::string_view(target).find('?') == std::string_view::npos
                                   ? "?token=s3cret"
                                   : "&token=s3cret");
    EXPECT_EQ(get(with_query).response.status, 200) << with_query;
  }
}

TEST_F(ReadRoutesTest, OnlyGetAndHeadAreAllowed) {
  const auto before = count(Counter::kRejectedMethod);
  for (const char* target : {"/tasks", "/tasks/a", "/projects/p/progress"}) {
    const auto a = call("POST", target);
    ASSERT_TRUE(a.handled);
    EXPECT_EQ(a.response.status, 405);
    EXPECT_EQ(a.response.body, R"({"detail":"Method Not Allowed"})");
    EXPECT_EQ(response_header(a.response, "Allow"), "GET, HEAD");
  }
  EXPECT_EQ(count(Counter::kRejectedMethod), before + 3);
  // In `serve` the write API answers DELETE on the task routes, so Allow says so.
  ctx_->role = Role::kServe;
  EXPECT_EQ(response_header(call("PUT", "/tasks").response, "Allow"), "GET, HEAD, DELETE");
  EXPECT_EQ(response_header(call("PUT", "/tasks/a").response, "Allow"), "GET, HEAD, DELETE");
  EXPECT_EQ(response_header(call("PUT", "/projects/p/progress").response, "Allow"), "GET, HEAD");
}

TEST_F(ReadRoutesTest, OtherPathsAreLeftToTheirRoutes) {
  for (const char* target :
       {"/", "/progress", "/health", "/metrics", "/tasks/", "/tasksx", "/projects/p",
        "/projects//progress", "/projects/progress", "/static/index.html"}) {
    EXPECT_FALSE(get(target).handled) << target;
  }
}

TEST(ReadApiIso8601, UtcWithMilliseconds) {
  const auto iso = [](double t) {
    fmt::memory_buffer out;
    return daemon::append_iso8601(out, t) ? fmt::to_string(out) : std::string("<none>");
  };
  EXPECT_EQ(iso(kT0 + 0.123), "2026-11-23T10:00:00.123Z");
  EXPECT_EQ(iso(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(iso(951868799.9996), "2000-03-01T00:00:00.000Z");  // rounds into the next day
  EXPECT_EQ(iso(951868799.5), "2000-02-29T23:59:59.500Z");
  EXPECT_EQ(iso(-14182940.25), "1969-07-20T20:17:39.750Z");
  EXPECT_EQ(iso(std::numeric_limits<double>::quiet_NaN()), "<none>");
  EXPECT_EQ(iso(std::numeric_limits<double>::infinity()), "<none>");
  EXPECT_EQ(iso(1e300), "<none>");
}

}  // namespace
}  // namespace progressista
