// The shipped nginx site (conf/nginx/progressista.conf) in a real nginx with its own prefix,
// in front of the two real daemons started as their units start them (ExecStart= and the
// example environment file). The site is used as shipped except for what a test machine must
// change: the listen lines (one free loopback port) and the two upstream ports.
#include <sys/stat.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "conf/conf_support.hpp"
#include "support/daemon_process.hpp"
#include "support/http_client.hpp"
#include "support/segment_fixture.hpp"
#include "support/ws_client.hpp"

namespace progressista::testing {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

// Replaces the one occurrence of `from`; a site that no longer has it fails the test, so the
// substitutions can never silently stop applying.
void replace_exactly_once(std::string& text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  ASSERT_NE(at, std::string::npos) << "the site no longer contains: " << from;
  ASSERT_EQ(text.find(from, at + 1), std::string::npos) << "more than one: " << from;
  text.replace(at, from.size(), to);
}

std::string site_for_test(std::uint16_t listen, std::uint16_t ingest, std::uint16_t broadcast) {
  std::string site = read_file(kSourceDir / "conf/nginx/progressista.conf");
  // A leading newline: commented-out lines ("#    listen 80;") never match.
  replace_exactly_once(site, "\n    listen 80;\n",
                       fmt::format("\n    listen 127.0.0.1:{};\n", listen));
  replace_exactly_once(site, "\n    listen [::]:80;\n", "\n");
  replace_exactly_once(site, "server 127.0.0.1:8001;", fmt::format("server 127.0.0.1:{};", ingest));
  replace_exactly_once(site, "server 127.0.0.1:8002;",
                       fmt::format("server 127.0.0.1:{};", broadcast));
  return site;
}

std::string nginx_binary() {
  return ::access("/usr/sbin/nginx", X_OK) == 0 ? "/usr/sbin/nginx" : "nginx";
}

// An nginx of the test's own: prefix, pid, logs and temp paths in a scratch folder, the site
// included in http{} as in Debian's nginx.conf, in the foreground so it is stopped by PID.
// Run by root, its workers are `nobody` in group root: not root, as in production, and in
// the group of the segments the test's daemons (root) create with mode 0660.
class Nginx {
 public:
  Nginx(const fs::path& prefix, const std::string& site, const fs::path& module = {})
      : prefix_(prefix) {
    // The workers must reach their temp paths under the prefix.
    fs::permissions(prefix_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                 fs::perms::others_read | fs::perms::others_exec);
    fs::create_directories(prefix_ / "logs");
    fs::create_directories(prefix_ / "tmp");
    write_file(prefix_ / "sites-enabled/progressista", site);
    std::string main;
    if (!module.empty()) main += fmt::format("load_module {};\n", module.string());
    if (::geteuid() == 0) main += "user nobody root;\n";
    write_file(prefix_ / "nginx.conf", fmt::format(R"({1}daemon off;
worker_processes 2;
worker_shutdown_timeout 2s;
pid {0}/nginx.pid;
error_log {0}/logs/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {0}/logs/access.log;
    client_body_temp_path {0}/tmp/body;
    proxy_temp_path {0}/tmp/proxy;
    fastcgi_temp_path {0}/tmp/fastcgi;
    uwsgi_temp_path {0}/tmp/uwsgi;
    scgi_temp_path {0}/tmp/scgi;
    include {0}/sites-enabled/*;
}}
)",
                                                   prefix_.string(), main));
  }
  ~Nginx() {
    if (process_) process_->stop(SIGQUIT);  // graceful; SIGKILL by the destructor if stuck
  }

  [[nodiscard]] std::vector<std::string> args() const {
    return {nginx_binary(),
            "-p",
            prefix_.string(),
            "-c",
            (prefix_ / "nginx.conf").string(),
            "-e",
            (prefix_ / "logs/error.log").string()};
  }
  ToolResult test() const {
    auto a = args();
    a.push_back("-t");
    return run_tool(a);
  }
  bool start(std::uint16_t port) {
    process_ = std::make_unique<BackgroundProcess>(args(), std::map<std::string, std::string>{},
                                                   prefix_ / "logs/stderr.log");
    return wait_listening(port, 10s);
  }
  [[nodiscard]] std::string error_log() const { return read_file(prefix_ / "logs/error.log"); }

 private:
  fs::path prefix_;
  std::unique_ptr<BackgroundProcess> process_;
};

TEST(NginxSite, PassesNginxTestWithItsOwnPrefix) {
  ASSERT_TRUE(have_tool("nginx")) << "nginx is missing (Debian package nginx)";
  ScratchDir dir;
  Nginx nginx(dir.path(),
              site_for_test(free_loopback_port(), free_loopback_port(), free_loopback_port()));
  const ToolResult r = nginx.test();
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("test is successful"));
  EXPECT_THAT(r.err, ::testing::Not(HasSubstr("[warn]"))) << r.err;
}

// A request sent from `source` (another loopback address), read until the server closes.
int status_from(const char* source, std::uint16_t port, const std::string& target) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  ::inet_pton(AF_INET, source, &from.sin_addr);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int status = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) == 0 &&
      ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0) {
    const std::string req =
        fmt::format("GET {} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", target);
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      char buf[4096];
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 10000) > 0) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n >= 12) status = std::stoi(std::string(buf + 9, 3));
      }
    }
  }
  ::close(fd);
  return status;
}

// Server-Sent Events read through nginx, which forwards the stream chunked.
class SseThroughProxy {
 public:
  explicit SseThroughProxy(std::uint16_t port, std::string_view target = "/events") : c_(port) {
    ok_ = c_.send(fmt::format(
        "GET {} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n", target));
  }
  [[nodiscard]] const std::string& head() const { return head_; }

  // The data line of the next event, or nullopt when none came within `timeout`.
  std::optional<std::string> next(std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (ok_) {
      const auto end = body_.find("\n\n");
      if (end != std::string::npos) {
        const std::string event = body_.substr(0, end);
        body_.erase(0, end + 2);
        const auto data = event.find("data: ");
        if (data == std::string::npos) continue;  // retry:, ": ping" comments
        return event.substr(data + 6, event.find('\n', data) - data - 6);
      }
      if (std::chrono::steady_clock::now() >= deadline || !receive()) return std::nullopt;
      decode();
    }
    return std::nullopt;
  }

 private:
  bool receive() {
    pollfd p{c_.fd(), POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) return true;
    char tmp[65536];
    const ssize_t n = ::recv(c_.fd(), tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    raw_.append(tmp, static_cast<std::size_t>(n));
    return true;
  }
  // Moves the header block to head_, then whole chunks of raw_ to body_.
  void decode() {
    if (head_.empty()) {
      const auto h = raw_.find("\r\n\r\n");
      if (h == std::string::npos) return;
      head_ = raw_.substr(0, h);
      raw_.erase(0, h + 4);
      chunked_ = head_.find("chunked") != std::string::npos;
    }
    if (!chunked_) {
      body_ += raw_;
      raw_.clear();
      return;
    }
    for (;;) {
      const auto line = raw_.find("\r\n");
      if (line == std::string::npos) return;
      const std::size_t size = std::stoul(raw_.substr(0, line), nullptr, 16);
      if (raw_.size() < line + 2 + size + 2) return;
      body_.append(raw_, line + 2, size);
      raw_.erase(0, line + 2 + size + 2);
    }
  }

  Connection c_;
  bool ok_ = false;
  bool chunked_ = false;
  std::string head_, raw_, body_;
};

// The module variant the site describes, done as its comments tell an admin to:
// `progressista_segment` uncommented (with the test's segment), and at each "module variant"
// mark the proxy_pass above it deleted and the "#   " lines below it uncommented.
std::string module_variant(const std::string& site, const std::string& segment) {
  std::string out;
  std::stringstream in(site);
  int marks = 0;
  bool in_mark = false;
  for (std::string line; std::getline(in, line);) {
    const auto text = line.find_first_not_of(' ');
    const std::string indent = line.substr(0, text == std::string::npos ? 0 : text);
    const std::string body = text == std::string::npos ? "" : line.substr(text);
    if (line == "#progressista_segment progressista mode=0660;") {
      line = fmt::format("progressista_segment {} mode=0660;", segment);
    } else if (body.starts_with("# module variant, instead of the proxy_pass above")) {
      const auto last = out.rfind('\n', out.size() - 2);
      EXPECT_NE(out.find("proxy_pass", last), std::string::npos) << "no proxy_pass above: " << line;
      out.erase(last + 1);
      ++marks;
      in_mark = true;
      continue;
    } else if (in_mark && body.starts_with("#   ")) {
      line = indent + body.substr(4);
    } else if (!body.starts_with("#")) {
      in_mark = false;
    }
    out += line + "\n";
  }
  EXPECT_EQ(marks, 2) << "the site's module-variant marks changed";
  EXPECT_NE(out.find(fmt::format("\nprogressista_segment {} ", segment)), std::string::npos);
  return out;
}

const fs::path kModule = kBinaryDir / "module/ngx_http_progressista_module.so";

// Both daemons as their units run them, behind the shipped site.
class ThroughNginx : public ::testing::Test {
 protected:
  void SetUp() override { start_all(false); }

  void start_all(bool with_module) {
    ASSERT_TRUE(have_tool("nginx")) << "nginx is missing (Debian package nginx)";
    ingest_ = start_service("progressista-ingest.service");
    ASSERT_TRUE(ingest_->running()) << ingest_->log();
    broadcast_ = start_service("progressista-broadcast.service");
    ASSERT_TRUE(broadcast_->running()) << broadcast_->log();
    port_ = free_loopback_port();
    std::string site = site_for_test(port_, ingest_->port(), broadcast_->port());
    if (with_module) site = module_variant(site, seg_.str());
    nginx_ = std::make_unique<Nginx>(dir_.path(), site, with_module ? kModule : fs::path());
    if (with_module) {
      const ToolResult t = nginx_->test();
      ASSERT_EQ(t.code, 0) << t.err << "\n" << site;
    }
    ASSERT_TRUE(nginx_->start(port_)) << nginx_->error_log();
  }

  std::unique_ptr<DaemonProcess> start_service(const std::string& unit_name) {
    const UnitFile unit = shipped_unit(unit_name);
    auto env = service_environment(unit);
    // What differs from a production host: the segment, the state folder, the ports.
    env["PROGRESSISTA_SEGMENT"] = seg_.str();
    env["PROGRESSISTA_STORAGE_PATH"] = (state_.path() / "tasks.json").string();
    env["PROGRESSISTA_INGEST_PORT"] = "0";
    env["PROGRESSISTA_BROADCAST_PORT"] = "0";
    std::vector<std::string> args = exec_start(unit, env);
    args.erase(args.begin());  // /usr/bin/progressista: DaemonProcess runs the built binary
    return std::make_unique<DaemonProcess>(args, env);
  }

  HttpReply get(const std::string& target) { return http(port_, "GET", target); }
  HttpReply post(const std::string& body) { return http(port_, "POST", "/progress", body); }

  ScopedSegmentName seg_;
  ScratchDir dir_, state_;
  std::unique_ptr<DaemonProcess> ingest_, broadcast_;
  std::unique_ptr<Nginx> nginx_;
  std::uint16_t port_ = 0;
};

TEST_F(ThroughNginx, PostedEventShowsInGetTasksAndTheSegmentIsShared0660) {
  const HttpReply posted = post(R"({"task_id":"job-1","n":3,"total":10,"desc":"Backup"})");
  EXPECT_EQ(posted.status, 200) << posted.body;
  EXPECT_THAT(posted.body, HasSubstr(R"("ok":true)"));
  const HttpReply tasks = get("/tasks");
  EXPECT_EQ(tasks.status, 200);
  EXPECT_THAT(tasks.body, HasSubstr(R"("job-1":{)"));
  EXPECT_THAT(get("/tasks/job-1").body, HasSubstr(R"("desc":"Backup")"));
  struct stat st {};
  ASSERT_EQ(::stat(("/dev/shm/" + seg_.str()).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);  // PROGRESSISTA_SHM_MODE from the example file
}

TEST_F(ThroughNginx, WebSocketGetsTheSnapshotThenAChange) {
  ASSERT_EQ(post(R"({"task_id":"first","n":1})").status, 200);
  WsTestClient ws(port_, "/ws");
  ASSERT_TRUE(ws.open()) << ws.error() << "\n" << nginx_->error_log();
  const auto snapshot = ws.read();
  ASSERT_TRUE(snapshot);
  EXPECT_THAT(*snapshot, ::testing::StartsWith(R"({"tasks":{)"));
  EXPECT_THAT(*snapshot, HasSubstr(R"("first":{)"));
  ASSERT_EQ(post(R"({"task_id":"second","n":2})").status, 200);
  std::string last;
  EXPECT_TRUE(ws.read_until(
      [](const std::string& f) { return f.find(R"("second":{)") != std::string::npos; }, 10s,
      &last))
      << last;
}

// The official socket.io-client (tests/browser, `make browser-deps`) through the site: polling
// upgraded to websocket, and websocket only, each get a room's status, update and completion.
TEST_F(ThroughNginx, SocketIoClientsGetTheirRoomOverPollingAndWebSocket) {
  const fs::path browser = kSourceDir / "tests/browser";
  if (!have_tool("node") || !fs::exists(browser / "node_modules/socket.io-client"))
    GTEST_SKIP() << "node or socket.io-client missing (make browser-deps)";
  const RunResult r =
      run_program({"node", (browser / "socketio_through.mjs").string(),
                   fmt::format("http://127.0.0.1:{}", port_)},
                  {}, {}, std::chrono::seconds(90));
  EXPECT_EQ(r.code, 0) << r.err << r.out << "\n" << nginx_->error_log();
}

TEST_F(ThroughNginx, ServerSentEventsStreamUnbuffered) {
  ASSERT_EQ(post(R"({"task_id":"sse","n":1})").status, 200);
  SseThroughProxy sse(port_);
  const auto snapshot = sse.next();
  ASSERT_TRUE(snapshot) << nginx_->error_log();
  EXPECT_THAT(sse.head(), HasSubstr("200"));
  EXPECT_THAT(sse.head(), HasSubstr("text/event-stream"));
  EXPECT_THAT(*snapshot, HasSubstr(R"("type":"snapshot")"));
  // A change arrives while the response is still open: nginx does not hold it back.
  ASSERT_EQ(post(R"({"task_id":"sse","n":7})").status, 200);
  std::optional<std::string> delta;
  for (int i = 0; i < 20; ++i) {
    delta = sse.next();
    if (!delta || delta->find(R"("n":7)") != std::string::npos) break;
  }
  ASSERT_TRUE(delta);
  EXPECT_THAT(*delta, HasSubstr(R"("type":"delta")"));
}

// The per-change streams and the operations feed reach the broadcaster, unbuffered, and are
// not taken for tasks named "stream" and "ws" by the /tasks/ prefix location.
TEST_F(ThroughNginx, EventStreamsAndTheOperationsFeedPassThrough) {
  ASSERT_EQ(post(R"({"task_id":"streamed","n":4,"project":"p"})").status, 200);
  // ?snapshot=1: the task already there is each stream's first message.
  SseThroughProxy sse(port_, "/tasks/stream?snapshot=1");
  const auto message = sse.next();
  ASSERT_TRUE(message) << nginx_->error_log();
  EXPECT_THAT(sse.head(), HasSubstr("text/event-stream"));
  EXPECT_THAT(*message, ::testing::StartsWith(R"({"event":"task.updated","seq":)"));
  EXPECT_THAT(*message, HasSubstr(R"("task_id":"streamed")"));
  WsTestClient ws(port_, "/tasks/ws?snapshot=1");
  ASSERT_TRUE(ws.open()) << ws.error() << "\n" << nginx_->error_log();
  const auto frame = ws.read();
  ASSERT_TRUE(frame);
  EXPECT_THAT(*frame, HasSubstr(R"("task_id":"streamed")"));
  // The operations feed sends changes only; the WebSocket is open, so this one reaches it.
  WsTestClient ops(port_, "/ws?protocol=operations");
  ASSERT_TRUE(ops.open()) << ops.error();
  ASSERT_EQ(post(R"({"task_id":"streamed","n":5,"project":"p"})").status, 200);
  const auto op = ops.read();
  ASSERT_TRUE(op);
  EXPECT_THAT(*op, ::testing::StartsWith(R"({"type":"web:ingest:progress","project":"p")"));
  // And the SSE stream, unbuffered, gets that change while its response is still open (after,
  // perhaps, the first post's own message again: delivery is at least once around a connect).
  std::optional<std::string> change;
  for (int i = 0; i < 3; ++i) {
    change = sse.next();
    if (!change || change->find(R"("n":5)") != std::string::npos) break;
  }
  ASSERT_TRUE(change);
  EXPECT_THAT(*change, HasSubstr(R"("n":5)"));
}

TEST_F(ThroughNginx, MetricsAnswerLoopbackAndRefuseOtherAddresses) {
  const HttpReply metrics = get("/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_THAT(metrics.body, HasSubstr("progressista_build_info"));
  EXPECT_EQ(status_from("127.0.0.1", port_, "/metrics"), 200);
  // 127.0.0.2 is loopback too, but in none of the allowed networks.
  EXPECT_EQ(status_from("127.0.0.2", port_, "/metrics"), 403);
  EXPECT_EQ(status_from("127.0.0.2", port_, "/health"), 200);
}

TEST_F(ThroughNginx, DeleteTasksReachesTheIngest) {
  ASSERT_EQ(post(R"({"task_id":"gone","status":"close"})").status, 200);
  ASSERT_EQ(post(R"({"task_id":"kept","n":1})").status, 200);
  ASSERT_EQ(post(R"({"task_id":"done","status":"close"})").status, 200);
  const HttpReply one = http(port_, "DELETE", "/tasks/gone");
  EXPECT_EQ(one.status, 200) << one.body;
  EXPECT_THAT(one.body, HasSubstr(R"("removed":true)"));
  const HttpReply closed = http(port_, "DELETE", "/tasks?status=close");
  EXPECT_EQ(closed.status, 200) << closed.body;
  EXPECT_THAT(closed.body, HasSubstr(R"("done")"));
  const std::string left = get("/tasks").body;
  EXPECT_THAT(left, HasSubstr(R"("kept":{)"));
  EXPECT_THAT(left, ::testing::Not(HasSubstr(R"("gone")")));
  EXPECT_THAT(left, ::testing::Not(HasSubstr(R"("done")")));
}

TEST_F(ThroughNginx, DashboardHealthAndReadApiComeFromTheBroadcaster) {
  const HttpReply root = get("/");
  EXPECT_EQ(root.status, 307);
  EXPECT_EQ(root.header("location"), "/static/index.html");
  const HttpReply page = get("/static/index.html");
  EXPECT_EQ(page.status, 200);
  EXPECT_THAT(page.header("content-type"), HasSubstr("text/html"));
  const HttpReply health = get("/health");
  EXPECT_EQ(health.status, 200);
  EXPECT_THAT(health.body, HasSubstr(R"("role":"broadcast")"));
  EXPECT_THAT(health.body, HasSubstr(R"("ingest":{"alive":true)"));
  ASSERT_EQ(post(R"({"task_id":"op","project":"p1","n":1,"total":2})").status, 200);
  EXPECT_THAT(get("/projects/p1/progress").body, HasSubstr(R"("operationId":"op")"));
  EXPECT_THAT(get("/summary").body, HasSubstr(R"("projects":{"p1":{"tasks":{"total":1,)"));
  EXPECT_EQ(get("/not-a-route").status, 404);
}

// The commented-out module variant of the site, in an nginx that loads the module built in
// this tree (the release tree only).
class ModuleVariant : public ThroughNginx {
 protected:
  void SetUp() override {
    if (!fs::exists(kModule)) GTEST_SKIP() << "the nginx module is not built in this tree";
    start_all(true);
  }
};

TEST_F(ModuleVariant, NginxWritesAndServesTasksItselfAndDeletesThroughTheIngest) {
  ASSERT_EQ(post(R"({"task_id":"old","status":"close"})").status, 200);
  ASSERT_EQ(post(R"({"task_id":"gone","n":1})").status, 200);
  // DELETE on /tasks passes the module's GET-only location on to the ingest (limit_except).
  const HttpReply closed = http(port_, "DELETE", "/tasks?status=close");
  EXPECT_EQ(closed.status, 200) << closed.body;
  EXPECT_THAT(closed.body, HasSubstr(R"("removed":["old"])"));
  EXPECT_THAT(http(port_, "DELETE", "/tasks/gone").body, HasSubstr(R"("removed":true)"));
  // With both daemons gone, writes and snapshots still work: nginx serves them itself.
  ASSERT_EQ(ingest_->stop(), 0);
  ASSERT_EQ(broadcast_->stop(), 0);
  const HttpReply posted = post(R"({"task_id":"direct","n":5,"total":10})");
  EXPECT_EQ(posted.status, 200) << posted.body << nginx_->error_log();
  const HttpReply tasks = get("/tasks");
  EXPECT_EQ(tasks.status, 200);
  EXPECT_THAT(tasks.body, HasSubstr(R"("direct":{)"));
  EXPECT_THAT(tasks.body, ::testing::Not(HasSubstr(R"("gone")")));
}

}  // namespace
}  // namespace progressista::testing
