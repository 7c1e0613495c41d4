// The HTTP request path under hostile input, against real daemons (`ingest` and `serve`): a
// request whose body framing is ambiguous (request smuggling, RFC 9112 section 6) or that lacks
// its Host is refused and its connection closed, so nothing it carries runs as a request; and
// the 503 over --max-connections reaches a client that sends its whole request before reading.
#include <poll.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "progressista/store.hpp"
#include "support/daemon_process.hpp"
#include "support/http_client.hpp"
#include "support/run_binary.hpp"
#include "support/segment_fixture.hpp"

namespace progressista {
namespace {

using namespace std::chrono_literals;
using testing::Connection;
using testing::DaemonProcess;
using ::testing::HasSubstr;
using testing::http_request;
using testing::ScopedSegmentName;

// What the refused requests try to slip through: a well-formed request of its own.
const std::string kSmuggled = http_request("POST", "/progress", R"({"task_id":"SMUGGLED"})");

// A request head for POST /progress, to which each case adds its framing headers.
std::string head(std::string_view framing, std::string_view version = "HTTP/1.1",
                 std::string_view host = "Host: 127.0.0.1\r\n") {
  return fmt::format("POST /progress {}\r\n{}Content-Type: application/json\r\n{}\r\n", version,
                     host, framing);
}

struct Refused {
  const char* name;
  std::string request;
  int status;
  const char* detail;  // a part of the answer's {"detail": ...}
  Counter counter;
};

std::vector<Refused> refused_requests() {
  constexpr auto kFraming = Counter::kRejectedFraming;
  const std::string last_chunk = "0\r\n\r\n";
  const std::string ok = R"({"task_id":"SMUGGLED"})";
  return {
      // The final coding is not chunked: the body's length cannot be known (6.3, item 4).
      {"xchunked", head("Transfer-Encoding: xchunked\r\n") + kSmuggled, 400, "Transfer-Encoding",
       kFraming},
      {"identity", head("Transfer-Encoding: identity\r\n") + kSmuggled, 400, "Transfer-Encoding",
       kFraming},
      {"chunked_then_identity", head("Transfer-Encoding: chunked, identity\r\n") + kSmuggled, 400,
       "Transfer-Encoding", kFraming},
      {"chunked_twice_in_one_line", head("Transfer-Encoding: chunked, chunked\r\n") + kSmuggled,
       400, "Transfer-Encoding", kFraming},
      {"chunked_twice_in_two_lines",
       head("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n") + last_chunk +
           kSmuggled,
       400, "Transfer-Encoding", kFraming},
      {"empty_transfer_encoding", head("Transfer-Encoding: \r\n") + kSmuggled, 400,
       "Transfer-Encoding", kFraming},
      // Transfer-Encoding with Content-Length, in either order (6.3, item 3).
      {"transfer_encoding_then_content_length",
       head("Transfer-Encoding: xchunked\r\nContent-Length: 0\r\n") + kSmuggled, 400,
       "Content-Length", kFraming},
      {"content_length_then_chunked",
       head(
           fmt::format("Content-Length: {}\r\nTransfer-Encoding: chunked\r\n", last_chunk.size())) +
           last_chunk + kSmuggled,
       400, "Content-Length", kFraming},
      {"chunked_then_content_length",
       head("Transfer-Encoding: chunked\r\nContent-Length: 0\r\n") + last_chunk + kSmuggled, 400,
       "Content-Length", kFraming},
      // A coding we do not implement before the final chunked (6.1): 501.
      {"gzip_chunked", head("Transfer-Encoding: gzip, chunked\r\n") + last_chunk + kSmuggled, 501,
       "gzip", kFraming},
      {"gzip_line_then_chunked_line",
       head("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n") + last_chunk + kSmuggled,
       501, "gzip", kFraming},
      // HTTP/1.0 has no transfer codings: the framing is faulty (6.1).
      {"http10_chunked", head("Transfer-Encoding: chunked\r\n", "HTTP/1.0") + last_chunk, 400,
       "HTTP/1.0", kFraming},
      // Content-Length values that differ, or that are no number (6.3, item 5).
      {"differing_content_lengths",
       head(fmt::format("Content-Length: {}\r\nContent-Length: 0\r\n", ok.size())) + ok + kSmuggled,
       400, "Content-Length", kFraming},
      {"content_length_list_that_differs",
       head(fmt::format("Content-Length: 0, {}\r\n", ok.size())) + ok + kSmuggled, 400,
       "Content-Length", kFraming},
      {"content_length_not_a_number", head("Content-Length: 0x10\r\n") + kSmuggled, 400,
       "Content-Length", kFraming},
      // HTTP/1.1 needs exactly one Host (3.2).
      {"no_host", head(fmt::format("Content-Length: {}\r\n", ok.size()), "HTTP/1.1", "") + ok, 400,
       "Host", Counter::kRejectedBadRequest},
      {"two_hosts",
       head(fmt::format("Content-Length: {}\r\n", ok.size()), "HTTP/1.1",
            "Host: 127.0.0.1\r\nHost: example.org\r\n") +
           ok,
       400, "Host", Counter::kRejectedBadRequest},
  };
}

std::vector<std::string> role_args(const std::string& role, const ScopedSegmentName& seg,
                                   std::vector<std::string> extra = {}) {
  std::vector<std::string> a{role, "--segment", seg.str(), "--capacity", "64", "--threads", "1"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

class HttpHardening : public ::testing::Test {
 protected:
  void start(const std::string& role, std::vector<std::string> extra = {},
             std::map<std::string, std::string> env = {}) {
    daemon_ =
        std::make_unique<DaemonProcess>(role_args(role, seg_, std::move(extra)), std::move(env));
    ASSERT_TRUE(daemon_->running()) << daemon_->log();
    store_ = Store::open(testing::options(seg_, 64));
  }
  std::uint16_t port() const { return daemon_->port(); }

  // Each request on a connection of its own: the answer comes with Connection: close, the
  // connection closes, and no byte after the refused header is ever read as a request (no
  // task SMUGGLED, no task at all).
  void expect_every_ambiguous_request_refused() {
    for (const Refused& c : refused_requests()) {
      SCOPED_TRACE(c.name);
      const std::uint64_t before = store_->counters().get(c.counter);
      Connection conn(port());
      ASSERT_TRUE(conn.send(c.request));
      const auto r = conn.read_reply();
      EXPECT_EQ(r.status, c.status) << r.body;
      EXPECT_EQ(r.header("connection"), "close");
      EXPECT_EQ(r.header("content-type"), "application/json");
      EXPECT_THAT(r.body, HasSubstr(R"({"detail":")"));
      EXPECT_THAT(r.body, HasSubstr(c.detail));
      EXPECT_TRUE(conn.closed_by_peer(5s)) << "the connection stays open after the refusal";
      EXPECT_EQ(store_->counters().get(c.counter), before + 1) << counter_name(c.counter);
      TaskRecord rec;
      EXPECT_FALSE(store_->table().lookup("SMUGGLED", rec)) << "the body ran as a request";
      EXPECT_EQ(store_->table().size(), 0u);
    }
  }

  ScopedSegmentName seg_;
  std::unique_ptr<DaemonProcess> daemon_;
  std::unique_ptr<Store> store_;
};

TEST_F(HttpHardening, IngestRefusesAmbiguousFramingAndCloses) {
  start("ingest");
  expect_every_ambiguous_request_refused();
}

TEST_F(HttpHardening, ServeRefusesAmbiguousFramingAndCloses) {
  start("serve");
  expect_every_ambiguous_request_refused();
}

// What the checks must let through: chunked bodies (any case, split in chunks), keep-alive
// after them, HTTP/1.0 without Host.
TEST_F(HttpHardening, ChunkedBodiesAndHttp10WithoutHostAreServed) {
  start("ingest");
  Connection c(port());
  const std::string chunked = "7\r\n{\"task_\r\nc\r\nid\":\"split\"}\r\n0\r\n\r\n";
  ASSERT_TRUE(c.send(head("Transfer-Encoding: chunked\r\n") + chunked));
  EXPECT_EQ(c.read_reply().status, 200);
  ASSERT_TRUE(c.send(head("Transfer-Encoding: Chunked\r\n") + chunked));
  EXPECT_EQ(c.read_reply().status, 200);
  ASSERT_TRUE(c.send(http_request("POST", "/progress", R"({"task_id":"after"})")));
  EXPECT_EQ(c.read_reply().status, 200);
  TaskRecord rec;
  EXPECT_TRUE(store_->table().lookup("split", rec));
  EXPECT_TRUE(store_->table().lookup("after", rec));

  Connection old(port());
  ASSERT_TRUE(old.send("GET /health HTTP/1.0\r\n\r\n"));
  EXPECT_EQ(old.read_reply().status, 200);
  EXPECT_EQ(store_->counters().get(Counter::kRejectedFraming), 0u);
  EXPECT_EQ(store_->counters().get(Counter::kRejectedBadRequest), 0u);
}

// The parser adds a chunked body's trailer fields to the header's; dropped, they never count
// as the request's own (here: a token in a trailer does not authenticate).
TEST_F(HttpHardening, TrailerFieldsOfAChunkedBodyAreNotTheRequestsHeaders) {
  start("ingest", {}, {{"PROGRESSISTA_API_TOKEN", "s3cr3t"}});
  Connection c(port());
  const std::string body = R"({"task_id":"trailed"})";
  ASSERT_TRUE(c.send(
      head("Transfer-Encoding: chunked\r\n") +
      fmt::format("{:x}\r\n{}\r\n0\r\nAuthorization: Bearer s3cr3t\r\n\r\n", body.size(), body)));
  EXPECT_EQ(c.read_reply().status, 401);
  ASSERT_TRUE(c.send(http_request("POST", "/progress", R"({"task_id":"headed"})",
                                  "Authorization: Bearer s3cr3t\r\n")));
  EXPECT_EQ(c.read_reply().status, 200);
  TaskRecord rec;
  EXPECT_FALSE(store_->table().lookup("trailed", rec));
  EXPECT_TRUE(store_->table().lookup("headed", rec));
}

// A POST of some KiB, written whole before the answer is read, as http.client does with a
// body over 2920 bytes: the head in one send, the body in another.
std::string busy_body() {
  return fmt::format(R"({{"task_id":"busy","desc":"{}"}})", std::string(8000, 'x'));
}
std::string busy_head() {
  const std::string request = http_request("POST", "/progress", busy_body());
  return request.substr(0, request.size() - busy_body().size());
}

// Over --max-connections the daemon answers 503 before reading the request. Here the daemon's
// answer is in before the body is sent (the race http.client loses most of the time, made
// certain): a daemon that closes with the head unread resets the connection, and the body's
// send fails, or the reset arrives before the answer is read.
TEST_F(HttpHardening, The503OverMaxConnectionsReachesClientsThatWriteTheWholeRequest) {
  start("ingest", {"--max-connections", "1"});
  Connection held(port());
  ASSERT_TRUE(held.send(http_request("GET", "/health")));
  ASSERT_EQ(held.read_reply().status, 200);
  int answered = 0;
  std::vector<int> statuses;
  for (int i = 0; i < 20; ++i) {
    Connection c(port());
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.send(busy_head()));
    pollfd answer{c.fd(), POLLIN, 0};
    ASSERT_EQ(::poll(&answer, 1, 10'000), 1) << "no answer within 10 s";
    const bool sent = c.send(busy_body());
    const auto r = c.read_reply();
    statuses.push_back(sent ? r.status : -1);
    if (sent && r.status == 503) {
      ++answered;
      EXPECT_THAT(r.body, HasSubstr("too many connections"));
      EXPECT_EQ(r.header("retry-after"), "1");
    }
  }
  EXPECT_EQ(answered, 20) << "statuses (0: reset or closed, -1: the body's send failed): "
                          << fmt::format("{}", fmt::join(statuses, " "));
  EXPECT_EQ(store_->counters().get(Counter::kRejectedOverload), 20u);
  TaskRecord rec;
  EXPECT_FALSE(store_->table().lookup("busy", rec));
}

// The refused connection does not linger: a client that reads the 503 and keeps its end open
// is closed within the drain's short deadline.
TEST_F(HttpHardening, A503ConnectionIsClosedEvenIfTheClientKeepsItOpen) {
  start("ingest", {"--max-connections", "1"});
  Connection held(port());
  ASSERT_TRUE(held.send(http_request("GET", "/health")));
  ASSERT_EQ(held.read_reply().status, 200);
  Connection c(port());
  ASSERT_TRUE(c.send(busy_head() + busy_body()));
  EXPECT_EQ(c.read_reply().status, 503);
  EXPECT_TRUE(c.closed_by_peer(5s));
}

std::string python3() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const std::string candidate = dir + "/python3";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

// The client of the report: Python's http.client, 20 times in a row.
TEST_F(HttpHardening, PythonHttpClientReads503OverMaxConnections) {
  const std::string python = python3();
  if (python.empty()) GTEST_SKIP() << "python3 is not on PATH";
  start("ingest", {"--max-connections", "1"});
  Connection held(port());
  ASSERT_TRUE(held.send(http_request("GET", "/health")));
  ASSERT_EQ(held.read_reply().status, 200);
  const char* script = R"(
import http.client, sys
body = b'{"task_id":"busy","desc":"' + b'x' * 8000 + b'"}'
for _ in range(20):
    c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
    try:
        c.request("POST", "/progress", body=body, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        print(r.status)
    except Exception as e:
        print(type(e).__name__)
    finally:
        c.close()
)";
  const auto run = testing::run_program({python, "-c", script, std::to_string(port())});
  ASSERT_EQ(run.code, 0) << run.err;
  std::string expected;
  for (int i = 0; i < 20; ++i) expected += "503\n";
  EXPECT_EQ(run.out, expected);
}

}  // namespace
}  // namespace progressista
