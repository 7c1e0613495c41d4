// Readers alone, with no writer: the baseline for the reader process's reads/s in
// upsert_bench.cpp (the same for_each and lookup loops, in this process).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "bench_store.hpp"

namespace progressista::bench {
namespace {

// TaskTable::for_each over the 16,384 slots holding 10,000 tasks; items are tasks copied.
void BM_ReadForEach10k(benchmark::State& state) {
  BenchStore* fx = fixture(Fixture::kTasks);
  if (fx == nullptr) return state.SkipWithError("could not fill the table");
  const TaskTable& table = fx->store().table();
  std::size_t tasks = 0;
  double sum = 0;
  for (auto _ : state) {
    table.for_each([&](const TaskRecord& t) {
      sum += t.n;
      ++tasks;
    });
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(static_cast<std::int64_t>(tasks));
  if (tasks != state.iterations() * kTableTasks) state.SkipWithError("for_each missed tasks");
}
BENCHMARK(BM_ReadForEach10k)->UseRealTime();

// TaskTable::lookup of one task over and over, or of the 10,000 round-robin.
void BM_ReadLookup(benchmark::State& state, bool hot) {
  BenchStore* fx = fixture(Fixture::kTasks);
  if (fx == nullptr) return state.SkipWithError("could not fill the table");
  const TaskTable& table = fx->store().table();
  const std::vector<std::string> hot_ids{table_ids()[kTableTasks / 2]};
  const std::vector<std::string>& ids = hot ? hot_ids : table_ids();
  TaskRecord rec;
  std::size_t next = 0;
  std::size_t missing = 0;
  for (auto _ : state) {
    missing += !table.lookup(ids[next], rec);
    if (++next == ids.size()) next = 0;
  }
  state.SetItemsProcessed(state.iterations());
  if (missing != 0) state.SkipWithError("lookup missed a task");
}
BENCHMARK_CAPTURE(BM_ReadLookup, hot_task, true)->UseRealTime();
BENCHMARK_CAPTURE(BM_ReadLookup, spread_10k, false)->UseRealTime();

}  // namespace
}  // namespace progressista::bench
