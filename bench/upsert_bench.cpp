// TaskTable::upsert on a real segment holding 10,000 tasks: one hot task, all 10,000
// round-robin, each alone and beside a reader process; all of a 100,000-task table
// round-robin; then two writer threads.
#include <benchmark/benchmark.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>
#include <atomic>
#include <thread>

#include <fmt/format.h>

#include "bench_store.hpp"
#include "reader_process.hpp"

namespace progressista::bench {
namespace {

using Clock = std::chrono::steady_clock;

enum class Reader { kNone, kScan, kLookup };

// Updates `ids` round-robin with n increasing, one event per iteration. Returns how many
// events were not applied as plain updates (anything but 0 is a broken benchmark).
std::size_t upsert_loop(benchmark::State& state, TaskTable& table,
                        const std::vector<std::string>& ids) {
  Event e = typical_update(ids.front(), 0);
  double n = 0;
  double now = kEpoch + 1;
  std::size_t next = 0;
  std::size_t unexpected = 0;
  for (auto _ : state) {
    e.task_id = ids[next];
    if (++next == ids.size()) next = 0;
    e.n = ++n;
    now += 1e-6;  // a moving clock, so the rate estimate is computed as in production
    unexpected += table.upsert(e, now) != Upsert::kUpdated;
  }
  state.SetItemsProcessed(state.iterations());
  return unexpected;
}

// One writer (this thread) on a table of 10,000 tasks; `hot` updates only one of them.
void run_single_writer(benchmark::State& state, bool hot, Reader reader) {
  BenchStore* fx = fixture(Fixture::kTasks);
  if (fx == nullptr) return state.SkipWithError("could not fill the table");
  const std::vector<std::string> hot_ids{table_ids()[kTableTasks / 2]};
  const std::vector<std::string>& targets = hot ? hot_ids : table_ids();

  std::optional<ReaderProcess> rp;
  if (reader != Reader::kNone) {
    rp.emplace(fx->name(), reader == Reader::kScan ? ReadMode::kScan : ReadMode::kLookup, targets);
    if (!rp->running()) return state.SkipWithError(rp->error().c_str());
  }

  const std::uint64_t reads_before = rp ? rp->reads() : 0;
  const auto start = Clock::now();
  const std::size_t unexpected = upsert_loop(state, fx->store().table(), targets);
  const std::chrono::duration<double> elapsed = Clock::now() - start;
  const std::uint64_t reads_after = rp ? rp->reads() : 0;
  if (rp) rp->stop();

  // Tasks the reader process copied per second of wall time while the writer ran (0: none).
  state.counters["reader_reads/s"] =
      elapsed.count() > 0 ? static_cast<double>(reads_after - reads_before) / elapsed.count() : 0;
  if (unexpected != 0) state.SkipWithError("some upserts were not applied as updates");
}

void BM_UpsertHotTask(benchmark::State& state, Reader reader) {
  run_single_writer(state, true, reader);
}
void BM_UpsertSpread10k(benchmark::State& state, Reader reader) {
  run_single_writer(state, false, reader);
}

// 100,000 tasks round-robin: does the table care how many tasks it holds?
void BM_UpsertSpread100k(benchmark::State& state) {
  BenchStore* fx = fixture(Fixture::kManyTasks);
  if (fx == nullptr) return state.SkipWithError("could not fill the table");
  if (upsert_loop(state, fx->store().table(), many_ids()) != 0) {
    state.SkipWithError("some upserts were not applied as updates");
  }
}

BENCHMARK_CAPTURE(BM_UpsertHotTask, no_reader, Reader::kNone)->UseRealTime();
BENCHMARK(BM_UpsertSpread100k)->UseRealTime();
BENCHMARK_CAPTURE(BM_UpsertHotTask, scan_reader, Reader::kScan)->UseRealTime();
BENCHMARK_CAPTURE(BM_UpsertHotTask, lookup_reader, Reader::kLookup)->UseRealTime();
BENCHMARK_CAPTURE(BM_UpsertSpread10k, no_reader, Reader::kNone)->UseRealTime();
BENCHMARK_CAPTURE(BM_UpsertSpread10k, scan_reader, Reader::kScan)->UseRealTime();
BENCHMARK_CAPTURE(BM_UpsertSpread10k, lookup_reader, Reader::kLookup)->UseRealTime();

// Threads must not race to create the fixture: Setup runs before they start.
BenchStore* g_shared = nullptr;
void shared_setup(const benchmark::State&) {
  g_shared = fixture(Fixture::kTasks);
}

// Each thread updates its own tasks: 5,000 of them, or a single hot one.
void BM_UpsertThreads(benchmark::State& state, bool hot) {
  if (!g_shared) return state.SkipWithError("setup: could not fill the shared table");
  constexpr std::ptrdiff_t kPerThread = kTableTasks / 2;  // room for 2 threads
  const auto first = table_ids().begin() + std::ptrdiff_t{state.thread_index()} * kPerThread;
  const std::vector<std::string> mine(first, first + (hot ? 1 : kPerThread));
  if (upsert_loop(state, g_shared->store().table(), mine) != 0) {
    state.SkipWithError("some upserts were not applied as updates");
  }
}

BENCHMARK_CAPTURE(BM_UpsertThreads, hot_task_each, true)
    ->Setup(shared_setup)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_UpsertThreads, 5k_tasks_each, false)
    ->Setup(shared_setup)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();

// A full table (every slot holds a running task, none finished): one thread updates existing
// tasks while a second thread floods it with events of new task ids (each refused: 507) or,
// for comparison, with valid updates of other existing tasks. The measured rate is the first
// thread's; a full table must cost it no more than an equal flood of valid events does.
enum class Flood { kNone, kNewIds, kUpdates };

void BM_UpdatesOnAFullTable(benchmark::State& state, Flood flood) {
  constexpr std::uint32_t kFull = 10000;
  // Kept across the three benchmarks; removed at exit.
  struct FullTable {
    std::string name = fmt::format("pb-full-{}", ::getpid());
    std::unique_ptr<Store> store;
    ~FullTable() {
      store.reset();
      Segment::remove(name);
    }
  };
  static FullTable full;
  if (!full.store) {
    Segment::remove(full.name);
    SegmentOptions opt;
    opt.name = full.name;
    opt.capacity = kFull;
    full.store = Store::open(opt);
    if (!prefill(full.store->table(), table_ids(), kEpoch)) return state.SkipWithError("could not fill the table");
  }
  TaskTable& table = full.store->table();
  if (table.upsert(typical_update("one-too-many", 0), kEpoch) != Upsert::kTableFull) {
    return state.SkipWithError("the table is not full");
  }
  const std::vector<std::string> mine(table_ids().begin(), table_ids().begin() + kFull / 2);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> flooded{0};
  std::thread flooder([&] {
    const std::vector<std::string> others(table_ids().begin() + kFull / 2, table_ids().end());
    std::uint64_t i = 0;
    std::string id;
    while (!stop.load(std::memory_order_relaxed)) {
      if (flood == Flood::kNone) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      if (flood == Flood::kNewIds) {
        id = fmt::format("new-{:09}", i);
      } else {
        id = others[i % others.size()];
      }
      (void)table.upsert(typical_update(id, static_cast<double>(i)), kEpoch + 1);
      ++i;
    }
    flooded.store(i);
  });
  const std::size_t unexpected = upsert_loop(state, table, mine);
  stop.store(true);
  flooder.join();
  state.counters["flood_events"] = static_cast<double>(flooded.load());
  if (unexpected != 0) state.SkipWithError("some upserts were not applied as updates");
}

BENCHMARK_CAPTURE(BM_UpdatesOnAFullTable, alone, Flood::kNone)->UseRealTime();
BENCHMARK_CAPTURE(BM_UpdatesOnAFullTable, beside_507_flood, Flood::kNewIds)->UseRealTime();
BENCHMARK_CAPTURE(BM_UpdatesOnAFullTable, beside_update_flood, Flood::kUpdates)->UseRealTime();

}  // namespace
}  // namespace progressista::bench
