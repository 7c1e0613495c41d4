// `progressista pipe` and `progressista run`, as the real binary between real pipes and real
// processes, reporting to a real `progressista serve` on a loopback port; the tasks are read
// back from GET /tasks/{id}.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/child_process.hpp"
#include "support/daemon_process.hpp"
#include "support/http_client.hpp"
#include "support/json_doc.hpp"
#include "support/run_binary.hpp"
#include "support/segment_fixture.hpp"
#include "support/wait.hpp"

namespace progressista {
namespace {

using testing::DaemonProcess;
using testing::eventually;
using ::testing::HasSubstr;
using testing::RunResult;
using testing::ScopedSegmentName;
namespace fs = std::filesystem;

// ---- the data: 1 MiB blocks of 32-byte lines, block i's first line carrying i ----------------

constexpr std::size_t kBlock = std::size_t{1} << 20;
constexpr std::size_t kLine = 32;
constexpr std::uint64_t kGiB = std::uint64_t{1} << 30;

void fill_block(std::vector<char>& block, std::uint64_t index) {
  if (block.size() != kBlock) {
    block.resize(kBlock);
    for (std::size_t at = 0; at < kBlock; at += kLine) {
      std::memcpy(&block[at], "progressista pipe test line....\n", kLine);
    }
  }
  const std::string head = fmt::format("{:016x}", index);
  std::memcpy(block.data(), head.data(), head.size());
}

// FNV-1a over 64-bit words: a checksum both sides compute, cheap enough for a GiB.
struct Checksum {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  void add(const char* data, std::size_t size) {
    std::size_t i = 0;
    for (; i + 8 <= size; i += 8) {
      std::uint64_t w;
      std::memcpy(&w, data + i, 8);
      h = (h ^ w) * 0x100000001b3ULL;
    }
    for (; i < size; ++i) h = (h ^ static_cast<unsigned char>(data[i])) * 0x100000001b3ULL;
  }
};

// Writes `bytes` (whole blocks, then a part of one) into `fd` and closes it; stops early when
// the reader is gone (EPIPE; SIGPIPE is ignored in this process). `between`, when set, runs
// after each block (to pace the writes or wait for the server).
struct Generator {
  std::uint64_t written = 0;
  Checksum sum;
  void run(int fd, std::uint64_t bytes, const std::function<void(std::uint64_t)>& between = {}) {
    std::vector<char> block;
    for (std::uint64_t index = 0; written < bytes; ++index) {
      fill_block(block, index);
      const std::size_t size = static_cast<std::size_t>(std::min<std::uint64_t>(kBlock, bytes - written));
      sum.add(block.data(), size);
      for (std::size_t off = 0; off < size;) {
        const ssize_t n = ::write(fd, block.data() + off, size - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          ::close(fd);
          return;
        }
        off += static_cast<std::size_t>(n);
        written += static_cast<std::uint64_t>(n);
      }
      if (between) between(written);
    }
    ::close(fd);
  }
};

// Reads `fd` to its end, checking every byte against the pattern, and closes it.
struct Verifier {
  std::uint64_t received = 0;
  std::uint64_t first_mismatch = UINT64_MAX;
  Checksum sum;
  void run(int fd) {
    std::vector<char> expected, got(kBlock);
    std::size_t filled = 0;
    std::uint64_t index = 0;
    const auto check = [&](std::size_t size) {
      fill_block(expected, index);
      sum.add(got.data(), size);
      if (first_mismatch == UINT64_MAX && std::memcmp(got.data(), expected.data(), size) != 0) {
        const auto at = std::mismatch(got.begin(), got.begin() + static_cast<long>(size),
                                      expected.begin());
        first_mismatch = index * kBlock + static_cast<std::uint64_t>(at.first - got.begin());
      }
      ++index;
    };
    for (;;) {
      const ssize_t n = ::read(fd, got.data() + filled, kBlock - filled);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      filled += static_cast<std::size_t>(n);
      received += static_cast<std::uint64_t>(n);
      if (filled == kBlock) {
        check(filled);
        filled = 0;
      }
    }
    if (filled > 0) check(filled);
    ::close(fd);
  }
};

// ---- processes ---------------------------------------------------------------------------------

struct Pipe {
  int read = -1, write = -1;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) == 0) {
      read = fds[0];
      write = fds[1];
    }
  }
};

// The binary under test with stdin and stdout as given and stderr into a file, started the
// way a shell starts a pipeline's member (signals unblocked and at their defaults).
class Spawned {
 public:
  Spawned(std::vector<std::string> args, int in, int out) {
    static int counter = 0;
    err_path_ = fmt::format("/tmp/progressista-pipe-test-{}-{}.err", ::getpid(), counter++);
    std::vector<std::string> argv_strings{PROGRESSISTA_BIN};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<std::string> env_strings = testing::child_environment({});
    std::vector<char*> argv = testing::c_strings(argv_strings);
    std::vector<char*> envp = testing::c_strings(env_strings);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in, STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out, STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t signals;
    sigemptyset(&signals);
    posix_spawnattr_setsigmask(&attr, &signals);
    for (const int sig : {SIGINT, SIGTERM, SIGPIPE}) sigaddset(&signals, sig);
    posix_spawnattr_setsigdefault(&attr, &signals);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    if (::posix_spawn(&pid_, PROGRESSISTA_BIN, &actions, &attr, argv.data(), envp.data()) != 0) {
      pid_ = -1;
      ADD_FAILURE() << "cannot spawn " << PROGRESSISTA_BIN;
    }
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
  }
  ~Spawned() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::unlink(err_path_.c_str());
  }
  Spawned(const Spawned&) = delete;
  Spawned& operator=(const Spawned&) = delete;

  [[nodiscard]] pid_t pid() const { return pid_; }
  // The exit code, 128 + signal when killed; -1 (and killed) when still running after 120 s.
  int wait() {
    const int code = testing::wait_for(pid_, std::chrono::seconds(120));
    pid_ = -1;
    return code;
  }
  [[nodiscard]] std::string err() const {
    std::ifstream in(err_path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  pid_t pid_ = -1;
  std::string err_path_;
};

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t count = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++count;
  return count;
}

class PipeRun : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ::signal(SIGPIPE, SIG_IGN); }

  void start_server() {
    daemon_ = std::make_unique<DaemonProcess>(std::vector<std::string>{
        "serve", "--segment", seg_.str(), "--capacity", "64", "--threads", "2"});
    ASSERT_TRUE(daemon_->running()) << daemon_->log();
  }
  [[nodiscard]] std::string url() const {
    return fmt::format("http://127.0.0.1:{}", daemon_->port());
  }

  // GET /tasks/{id}: the task's JSON, or "" when the server does not know it.
  [[nodiscard]] std::string task(const std::string& id) const {
    const testing::HttpReply r = testing::http(daemon_->port(), "GET", "/tasks/" + id);
    return r.status == 200 ? r.body : std::string();
  }
  [[nodiscard]] double number(const std::string& id, std::string_view key) const {
    const std::string body = task(id);
    testing::JsonDoc doc(body);
    double v = -1;
    if (doc.ok && doc.root[key].get_double().get(v) != simdjson::SUCCESS) v = -1;
    return v;
  }
  [[nodiscard]] std::string text(const std::string& id, std::string_view key) const {
    const std::string body = task(id);
    return testing::JsonDoc(body).str(key);
  }

  // `progressista pipe args...` between a generator of `bytes` and a verifier.
  struct PipeResult {
    int code = -1;
    std::string err;
    Generator gen;
    Verifier ver;
  };
  PipeResult pipe(std::vector<std::string> args, std::uint64_t bytes,
                  const std::function<void(std::uint64_t)>& between = {}) {
    args.insert(args.begin(), "pipe");
    Pipe in, out;
    PipeResult r;
    {
      Spawned p(args, in.read, out.write);
      ::close(in.read);
      ::close(out.write);
      std::thread writer([&] { r.gen.run(in.write, bytes, between); });
      std::thread reader([&] { r.ver.run(out.read); });
      r.code = p.wait();
      writer.join();
      reader.join();
      r.err = p.err();
    }
    return r;
  }

  ScopedSegmentName seg_;
  std::unique_ptr<DaemonProcess> daemon_;
};

// ---- pipe ----------------------------------------------------------------------------------

TEST_F(PipeRun, PipeCopiesAGibibyteByteExactAndClosesTheTask) {
  start_server();
  const PipeResult r = pipe({"--server-url", url(), "--task-id", "big", "--total",
                             std::to_string(kGiB), "--interval", "0.1", "--desc", "one GiB"},
                            kGiB);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.gen.written, kGiB);
  EXPECT_EQ(r.ver.received, kGiB);
  EXPECT_EQ(r.ver.first_mismatch, UINT64_MAX);
  EXPECT_EQ(r.ver.sum.h, r.gen.sum.h);
  EXPECT_EQ(text("big", "status"), "close");
  EXPECT_EQ(number("big", "n"), static_cast<double>(kGiB));
  EXPECT_EQ(number("big", "total"), static_cast<double>(kGiB));
  EXPECT_EQ(text("big", "unit"), "B");
  EXPECT_EQ(text("big", "desc"), "one GiB");
}

TEST_F(PipeRun, PipePostsProgressWhileTheBytesFlowAndTakesTheTotalFromAFile) {
  start_server();
  const std::string sized = fmt::format("/tmp/progressista-pipe-test-{}.size", ::getpid());
  {
    std::ofstream f(sized);
    f << std::string(3 * kBlock + 5, 'x');
  }
  // Each block is written only once the server shows the one before: progress is posted as
  // the copy goes, not only at the end.
  std::vector<double> seen;
  const PipeResult r = pipe(
      {"--server-url", url(), "--task-id", "trickle", "--size-from", sized, "--interval", "0.05"},
      3 * kBlock + 5, [&](std::uint64_t written) {
        if (written > 3 * kBlock) return;
        EXPECT_TRUE(eventually([&] { return number("trickle", "n") == static_cast<double>(written); },
                               std::chrono::seconds(30)))
            << "n stuck at " << number("trickle", "n") << ", wanted " << written;
        seen.push_back(number("trickle", "n"));
        // While no bytes move, nothing is posted: the task's updated_at stands still, so the
        // board's stalled rule sees a stuck copy. (Ten intervals of 0.05 s.)
        const double at = number("trickle", "updated_at");
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        EXPECT_EQ(number("trickle", "updated_at"), at);
        EXPECT_EQ(number("trickle", "total"), static_cast<double>(3 * kBlock + 5));
        EXPECT_THAT(text("trickle", "status"), ::testing::AnyOf("start", "update"));
      });
  fs::remove(sized);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(seen.size(), 3u);
  EXPECT_EQ(r.ver.received, 3 * kBlock + 5);
  EXPECT_EQ(r.ver.sum.h, r.gen.sum.h);
  EXPECT_EQ(text("trickle", "status"), "close");
  EXPECT_EQ(number("trickle", "n"), static_cast<double>(3 * kBlock + 5));
}

TEST_F(PipeRun, PipeLinesCountsNewlines) {
  start_server();
  const std::uint64_t bytes = 64 * kBlock + 7;  // a last line without its newline is not counted
  const PipeResult r = pipe({"--server-url", url(), "--task-id", "lines", "--lines"}, bytes);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.ver.received, bytes);
  EXPECT_EQ(r.ver.first_mismatch, UINT64_MAX);
  EXPECT_EQ(r.ver.sum.h, r.gen.sum.h);
  EXPECT_EQ(text("lines", "status"), "close");
  EXPECT_EQ(number("lines", "n"), static_cast<double>(64 * kBlock / kLine));
  EXPECT_EQ(number("lines", "total"), static_cast<double>(64 * kBlock / kLine));
  EXPECT_EQ(text("lines", "unit"), "lines");
}

TEST_F(PipeRun, PipeIntoAFileUsesTheSameCopyAndCountsEveryByte) {
  start_server();
  const std::string path = fmt::format("/tmp/progressista-pipe-test-{}.out", ::getpid());
  const int file = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ASSERT_GE(file, 0);
  Pipe in;
  Generator gen;
  int code = -1;
  {
    Spawned p({"pipe", "--server-url", url(), "--task-id", "tofile"}, in.read, file);
    ::close(in.read);
    ::close(file);
    std::thread writer([&] { gen.run(in.write, 16 * kBlock + 3); });
    code = p.wait();
    writer.join();
    EXPECT_EQ(p.err(), "");
  }
  EXPECT_EQ(code, 0);
  Verifier ver;
  ver.run(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  fs::remove(path);
  EXPECT_EQ(ver.received, 16 * kBlock + 3);
  EXPECT_EQ(ver.sum.h, gen.sum.h);
  EXPECT_EQ(number("tofile", "n"), static_cast<double>(16 * kBlock + 3));
  EXPECT_EQ(text("tofile", "status"), "close");
}

TEST_F(PipeRun, PipeWhoseReaderGoesAwayFailsTheTaskAndExits141) {
  start_server();
  Pipe in, out;
  Generator gen;
  int code = -1;
  std::string err;
  {
    Spawned p({"pipe", "--server-url", url(), "--task-id", "head"}, in.read, out.write);
    ::close(in.read);
    ::close(out.write);
    std::thread writer([&] { gen.run(in.write, kGiB); });
    // `| head -c 10`: ten bytes read, then the reader is gone.
    char ten[10];
    std::size_t got = 0;
    while (got < sizeof ten) {
      const ssize_t n = ::read(out.read, ten + got, sizeof ten - got);
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    EXPECT_EQ(got, sizeof ten);
    ::close(out.read);
    code = p.wait();
    writer.join();
    err = p.err();
  }
  EXPECT_EQ(code, 128 + SIGPIPE) << err;
  EXPECT_EQ(err, "");
  EXPECT_LT(gen.written, kGiB);
  EXPECT_EQ(text("head", "status"), "error");
  EXPECT_THAT(text("head", "error"), HasSubstr("the reader closed the pipe (EPIPE) after"));
}

TEST_F(PipeRun, PipeWithoutAServerStillCopiesSaysSoOnceAndExits2) {
  const std::uint16_t nobody = testing::free_loopback_port();
  const PipeResult r = pipe(
      {"--server-url", fmt::format("http://127.0.0.1:{}", nobody), "--interval", "0.02"},
      8 * kBlock, [](std::uint64_t) {
        // Paced so that the reporter tries (and fails) a few times during the copy.
        std::this_thread::sleep_for(std::chrono::milliseconds(30));
      });
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_EQ(r.ver.received, 8 * kBlock);
  EXPECT_EQ(r.ver.sum.h, r.gen.sum.h);
  EXPECT_EQ(occurrences(r.err, "cannot reach the server"), 1u) << r.err;
  EXPECT_EQ(occurrences(r.err, "carrying on without the server"), 1u) << r.err;
  EXPECT_EQ(occurrences(r.err, "\n"), 2u) << r.err;
}

TEST_F(PipeRun, PipeInterruptedBySigtermFailsTheTaskAndExits143) {
  start_server();
  Pipe in, out;
  std::atomic<bool> release{false};
  Generator gen;
  Verifier ver;
  int code = -1;
  std::string err;
  {
    Spawned p({"pipe", "--server-url", url(), "--task-id", "stopped", "--interval", "0.05"},
              in.read, out.write);
    ::close(in.read);
    ::close(out.write);
    std::thread writer([&] {
      gen.run(in.write, 2 * kBlock, [&](std::uint64_t) {
        eventually([&] { return release.load(); }, std::chrono::seconds(60));
      });
    });
    std::thread reader([&] { ver.run(out.read); });
    EXPECT_TRUE(eventually([&] { return number("stopped", "n") == static_cast<double>(kBlock); },
                           std::chrono::seconds(30)));
    ::kill(p.pid(), SIGTERM);
    code = p.wait();
    release = true;
    writer.join();
    reader.join();
    err = p.err();
  }
  EXPECT_EQ(code, 128 + SIGTERM) << err;
  EXPECT_THAT(err, HasSubstr("interrupted by SIGTERM after 1048576 bytes"));
  EXPECT_EQ(text("stopped", "status"), "error");
  EXPECT_EQ(text("stopped", "error"), "interrupted by SIGTERM after 1048576 bytes");
}

TEST_F(PipeRun, PipeUsageErrorsCopyNothing) {
  RunResult r = testing::run({"pipe", "--size-from", "/nonexistent/file"});
  EXPECT_GE(r.code, 100);
  EXPECT_THAT(r.err, HasSubstr("/nonexistent/file"));
  r = testing::run({"pipe", "--total", "10", "--size-from", "/etc/hostname"});
  EXPECT_GE(r.code, 100);
  r = testing::run({"pipe", "--interval", "0"});
  EXPECT_GE(r.code, 100);
  EXPECT_THAT(r.err, HasSubstr("--interval"));
}

TEST_F(PipeRun, PipeWithoutATaskIdMakesOneAndVerboseSaysIt) {
  start_server();
  const PipeResult r = pipe({"--server-url", url(), "--verbose"}, kBlock);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto at = r.err.find("progressista pipe: task pipe-");
  ASSERT_NE(at, std::string::npos) << r.err;
  const std::string rest = r.err.substr(at + std::strlen("progressista pipe: task "));
  const std::string task_id = rest.substr(0, rest.find(' '));
  EXPECT_EQ(text(task_id, "status"), "close");
  EXPECT_EQ(number(task_id, "n"), static_cast<double>(kBlock));
  EXPECT_THAT(r.err, HasSubstr("1048576 bytes in"));
}

// ---- run -----------------------------------------------------------------------------------

TEST_F(PipeRun, RunExitZeroClosesTheTaskAndLeavesTheOutputAlone) {
  start_server();
  const RunResult r = testing::run({"run", "--server-url", url(), "--task-id", "ok", "--", "sh",
                                    "-c", "echo to stdout; echo to stderr >&2"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "to stdout\n");
  EXPECT_EQ(r.err, "to stderr\n");
  EXPECT_EQ(text("ok", "status"), "close");
  EXPECT_EQ(text("ok", "desc"), "sh -c echo to stdout; echo to stderr >&2");
}

TEST_F(PipeRun, RunExitThreeFailsTheTaskWithTheStatusAndTheLastStderrLine) {
  start_server();
  const RunResult r = testing::run({"run", "--server-url", url(), "--task-id", "three", "--desc",
                                    "nightly", "--", "sh", "-c",
                                    "echo first >&2; printf 'disk full\\r\\n\\n  \\n' >&2; exit 3"});
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_THAT(r.err, HasSubstr("first\ndisk full"));
  EXPECT_EQ(text("three", "status"), "error");
  EXPECT_EQ(text("three", "error"), "exit status 3: disk full");
  EXPECT_EQ(text("three", "desc"), "nightly");
  testing::JsonDoc doc(task("three"));
  std::int64_t status = -1;
  EXPECT_EQ(doc.root["meta"]["exit_status"].get_int64().get(status), simdjson::SUCCESS);
  EXPECT_EQ(status, 3);
}

TEST_F(PipeRun, RunStderrThatIsNotUtf8StillReachesTheTask) {
  start_server();
  const RunResult r = testing::run({"run", "--server-url", url(), "--task-id", "bytes", "--",
                                    "sh", "-c", "printf 'bad \\377\\300 end\\n' >&2; exit 1"});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_EQ(text("bytes", "status"), "error");
  EXPECT_EQ(text("bytes", "error"), "exit status 1: bad \xEF\xBF\xBD\xEF\xBF\xBD end");
}

TEST_F(PipeRun, RunHeartbeatsAdvanceUpdatedAt) {
  start_server();
  const std::string done = fmt::format("/tmp/progressista-run-test-{}.done", ::getpid());
  fs::remove(done);
  RunResult r;
  std::thread runner([&] {
    // Bounded: the command gives up after about 30 s even if the test never says done.
    r = testing::run({"run", "--server-url", url(), "--task-id", "beat", "--heartbeat", "0.1",
                      "--", "sh", "-c",
                      fmt::format("i=0; while [ ! -e {} ] && [ $i -lt 1500 ]; do sleep 0.02; "
                                  "i=$((i+1)); done",
                                  done)});
  });
  std::vector<double> updates;
  EXPECT_TRUE(eventually(
      [&] {
        const double at = number("beat", "updated_at");
        if (at > 0 && (updates.empty() || at > updates.back())) updates.push_back(at);
        return updates.size() >= 4;
      },
      std::chrono::seconds(30)));
  EXPECT_THAT(text("beat", "status"), ::testing::AnyOf("start", "update"));
  std::ofstream(done).put('x');
  runner.join();
  fs::remove(done);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(text("beat", "status"), "close");
}

TEST_F(PipeRun, RunForwardsSigtermToTheCommand) {
  start_server();
  const std::string ready = fmt::format("/tmp/progressista-run-test-{}.ready", ::getpid());
  fs::remove(ready);
  std::atomic<pid_t> pid{-1};
  RunResult r;
  std::thread runner([&] {
    r = testing::run(
        {"run", "--server-url", url(), "--task-id", "term", "--", "sh", "-c",
         fmt::format("trap 'echo got TERM >&2; exit 7' TERM; touch {}; i=0; "
                     "while [ $i -lt 1500 ]; do sleep 0.02; i=$((i+1)); done",
                     ready)},
        {}, [&](pid_t p) { pid = p; });
  });
  EXPECT_TRUE(eventually([&] { return fs::exists(ready) && pid.load() > 0; },
                         std::chrono::seconds(30)));
  ::kill(pid.load(), SIGTERM);
  runner.join();
  fs::remove(ready);
  EXPECT_EQ(r.code, 7) << r.err;
  EXPECT_THAT(r.err, HasSubstr("got TERM"));
  EXPECT_EQ(text("term", "status"), "error");
  EXPECT_EQ(text("term", "error"), "exit status 7: got TERM");
}

TEST_F(PipeRun, RunKilledBySignalExits128PlusItsNumber) {
  start_server();
  const RunResult r = testing::run({"run", "--server-url", url(), "--task-id", "killed", "--",
                                    "sh", "-c", "echo going >&2; kill -KILL $$"});
  EXPECT_EQ(r.code, 128 + SIGKILL) << r.err;
  EXPECT_EQ(text("killed", "status"), "error");
  EXPECT_EQ(text("killed", "error"), "killed by SIGKILL: going");
}

TEST_F(PipeRun, RunOfAMissingCommandExits127AndFailsTheTask) {
  start_server();
  const RunResult r = testing::run({"run", "--server-url", url(), "--task-id", "missing", "--",
                                    "/nonexistent/command", "x"});
  EXPECT_EQ(r.code, 127) << r.err;
  EXPECT_THAT(r.err, HasSubstr("cannot run '/nonexistent/command'"));
  EXPECT_EQ(text("missing", "status"), "error");
  EXPECT_THAT(text("missing", "error"), HasSubstr("cannot run '/nonexistent/command'"));
}

TEST_F(PipeRun, RunWithoutAServerStillRunsSaysSoOnceAndKeepsTheCommandsStatus) {
  const std::uint16_t nobody = testing::free_loopback_port();
  const RunResult r = testing::run({"run", "--server-url",
                                    fmt::format("http://127.0.0.1:{}", nobody), "--task-id", "x",
                                    "--heartbeat", "0.02", "--", "sh", "-c",
                                    "sleep 0.3; echo done; exit 4"});
  EXPECT_EQ(r.code, 4) << r.err;
  EXPECT_EQ(r.out, "done\n");
  EXPECT_EQ(occurrences(r.err, "cannot reach the server"), 1u) << r.err;
  EXPECT_EQ(occurrences(r.err, "carrying on without the server"), 1u) << r.err;
}

TEST_F(PipeRun, RunWithoutACommandIsAUsageError) {
  const RunResult r = testing::run({"run", "--task-id", "x"});
  EXPECT_GE(r.code, 100);
  EXPECT_THAT(r.err, HasSubstr("command"));
}

}  // namespace
}  // namespace progressista
