#include "reader_process.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <exception>
#include <new>
#include <thread>

#include "bench_store.hpp"
#include "progressista/store.hpp"

namespace progressista::bench {

namespace {

using Clock = std::chrono::steady_clock;

// Bounds, so a reader can never outlive a benchmark by much, whatever happens to it.
constexpr auto kStartTimeout = std::chrono::seconds(10);
constexpr auto kStopTimeout = std::chrono::seconds(2);
constexpr auto kMaxLifetime = std::chrono::seconds(60);
constexpr int kLookupBatch = 256;  // lookups between two updates of the shared counter

enum State : std::uint32_t { kStarting, kReading, kFailed };

}  // namespace

// Shared with the child through an anonymous MAP_SHARED mapping: cheaper and simpler than a
// pipe for a stop flag and a counter the parent reads twice per benchmark run.
struct ReaderProcess::Control {
  alignas(64) std::atomic<std::uint32_t> stop{0};
  std::atomic<std::uint32_t> state{kStarting};
  char error[256] = {};
  alignas(64) std::atomic<std::uint64_t> reads{0};  // its own line: written by the child only
};

namespace {

[[noreturn]] void reader_main(ReaderProcess::Control* c, pid_t parent, const std::string& segment,
                              ReadMode mode, const std::vector<std::string>& ids);

}  // namespace

ReaderProcess::ReaderProcess(const std::string& segment, ReadMode mode,
                             const std::vector<std::string>& ids) {
  void* page =
      ::mmap(nullptr, sizeof(Control), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) {
    error_ = std::string("mmap: ") + std::strerror(errno);
    return;
  }
  control_ = new (page) Control();
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ == 0) reader_main(control_, parent, segment, mode, ids);
  if (pid_ < 0) {
    error_ = std::string("fork: ") + std::strerror(errno);
    return;
  }
  register_child(pid_);

  // Running means attached and past its first pass, so page faults are not in the timing.
  const auto deadline = Clock::now() + kStartTimeout;
  while (Clock::now() < deadline) {
    if (control_->state.load(std::memory_order_acquire) == kFailed) break;
    if (control_->reads.load(std::memory_order_acquire) > 0) {
      running_ = true;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  error_ = control_->state.load() == kFailed ? std::string("reader: ") + control_->error
                                             : std::string("reader did not start in time");
  stop();
}

ReaderProcess::~ReaderProcess() {
  stop();
  if (control_ != nullptr) {
    control_->~Control();
    ::munmap(control_, sizeof(Control));
  }
}

std::uint64_t ReaderProcess::reads() const noexcept {
  return control_ != nullptr ? control_->reads.load(std::memory_order_acquire) : 0;
}

void ReaderProcess::stop() {
  if (pid_ <= 0) return;
  control_->stop.store(1, std::memory_order_release);
  const auto deadline = Clock::now() + kStopTimeout;
  int status = 0;
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (Clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  unregister_child(pid_);
  pid_ = -1;
  running_ = false;
}

namespace {

void reader_loop(ReaderProcess::Control* c, const std::string& segment, ReadMode mode,
                 const std::vector<std::string>& ids) {
  SegmentOptions opt;
  opt.name = segment;
  opt.create = false;
  opt.read_only = true;
  const std::unique_ptr<Store> store = Store::open(opt);
  const TaskTable& table = store->table();
  c->state.store(kReading, std::memory_order_release);

  const auto deadline = Clock::now() + kMaxLifetime;
  std::uint64_t reads = 0;
  double sum = 0;  // keeps the copies observable
  TaskRecord rec;
  std::size_t next = 0;
  while (c->stop.load(std::memory_order_acquire) == 0 && Clock::now() < deadline) {
    if (mode == ReadMode::kScan) {
      table.for_each([&](const TaskRecord& t) {
        sum += t.n;
        ++reads;
      });
    } else {
      for (int k = 0; k < kLookupBatch && !ids.empty(); ++k) {
        if (table.lookup(ids[next], rec)) {
          sum += rec.n;
          ++reads;
        }
        if (++next == ids.size()) next = 0;
      }
    }
    c->reads.store(reads, std::memory_order_release);
  }
  volatile double keep = sum;
  (void)keep;
}

void reader_main(ReaderProcess::Control* c, pid_t parent, const std::string& segment, ReadMode mode,
                 const std::vector<std::string>& ids) {
  // The parent's cleanup handlers would unlink its segments: not the child's business.
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::signal(sig, SIG_DFL);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(1);
  int code = 0;
  try {
    reader_loop(c, segment, mode, ids);
  } catch (const std::exception& e) {
    std::strncpy(c->error, e.what(), sizeof(c->error) - 1);
    code = 1;
  }
  if (code != 0) c->state.store(kFailed, std::memory_order_release);
  // _exit: never run the parent's destructors (they would remove the segment) or atexit hooks.
  ::_exit(code);
}

}  // namespace

}  // namespace progressista::bench
