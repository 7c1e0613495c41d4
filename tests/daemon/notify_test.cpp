// Notifications (issue 15, part 1): the rules parser and the digest queue on their own, then
// real `progressista serve` daemons delivering to a real receiver on loopback (plain HTTP and
// TLS with a self-signed certificate): each transition fires once, digests group, the rate
// limit holds, retries after a 500 or a receiver that is down, no duplicate after a restart
// mid-retry, the signature verifies, bad rules files refuse the start naming line and column.
#include <openssl/hmac.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "notify/digest.hpp"
#include "notify/message.hpp"
#include "notify/outbox.hpp"
#include "notify/rules.hpp"
#include "notify/transitions.hpp"
#include "support/daemon_process.hpp"
#include "support/http_client.hpp"
#include "support/json_doc.hpp"
#include "support/segment_fixture.hpp"
#include "support/wait.hpp"
#include "support/webhook_receiver.hpp"

namespace progressista {
namespace {

using namespace daemon::notify;
using testing::DaemonProcess;
using testing::eventually;
using testing::ReceivedRequest;
using testing::ScopedSegmentName;
using testing::WebhookReceiver;
using ::testing::HasSubstr;

// ---------------------------------------------------------------- pure parts

TEST(NotifyRules, ParsesEveryField) {
  const auto parsed = parse_rules(R"({"rules": [
    {"name": "ml", "project": "ml", "task_prefix": "train/", "transitions": ["failed", "ended_early"],
     "type": "slack", "url": "https://hooks.example.com:8443/services/x?y=1", "secret": "k",
     "digest_seconds": 60, "rate_limit": 10, "quiet_hours": "22:00-07:30"},
    {"url": "http://[::1]/hook", "transitions": ["lost"]}]})");
  ASSERT_FALSE(parsed.error) << parsed.error->message;
  ASSERT_EQ(parsed.rules.size(), 2u);
  const Rule& r = parsed.rules[0];
  EXPECT_EQ(r.name, "ml");
  EXPECT_EQ(r.kind, TargetKind::kSlack);
  EXPECT_TRUE(r.url.tls);
  EXPECT_EQ(r.url.host, "hooks.example.com");
  EXPECT_EQ(r.url.port, "8443");
  EXPECT_EQ(r.url.target, "/services/x?y=1");
  EXPECT_TRUE(r.wants(Transition::kFailed));
  EXPECT_TRUE(r.wants(Transition::kEndedEarly));
  EXPECT_FALSE(r.wants(Transition::kClosed));
  EXPECT_EQ(r.digest_seconds, 60);
  EXPECT_EQ(r.rate_limit, 10);
  EXPECT_EQ(r.quiet.from, 22 * 60);
  EXPECT_EQ(r.quiet.to, 7 * 60 + 30);
  EXPECT_TRUE(r.matches("train/1", "ml", Transition::kFailed));
  EXPECT_FALSE(r.matches("eval/1", "ml", Transition::kFailed));
  EXPECT_FALSE(r.matches("train/1", "ads", Transition::kFailed));
  EXPECT_EQ(parsed.rules[1].name, "rule-2");
  EXPECT_EQ(parsed.rules[1].url.host, "::1");
  EXPECT_EQ(parsed.rules[1].url.port, "80");
}

struct Located {
  std::size_t line, column;
  std::string message;
};
Located error_of(const std::string& text) {
  const auto parsed = parse_rules(text);
  if (!parsed.error) return {0, 0, "no error"};
  return {parsed.error->line, parsed.error->column, parsed.error->message};
}

TEST(NotifyRules, ErrorsNameLineAndColumn) {
  auto e = error_of("{\n  \"rules\": [\n    {\"url\": \"http://a/\",\n     \"projct\": \"x\"}]}");
  EXPECT_EQ(e.line, 4u);
  EXPECT_EQ(e.column, 6u);
  EXPECT_THAT(e.message, HasSubstr("unknown key 'projct'"));

  e = error_of("{\"rules\": [\n {\"url\": \"ftp://a/\", \"transitions\": [\"failed\"]}]}");
  EXPECT_EQ(e.line, 2u);
  EXPECT_EQ(e.column, 10u);
  EXPECT_THAT(e.message, HasSubstr("bad url 'ftp://a/'"));

  e = error_of("{\"rules\": [\n {\"url\": \"http://a/\", \"transitions\": [\"failed\", \"exploded\"]}]}");
  EXPECT_EQ(e.line, 2u);
  EXPECT_EQ(e.column, 49u);
  EXPECT_THAT(e.message, HasSubstr("unknown transition 'exploded'"));

  e = error_of("{\"rules\": [\n {\"url\": \"http://a/\", \"transitions\": [\"failed\"],\n"
               "  \"digest_seconds\": \"soon\"}]}");
  EXPECT_EQ(e.line, 3u);
  EXPECT_EQ(e.column, 21u);
  EXPECT_THAT(e.message, HasSubstr("'digest_seconds' must be a number"));

  e = error_of("{\"rules\": [{\"transitions\": [\"failed\"]}]}");
  EXPECT_THAT(e.message, HasSubstr("has no 'url'"));
  e = error_of("{\"rules\": [{\"url\": \"http://a/\", \"transitions\": [\"failed\"], "
               "\"quiet_hours\": \"25:00-07:00\"}]}");
  EXPECT_THAT(e.message, HasSubstr("quiet_hours"));
  e = error_of("{\"rules\": [{\"url\": \"http://a:99999/\", \"transitions\": [\"failed\"]}]}");
  EXPECT_THAT(e.message, HasSubstr("port"));
  e = error_of("[1]");
  EXPECT_THAT(e.message, HasSubstr("must be a JSON object"));
  e = error_of("{\"rules\": [{\"name\": \"a\", \"url\": \"http://a/\", \"transitions\": [\"failed\"]},"
               " {\"name\": \"a\", \"url\": \"http://a/\", \"transitions\": [\"failed\"]}]}");
  EXPECT_THAT(e.message, HasSubstr("comes earlier"));
}

TaskRecord task(std::string_view id, Status s, double updated_at, double n = 0, double total = 0) {
  TaskRecord t{};
  t.task_id.assign(id);
  t.status = s;
  t.updated_at = updated_at;
  t.n = n;
  if (total > 0) {
    t.total = total;
    t.set(kHasTotal);
  }
  return t;
}

TEST(NotifyTransitions, EachFiresOncePerEpisode) {
  TransitionDetector d;
  std::vector<Fired> out;
  d.observe(task("a", Status::kStart, 1), out);
  d.observe(task("a", Status::kError, 2), out);
  d.observe(task("a", Status::kError, 3), out);  // failing again in the same episode
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].transition, Transition::kFailed);
  d.observe(task("a", Status::kStart, 4), out);  // reopened: a new episode
  d.observe(task("a", Status::kError, 5), out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].time, 5);
  // Reopened and failed again between two reads of the feed: one change, a new created_at.
  TaskRecord again = task("a", Status::kError, 7);
  again.created_at = 6;
  d.observe(again, out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[2].time, 7);
  out.clear();
  d.observe(task("b", Status::kClose, 1, 10, 10), out);
  d.observe(task("c", Status::kClose, 1, 4, 10), out);
  d.observe(task("e", Status::kStale, 1), out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].transition, Transition::kClosed);
  EXPECT_EQ(out[1].transition, Transition::kEndedEarly);
  EXPECT_EQ(out[2].transition, Transition::kLost);
}

TEST(NotifyTransitions, StalledOncePerSilenceAndSeededTasksAreNotNews) {
  const StallRule rule{10, 5};
  TransitionDetector d;
  std::vector<Fired> out;
  d.seed(task("old", Status::kError, 0), 100, rule);
  d.observe(task("old", Status::kError, 0), out);
  EXPECT_TRUE(out.empty());
  d.observe(task("s", Status::kUpdate, 100), out);
  d.check_stalled(task("s", Status::kUpdate, 100), 103, rule, out);
  EXPECT_TRUE(out.empty());
  d.check_stalled(task("s", Status::kUpdate, 100), 106, rule, out);
  d.check_stalled(task("s", Status::kUpdate, 100), 107, rule, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].transition, Transition::kStalled);
  d.observe(task("s", Status::kUpdate, 110), out);  // it spoke again, then stalls again
  d.check_stalled(task("s", Status::kUpdate, 110), 120, rule, out);
  EXPECT_EQ(out.size(), 2u);
}

Fired failed(std::string_view id, double time) {
  return Fired{Transition::kFailed, time, task(id, Status::kError, time)};
}

TEST(NotifyDigest, GroupsTransitionsOfAWindowIntoOneMessage) {
  Rule rule;
  rule.digest_seconds = 60;
  RuleQueue q(rule);
  for (int i = 0; i < 50; ++i) q.add(failed(fmt::format("t{}", i), 1000), 1000 + i * 0.1);
  EXPECT_TRUE(q.take(1030).empty());
  EXPECT_EQ(q.next_time(1030), 1060);
  const auto messages = q.take(1060);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].size(), 50u);
  EXPECT_EQ(q.waiting(), 0u);
  const Message m = compose(rule, messages[0], 1060, "/:");
  EXPECT_THAT(m.body, HasSubstr("\"digest\":true,\"count\":50"));
}

TEST(NotifyDigest, RateLimitHoldsThenSendsTheRestAsOneDigest) {
  Rule rule;
  rule.rate_limit = 2;
  RuleQueue q(rule);
  for (int i = 0; i < 5; ++i) q.add(failed(fmt::format("t{}", i), 1000), 1000);
  auto messages = q.take(1000);
  ASSERT_EQ(messages.size(), 2u);  // one transition each
  EXPECT_EQ(messages[0].size(), 1u);
  EXPECT_TRUE(q.take(1030).empty());
  EXPECT_EQ(q.next_time(1030), 1060);
  messages = q.take(1060.5);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].size(), 3u);
}

TEST(NotifyDigest, QuietHoursHoldUntilTheirEnd) {
  Rule rule;
  rule.quiet = QuietHours{22 * 60, 7 * 60};  // UTC
  RuleQueue q(rule);
  const double day = 86400.0 * 20000;
  q.add(failed("a", day + 23 * 3600), day + 23 * 3600);
  q.add(failed("b", day + 23 * 3600), day + 23 * 3600 + 5);
  EXPECT_TRUE(q.take(day + 23 * 3600 + 10).empty());
  EXPECT_EQ(q.next_time(day + 23 * 3600 + 10), day + 86400 + 7 * 3600);
  const auto messages = q.take(day + 86400 + 7 * 3600);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].size(), 2u);
}

std::string hmac_hex(const std::string& key, const std::string& body) {
  unsigned char md[64];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), md, &len);
  std::string hex;
  for (unsigned i = 0; i < len; ++i) hex += fmt::format("{:02x}", md[i]);
  return hex;
}

// Rules match a task's project by the board's rule: field, else meta.project (RemoteTqdm), else id.
TEST(NotifyMessage, ProjectIsTheBoardsFieldThenMetaThenId) {
  TaskRecord t = task("etl/shard-1", Status::kError, 1);
  EXPECT_EQ(task_project(t, "/:"), "etl");
  t.meta.assign(R"({"host":"n1","project":"training"})");
  t.set(kHasMeta);
  EXPECT_EQ(task_project(t, "/:"), "training");
  t.project.assign("field");
  t.set(kHasProject);
  EXPECT_EQ(task_project(t, "/:"), "field");
  TaskRecord bare = task("plain", Status::kError, 1);
  EXPECT_EQ(task_project(bare, "/:"), "");
}

TEST(NotifyMessage, FormatsKeysAndSignature) {
  Rule rule;
  rule.name = "r";
  const Fired f = failed("ads/7", 1700000000.25);
  EXPECT_EQ(idempotency_key("ads/7", Transition::kFailed, 1700000000.25),
            idempotency_key("ads/7", Transition::kFailed, 1700000000.25));
  EXPECT_NE(idempotency_key("ads/7", Transition::kFailed, 1700000000.25),
            idempotency_key("ads/7", Transition::kFailed, 1700000001.25));
  Message m = compose(rule, {f}, 1, "/:");
  EXPECT_THAT(m.body, HasSubstr("\"transition\":\"failed\""));
  EXPECT_THAT(m.body, HasSubstr("\"idempotency_key\":\"" + m.key + "\""));
  EXPECT_EQ(signature("s3cret", m.body), "sha256=" + hmac_hex("s3cret", m.body));
  rule.kind = TargetKind::kSlack;
  m = compose(rule, {f}, 1, "/:");
  EXPECT_EQ(m.body, "{\"text\":\"Progressista: task `ads/7` (project ads) failed\"}");
  rule.kind = TargetKind::kNtfy;
  m = compose(rule, {f}, 1, "/:");
  EXPECT_EQ(m.title, "Progressista: ads/7 failed");
  EXPECT_EQ(m.body, "task `ads/7` (project ads) failed");
}

TEST(NotifyOutbox, SurvivesAReloadAndBacksOff) {
  const std::string path = fmt::format("/tmp/progressista-outbox-{}.jsonl", ::getpid());
  std::filesystem::remove(path);
  std::string dropped;
  {
    Outbox box(path, 2);
    Message m;
    m.rule = "r";
    m.key = "k1";
    m.body = "{\"a\":\"line\\nbreak\"}";
    box.push(m, dropped);
    m.key = "k2";
    box.push(m, dropped);
    m.key = "k3";
    box.push(m, dropped);  // full: k1 goes
    EXPECT_EQ(dropped, "r");
    box.retry_later(*box.due(1e12), 100, 0.5);
    EXPECT_EQ(box.find(2)->next_attempt, 101);
    box.save();
  }
  Outbox again(path, 10);
  EXPECT_EQ(again.load(), "");
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(again.messages()[0].key, "k2");
  EXPECT_EQ(again.messages()[0].attempts, 1u);
  EXPECT_EQ(again.messages()[0].body, "{\"a\":\"line\\nbreak\"}");
  EXPECT_EQ(backoff_seconds(3), 8);
  EXPECT_EQ(backoff_seconds(100), 600);
  std::filesystem::remove(path);
}

// ---------------------------------------------------------------- real daemons

std::string temp_path(std::string_view what) {
  static int counter = 0;
  return fmt::format("/tmp/progressista-notify-{}-{}-{}", ::getpid(), counter++, what);
}

// A rules file that removes itself.
struct RulesFile {
  explicit RulesFile(const std::string& text) : path(temp_path("rules.json")) {
    std::ofstream(path) << text;
  }
  ~RulesFile() { std::filesystem::remove(path); }
  std::string path;
};

std::string health(const DaemonProcess& d) {
  return testing::http(d.port(), "GET", "/health").body;
}

bool delivering(const DaemonProcess& d) {
  return health(d).find("\"notify\":{\"active\":true") != std::string::npos;
}

void post(const DaemonProcess& d, const std::string& body) {
  const auto r = testing::http(d.port(), "POST", "/progress", body);
  ASSERT_EQ(r.status, 200) << r.body;
}

// The value of "key":"..." in a JSON body (first occurrence).
std::string field(const std::string& body, const std::string& key) {
  testing::JsonDoc doc(body);
  return doc.str(key);
}

// Every body received, for a failure's message.
std::string received(const WebhookReceiver& r) {
  std::string out;
  for (const auto& q : r.requests()) out += q.body + "\n";
  return out;
}

class NotifyDaemon : public ::testing::Test {
 protected:
  // The janitor lease lasts twice the cleanup interval.
  std::vector<std::string> serve_args(const RulesFile& rules, std::vector<std::string> extra = {},
                                      std::string cleanup_interval = "0.2") {
    std::vector<std::string> args{"serve", "--segment", seg_.str(), "--notify-file", rules.path,
                                  "--cleanup-interval", std::move(cleanup_interval)};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  // A daemon that holds the lease and delivers.
  std::unique_ptr<DaemonProcess> serve(const RulesFile& rules, std::vector<std::string> extra = {},
                                       std::string cleanup_interval = "0.2") {
    auto d = std::make_unique<DaemonProcess>(serve_args(rules, std::move(extra), std::move(cleanup_interval)));
    EXPECT_TRUE(d->running()) << d->log();
    EXPECT_TRUE(eventually([&] { return delivering(*d); }, std::chrono::seconds(20))) << d->log();
    return d;
  }
  ScopedSegmentName seg_;
};

std::string webhook_rule(const WebhookReceiver& r, const std::string& transitions,
                         const std::string& extra = {}) {
  return fmt::format(R"({{"url": "http://127.0.0.1:{}/hook", "transitions": [{}]{}}})", r.port(),
                     transitions, extra);
}

TEST_F(NotifyDaemon, EachTransitionFiresOnce) {
  WebhookReceiver receiver;
  RulesFile rules(fmt::format(R"({{"rules": [{}]}})",
                              webhook_rule(receiver, R"("failed","closed","ended_early","stalled","lost")")));
  auto d = serve(rules, {"--stalled-min-seconds", "1", "--stale-seconds", "3"});
  post(*d, R"({"task_id":"a","status":"start","total":10})");
  post(*d, R"({"task_id":"a","status":"error","error":"disk full"})");
  post(*d, R"({"task_id":"a","status":"error","error":"still"})");  // same episode
  post(*d, R"({"task_id":"b","status":"close","n":10,"total":10})");
  post(*d, R"({"task_id":"c","status":"close","n":4,"total":10})");
  ASSERT_TRUE(eventually([&] { return receiver.count() >= 3; })) << d->log();
  post(*d, R"({"task_id":"a","status":"start"})");  // reopened: may fail again
  post(*d, R"({"task_id":"a","status":"error"})");
  post(*d, R"({"task_id":"s","status":"start","total":10})");  // then silent: stalled, lost
  ASSERT_TRUE(eventually([&] { return receiver.count() >= 6; }, std::chrono::seconds(30)))
      << d->log() << received(receiver);
  // Nothing more comes (the janitor's and the stall scan's next rounds included).
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  std::multiset<std::string> seen;
  std::set<std::string> keys;
  for (const ReceivedRequest& r : receiver.requests()) {
    testing::JsonDoc doc(r.body);
    std::string_view id;
    ASSERT_TRUE(doc.ok) << r.body;
    ASSERT_EQ(doc.root["task"]["task_id"].get_string().get(id), simdjson::SUCCESS) << r.body;
    seen.insert(fmt::format("{} {}", id, doc.str("transition")));
    EXPECT_EQ(r.header("idempotency-key"), doc.str("idempotency_key"));
    EXPECT_EQ(r.header("content-type"), "application/json");
    EXPECT_EQ(r.target, "/hook");
    keys.insert(r.header("idempotency-key"));
  }
  EXPECT_EQ(seen, (std::multiset<std::string>{"a failed", "a failed", "b closed", "c ended_early",
                                              "s stalled", "s lost"}));
  EXPECT_EQ(keys.size(), 6u);  // one key per (task, transition, time)
}

TEST_F(NotifyDaemon, DigestGroupsManyFailuresIntoOneMessage) {
  WebhookReceiver receiver;
  RulesFile rules(fmt::format(R"({{"rules": [{}]}})",
                              webhook_rule(receiver, R"("failed")", R"(, "digest_seconds": 1)")));
  auto d = serve(rules);
  std::string batch = "[";
  for (int i = 0; i < 30; ++i)
    batch += fmt::format(R"({}{{"task_id":"job-{}","status":"error"}})", i ? "," : "", i);
  batch += "]";
  post(*d, batch);
  ASSERT_TRUE(eventually([&] { return receiver.count() >= 1; })) << d->log();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // a second window stays empty
  ASSERT_EQ(receiver.count(), 1u);
  const std::string body = receiver.requests()[0].body;
  EXPECT_THAT(body, HasSubstr("\"digest\":true,\"count\":30"));
  for (int i = 0; i < 30; ++i) EXPECT_THAT(body, HasSubstr(fmt::format("\"job-{}\"", i)));
}

TEST_F(NotifyDaemon, RateLimitHoldsMessagesBack) {
  WebhookReceiver receiver;
  RulesFile rules(fmt::format(R"({{"rules": [{}]}})",
                              webhook_rule(receiver, R"("failed")", R"(, "rate_limit": 2)")));
  auto d = serve(rules);
  for (int i = 0; i < 5; ++i) post(*d, fmt::format(R"({{"task_id":"r{}","status":"error"}})", i));
  ASSERT_TRUE(eventually([&] { return receiver.count() >= 2; })) << d->log();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(receiver.count(), 2u);  // the other three wait for the minute to pass
}

TEST_F(NotifyDaemon, RetriesAfterA500WithTheSameKey) {
  WebhookReceiver receiver;
  receiver.answer(500);
  RulesFile rules(fmt::format(R"({{"rules": [{}]}})", webhook_rule(receiver, R"("failed")")));
  auto d = serve(rules);
  post(*d, R"({"task_id":"x","status":"error"})");
  ASSERT_TRUE(eventually([&] { return receiver.count() >= 2; })) << d->log();
  EXPECT_THAT(health(*d), HasSubstr("\"last_error\":\"HTTP 500\""));
  receiver.answer(200);
  ASSERT_TRUE(eventually([&] { return receiver.acknowledged().size() == 1; }, std::chrono::seconds(20)));
  const auto all = receiver.requests();
  for (const auto& r : all) EXPECT_EQ(r.header("idempotency-key"), all[0].header("idempotency-key"));
  ASSERT_TRUE(eventually([&] { return health(*d).find("\"sent\":1,") != std::string::npos; }));
  const std::string metrics = testing::http(d->port(), "GET", "/metrics").body;
  EXPECT_THAT(metrics, HasSubstr("progressista_notify_sent_total{target=\"rule-1\"} 1\n"));
  EXPECT_THAT(metrics, HasSubstr("progressista_notify_outbox_size 0\n"));
  EXPECT_THAT(metrics, ::testing::ContainsRegex("progressista_notify_failed_total\\{target=\"rule-1\"\\} [1-9]"));
}

TEST_F(NotifyDaemon, RetriesWhileTheReceiverIsDown) {
  const std::uint16_t port = testing::free_loopback_port();
  RulesFile rules(fmt::format(
      R"({{"rules": [{{"url": "http://127.0.0.1:{}/hook", "transitions": ["failed"]}}]}})", port));
  auto d = serve(rules);
  post(*d, R"({"task_id":"x","status":"error"})");
  ASSERT_TRUE(eventually([&] { return health(*d).find("\"retrying\":1") != std::string::npos; }))
      << health(*d);
  WebhookReceiver receiver(port);
  ASSERT_TRUE(eventually([&] { return receiver.acknowledged().size() == 1; }, std::chrono::seconds(20)))
      << d->log();
}

TEST_F(NotifyDaemon, NoDuplicateAfterARestartMidRetry) {
  WebhookReceiver receiver;
  const std::string outbox = temp_path("outbox.jsonl");
  RulesFile rules(fmt::format(R"({{"rules": [{}]}})", webhook_rule(receiver, R"("failed")")));
  auto d = serve(rules, {"--notify-outbox", outbox});
  post(*d, R"({"task_id":"acked","status":"error"})");
  ASSERT_TRUE(eventually([&] { return receiver.acknowledged().size() == 1; })) << d->log();
  receiver.answer(500);
  post(*d, R"({"task_id":"y","status":"error"})");
  post(*d, R"({"task_id":"z","status":"error"})");
  ASSERT_TRUE(eventually([&] { return receiver.count() >= 3; })) << d->log();
  ASSERT_TRUE(eventually([&] { return health(*d).find("\"retrying\":2") != std::string::npos; }))
      << health(*d);
  d.reset();  // SIGKILL, mid-retry: the segment stays, the outbox file holds y and z
  receiver.answer(200);
  d = serve(rules, {"--notify-outbox", outbox});
  ASSERT_TRUE(eventually([&] { return receiver.acknowledged().size() == 3; }, std::chrono::seconds(20)))
      << d->log();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  std::map<std::string, int> acked;
  std::set<std::string> tasks;
  for (const auto& r : receiver.acknowledged()) {
    ++acked[r.header("idempotency-key")];
    testing::JsonDoc doc(r.body);
    std::string_view id;
    EXPECT_EQ(doc.root["task"]["task_id"].get_string().get(id), simdjson::SUCCESS) << r.body;
    tasks.insert(std::string(id));
  }
  EXPECT_EQ(acked.size(), 3u);
  for (const auto& [key, times] : acked) EXPECT_EQ(times, 1) << key;
  EXPECT_EQ(tasks, (std::set<std::string>{"acked", "y", "z"}));
  d.reset();
  std::filesystem::remove(outbox);
}

TEST_F(NotifyDaemon, SignatureVerifiesAndFormatsFollowTheTarget) {
  WebhookReceiver receiver;
  RulesFile rules(fmt::format(
      R"({{"rules": [
  {{"name": "signed", "url": "http://127.0.0.1:{0}/signed", "transitions": ["failed"], "secret": "s3cret-key"}},
  {{"name": "chat", "type": "mattermost", "url": "http://127.0.0.1:{0}/chat", "transitions": ["failed"]}},
  {{"name": "phone", "type": "ntfy", "url": "http://127.0.0.1:{0}/topic", "transitions": ["failed"]}}]}})",
      receiver.port()));
  auto d = serve(rules);
  post(*d, R"({"task_id":"ads/9","status":"error","error":"boom"})");
  ASSERT_TRUE(eventually([&] { return receiver.count() >= 3; })) << d->log();
  std::map<std::string, ReceivedRequest> by_target;
  for (const auto& r : receiver.requests()) by_target[r.target] = r;
  const ReceivedRequest& s = by_target["/signed"];
  EXPECT_EQ(s.header("x-progressista-signature"), "sha256=" + hmac_hex("s3cret-key", s.body));
  EXPECT_EQ(field(s.body, "rule"), "signed");
  EXPECT_EQ(by_target["/chat"].body,
            "{\"text\":\"Progressista: task `ads/9` (project ads) failed: boom\"}");
  EXPECT_EQ(by_target["/chat"].header("x-progressista-signature"), "");
  EXPECT_EQ(by_target["/topic"].header("title"), "Progressista: ads/9 failed");
  EXPECT_EQ(by_target["/topic"].body, "task `ads/9` (project ads) failed: boom");
  EXPECT_THAT(by_target["/topic"].header("content-type"), HasSubstr("text/plain"));
}

TEST_F(NotifyDaemon, TlsTargetVerifiedWithTheConfiguredCa) {
  const std::string cert = temp_path("cert.pem"), key = temp_path("key.pem");
  const std::string cmd = fmt::format(
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout {} -out {} -days 1 -subj /CN=localhost "
      "-addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1",
      key, cert);
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  {
    WebhookReceiver receiver(0, cert, key);
    RulesFile rules(fmt::format(
        R"({{"rules": [
  {{"name": "verified", "url": "https://127.0.0.1:{0}/tls", "transitions": ["failed"], "ca_file": "{1}"}},
  {{"name": "unknown-ca", "url": "https://127.0.0.1:{0}/tls", "transitions": ["closed"]}}]}})",
        receiver.port(), cert));
    auto d = serve(rules);
    post(*d, R"({"task_id":"t","status":"error"})");
    ASSERT_TRUE(eventually([&] { return receiver.acknowledged().size() == 1; })) << d->log();
    EXPECT_EQ(field(receiver.requests()[0].body, "transition"), "failed");
    // Against the system store the self-signed certificate is refused: no request arrives.
    post(*d, R"({"task_id":"u","status":"close"})");
    ASSERT_TRUE(eventually([&] {
      return health(*d).find("\"name\":\"unknown-ca\",\"type\":\"webhook\",\"host\":\"127.0.0.1\","
                             "\"sent\":0,\"failed\":1") != std::string::npos;
    })) << health(*d);
    EXPECT_THAT(health(*d), HasSubstr("TLS handshake"));
    EXPECT_EQ(receiver.acknowledged().size(), 1u);
  }
  std::filesystem::remove(cert);
  std::filesystem::remove(key);
}

TEST_F(NotifyDaemon, OnlyTheLeaseHolderDeliversAndTheOtherTakesOver) {
  WebhookReceiver receiver;
  const std::string outbox = temp_path("shared-outbox.jsonl");  // one environment file for both
  RulesFile rules(fmt::format(R"({{"rules": [{}]}})", webhook_rule(receiver, R"("failed")")));
  // A lease of 2 s (twice the cleanup interval): a holder that merely stalls on a loaded machine
  // keeps it; a killed one is replaced at the second's next renewal, within a second.
  auto first = serve(rules, {"--notify-outbox", outbox}, "1");
  auto second = std::make_unique<DaemonProcess>(serve_args(rules, {"--notify-outbox", outbox}, "1"));
  ASSERT_TRUE(second->running()) << second->log();
  ASSERT_TRUE(eventually([&] { return health(*second).find("\"notify\":{\"active\":false") != std::string::npos; }))
      << health(*second);
  for (int i = 0; i < 10; ++i) post(i % 2 ? *first : *second, fmt::format(R"({{"task_id":"p{}","status":"error"}})", i));
  ASSERT_TRUE(eventually([&] { return receiver.count() >= 10; })) << first->log();
  // Delivery is at least once: a holder killed between the receiver's 2xx and the outbox's
  // save sends that message again from its successor (same Idempotency-Key). This test is about
  // the lease, so the kill waits until the first has recorded every delivery.
  ASSERT_TRUE(eventually([&] {
    const std::string h = health(*first);
    return h.find("\"outbox_size\":0,") != std::string::npos && h.find("\"sent\":10,") != std::string::npos;
  })) << health(*first);
  first.reset();  // SIGKILL: the lease runs out and the second takes it
  ASSERT_TRUE(eventually([&] { return delivering(*second); }, std::chrono::seconds(20))) << second->log();
  post(*second, R"({"task_id":"after","status":"error"})");
  ASSERT_TRUE(eventually([&] { return receiver.count() >= 11; })) << second->log();
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  std::map<std::string, int> keys;
  for (const auto& r : receiver.requests()) ++keys[r.header("idempotency-key")];
  EXPECT_EQ(keys.size(), 11u);
  for (const auto& [key, times] : keys) EXPECT_EQ(times, 1) << key;
  second.reset();
  std::filesystem::remove(outbox);
}

TEST_F(NotifyDaemon, BadRulesFileRefusesTheStartNamingLineAndColumn) {
  RulesFile rules("{\n  \"rules\": [\n    {\"url\": \"http://127.0.0.1:9/x\",\n"
                  "     \"transitions\": [\"failed\", \"finished\"]}]}\n");
  DaemonProcess d({"serve", "--segment", seg_.str(), "--notify-file", rules.path});
  EXPECT_FALSE(d.running());
  EXPECT_NE(d.wait_exit(), 0);
  EXPECT_THAT(d.log(), HasSubstr(fmt::format("{}:4:32: unknown transition 'finished'", rules.path)));
  EXPECT_THAT(d.log(), HasSubstr("PROGRESSISTA_NOTIFY_FILE"));
}

}  // namespace
}  // namespace progressista
