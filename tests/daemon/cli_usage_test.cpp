// The command line as a person types it, against the real binary: a mistyped verb or option
// gets the nearest one, a bad number or boolean says what it expects (and, from the
// environment, names the variable), `show-config` shows the dashboard folder served, and
// `serve` logs the dashboard's URL.
#include <filesystem>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/daemon_process.hpp"
#include "support/http_client.hpp"
#include "support/json_doc.hpp"
#include "support/run_binary.hpp"
#include "support/segment_fixture.hpp"
#include "usage_errors.hpp"

namespace progressista {
namespace {

using testing::DaemonProcess;
using ::testing::HasSubstr;
using testing::http;
using ::testing::Not;
using testing::run;
using testing::ScopedSegmentName;
using Json = testing::JsonDoc;
namespace fs = std::filesystem;

TEST(Nearest, FindsTyposAndNothingForStrangers) {
  const std::vector<std::string> verbs{"serve", "ingest", "broadcast", "inspect", "show-config",
                                       "post", "demo"};
  EXPECT_EQ(daemon::nearest("srve", verbs), "serve");
  EXPECT_EQ(daemon::nearest("sever", verbs), "serve");
  EXPECT_EQ(daemon::nearest("showconfig", verbs), "show-config");
  EXPECT_EQ(daemon::nearest("brodcast", verbs), "broadcast");
  EXPECT_EQ(daemon::nearest("xyzzy", verbs), "");
  EXPECT_EQ(daemon::nearest("", verbs), "");
}

TEST(CliUsage, AMistypedVerbGetsTheNearestAndTheList) {
  const auto r = run({"srve"});
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.err, HasSubstr("progressista: unknown verb 'srve'; did you mean 'serve'?"));
  EXPECT_THAT(r.err, HasSubstr("The verbs are: serve, ingest, broadcast"));
  EXPECT_THAT(r.err, Not(HasSubstr("A subcommand is required")));
  const auto far = run({"xyzzy"});
  EXPECT_NE(far.code, 0);
  EXPECT_THAT(far.err, HasSubstr("unknown verb 'xyzzy'\n"));
}

TEST(CliUsage, AMistypedOptionGetsTheNearestOfThatVerb) {
  auto r = run({"serve", "--prot", "1"});
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.err, HasSubstr("progressista serve: unknown option '--prot'; did you mean "
                               "'--port'?"));
  EXPECT_THAT(r.err, HasSubstr("Run `progressista serve --help`"));
  r = run({"show-config", "--port", "9000", "--tikc=0.2"});
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.err, HasSubstr("unknown option '--tikc'; did you mean '--tick'?"));
  r = run({"inspect", "--no-such-flag"});
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.err, HasSubstr("progressista inspect: unknown option '--no-such-flag'\n"));
}

TEST(CliUsage, ABadNumberSaysWhatItExpects) {
  auto r = run({"show-config", "--tick", "abc"});
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.err, HasSubstr("--tick: must be a number of seconds from 0.005 to 10; got 'abc'"));
  r = run({"show-config", "--port", "-1"});
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.err, HasSubstr("--port: must be a whole number from 0 to 65535; got '-1'"));
  r = run({"demo", "--bars", "0"});
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.err, HasSubstr("--bars: must be a whole number from 1 to 100; got '0'"));
}

TEST(CliUsage, ABadValueFromTheEnvironmentNamesTheVariable) {
  auto r = run({"show-config"}, {{"PROGRESSISTA_PORT", "abc"}});
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.err, HasSubstr("progressista show-config: PROGRESSISTA_PORT=abc (for --port): "
                               "must be a whole number from 0 to 65535; got 'abc'"));
  r = run({"show-config"}, {{"PROGRESSISTA_TICK", "0.001"}});
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.err, HasSubstr("PROGRESSISTA_TICK=0.001 (for --tick): must be a number of "
                               "seconds from 0.005 to 10"));
  r = run({"show-config"}, {{"PROGRESSISTA_ACCESS_LOG", "maybe"}});
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.err, HasSubstr("PROGRESSISTA_ACCESS_LOG=maybe (for --access-log): must be true "
                               "or false"));
  // A good command-line value overrides a bad variable.
  r = run({"show-config", "--port", "9000"}, {{"PROGRESSISTA_PORT", "abc"}});
  EXPECT_EQ(r.code, 0) << r.err;
  // A bad command-line value is the command line's fault: no variable is named.
  r = run({"show-config", "--port", "x"}, {{"PROGRESSISTA_PORT", "9000"}});
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.err, HasSubstr("--port: must be a whole number"));
  EXPECT_THAT(r.err, Not(HasSubstr("PROGRESSISTA_PORT")));
}

TEST(CliUsage, ShowConfigShowsTheDashboardFolderServed) {
  auto r = run({"show-config"});
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string folder = Json(r.out).str("static_dir");
  ASSERT_FALSE(folder.empty()) << r.out;
  EXPECT_TRUE(fs::is_regular_file(fs::path(folder) / "index.html")) << folder;
  r = run({"show-config", "--static-dir", "/srv/board"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Json(r.out).str("static_dir"), "/srv/board");
}

TEST(CliUsage, ServeLogsTheDashboardUrlAndAnswersTheFaviconWithoutARejection) {
  const ScopedSegmentName seg;
  DaemonProcess d({"serve", "--segment", seg.str()});
  ASSERT_TRUE(d.running()) << d.log();
  EXPECT_THAT(d.log(), HasSubstr(fmt::format("dashboard: http://127.0.0.1:{}/ (from ", d.port())));
  const auto icon = http(d.port(), "GET", "/favicon.ico");
  EXPECT_EQ(icon.status, 200);
  EXPECT_THAT(icon.body, HasSubstr("<svg"));
  EXPECT_THAT(http(d.port(), "GET", "/metrics").body,
              HasSubstr("progressista_rejected_total{reason=\"not_found\"} 0"));
}

TEST(CliUsage, ServeWithoutADashboardSaysSo) {
  const ScopedSegmentName seg;
  DaemonProcess d({"serve", "--segment", seg.str(), "--static-dir", "/nonexistent/board"});
  ASSERT_TRUE(d.running()) << d.log();
  EXPECT_THAT(d.log(), HasSubstr("no dashboard: /nonexistent/board holds no index.html"));
  EXPECT_THAT(d.log(), Not(HasSubstr("dashboard: http")));
}

}  // namespace
}  // namespace progressista
