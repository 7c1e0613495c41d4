// Applying request bodies to a real segment: the HTTP status, the JSON answer and the
// counters, through the C++ API and through the C ABI the nginx module uses.
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "progressista/ingest.hpp"
#include "progressista/snapshot.hpp"
#include "progressista/store.h"
#include "support/segment_fixture.hpp"

namespace progressista {
namespace {

using ::testing::HasSubstr;
using testing::ScopedSegmentName;

class Ingest : public ::testing::Test {
 protected:
  int apply(std::string_view text, BodyFormat format = BodyFormat::kJson) {
    body_.assign(text);
    const int status = ingestor_.apply(body_.view(), body_.capacity(), format, 1000.0, out_);
    answer = fmt::to_string(out_);
    return status;
  }
  std::uint64_t count(Counter c) const { return store_->counters().get(c); }

  ScopedSegmentName name_;
  std::unique_ptr<Store> store_ = Store::open(testing::options(name_, 4));
  Ingestor ingestor_{*store_};
  PaddedBody body_;
  fmt::memory_buffer out_;
  std::string answer;
};

TEST_F(Ingest, OneEventIsAppliedAndAcknowledged) {
  EXPECT_EQ(apply(R"({"task_id":"a","n":1,"total":4})"), 200);
  EXPECT_EQ(answer, R"({"ok":true})");
  TaskRecord rec;
  ASSERT_TRUE(store_->table().lookup("a", rec));
  EXPECT_EQ(rec.n, 1);
  EXPECT_EQ(count(Counter::kEventsApplied), 1u);
}

TEST_F(Ingest, IgnoredEventsAreAcknowledgedWithTheReason) {
  ASSERT_EQ(apply(R"({"task_id":"a","timestamp":10})"), 200);
  EXPECT_EQ(apply(R"({"task_id":"a","timestamp":9})"), 200);
  EXPECT_EQ(answer, R"({"ok":true,"ignored":"older than the task's last applied event"})");
  ASSERT_EQ(apply(R"({"task_id":"a","status":"close"})"), 200);
  EXPECT_EQ(apply(R"({"task_id":"a","n":5})"), 200);
  EXPECT_THAT(answer, HasSubstr("only a start event reopens it"));
  EXPECT_EQ(count(Counter::kEventsIgnoredOutOfOrder), 1u);
  EXPECT_EQ(count(Counter::kEventsIgnoredClosed), 1u);
}

TEST_F(Ingest, MalformedIs400ValidationIs422AndBothAreCounted) {
  EXPECT_EQ(apply(R"({"task_id":)"), 400);
  EXPECT_THAT(answer, HasSubstr(R"({"detail":"malformed JSON)"));
  EXPECT_EQ(apply(""), 400);
  EXPECT_EQ(answer, R"({"detail":"request body is empty"})");
  EXPECT_EQ(count(Counter::kRejectedMalformed), 2u);
  EXPECT_EQ(apply(R"({"task_id":"a","n":"x"})"), 422);
  EXPECT_EQ(answer, R"({"detail":"n must be a number, got string"})");
  EXPECT_EQ(apply("42"), 422);
  EXPECT_EQ(count(Counter::kRejectedValidation), 2u);
  EXPECT_EQ(store_->table().size(), 0u);
}

TEST_F(Ingest, BatchesReportAcceptedIgnoredAndRejectedByIndex) {
  EXPECT_EQ(apply(R"([{"task_id":"a"},{"task_id":"b","n":"x"},{"task_id":"a","timestamp":1},{"n":1}])"), 200);
  EXPECT_EQ(answer,
            R"({"ok":true,"accepted":2,"ignored":1,"rejected":[{"index":1,"detail":"n must be a number, got string"},)"
            R"({"index":3,"detail":"task_id is required"}]})");
  EXPECT_EQ(apply("{\"task_id\":\"c\"}\n{\"task_id\":\"c\",\"timestamp\":0}\n", BodyFormat::kNdjson), 200);
  EXPECT_EQ(answer, R"({"ok":true,"accepted":2,"ignored":1,"rejected":[]})");
}

TEST_F(Ingest, FullTableIs507SingleAndRejectedInABatch) {
  for (int i = 0; i < 4; ++i) ASSERT_EQ(apply(fmt::format(R"({{"task_id":"t{}"}})", i)), 200);
  EXPECT_EQ(apply(R"({"task_id":"one-too-many"})"), 507);
  EXPECT_THAT(answer, HasSubstr("memory budget reached: the segment's "));
  EXPECT_THAT(answer, HasSubstr("hold 4 tasks (every task slot is taken; at most 4 tasks) and none is finished"));
  EXPECT_THAT(answer, HasSubstr("--memory or --capacity"));
  EXPECT_EQ(apply(R"([{"task_id":"t0","n":2},{"task_id":"new"}])"), 200);
  EXPECT_THAT(answer, HasSubstr(R"("accepted":1)"));
  EXPECT_THAT(answer, HasSubstr(R"({"index":1,"detail":"memory budget reached)"));
  EXPECT_EQ(count(Counter::kRejectedTableFull), 2u);
  // A closed task makes room: it is evicted for the new one.
  ASSERT_EQ(apply(R"({"task_id":"t1","status":"close"})"), 200);
  EXPECT_EQ(apply(R"({"task_id":"new"})"), 200);
  EXPECT_EQ(count(Counter::kEvictions), 1u);
}

TEST_F(Ingest, SnapshotIsProgressistasShape) {
  ASSERT_EQ(apply(R"({"task_id":"a","n":1,"desc":"d"})"), 200);
  fmt::memory_buffer out;
  append_snapshot(out, store_->table(), nullptr);
  const std::string s = fmt::to_string(out);
  EXPECT_THAT(s, HasSubstr(R"({"tasks":{"a":{"task_id":"a","desc":"d","n":1,"total":null,"status":"update")"));
  out.clear();
  append_snapshot(out, store_->table(), [](const TaskRecord& t) { return t.task_id.view() != "a"; });
  EXPECT_EQ(fmt::to_string(out), R"({"tasks":{}})");
}

TEST(StoreCAbi, AttachPostTasksDetach) {
  ScopedSegmentName name;
  char err[256] = {0};
  progressista_store* s = progressista_attach(name.str().c_str(), 16, 0600, err, sizeof err);
  ASSERT_NE(s, nullptr) << err;
  const std::string body = R"([{"task_id":"x","n":2},{"task_id":7}])";
  const std::string_view type = "application/json";
  const progressista_request req{type.data(), type.size(), nullptr, 0, nullptr, 0};
  const char* out = nullptr;
  size_t len = 0;
  EXPECT_EQ(progressista_post(s, nullptr, &req, body.data(), body.size(), &out, &len), 200);
  EXPECT_THAT(std::string(out, len), HasSubstr(R"({"ok":true,"accepted":1,"ignored":0,"rejected":[)"));
  EXPECT_THAT(std::string(out, len), HasSubstr(R"({"index":1,"detail":"task_id must be a string, got number"})"));
  EXPECT_EQ(progressista_post(s, nullptr, &req, "{", 1, &out, &len), 400);
  EXPECT_THAT(std::string(out, len), HasSubstr(R"({"detail":)"));
  const progressista_request get{nullptr, 0, nullptr, 0, nullptr, 0};
  ASSERT_EQ(progressista_tasks(s, nullptr, &get, &out, &len), 200);
  const std::string snap(out, len);
  EXPECT_EQ(snap.rfind(R"({"tasks":{)", 0), 0u) << snap;
  EXPECT_THAT(snap, HasSubstr(R"("x":{"task_id":"x")"));
  EXPECT_EQ(progressista_replaced(s), 0);
  Segment::remove(name.str());
  EXPECT_NE(progressista_replaced(s), 0);
  progressista_detach(s);
}

TEST(StoreCAbi, AttachFailureExplainsItself) {
  ScopedSegmentName name;
  char err[256] = {0};
  progressista_store* a = progressista_attach(name.str().c_str(), 16, 0600, err, sizeof err);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(progressista_attach(name.str().c_str(), 32, 0600, err, sizeof err), nullptr);
  EXPECT_THAT(std::string(err), HasSubstr("capacity"));
  EXPECT_EQ(progressista_attach("bad/name", 16, 0600, err, sizeof err), nullptr);
  EXPECT_GT(std::strlen(err), 0u);
  progressista_detach(a);
}

}  // namespace
}  // namespace progressista

namespace progressista {
namespace {

TEST(Tokens, ListWinsOverSingleAndBlanksAreDropped) {
  EXPECT_TRUE(TokenSet::from_settings("", "").empty());
  const TokenSet single = TokenSet::from_settings(" one ", "");
  EXPECT_EQ(single.size(), 1u);
  EXPECT_TRUE(single.contains("one"));
  const TokenSet list = TokenSet::from_settings("one", "a, b,,c ,");
  EXPECT_EQ(list.size(), 3u);
  EXPECT_FALSE(list.contains("one"));
  EXPECT_TRUE(list.contains("b"));
  EXPECT_TRUE(list.contains("c"));
  EXPECT_FALSE(list.contains(""));
  EXPECT_FALSE(list.contains("bb"));
  EXPECT_FALSE(list.contains("a "));
}

TEST(Tokens, BearerHeaderIsParsedLikeProgressista) {
  EXPECT_EQ(bearer_token("Bearer abc"), "abc");
  EXPECT_EQ(bearer_token("  bearer   abc  "), "abc");
  EXPECT_EQ(bearer_token("Basic abc"), "");
  EXPECT_EQ(bearer_token("Bearer "), "");
  EXPECT_EQ(bearer_token(""), "");
}

class IngestAuth : public ::testing::Test {
 protected:
  int apply(std::string_view text, bool authenticated, BodyFormat format = BodyFormat::kJson) {
    body_.assign(text);
    const Access access{&tokens_, authenticated};
    const int status = ingestor_.apply(body_.view(), body_.capacity(), format, 1000.0, out_, access);
    answer = fmt::to_string(out_);
    return status;
  }
  testing::ScopedSegmentName name_;
  std::unique_ptr<Store> store_ = Store::open(testing::options(name_, 16));
  Ingestor ingestor_{*store_};
  TokenSet tokens_ = TokenSet::from_settings("s3cret", "");
  PaddedBody body_;
  fmt::memory_buffer out_;
  std::string answer;
};

TEST_F(IngestAuth, HeaderOrQueryTokenOpensTheDoor) {
  EXPECT_EQ(apply(R"({"task_id":"a"})", true), 200);
  EXPECT_EQ(store_->table().size(), 1u);
}

TEST_F(IngestAuth, WithoutATokenNothingIsWrittenAnd401IsCounted) {
  EXPECT_EQ(apply(R"({"task_id":"a"})", false), 401);
  EXPECT_EQ(answer, R"({"detail":"Invalid API token"})");
  EXPECT_EQ(apply(R"({"task_id":"a","meta":{"_token":"wrong"}})", false), 401);
  EXPECT_EQ(apply(R"([{"task_id":"a"},{"task_id":"b"}])", false), 401);
  EXPECT_EQ(store_->table().size(), 0u);
  EXPECT_EQ(store_->counters().get(Counter::kRejectedAuth), 4u);
}

TEST_F(IngestAuth, MetaTokenAuthenticatesItsEventAndIsNotStored) {
  EXPECT_EQ(apply(R"({"task_id":"a","meta":{"_token":"s3cret","k":1}})", false), 200);
  TaskRecord rec;
  ASSERT_TRUE(store_->table().lookup("a", rec));
  EXPECT_EQ(rec.meta.view(), R"({"k":1})");
  EXPECT_EQ(apply(R"([{"task_id":"b","meta":{"_token":"s3cret"}},{"task_id":"c"}])", false), 200);
  EXPECT_EQ(answer, R"({"ok":true,"accepted":1,"ignored":0,"rejected":[{"index":1,"detail":"Invalid API token"}]})");
  EXPECT_FALSE(store_->table().lookup("c", rec));
}

TEST_F(IngestAuth, MalformedBodiesAreReportedBeforeAuthAsProgressistaDoes) {
  EXPECT_EQ(apply(R"({"task_id":)", false), 400);
  EXPECT_EQ(apply(R"({"task_id":5})", false), 422);
}

}  // namespace
}  // namespace progressista
