// The broadcaster's side of the store: reading the change feed after N changes, turning
// those changes into task JSON, and a full {"tasks": {...}} snapshot of 10,000 tasks.
#include <benchmark/benchmark.h>

#include <vector>

#include <fmt/format.h>

#include "bench_store.hpp"
#include "progressista/change_feed.hpp"
#include "progressista/snapshot.hpp"
#include "progressista/task_json.hpp"

namespace progressista::bench {
namespace {

void poll_counters(benchmark::State& state, std::size_t changes) {
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * changes));
  state.counters["polls/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

// FeedReader::poll with `changes` new entries since the cursor (0: an idle tick).
void BM_FeedReaderPoll(benchmark::State& state) {
  const auto changes = static_cast<std::size_t>(state.range(0));
  BenchStore* fx = fixture(Fixture::kUpdatedTasks);
  if (fx == nullptr) return state.SkipWithError("could not fill the table");
  FeedReader reader(fx->store().feed());
  const std::uint64_t head = fx->store().feed().head();
  std::vector<Change> out;
  out.reserve(changes);
  std::size_t wrong = 0;
  for (auto _ : state) {
    reader.seek(head - changes);
    out.clear();
    wrong += reader.poll(out) != FeedReader::Poll::kOk || out.size() != changes;
  }
  poll_counters(state, changes);
  if (wrong != 0) state.SkipWithError("a poll did not return exactly the expected changes");
}
BENCHMARK(BM_FeedReaderPoll)
    ->ArgName("changes")
    ->Arg(0)
    ->Arg(1)
    ->Arg(100)
    ->Arg(10000)
    ->UseRealTime();

// ChangeFeed::since, the primitive under poll().
void BM_FeedSince(benchmark::State& state) {
  const auto changes = static_cast<std::size_t>(state.range(0));
  BenchStore* fx = fixture(Fixture::kUpdatedTasks);
  if (fx == nullptr) return state.SkipWithError("could not fill the table");
  const ChangeFeed& feed = fx->store().feed();
  const std::uint64_t head = feed.head();
  std::vector<Change> out;
  out.reserve(changes);
  std::size_t wrong = 0;
  for (auto _ : state) {
    out.clear();
    wrong +=
        feed.since(head - changes, out, 1u << 16) != ChangeFeed::Read::kOk || out.size() != changes;
  }
  poll_counters(state, changes);
  if (wrong != 0) state.SkipWithError("since() did not return exactly the expected changes");
}
BENCHMARK(BM_FeedSince)->ArgName("changes")->Arg(0)->Arg(1)->Arg(100)->Arg(10000)->UseRealTime();

// A delta tick: poll N changes, read each changed slot, serialize each task once.
void BM_FeedDeltaFrame(benchmark::State& state) {
  const auto changes = static_cast<std::size_t>(state.range(0));
  BenchStore* fx = fixture(Fixture::kUpdatedTasks);
  if (fx == nullptr) return state.SkipWithError("could not fill the table");
  const TaskTable& table = fx->store().table();
  FeedReader reader(fx->store().feed());
  const std::uint64_t head = fx->store().feed().head();
  std::vector<Change> out;
  out.reserve(changes);
  fmt::memory_buffer frame;
  TaskRecord rec;
  std::size_t bytes = 0;
  std::size_t wrong = 0;
  for (auto _ : state) {
    reader.seek(head - changes);
    out.clear();
    frame.clear();
    wrong += reader.poll(out) != FeedReader::Poll::kOk;
    for (const Change& c : out) {
      if (c.removed || !table.read(c.slot, rec)) continue;
      append_task_json(frame, rec);
      frame.push_back(',');
    }
    bytes += frame.size();
  }
  poll_counters(state, changes);
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  if (wrong != 0) state.SkipWithError("a poll was lapped");
}
BENCHMARK(BM_FeedDeltaFrame)->ArgName("changes")->Arg(100)->Arg(10000)->UseRealTime();

// append_snapshot of the whole table: what a compatibility-protocol client gets per frame.
void BM_Snapshot10k(benchmark::State& state) {
  BenchStore* fx = fixture(Fixture::kUpdatedTasks);
  if (fx == nullptr) return state.SkipWithError("could not fill the table");
  const TaskTable& table = fx->store().table();
  fmt::memory_buffer out;
  std::size_t bytes = 0;
  for (auto _ : state) {
    out.clear();
    append_snapshot(out, table);
    bytes += out.size();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kTableTasks));
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  state.counters["snapshots/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["snapshot_bytes"] = static_cast<double>(out.size());
}
BENCHMARK(BM_Snapshot10k)->UseRealTime();

}  // namespace
}  // namespace progressista::bench
