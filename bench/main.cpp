// store_bench: Google Benchmark's main, plus removal of the benchmark segments (and reader
// processes) when the run is interrupted.
#include <benchmark/benchmark.h>

#include "bench_store.hpp"

int main(int argc, char** argv) {
  progressista::bench::install_cleanup_handlers();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  progressista::bench::release_fixture();
  benchmark::Shutdown();
  return 0;
}
