// The store's C ABI as the nginx module uses it: whole requests (media type, tokens, filters)
// answered like the daemons, refusals counted, token sets, re-creation noticed.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "progressista/segment.hpp"
#include "progressista/store.h"
#include "progressista/store.hpp"
#include "support/segment_fixture.hpp"

namespace progressista {
namespace {

using ::testing::HasSubstr;
using testing::ScopedSegmentName;

struct Answer {
  int status = 0;
  std::string body;
};

progressista_request request(std::string_view content_type, std::string_view authorization = {},
                             std::string_view query = {}) {
  return progressista_request{content_type.data(),  content_type.size(), authorization.data(),
                              authorization.size(), query.data(),        query.size()};
}

class StoreCAbiRequests : public ::testing::Test {
 protected:
  void SetUp() override {
    char err[256] = {0};
    store_ = progressista_attach(name_.str().c_str(), 16, 0600, err, sizeof err);
    ASSERT_NE(store_, nullptr) << err;
    tokens_ = progressista_tokens_new();
    ASSERT_NE(tokens_, nullptr);
    observer_ = Store::open(testing::options(name_, 16));
  }
  void TearDown() override {
    progressista_tokens_free(tokens_);
    progressista_detach(store_);
  }
  Answer post(std::string_view body, const progressista_request& req, bool with_tokens = true) {
    const char* answer = nullptr;
    size_t len = 0;
    const int status = progressista_post(store_, with_tokens ? tokens_ : nullptr, &req, body.data(),
                                         body.size(), &answer, &len);
    return {status, std::string(answer, len)};
  }
  Answer tasks(const progressista_request& req) {
    const char* answer = nullptr;
    size_t len = 0;
    const int status = progressista_tasks(store_, tokens_, &req, &answer, &len);
    return {status, std::string(answer, len)};
  }
  std::uint64_t count(Counter c) const { return observer_->counters().get(c); }

  ScopedSegmentName name_;
  progressista_store* store_ = nullptr;
  progressista_tokens* tokens_ = nullptr;
  std::unique_ptr<Store> observer_;
};

TEST_F(StoreCAbiRequests, PostAppliesJsonAndNdjsonAndRefusesOtherMediaTypes) {
  EXPECT_EQ(post(R"({"task_id":"a","n":1})", request("application/json; charset=utf-8")).body,
            R"({"ok":true})");
  const Answer nd =
      post("{\"task_id\":\"b\"}\n{\"task_id\":\"c\"}\n", request("application/x-ndjson"));
  EXPECT_EQ(nd.status, 200);
  EXPECT_EQ(nd.body, R"({"ok":true,"accepted":2,"ignored":0,"rejected":[]})");
  const Answer bad = post(R"({"task_id":"d"})", request("text/plain"));
  EXPECT_EQ(bad.status, 415);
  EXPECT_THAT(bad.body, HasSubstr("unsupported media type 'text/plain'"));
  EXPECT_EQ(count(Counter::kRejectedUnsupportedMedia), 1u);
  EXPECT_EQ(post("{", request({})).status, 400);
  EXPECT_EQ(count(Counter::kRejectedMalformed), 1u);
}

TEST_F(StoreCAbiRequests, PostTakesBearerQueryOrMetaToken) {
  ASSERT_EQ(progressista_tokens_add(tokens_, " s3cret ", 8), 0);
  ASSERT_EQ(progressista_tokens_count(tokens_), 1u);
  const std::string event = R"({"task_id":"a"})";
  const Answer denied = post(event, request("application/json"));
  EXPECT_EQ(denied.status, 401);
  EXPECT_EQ(denied.body, R"({"detail":"Invalid API token"})");
  EXPECT_EQ(post(event, request("application/json", "Bearer nope")).status, 401);
  EXPECT_EQ(post(event, request("application/json", "Bearer s3cret")).status, 200);
  EXPECT_EQ(post(event, request("application/json", {}, "x=1&token=s3cret")).status, 200);
  EXPECT_EQ(
      post(R"({"task_id":"a","meta":{"_token":"s3cret"}})", request("application/json")).status,
      200);
  EXPECT_EQ(count(Counter::kRejectedAuth), 2u);
  // No token set at all: the API is open.
  EXPECT_EQ(post(event, request("application/json"), false).status, 200);
}

TEST_F(StoreCAbiRequests, TasksFiltersLikeTheBroadcasterAndCountsRefusals) {
  ASSERT_EQ(post(R"([{"task_id":"job-1","project":"p"},{"task_id":"job-2","status":"close"},)"
                 R"({"task_id":"other"}])",
                 request("application/json"))
                .status,
            200);
  Answer all = tasks(request({}));
  EXPECT_EQ(all.status, 200);
  EXPECT_THAT(all.body, HasSubstr(R"("other":)"));
  Answer some = tasks(request({}, {}, "prefix=job-&active=true"));
  EXPECT_THAT(some.body, HasSubstr(R"("job-1":)"));
  EXPECT_THAT(some.body, ::testing::Not(HasSubstr("job-2")));
  EXPECT_THAT(some.body, ::testing::Not(HasSubstr("other")));
  EXPECT_THAT(tasks(request({}, {}, "project=p")).body, ::testing::Not(HasSubstr("other")));
  const Answer bad = tasks(request({}, {}, "status=nope"));
  EXPECT_EQ(bad.status, 422);
  EXPECT_THAT(bad.body, HasSubstr("status 'nope' is not accepted"));
  EXPECT_EQ(tasks(request({}, {}, "active=maybe")).status, 422);
  EXPECT_EQ(count(Counter::kRejectedValidation), 2u);

  ASSERT_EQ(progressista_tokens_add(tokens_, "t", 1), 0);
  EXPECT_EQ(tasks(request({})).status, 401);
  EXPECT_EQ(tasks(request({}, "bearer t")).status, 200);
  EXPECT_EQ(tasks(request({}, {}, "token=t")).status, 200);
  EXPECT_EQ(count(Counter::kRejectedAuth), 1u);
}

TEST_F(StoreCAbiRequests, RefusalsAreCountedWithTheDaemonsWords) {
  const char* answer = nullptr;
  size_t len = 0;
  EXPECT_EQ(progressista_refuse(store_, 405, 0, &answer, &len), 405);
  EXPECT_EQ(std::string(answer, len), R"({"detail":"Method Not Allowed"})");
  EXPECT_EQ(progressista_refuse(store_, 413, 1024, &answer, &len), 413);
  EXPECT_EQ(std::string(answer, len),
            R"({"detail":"request body is larger than the limit of 1024 bytes"})");
  EXPECT_EQ(progressista_refuse(store_, 418, 0, &answer, &len), 500);
  EXPECT_EQ(count(Counter::kRejectedMethod), 1u);
  EXPECT_EQ(count(Counter::kRejectedTooLarge), 1u);
}

TEST_F(StoreCAbiRequests, WorkerIsListedUntilItDetaches) {
  bool listed = false;
  for (const auto& p : observer_->processes().list())
    listed |= p.pid == static_cast<std::uint32_t>(::getpid()) && p.role == Role::kNginx && p.alive;
  EXPECT_TRUE(listed);
}

TEST(StoreCAbi, TokensFileSkipsCommentsAndBlanks) {
  const std::string path = fmt::format("/tmp/progressista-tokens-{}.txt", ::getpid());
  {
    std::ofstream f(path);
    f << "# tokens for nginx\n  alpha  \n\nbeta,gamma\n   # indented comment\n";
  }
  progressista_tokens* t = progressista_tokens_new();
  char err[256] = {0};
  ASSERT_EQ(progressista_tokens_load(t, path.c_str(), err, sizeof err), 0) << err;
  EXPECT_EQ(progressista_tokens_count(t), 3u);
  std::remove(path.c_str());
  EXPECT_EQ(progressista_tokens_load(t, path.c_str(), err, sizeof err), -1);
  EXPECT_THAT(std::string(err), HasSubstr(path));
  progressista_tokens_free(t);
}

TEST(StoreCAbi, RecreatedSegmentIsNoticedAndHasANewGeneration) {
  ScopedSegmentName name;
  char err[256] = {0};
  progressista_store* a = progressista_attach(name.str().c_str(), 16, 0600, err, sizeof err);
  ASSERT_NE(a, nullptr) << err;
  const std::uint64_t first = progressista_generation(a);
  EXPECT_EQ(progressista_replaced(a), 0);
  ASSERT_TRUE(Segment::remove(name.str()));
  progressista_store* b = progressista_attach(name.str().c_str(), 16, 0600, err, sizeof err);
  ASSERT_NE(b, nullptr) << err;
  EXPECT_NE(progressista_replaced(a), 0);
  EXPECT_EQ(progressista_replaced(b), 0);
  EXPECT_NE(progressista_generation(b), first);
  progressista_detach(a);
  progressista_detach(b);
}

TEST(StoreCAbi, DetailJsonEscapesAndReportsItsLength) {
  const std::string text = "segment \"x\" is\tgone";
  const size_t need = progressista_detail_json(text.data(), text.size(), nullptr, 0);
  std::string out(need, '\0');
  ASSERT_EQ(progressista_detail_json(text.data(), text.size(), out.data(), out.size()), need);
  EXPECT_EQ(out, R"({"detail":"segment \"x\" is\tgone"})");
}

TEST(StoreCAbi, SegmentNameAndModeFollowTheDaemonsRules) {
  char err[128] = "untouched";
  EXPECT_EQ(progressista_segment_name_check("progressista", 12, err, sizeof err), 0);
  EXPECT_STREQ(err, "untouched");
  EXPECT_EQ(progressista_segment_name_check("a/b", 3, err, sizeof err), -1);
  EXPECT_EQ(std::string(err), segment_name_problem("a/b"));
  char small[8];
  EXPECT_EQ(progressista_segment_name_check("..", 2, small, sizeof small), -1);
  EXPECT_EQ(std::string(small), "invalid");  // truncated, still terminated

  EXPECT_EQ(progressista_segment_mode("0660", 4), 0660);
  EXPECT_EQ(progressista_segment_mode("600", 3), 0600);
  EXPECT_EQ(progressista_segment_mode("0777", 4), -1);
  EXPECT_EQ(progressista_segment_mode("06601", 4), 0660);  // only `len` bytes are read
  EXPECT_EQ(std::string(progressista_segment_modes()), kSegmentModes);
}

}  // namespace
}  // namespace progressista
