// Bytes of segment per task: how many tasks of a given shape a budget holds, all included
// (slots, index, both copies of each record, change feed, header). Not timed: each benchmark
// fills a fresh segment once and reports counters.
#include <unistd.h>

#include <benchmark/benchmark.h>

#include <string>

#include <fmt/format.h>

#include "bench_store.hpp"

namespace progressista::bench {
namespace {

enum class Shape { kTypical, kMaxSize };

// A RemoteTqdm-shaped task (~30-byte id, ~20-byte desc, unit, ~60 bytes of meta), or one with
// every field at its byte limit.
Upsert create(TaskTable& table, Shape shape, int i) {
  if (shape == Shape::kTypical) {
    const std::string id = fmt::format("worker-{:05}.fleet.example:{:06}", i % 100000, i);
    const std::string desc = fmt::format("epoch {:3} of shard", i % 1000);
    const std::string meta =
        fmt::format(R"({{"host":"node-{:04}","pid":{},"argv":"train.py --shard {}"}})", i % 4096,
                    10000 + i, i % 64);
    Event e = typical_update(id, i % 100);
    e.desc = desc;
    e.meta = meta;
    return table.upsert(e, kEpoch);
  }
  const std::string id = fmt::format("{:0>{}}", i, limits::kTaskId);
  const std::string s(4096, 'x');
  const std::string meta = "{\"k\":\"" + std::string(limits::kMeta - 8, 'm') + "\"}";
  Event e = typical_update(id, 1);
  e.desc = std::string_view(s).substr(0, limits::kDesc);
  e.unit = std::string_view(s).substr(0, limits::kUnit);
  e.project = std::string_view(s).substr(0, limits::kProject);
  e.phase = std::string_view(s).substr(0, limits::kPhase);
  e.message = std::string_view(s).substr(0, limits::kMessage);
  e.error = std::string_view(s).substr(0, limits::kError);
  e.meta = meta;
  return table.upsert(e, kEpoch);
}

void BM_Footprint(benchmark::State& state, Shape shape) {
  int held = 0;
  std::uint64_t budget = 0;
  for (auto _ : state) {
    const std::string name = fmt::format("pf-{}", ::getpid());
    Segment::remove(name);
    SegmentOptions opt;  // the default budget
    opt.name = name;
    {
      auto store = Store::open(opt);
      budget = store->segment().size();
      held = 0;
      while (create(store->table(), shape, held) == Upsert::kCreated) ++held;
    }
    Segment::remove(name);
  }
  state.counters["budget_MiB"] = static_cast<double>(budget) / (1 << 20);
  state.counters["tasks_held"] = held;
  state.counters["bytes_per_task"] = held ? static_cast<double>(budget) / held : 0;
}

BENCHMARK_CAPTURE(BM_Footprint, typical_task, Shape::kTypical)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Footprint, max_size_task, Shape::kMaxSize)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace progressista::bench
