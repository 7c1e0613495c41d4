// `progressista watch`: the SSE parser and the board as units, then the verb against a real
// `progressista serve` — printed once, and live in a real terminal (tmux: new-session,
// capture-pane, resize-window, send-keys C-c).
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cli/sse_stream.hpp"
#include "cli/terminal_text.hpp"
#include "cli/watch_board.hpp"
#include "support/daemon_process.hpp"
#include "support/http_client.hpp"
#include "support/run_binary.hpp"
#include "support/segment_fixture.hpp"
#include "support/wait.hpp"

namespace progressista {
namespace {

using daemon::SseEvent;
using daemon::SseParser;
using daemon::WatchBoard;
using daemon::WatchedTask;
using daemon::WatchFilter;
using daemon::WatchGroup;
using daemon::WatchLook;
using testing::DaemonProcess;
using testing::eventually;
using ::testing::HasSubstr;
using testing::http;
using ::testing::Not;
using testing::ScopedSegmentName;
using namespace std::chrono_literals;

std::vector<SseEvent> parse_in_chunks(std::string_view stream, std::size_t chunk) {
  SseParser parser;
  std::vector<SseEvent> events;
  for (std::size_t at = 0; at < stream.size(); at += chunk) {
    EXPECT_TRUE(parser.feed(stream.substr(at, chunk), [&](const SseEvent& e) { events.push_back(e); }));
  }
  return events;
}

TEST(SseParser, EventsAreTheSameHoweverTheBytesArrive) {
  const std::string stream =
      "retry: 2000\n\n: a comment\nid: 7\ndata: {\"a\":1}\n\n"
      "event: note\r\ndata:first\r\ndata:  second\r\n\r\n"
      "id: 9\rdata: x\r\r"
      "id: 10\n\n"                      // no data: nothing dispatched, the id is kept
      "data: y\n\n"
      "data: unfinished";               // no blank line yet: not dispatched
  for (const std::size_t chunk : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{7},
                                  stream.size()}) {
    const auto events = parse_in_chunks(stream, chunk);
    ASSERT_EQ(events.size(), 4u) << "chunk " << chunk;
    EXPECT_EQ(events[0].id, "7");
    EXPECT_EQ(events[0].data, "{\"a\":1}");
    EXPECT_EQ(events[0].event, "");
    EXPECT_EQ(events[1].event, "note");
    EXPECT_EQ(events[1].data, "first\n second") << "one leading space is dropped, not two";
    EXPECT_EQ(events[1].id, "7") << "the last id carries over";
    EXPECT_EQ(events[2].id, "9");
    EXPECT_EQ(events[2].data, "x");
    EXPECT_EQ(events[3].id, "10");
    EXPECT_EQ(events[3].data, "y");
  }
}

TEST(SseParser, ALineWithoutEndPastTheLimitIsAnError) {
  SseParser parser(16);
  const auto ignore = [](const SseEvent&) {};
  EXPECT_TRUE(parser.feed("data: 0123456789", ignore));
  EXPECT_FALSE(parser.feed("abcdefghij", ignore));
}

std::string task(std::string_view id, std::string_view fields) {
  return fmt::format(R"("{}":{{"task_id":"{}",{}}})", id, id, fields);
}

// A board with every kind of task; now = 1000.
WatchBoard fleet(WatchFilter filter = {}) {
  WatchBoard board(std::move(filter));
  std::string error;
  const std::string snapshot = fmt::format(
      R"({{"type":"snapshot","seq":1,"tasks":{{{},{},{},{},{},{},{}}}}})",
      task("run-b", R"("n":42,"total":100,"status":"update","created_at":990,"updated_at":999,"rate":3.414,"eta":17,"message":"epoch 42")"),
      task("run-a", R"("n":1,"total":10,"status":"start","created_at":995,"updated_at":995)"),
      task("fail-old", R"("n":3,"total":10,"status":"error","error":"disk full","created_at":900,"updated_at":950,"done_at":950)"),
      task("fail-new", R"("n":5,"total":10,"status":"error","error":"HTTP 503","created_at":900,"updated_at":990,"done_at":990,"meta":{"project":"web"})"),
      task("quiet", R"("n":2,"status":"stale","created_at":100,"updated_at":200)"),
      task("done-full", R"("n":10,"total":10,"status":"close","created_at":900,"updated_at":960,"done_at":960)"),
      task("done-early", R"("n":45,"total":100,"status":"close","created_at":900,"updated_at":970,"done_at":970,"project":"web")"));
  EXPECT_TRUE(board.apply(snapshot, error)) << error;
  return board;
}

std::vector<std::string> ids_in_order(const std::vector<std::string>& lines) {
  std::vector<std::string> ids;
  for (std::size_t i = 3; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    const auto start = l.find(' ') + 1;
    ids.push_back(l.substr(start, l.find(' ', start) - start));
  }
  return ids;
}

TEST(WatchBoard, ASilentRunningTaskIsStalledByItsOwnCadenceAndTheServersRule) {
  WatchBoard board;
  std::string error;
  ASSERT_TRUE(board.apply(
      fmt::format(R"({{"type":"snapshot","seq":1,"tasks":{{{},{},{}}}}})",
                  task("hung", R"("n":1,"status":"update","created_at":700,"updated_at":800,"cadence":2)"),
                  task("slow", R"("n":1,"status":"update","created_at":700,"updated_at":800,"cadence":30)"),
                  task("new", R"("n":0,"status":"start","created_at":950,"updated_at":950)")),
      error))
      << error;
  WatchLook look;
  look.width = 120;
  // At 1000: "hung" has been silent 200 s, past max(10 x 2 s, 60 s); "slow" has 300 s.
  auto lines = board.render(look, 1000);
  EXPECT_EQ(lines[1],
            "3 tasks \u00b7 2 running \u00b7 0 failed \u00b7 1 stalled \u00b7 0 stale \u00b7 0 done");
  EXPECT_EQ(ids_in_order(lines), (std::vector<std::string>{"hung", "slow", "new"}));  // by start
  EXPECT_THAT(lines[3], HasSubstr("! hung"));
  EXPECT_THAT(lines[3], HasSubstr("stalled: no event for 03:20, usually every 2 s"));
  // A server with a stricter rule: what it flags, this board flags.
  board.set_rule(StallRule{2, 1});
  lines = board.render(look, 1000);
  EXPECT_THAT(lines[1], HasSubstr("3 stalled"));
  board.set_rule(StallRule{0, 60});  // off
  EXPECT_THAT(board.render(look, 1000)[1], HasSubstr("0 stalled"));
  // --status stalled shows only them.
  WatchFilter only;
  only.groups = {WatchGroup::kStalled};
  WatchBoard narrowed(only);
  ASSERT_TRUE(narrowed.apply(
      fmt::format(R"({{"type":"snapshot","seq":1,"tasks":{{{},{}}}}})",
                  task("hung", R"("n":1,"status":"update","created_at":700,"updated_at":800,"cadence":2)"),
                  task("new", R"("n":0,"status":"start","created_at":950,"updated_at":950)")),
      error));
  EXPECT_EQ(ids_in_order(narrowed.render(look, 1000)), (std::vector<std::string>{"hung"}));
}

TEST(WatchBoard, FailuresFirstThenStaleRunningAndDone) {
  const WatchBoard board = fleet();
  WatchLook look;
  look.width = 100;  // bars of 10
  look.server = "http://127.0.0.1:8000/events";
  const auto lines = board.render(look, 1000);
  EXPECT_THAT(lines[0], HasSubstr("Progressista watch \u00b7 live \u00b7 http://127.0.0.1:8000/events"));
  EXPECT_EQ(lines[1],
            "7 tasks \u00b7 2 running \u00b7 2 failed \u00b7 0 stalled \u00b7 1 stale \u00b7 2 done");
  EXPECT_EQ(ids_in_order(lines), (std::vector<std::string>{"fail-new", "fail-old", "quiet", "run-b",
                                                            "run-a", "done-early", "done-full"}));
  const auto line_of = [&](std::string_view id) {
    return *std::find_if(lines.begin(), lines.end(), [&](const std::string& l) {
      return l.substr(l.find(' ') + 1).starts_with(std::string(id) + " ");
    });
  };
  EXPECT_THAT(line_of("fail-new"), HasSubstr("\u2717 fail-new"));
  EXPECT_THAT(line_of("fail-new"), HasSubstr("  50%|\u2588\u2588\u2588\u2588\u2588     | 5/10 ["));
  EXPECT_THAT(line_of("fail-new"), HasSubstr("HTTP 503"));
  EXPECT_THAT(line_of("run-b"), HasSubstr("42/100 [00:10<00:16, 3.41it/s] epoch 42"));
  EXPECT_THAT(line_of("done-early"), HasSubstr("~ done-early"));
  EXPECT_THAT(line_of("done-early"), HasSubstr("ended at 45%"));
  EXPECT_THAT(line_of("done-full"), HasSubstr("\u2713 done-full"));
}

TEST(WatchBoard, DeltasUpdateAndRemove) {
  WatchBoard board = fleet();
  std::string error;
  ASSERT_TRUE(board.apply(
      fmt::format(R"({{"type":"delta","seq":2,"upserts":{{{}}},"removed":["fail-old","nobody"]}})",
                  task("run-a", R"("n":2,"total":10,"status":"error","error":"oom","created_at":995,"updated_at":999,"done_at":999)")),
      error))
      << error;
  EXPECT_EQ(board.size(), 6u);
  WatchLook look;
  look.width = 120;
  const auto ids = ids_in_order(board.render(look, 1000));
  EXPECT_EQ(ids[0], "run-a") << "the newest failure on top";
  EXPECT_EQ(std::count(ids.begin(), ids.end(), "fail-old"), 0);
  EXPECT_FALSE(board.apply("not json", error));
  EXPECT_FALSE(board.apply(R"({"type":"error","detail":"x"})", error));
  EXPECT_THAT(error, HasSubstr("type 'error'"));
  EXPECT_EQ(board.size(), 6u) << "a bad frame changes nothing";
}

TEST(WatchBoard, FiltersByProjectOrMetaProjectPrefixAndStatus) {
  WatchLook look;
  look.width = 120;
  WatchFilter by_project;
  by_project.project = "web";
  auto lines = fleet(by_project).render(look, 1000);
  EXPECT_EQ(ids_in_order(lines), (std::vector<std::string>{"fail-new", "done-early"}));
  EXPECT_THAT(lines[1], HasSubstr("(project=web)"));
  WatchFilter by_prefix;
  by_prefix.prefix = "run-";
  EXPECT_EQ(ids_in_order(fleet(by_prefix).render(look, 1000)),
            (std::vector<std::string>{"run-b", "run-a"}));
  WatchFilter by_status;
  by_status.groups = {WatchGroup::kFailed, WatchGroup::kStale};
  EXPECT_EQ(ids_in_order(fleet(by_status).render(look, 1000)),
            (std::vector<std::string>{"fail-new", "fail-old", "quiet"}));
}

TEST(WatchBoard, EveryLineFitsAndTheRestIsCounted) {
  const WatchBoard board = fleet();
  for (std::size_t width = 20; width <= 200; width += 7) {
    WatchLook look;
    look.width = width;
    for (const std::string& line : board.render(look, 1000))
      EXPECT_LE(daemon::columns(line), width) << width << ": " << line;
  }
  WatchLook small;
  small.height = 6;
  const auto lines = board.render(small, 1000);
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines.back(), "\u2026 and 5 more (narrow with --status, --project, --prefix)");
  EXPECT_EQ(ids_in_order({lines.begin(), lines.end() - 1}),
            (std::vector<std::string>{"fail-new", "fail-old"}));
}

TEST(WatchBoard, TextFromTheServerCannotDriveTheTerminal) {
  WatchBoard board;
  std::string error;
  ASSERT_TRUE(board.apply(
      R"({"type":"snapshot","tasks":{"x\u001b[2Jy":{"status":"error","error":"a\u001b]0;pwned\u0007b"}}})",
      error));
  WatchLook look;
  look.width = 100;
  look.color = true;
  for (const std::string& line : board.render(look, 1000)) {
    std::string without_marks = line;
    for (const char* sgr : {"\x1b[31m", "\x1b[0m"}) {
      for (auto at = without_marks.find(sgr); at != std::string::npos; at = without_marks.find(sgr))
        without_marks.erase(at, std::string_view(sgr).size());
    }
    EXPECT_EQ(without_marks.find('\x1b'), std::string::npos) << line;
    EXPECT_EQ(without_marks.find('\x07'), std::string::npos) << line;
  }
}

TEST(TqdmCounts, AsTqdmWritesThem) {
  WatchedTask t;
  t.status = "update";
  t.n = 42;
  t.total = 100;
  t.created_at = 1000;
  t.updated_at = 1012;
  t.rate = 3.414;
  t.eta = 17;
  EXPECT_EQ(daemon::tqdm_counts(t, 1012), "42/100 [00:12<00:17, 3.41it/s]");
  EXPECT_EQ(daemon::tqdm_counts(t, 1100), "42/100 [01:40<overdue, 3.41it/s]");
  t.rate = 0.4;
  EXPECT_EQ(daemon::tqdm_counts(t, 1012), "42/100 [00:12<00:17, 2.50s/it]");
  WatchedTask bytes = t;
  bytes.unit = "B";
  bytes.unit_factor = 1;
  bytes.unit_divisor = 1024;
  bytes.n = 1.81 * (1 << 30);
  bytes.total = 3.17 * (1 << 30);
  bytes.rate = 155.0 * (1 << 20);
  bytes.eta = 9;
  EXPECT_EQ(daemon::tqdm_counts(bytes, 1012), "1.81G/3.17G [00:12<00:09, 155MB/s]");
  WatchedTask open;
  open.status = "update";
  open.n = 148634514.55;
  open.unit = "files";
  EXPECT_EQ(daemon::tqdm_counts(open, 5), "148634515files [?, ?files/s]");
}

// ---- the verb against a real server ----

class WatchVerb : public ::testing::Test {
 protected:
  void start(std::map<std::string, std::string> env = {}, std::vector<std::string> more = {}) {
    std::vector<std::string> args{"serve", "--segment", seg_.str(), "--tick", "0.05"};
    args.insert(args.end(), more.begin(), more.end());
    daemon_ = std::make_unique<DaemonProcess>(args, std::move(env));
    ASSERT_TRUE(daemon_->running()) << daemon_->log();
  }
  std::string url() const { return fmt::format("http://127.0.0.1:{}", daemon_->port()); }
  void post(const std::string& body, std::string_view headers = {}) {
    ASSERT_EQ(http(daemon_->port(), "POST", "/progress", body, headers).status, 200) << body;
  }

  ScopedSegmentName seg_;
  std::unique_ptr<DaemonProcess> daemon_;
};

TEST_F(WatchVerb, OncePrintsTheBoardAndExits) {
  start();
  post(R"({"task_id":"etl/a","n":5,"total":10})");
  post(R"({"task_id":"etl/b","status":"error","error":"disk full"})");
  post(R"({"task_id":"ml/c","n":1,"total":4,"meta":{"project":"ml"}})");
  auto r = testing::run({"watch", "--once", "--server-url", url()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("3 tasks \u00b7 2 running \u00b7 1 failed \u00b7 0 stalled \u00b7 0 stale \u00b7 0 done"));
  EXPECT_LT(r.out.find("etl/b"), r.out.find("etl/a")) << "failures first:\n" << r.out;
  EXPECT_THAT(r.out, HasSubstr("disk full"));
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << "no escapes when not a terminal";
  // The /progress endpoint as Progressista's clients take it works as well.
  r = testing::run({"watch", "--once", "--project", "ml", "--server-url", url() + "/progress"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("ml/c"));
  EXPECT_THAT(r.out, Not(HasSubstr("etl/")));
  r = testing::run({"watch", "--once", "--status", "failed", "--prefix", "etl/", "--server-url", url()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("etl/b"));
  EXPECT_THAT(r.out, Not(HasSubstr("etl/a")));
  r = testing::run({"watch", "--once", "--status", "broken", "--server-url", url()});
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.err, HasSubstr("must be running, failed, stalled, stale or done; got 'broken'"));
}

TEST_F(WatchVerb, TokensAsForTheReadApiAndNoServerIsExitCode2) {
  start({{"PROGRESSISTA_API_TOKEN", "s3cr3t"}});
  post(R"({"task_id":"a","n":1})", "Authorization: Bearer s3cr3t\r\n");
  auto r = testing::run({"watch", "--once", "--server-url", url()});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("answered 401"));
  r = testing::run({"watch", "--once", "--server-url", url()}, {{"PROGRESSISTA_API_TOKEN", "s3cr3t"}});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("1 task \u00b7"));
  EXPECT_THAT(r.out + r.err, Not(HasSubstr("s3cr3t")));
  const std::uint16_t nobody = testing::free_loopback_port();
  r = testing::run({"watch", "--once", "--server-url", fmt::format("http://127.0.0.1:{}", nobody)});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("cannot connect"));
}

// A real terminal: tmux on its own socket, killed at the end.
class Tmux {
 public:
  explicit Tmux(std::string name) : socket_("pt-watch-" + std::to_string(::getpid()) + "-" + name) {}
  ~Tmux() { (void)tmux({"kill-server"}); }
  testing::RunResult tmux(std::vector<std::string> args) const {
    std::vector<std::string> argv{"/usr/bin/tmux", "-L", socket_};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::run_program(argv, {{"TERM", "xterm-256color"}});
  }
  std::string screen() const { return tmux({"capture-pane", "-p", "-t", "w"}).out; }
  std::string pane(std::string_view format) const {
    return tmux({"display-message", "-p", "-t", "w", std::string(format)}).out;
  }

 private:
  std::string socket_;
};

TEST_F(WatchVerb, LiveInATerminalFollowsResizesReconnectsAndEndsCleanlyOnCtrlC) {
#if defined(__SANITIZE_ADDRESS__)
  // Run in the release tree only: under ASan this test once saw no exit status after Ctrl-C
  // (2 of 6 runs). That was read from tmux's #{pane_dead_status}, which tmux also leaves
  // empty in release (3 of 10 runs) for a watch that exits 0 every time under a plain pty
  // (12 of 12); the status now comes from bash. Not yet re-run under ASan.
  GTEST_SKIP() << "release tree only (see the comment)";
#endif
  start();
  const std::uint16_t port = daemon_->port();
  post(R"({"task_id":"job-1","n":1,"total":10,"desc":"first"})");
  Tmux t("live");
  // bash waits out a Ctrl-C its foreground command handles and goes on (bash(1), SIGNALS), so
  // it can write watch's exit status where the test reads it.
  const std::filesystem::path status_file =
      std::filesystem::temp_directory_path() / fmt::format("pt-watch-status-{}", ::getpid());
  std::filesystem::remove(status_file);
  const std::string command = fmt::format(
      "bash -c '\"$0\" watch --server-url http://127.0.0.1:{}; echo $? > {}' {}", port,
      status_file.string(), PROGRESSISTA_BIN);
  ASSERT_EQ(t.tmux({"new-session", "-d", "-s", "w", "-x", "100", "-y", "12", command, ";",
                    "set-option", "-t", "w", "remain-on-exit", "on"})
                .code,
            0);
  ASSERT_TRUE(eventually([&] { return t.screen().find("job-1") != std::string::npos; }, 20s))
      << t.screen();
  EXPECT_THAT(t.screen(), HasSubstr("\u00b7 live \u00b7"));

  // Changes arrive without a keypress; a failure goes to the top.
  post(R"({"task_id":"job-2","status":"error","error":"segfault in worker 7"})");
  ASSERT_TRUE(eventually([&] { return t.screen().find("segfault") != std::string::npos; }, 20s))
      << t.screen();
  {
    const std::string s = t.screen();
    EXPECT_LT(s.find("job-2"), s.find("job-1")) << s;
  }

  // Narrower: redrawn to fit.
  ASSERT_EQ(t.tmux({"resize-window", "-t", "w", "-x", "50", "-y", "12"}).code, 0);
  ASSERT_TRUE(eventually([&] {
    const std::string s = t.screen();
    if (s.find("job-1") == std::string::npos) return false;
    std::size_t start = 0;
    for (std::size_t end = s.find('\n'); end != std::string::npos; start = end + 1, end = s.find('\n', start))
      if (daemon::columns(s.substr(start, end - start)) > 50) return false;
    return true;
  }, 20s)) << t.screen();

  // The server goes away and comes back on the same port: the board says so, then resumes.
  ASSERT_EQ(daemon_->stop(), 0);
  ASSERT_TRUE(eventually([&] { return t.screen().find("reconnecting") != std::string::npos; }, 20s))
      << t.screen();
  daemon_ = std::make_unique<DaemonProcess>(std::vector<std::string>{
      "serve", "--segment", seg_.str(), "--tick", "0.05", "--port", std::to_string(port)});
  ASSERT_TRUE(daemon_->running()) << daemon_->log();
  post(R"({"task_id":"job-3","n":2,"total":4})");
  ASSERT_TRUE(eventually([&] {
    const std::string s = t.screen();
    return s.find("job-3") != std::string::npos && s.find("\u00b7 live") != std::string::npos;
  }, 30s)) << t.screen();

  // Ctrl-C: exit status 0, and the terminal's own screen back (the board was on the alternate one).
  ASSERT_EQ(t.tmux({"send-keys", "-t", "w", "C-c"}).code, 0);
  std::string status;
  ASSERT_TRUE(eventually([&] {
    std::ifstream in(status_file);
    std::stringstream text;
    text << in.rdbuf();
    status = text.str();
    return !status.empty() && status.back() == '\n';
  }, 20s)) << t.screen();
  std::filesystem::remove(status_file);
  EXPECT_EQ(status, "0\n");
  EXPECT_THAT(t.screen(), Not(HasSubstr("Progressista watch")));
}

}  // namespace
}  // namespace progressista
