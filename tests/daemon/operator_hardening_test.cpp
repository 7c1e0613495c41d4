// What an operator relies on without looking: secrets stay out of the logs, a blank token
// variable never turns authentication off, a failing save is reported where it is seen
// (/health, /metrics) and leaves no temporary file, and a flood of refusals is not a flood of
// log lines.
#include <unistd.h>

#include <filesystem>
#include <regex>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "log.hpp"
#include "support/daemon_process.hpp"
#include "support/http_client.hpp"
#include "support/json_doc.hpp"
#include "support/run_binary.hpp"
#include "support/segment_fixture.hpp"
#include "support/wait.hpp"

namespace progressista {
namespace {

using testing::Connection;
using testing::DaemonProcess;
using testing::eventually;
using testing::http;
using testing::JsonDoc;
using testing::ScopedSegmentName;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr auto kWait = 30s;  // generous: the sanitizer build is several times slower

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(RedactUrl, TokenValuesAreMaskedAndTheRestIsKept) {
  using daemon::redact_url;
  EXPECT_EQ(redact_url("/progress"), "/progress");
  EXPECT_EQ(redact_url("/progress?token=s3cr3t"), "/progress?token=***");
  EXPECT_EQ(redact_url("/ws?protocol=delta&token=s3cr3t&project=p"),
            "/ws?protocol=delta&token=***&project=p");
  EXPECT_EQ(redact_url("/x?TOKEN=a&api_token=b&access_token=c&tokens=d"),
            "/x?TOKEN=***&api_token=***&access_token=***&tokens=d");
  EXPECT_EQ(redact_url("/x?%74oken=s3cr3t"), "/x?%74oken=***");
  EXPECT_EQ(redact_url("/x?token"), "/x?token");
  EXPECT_EQ(redact_url("/x?token=a#frag"), "/x?token=***#frag");
  EXPECT_EQ(redact_url("http://h:8000/progress?token=s3cr3t"), "http://h:8000/progress?token=***");
}

TEST(AccessLog, NeverShowsATokenFromTheQuery) {
  const ScopedSegmentName seg;
  DaemonProcess d({"serve", "--segment", seg.str()},
                  {{"PROGRESSISTA_ACCESS_LOG", "true"}, {"PROGRESSISTA_API_TOKEN", "s3cr3t"}});
  ASSERT_TRUE(d.running()) << d.log();
  EXPECT_EQ(http(d.port(), "POST", "/progress?token=s3cr3t", R"({"task_id":"a","n":1})").status,
            200);
  EXPECT_EQ(http(d.port(), "POST", "/progress?token=wr0ng", R"({"task_id":"a","n":2})").status,
            401);
  EXPECT_EQ(http(d.port(), "GET", "/tasks?token=s3cr3t&x=1").status, 200);
  ASSERT_TRUE(eventually([&] { return occurrences(d.log(), "token=***") >= 3; }, kWait))
      << d.log();
  EXPECT_THAT(d.log(), HasSubstr("\"POST /progress?token=***\" 200"));
  EXPECT_THAT(d.log(), HasSubstr("\"GET /tasks?token=***&x=1\" 200"));
  EXPECT_THAT(d.log(), Not(HasSubstr("s3cr3t")));
  EXPECT_THAT(d.log(), Not(HasSubstr("wr0ng")));
}

TEST(TokenVariables, ASetButBlankListIsAStartUpErrorNamingTheVariable) {
  for (const char* blank : {",", " ", "", " , ,"}) {
    const auto r = testing::run({"show-config"}, {{"PROGRESSISTA_API_TOKENS", blank}});
    EXPECT_NE(r.code, 0) << "'" << blank << "'\n" << r.out;
    EXPECT_THAT(r.err, HasSubstr("PROGRESSISTA_API_TOKENS"));
    EXPECT_THAT(r.err, HasSubstr("is set but holds no token"));
    EXPECT_THAT(r.err, HasSubstr("unset it to run without authentication"));
  }
  for (const char* blank : {" ", "", "\t"}) {
    const auto r = testing::run({"show-config"}, {{"PROGRESSISTA_API_TOKEN", blank}});
    EXPECT_NE(r.code, 0) << "'" << blank << "'\n" << r.out;
    EXPECT_THAT(r.err, HasSubstr("PROGRESSISTA_API_TOKEN: is set but holds no token"));
    // The daemons have no --token flag; the message must not send anyone looking for one.
    EXPECT_THAT(r.err, Not(HasSubstr("--token")));
  }
  // A daemon refuses to start rather than run open.
  const ScopedSegmentName seg;
  DaemonProcess d({"ingest", "--segment", seg.str()}, {{"PROGRESSISTA_API_TOKENS", ","}});
  EXPECT_FALSE(d.running());
  EXPECT_NE(d.wait_exit(kWait), 0);
  EXPECT_THAT(d.log(), HasSubstr("PROGRESSISTA_API_TOKENS"));
}

TEST(TokenVariables, TokensWithSpacesAreRefusedAndGoodListsAccepted) {
  auto r = testing::run({"show-config"}, {{"PROGRESSISTA_API_TOKENS", "good, bad token"}});
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.err, HasSubstr("PROGRESSISTA_API_TOKENS: token 2 contains a space or a control "
                               "character (tokens are separated by commas)"));
  EXPECT_THAT(r.err, Not(HasSubstr("bad token")));
  r = testing::run({"show-config"}, {{"PROGRESSISTA_API_TOKEN", "bad token"}});
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.err, HasSubstr("PROGRESSISTA_API_TOKEN: token 1 contains a space"));
  // Blanks around tokens are trimmed, as Progressista does; the list wins over the single.
  r = testing::run({"show-config"},
                   {{"PROGRESSISTA_API_TOKENS", " one , two\n"}, {"PROGRESSISTA_API_TOKEN", " "}});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(R"("api_tokens": ["***", "***"])"));
}

// CLI11 2.1 read the environment of every verb, so a client variable (for `post`) could stop
// a daemon from starting, with a message about a flag the daemon does not have.
TEST(TokenVariables, ClientVariablesDoNotConcernTheDaemons) {
  const auto r = testing::run({"show-config"}, {{"PROGRESSISTA_SERVER_URL", "ftp://x"},
                                                {"PROGRESSISTA_REQUEST_TIMEOUT", "abc"}});
  EXPECT_EQ(r.code, 0) << r.err;
  // ...while `post` still checks its own.
  const auto post = testing::run({"post", "--task-id", "a"}, {{"PROGRESSISTA_API_TOKEN", "a b"}});
  EXPECT_NE(post.code, 0);
  EXPECT_THAT(post.err, HasSubstr("--token (PROGRESSISTA_API_TOKEN)"));
}

// The save fails (the path is a directory: rename refuses, after the temporary file was
// written), then works again once the directory is gone.
TEST(Persistence, AFailingSaveIsReportedAndLeavesNoTemporaryFile) {
  const ScopedSegmentName seg;
  const fs::path dir = fs::temp_directory_path() / fmt::format("pt-persist-{}", ::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path path = dir / "tasks.json";
  DaemonProcess d({"serve", "--segment", seg.str(), "--storage-path", path.string()});
  ASSERT_TRUE(d.running()) << d.log();

  ASSERT_EQ(http(d.port(), "POST", "/progress", R"({"task_id":"a","n":1})").status, 200);
  ASSERT_TRUE(eventually([&] { return fs::exists(path); }, kWait)) << d.log();
  EXPECT_EQ(JsonDoc(http(d.port(), "GET", "/health").body).str("status"), "ok");

  // The path becomes a non-empty directory: every save now fails at the rename.
  fs::remove(path);
  fs::create_directories(path / "in-the-way");
  ASSERT_EQ(http(d.port(), "POST", "/progress", R"({"task_id":"b","n":1})").status, 200);
  std::string health;
  ASSERT_TRUE(eventually(
      [&] {
        health = http(d.port(), "GET", "/health").body;
        return JsonDoc(health).str("status") == "degraded";
      },
      kWait))
      << health << d.log();
  EXPECT_THAT(health, HasSubstr(R"("persistence":{"status":"failing","failing_since":)"));
  EXPECT_THAT(health, HasSubstr(R"("error":"Is a directory")"));
  EXPECT_THAT(health, Not(HasSubstr(R"("last_good_save":null)")));
  const std::string metrics = http(d.port(), "GET", "/metrics").body;
  EXPECT_THAT(metrics, HasSubstr("\nprogressista_persistence_failing 1\n"));
  EXPECT_THAT(metrics, Not(HasSubstr("\nprogressista_persistence_failures_total 0\n")));
  EXPECT_FALSE(fs::exists(path.string() + ".tmp")) << "a failed save must remove its temp file";
  EXPECT_THAT(d.log(), HasSubstr("cannot rename into " + path.string() + ": Is a directory"));

  // Out of the way: the next save works and the report clears.
  fs::remove_all(path);
  ASSERT_EQ(http(d.port(), "POST", "/progress", R"({"task_id":"c","n":1})").status, 200);
  ASSERT_TRUE(eventually(
      [&] {
        health = http(d.port(), "GET", "/health").body;
        return JsonDoc(health).str("status") == "ok" && fs::is_regular_file(path);
      },
      kWait))
      << health;
  EXPECT_THAT(health, HasSubstr(R"("persistence":{"status":"ok","last_good_save":)"));
  EXPECT_THAT(http(d.port(), "GET", "/metrics").body,
              HasSubstr("\nprogressista_persistence_failing 0\n"));
  EXPECT_EQ(d.stop(), 0);
  fs::remove_all(dir);
}

// A thousand slow clients used to be a thousand log lines; now one a second says how many.
TEST(RejectionLog, RepeatedTimeoutsAreOneLineASecondWithACount) {
  const ScopedSegmentName seg;
  DaemonProcess d({"serve", "--segment", seg.str(), "--header-timeout", "0.3"});
  ASSERT_TRUE(d.running()) << d.log();
  constexpr int kClients = 60;
  std::vector<std::unique_ptr<Connection>> slow;
  for (int i = 0; i < kClients; ++i) {
    slow.push_back(std::make_unique<Connection>(d.port()));
    ASSERT_TRUE(slow.back()->send("POST /progress HTTP/1.1\r\nHost: x\r\n"));  // never finished
  }
  // Every one of them is answered 408 and counted.
  const std::string counted =
      fmt::format("progressista_rejected_total{{reason=\"timeout\"}} {}\n", kClients);
  ASSERT_TRUE(eventually(
      [&] { return http(d.port(), "GET", "/metrics").body.find(counted) != std::string::npos; },
      kWait))
      << http(d.port(), "GET", "/metrics").body;
  const std::regex line("too slow: request not received within 300 ms; closed");
  const std::string log = d.log();
  const auto lines = std::distance(std::sregex_iterator(log.begin(), log.end(), line),
                                   std::sregex_iterator());
  // The 60 timeouts fall within a second or two of each other.
  EXPECT_GE(lines, 1);
  EXPECT_LE(lines, 4) << log;
  // The next line, a second later, tells how many were left out.
  std::vector<std::unique_ptr<Connection>> later;
  EXPECT_TRUE(eventually(
      [&] {
        if (later.size() < 200) {
          later.push_back(std::make_unique<Connection>(d.port()));
          later.back()->send("GET / HTTP/1.1\r\n");
        }
        return std::regex_search(d.log(), std::regex("closed \\([0-9]+ more like it since the "
                                                     "previous such line\\)"));
      },
      kWait))
      << d.log();
}

}  // namespace
}  // namespace progressista
