// Request bodies through Ingestor::apply (parse with simdjson, upsert, write the answer), as
// the ingest daemon and the nginx module do; and the parser alone, to split the cost.
#include <benchmark/benchmark.h>

#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bench_store.hpp"
#include "progressista/event_parser.hpp"
#include "progressista/ingest.hpp"

namespace progressista::bench {
namespace {

enum class Body { kSingle, kArray100, kNdjson100 };

constexpr std::size_t kBatch = 100;
constexpr std::size_t kSingleBodies = 256;  // distinct tasks for single-event bodies
constexpr std::size_t kBatchBodies = 8;     // batches over the same 100 tasks, different n

// A RemoteTqdm-style update. The timestamp is the same in every body: ties are applied, so
// cycling through the bodies never trips the out-of-order rule.
std::string event_json(std::string_view id, std::size_t n) {
  return fmt::format(
      R"({{"task_id":"{}","desc":"Resizing images","n":{},"total":1000000,"unit":"img",)"
      R"("status":"update","timestamp":{:.3f}}})",
      id, n, kEpoch + 0.25);
}

struct Bodies {
  std::vector<PaddedBody> bodies;
  BodyFormat format = BodyFormat::kJson;
  std::size_t events_per_body = 1;
};

Bodies make_bodies(Body kind) {
  Bodies b;
  if (kind == Body::kSingle) {
    const std::vector<std::string> ids = task_ids("ing-", kSingleBodies);
    b.bodies.resize(kSingleBodies);
    for (std::size_t i = 0; i < kSingleBodies; ++i) b.bodies[i].assign(event_json(ids[i], i));
    return b;
  }
  const std::vector<std::string> ids = task_ids("ing-", kBatch);
  b.format = kind == Body::kNdjson100 ? BodyFormat::kNdjson : BodyFormat::kJson;
  b.events_per_body = kBatch;
  b.bodies.resize(kBatchBodies);
  for (std::size_t k = 0; k < kBatchBodies; ++k) {
    std::string text = kind == Body::kArray100 ? "[" : "";
    for (std::size_t i = 0; i < kBatch; ++i) {
      if (i > 0) text += kind == Body::kArray100 ? "," : "\n";
      text += event_json(ids[i], k * kBatch + i);
    }
    text += kind == Body::kArray100 ? "]" : "\n";
    b.bodies[k].assign(text);
  }
  return b;
}

void report(benchmark::State& state, const Bodies& b, std::size_t bytes) {
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * b.events_per_body));
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  state.counters["bodies/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_Ingest(benchmark::State& state, Body kind) {
  BenchStore* fx = fixture(Fixture::kEmpty);
  if (fx == nullptr) return state.SkipWithError("could not create the segment");
  Ingestor ingestor(fx->store());
  const Bodies b = make_bodies(kind);
  fmt::memory_buffer answer;
  // A first pass creates the tasks (or finds them from the previous run), so the timed loop
  // measures updates.
  for (const PaddedBody& body : b.bodies) {
    if (ingestor.apply(body.view(), body.capacity(), b.format, kEpoch, answer) != 200) {
      return state.SkipWithError(fmt::to_string(answer).c_str());
    }
  }
  const Counters& counters = fx->store().counters();
  const std::uint64_t applied_before = counters.get(Counter::kEventsApplied);

  std::size_t next = 0;
  std::size_t failed = 0;
  std::size_t bytes = 0;
  for (auto _ : state) {
    const PaddedBody& body = b.bodies[next];
    if (++next == b.bodies.size()) next = 0;
    failed += ingestor.apply(body.view(), body.capacity(), b.format, kEpoch + 1, answer) != 200;
    bytes += body.view().size();
  }

  report(state, b, bytes);
  const std::uint64_t applied = counters.get(Counter::kEventsApplied) - applied_before;
  if (failed != 0 || applied != state.iterations() * b.events_per_body) {
    state.SkipWithError(fmt::format("{} bodies failed, {} events applied of {}", failed, applied,
                                    state.iterations() * b.events_per_body)
                            .c_str());
  }
}

BENCHMARK_CAPTURE(BM_Ingest, single_event, Body::kSingle)->UseRealTime();
BENCHMARK_CAPTURE(BM_Ingest, json_array_100, Body::kArray100)->UseRealTime();
BENCHMARK_CAPTURE(BM_Ingest, ndjson_100, Body::kNdjson100)->UseRealTime();

// Reads every item of each body and touches every number, like the table would.
void BM_Parse(benchmark::State& state, Body kind) {
  const Bodies b = make_bodies(kind);
  EventParser parser;
  std::size_t next = 0;
  std::size_t bytes = 0;
  std::size_t events = 0;
  std::size_t invalid = 0;
  double sum = 0;
  for (auto _ : state) {
    const PaddedBody& body = b.bodies[next];
    if (++next == b.bodies.size()) next = 0;
    const BodyResult r = parser.open(body.view(), body.capacity(), b.format);
    benchmark::DoNotOptimize(r.error);
    while (const std::optional<BodyItem> item = parser.next()) {
      if (item->event == nullptr) {
        ++invalid;
        continue;
      }
      ++events;
      sum += item->event->n.value_or(0) + static_cast<double>(item->event->task_id.size());
    }
    bytes += body.view().size();
  }
  benchmark::DoNotOptimize(sum);
  report(state, b, bytes);
  if (invalid != 0 || events != state.iterations() * b.events_per_body) {
    state.SkipWithError("the parser did not deliver every event as valid");
  }
}

BENCHMARK_CAPTURE(BM_Parse, single_event, Body::kSingle)->UseRealTime();
BENCHMARK_CAPTURE(BM_Parse, json_array_100, Body::kArray100)->UseRealTime();
BENCHMARK_CAPTURE(BM_Parse, ndjson_100, Body::kNdjson100)->UseRealTime();

}  // namespace
}  // namespace progressista::bench
