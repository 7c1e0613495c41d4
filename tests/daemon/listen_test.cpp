// Who may listen on a port. Two daemons of different segments on one port used to split the
// connections between two task tables (SO_REUSEPORT) without a word; now a port in use is
// refused with the process that holds it, before any segment is created, and only ingest
// daemons of one segment share a port on purpose.
#include <netinet/in.h>
#include <sys/socket.h>

#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "progressista/segment.hpp"
#include "support/daemon_process.hpp"
#include "support/http_client.hpp"
#include "support/json_doc.hpp"
#include "support/segment_fixture.hpp"
#include "support/wait.hpp"

namespace progressista {
namespace {

using testing::DaemonProcess;
using testing::http;
using testing::JsonDoc;
using testing::ScopedSegmentName;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

constexpr auto kWait = 30s;  // generous: the sanitizer build is several times slower

std::string segment_of(std::uint16_t port) {
  return JsonDoc(http(port, "GET", "/health").body).str("segment");
}

bool segment_exists(const std::string& name) {
  return ::access(("/dev/shm/" + name).c_str(), F_OK) == 0;
}

// A plain listener of the test process itself, optionally with SO_REUSEPORT (as a Python
// server started with reuse_port=True has it).
class ForeignListener {
 public:
  explicit ForeignListener(bool reuse_port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuse_port) ::setsockopt(fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::listen(fd_, 16) == 0 &&
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
      port_ = ntohs(addr.sin_port);
  }
  ~ForeignListener() { ::close(fd_); }
  [[nodiscard]] std::uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

TEST(Listen, ASecondServeOnTheSamePortIsRefusedAndCreatesNothing) {
  const ScopedSegmentName a, b;
  DaemonProcess first({"serve", "--segment", a.str()});
  ASSERT_TRUE(first.running()) << first.log();

  DaemonProcess second({"serve", "--segment", b.str(), "--port", std::to_string(first.port())});
  EXPECT_FALSE(second.running());
  EXPECT_EQ(second.wait_exit(kWait), 1) << second.log();
  EXPECT_THAT(second.log(), HasSubstr(fmt::format("the port is in use by process {} (", first.pid())));
  EXPECT_THAT(second.log(), HasSubstr("serve --segment " + a.str()));
  EXPECT_THAT(second.log(), HasSubstr("Choose another --port (PROGRESSISTA_PORT)"));
  EXPECT_FALSE(segment_exists(b.str())) << "a refused daemon must not leave a segment behind";
  // Every connection still reaches the first server and its segment.
  for (int i = 0; i < 20; ++i) ASSERT_EQ(segment_of(first.port()), a.str());
}

TEST(Listen, AServeIsRefusedByAPortABroadcasterHolds) {
  const ScopedSegmentName a;
  DaemonProcess broadcaster({"broadcast", "--segment", a.str()});
  ASSERT_TRUE(broadcaster.running()) << broadcaster.log();
  DaemonProcess serve({"serve", "--segment", a.str(), "--port", std::to_string(broadcaster.port())});
  EXPECT_EQ(serve.wait_exit(kWait), 1) << serve.log();
  EXPECT_THAT(serve.log(), HasSubstr("the port is in use by process"));
}

TEST(Listen, IngestDaemonsOfOneSegmentShareAPortAndOfAnotherAreRefused) {
  const ScopedSegmentName a, b;
  DaemonProcess first({"ingest", "--segment", a.str()});
  ASSERT_TRUE(first.running()) << first.log();
  const std::string port = std::to_string(first.port());

  DaemonProcess same({"ingest", "--segment", a.str(), "--port", port});
  ASSERT_TRUE(same.running()) << same.log();
  EXPECT_THAT(same.log(), HasSubstr(fmt::format("is shared with process {} (", first.pid())));
  EXPECT_THAT(same.log(), HasSubstr("ingest of the same segment '" + a.str() + "'"));

  DaemonProcess other({"ingest", "--segment", b.str(), "--port", port});
  EXPECT_EQ(other.wait_exit(kWait), 1) << other.log();
  EXPECT_THAT(other.log(), HasSubstr("Only ingest daemons of the same segment share a port"));
  EXPECT_THAT(other.log(), HasSubstr(fmt::format("process {} (", first.pid())));
  EXPECT_FALSE(segment_exists(b.str()));

  // Both ingests answer on the port, and both write the one segment.
  std::set<std::string> answered;
  ASSERT_TRUE(testing::eventually(
      [&] {
        answered.insert(segment_of(first.port()));
        return answered.size() == 1 && *answered.begin() == a.str();
      },
      kWait));
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(http(first.port(), "POST", "/progress",
                   fmt::format(R"({{"task_id":"t{}","n":1,"total":2}})", i))
                  .status,
              200);
  }
  ASSERT_EQ(first.stop(), 0);
  // The other ingest keeps the port alone.
  EXPECT_EQ(segment_of(same.port()), a.str());
}

TEST(Listen, ForeignListenersAreRefusedWithOrWithoutReusePort) {
  const ScopedSegmentName a;
  for (const bool reuse_port : {false, true}) {
    ForeignListener foreign(reuse_port);
    ASSERT_NE(foreign.port(), 0);
    for (const char* role : {"ingest", "serve"}) {
      DaemonProcess d({role, "--segment", a.str(), "--port", std::to_string(foreign.port())});
      EXPECT_EQ(d.wait_exit(kWait), 1) << role << " reuse_port=" << reuse_port << "\n" << d.log();
      EXPECT_THAT(d.log(), HasSubstr(fmt::format("the port is in use by process {} (", ::getpid())))
          << role;
    }
  }
  EXPECT_FALSE(segment_exists(a.str()));
}

TEST(Listen, EveryThreadAcceptsOnTheOneSocket) {
  const ScopedSegmentName a;
  DaemonProcess d({"serve", "--segment", a.str(), "--threads", "3"});
  ASSERT_TRUE(d.running()) << d.log();
  for (int i = 0; i < 30; ++i) ASSERT_EQ(http(d.port(), "GET", "/health").status, 200);
}

}  // namespace
}  // namespace progressista
