#include "bench_store.hpp"

#include <signal.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstring>
#include <optional>
#include <stdexcept>

#include <fmt/format.h>

namespace progressista::bench {

namespace {

// Fixed-size registries the signal handler can walk without allocating or locking.
constexpr std::size_t kMaxLive = 16;
constexpr std::size_t kPathMax = 128;

struct LiveSegment {
  std::atomic<bool> used{false};
  char path[kPathMax] = {};  // /dev/shm/<name>, what shm_unlink removes
};
std::array<LiveSegment, kMaxLive> g_segments;
std::array<std::atomic<pid_t>, kMaxLive> g_children{};

int register_segment(const std::string& name) {
  for (std::size_t i = 0; i < kMaxLive; ++i) {
    bool expected = false;
    if (!g_segments[i].used.compare_exchange_strong(expected, true)) continue;
    fmt::format_to_n(g_segments[i].path, kPathMax - 1, "/dev/shm/{}", name);
    return static_cast<int>(i);
  }
  return -1;  // not covered by the handler; still removed by the destructor
}

void on_signal(int sig) {
  for (auto& child : g_children) {
    const pid_t pid = child.load();
    if (pid > 0) ::kill(pid, SIGKILL);
  }
  for (auto& seg : g_segments) {
    if (seg.used.load()) ::unlink(seg.path);
  }
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

}  // namespace

BenchStore::BenchStore() {
  static std::atomic<int> counter{0};
  name_ = fmt::format("pb-{}-{}", ::getpid(), counter++);
  Segment::remove(name_);
  registry_entry_ = register_segment(name_);
  SegmentOptions opt;
  opt.name = name_;
  opt.capacity = kCapacity;
  store_ = Store::open(opt);
}

BenchStore::~BenchStore() {
  store_.reset();
  Segment::remove(name_);
  if (registry_entry_ >= 0) {
    std::memset(g_segments[registry_entry_].path, 0, kPathMax);
    g_segments[registry_entry_].used.store(false);
  }
}

std::vector<std::string> task_ids(std::string_view prefix, std::size_t count) {
  std::vector<std::string> ids;
  ids.reserve(count);
  for (std::size_t i = 0; i < count; ++i) ids.push_back(fmt::format("{}{:05}", prefix, i));
  return ids;
}

Event typical_update(std::string_view id, double n) {
  Event e;
  e.task_id = id;
  e.desc = "Resizing images";
  e.unit = "img";
  e.n = n;
  e.total = 1e9;
  e.status = Status::kUpdate;
  return e;
}

bool prefill(TaskTable& table, const std::vector<std::string>& ids, double now) {
  for (const std::string& id : ids) {
    const Upsert r = table.upsert(typical_update(id, 0), now);
    if (r != Upsert::kCreated && r != Upsert::kUpdated) return false;
  }
  return true;
}

namespace {
std::unique_ptr<BenchStore> g_fixture;
std::optional<Fixture> g_fixture_kind;

bool fill(Fixture kind, TaskTable& table) {
  if (kind == Fixture::kEmpty) return true;
  if (kind == Fixture::kManyTasks) return prefill(table, many_ids(), kEpoch);
  const std::vector<std::string>& ids = table_ids();
  if (!prefill(table, ids, kEpoch)) return false;
  if (kind == Fixture::kTasks) return true;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (table.upsert(typical_update(ids[i], 1000.0 + i), kEpoch + 2) != Upsert::kUpdated)
      return false;
  }
  return true;
}
}  // namespace

BenchStore* fixture(Fixture kind) {
  if (g_fixture && g_fixture_kind == kind) return g_fixture.get();
  release_fixture();
  auto fx = std::make_unique<BenchStore>();
  if (!fill(kind, fx->store().table())) return nullptr;
  g_fixture = std::move(fx);
  g_fixture_kind = kind;
  return g_fixture.get();
}

void release_fixture() {
  g_fixture.reset();
  g_fixture_kind.reset();
}

const std::vector<std::string>& table_ids() {
  static const std::vector<std::string> ids = task_ids("task-", kTableTasks);
  return ids;
}

const std::vector<std::string>& many_ids() {
  static const std::vector<std::string> ids = [] {
    std::vector<std::string> v;
    v.reserve(kManyTasks);
    for (std::size_t i = 0; i < kManyTasks; ++i) v.push_back(fmt::format("many-{:06}", i));
    return v;
  }();
  return ids;
}

void register_child(pid_t pid) noexcept {
  for (auto& child : g_children) {
    pid_t expected = 0;
    if (child.compare_exchange_strong(expected, pid)) return;
  }
}

void unregister_child(pid_t pid) noexcept {
  for (auto& child : g_children) {
    pid_t expected = pid;
    if (child.compare_exchange_strong(expected, 0)) return;
  }
}

void install_cleanup_handlers() {
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::signal(sig, on_signal);
}

}  // namespace progressista::bench
