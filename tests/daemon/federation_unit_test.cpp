// The federation's pure parts: --redis URLs and their redaction, log entries, stream ids.
#include <gtest/gtest.h>

#include "federation/log_entry.hpp"
#include "federation/redis_url.hpp"

namespace progressista::daemon::federation {
namespace {

TEST(RedisUrl, ParsesEveryPartAndRedactsThePassword) {
  std::string error;
  const auto u = parse_redis_url("redis://app:s%40cret@10.0.0.5:6390/3", error);
  ASSERT_TRUE(u) << error;
  EXPECT_EQ(u->host, "10.0.0.5");
  EXPECT_EQ(u->port, 6390);
  EXPECT_EQ(u->user, "app");
  EXPECT_EQ(u->password, "s@cret");
  EXPECT_EQ(u->db, 3u);
  EXPECT_EQ(u->redacted(), "redis://app:***@10.0.0.5:6390/3");

  const auto p = parse_redis_url("redis://:pw@localhost", error);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->port, 6379);
  EXPECT_EQ(p->redacted(), "redis://:***@localhost:6379/0");
  const auto v6 = parse_redis_url("redis://[::1]:7000", error);
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->redacted(), "redis://[::1]:7000/0");
}

TEST(RedisUrl, RefusesWhatItCannotUseWithoutQuotingThePassword) {
  std::string error;
  for (const char* bad : {"http://h:1", "redis://", "redis://h:0", "redis://h:99999",
                          "redis://h:1/x", "redis://[::1:5", "rediss://h:1"}) {
    error.clear();
    EXPECT_FALSE(parse_redis_url(bad, error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
  error.clear();
  EXPECT_FALSE(parse_redis_url("redis://u:topsecret@h:notaport", error));
  EXPECT_EQ(error.find("topsecret"), std::string::npos) << error;
}

TEST(LogEntry, WritesAndSweepsRoundTripThroughStreamFields) {
  LogEntry w;
  w.method = "POST";
  w.target = "/progress?x=1";
  w.content_type = "application/x-ndjson";
  w.body = "{\"task_id\":\"a\"}\n{\"task_id\":\"b\"}";
  w.authenticated = true;
  w.origin = "node-a:8000";
  w.request = 42;
  const std::vector<std::string> f = w.fields();
  const std::vector<std::string_view> views(f.begin(), f.end());
  LogEntry back;
  ASSERT_TRUE(LogEntry::from_fields(views, back));
  EXPECT_EQ(back.kind, LogEntry::Kind::kWrite);
  EXPECT_EQ(back.method, w.method);
  EXPECT_EQ(back.target, w.target);
  EXPECT_EQ(back.content_type, w.content_type);
  EXPECT_EQ(back.body, w.body);
  EXPECT_TRUE(back.authenticated);
  EXPECT_EQ(back.origin, w.origin);
  EXPECT_EQ(back.request, 42u);

  LogEntry s;
  s.kind = LogEntry::Kind::kSweep;
  s.retention = 86400;
  s.stale = 0.25;
  s.max_age = 0;
  const std::vector<std::string> sf = s.fields();
  ASSERT_TRUE(LogEntry::from_fields({sf.begin(), sf.end()}, back));
  EXPECT_EQ(back.kind, LogEntry::Kind::kSweep);
  EXPECT_EQ(back.retention, 86400);
  EXPECT_EQ(back.stale, 0.25);

  EXPECT_FALSE(LogEntry::from_fields({"k", "z"}, back));       // a kind from a later version
  EXPECT_FALSE(LogEntry::from_fields({"k", "w", "m", "POST"}, back));  // no target
}

TEST(LogEntry, TokensNeverEnterTheLog) {
  EXPECT_EQ(without_token("/progress?token=abc"), "/progress");
  EXPECT_EQ(without_token("/tasks?status=close&token=abc&older_than=5"),
            "/tasks?status=close&older_than=5");
  EXPECT_EQ(without_token("/tasks/a%2Fb"), "/tasks/a%2Fb");
  EXPECT_EQ(without_token("/tasks?tokenish=1&token"), "/tasks?tokenish=1");
}

TEST(StreamId, ParsesOrdersAndTellsItsTime) {
  StreamId a, b;
  ASSERT_TRUE(StreamId::parse("1700000000123-7", a));
  ASSERT_TRUE(StreamId::parse("1700000000123-10", b));
  EXPECT_LT(a, b);
  EXPECT_EQ(a.str(), "1700000000123-7");
  EXPECT_DOUBLE_EQ(a.seconds(), 1700000000.123);
  EXPECT_FALSE(StreamId::parse("x-1", a));
  EXPECT_TRUE(StreamId{}.zero());
}

}  // namespace
}  // namespace progressista::daemon::federation
