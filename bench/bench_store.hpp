// Benchmark fixtures: real segments in /dev/shm under unique names (removed afterwards, also
// when the run is interrupted) and the progress events the benchmarks apply.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "progressista/event.hpp"
#include "progressista/store.hpp"

namespace progressista::bench {

inline constexpr std::uint32_t kCapacity = 131072;  // 100,000 tasks fit with room to spare
inline constexpr std::size_t kTableTasks = 10000;
inline constexpr std::size_t kManyTasks = 100000;
inline constexpr double kEpoch = 1763856000.0;  // 2025-11-23T00:00:00Z, a plausible "now"

// A freshly created segment named pb-<pid>-<n>, removed from /dev/shm on destruction.
class BenchStore {
 public:
  BenchStore();
  ~BenchStore();
  BenchStore(const BenchStore&) = delete;
  BenchStore& operator=(const BenchStore&) = delete;

  [[nodiscard]] Store& store() noexcept { return *store_; }
  [[nodiscard]] const std::string& name() const noexcept { return name_; }

 private:
  std::string name_;
  int registry_entry_;
  std::unique_ptr<Store> store_;
};

// Fixture segments are kept across the runs Google Benchmark makes of a benchmark (creating
// 131,072 slots maps and touches ~80 MiB) and across benchmarks that ask for the same kind;
// asking for another kind replaces the segment.
enum class Fixture {
  kEmpty,
  kTasks,         // the 10,000 tasks of table_ids(), each created by one event
  kUpdatedTasks,  // kTasks, then each updated once (a rate is known; the last 10,000 feed
                  // entries are one per task); benchmarks must not modify it
  kManyTasks,     // the 100,000 tasks of many_ids(), each created by one event
};
// nullptr when the table could not be filled.
[[nodiscard]] BenchStore* fixture(Fixture kind);
// Removes the fixture segment. main() calls it after the run.
void release_fixture();
// task-00000 .. task-09999, the ids in kTasks and kUpdatedTasks.
[[nodiscard]] const std::vector<std::string>& table_ids();

// many-000000 .. many-099999, the ids in kManyTasks.
[[nodiscard]] const std::vector<std::string>& many_ids();

// `count` ids of the same length: <prefix>00000, <prefix>00001, ...
[[nodiscard]] std::vector<std::string> task_ids(std::string_view prefix, std::size_t count);

// What a tqdm-style client sends on every refresh: desc, n, total, unit, status update.
// The views point into `id` and string literals.
[[nodiscard]] Event typical_update(std::string_view id, double n);

// Creates every task in `ids` (one event each), so timed loops measure updates, not inserts.
// Returns false if the table refused one.
[[nodiscard]] bool prefill(TaskTable& table, const std::vector<std::string>& ids, double now);

// Children (reader processes) to kill if the run is interrupted.
void register_child(pid_t pid) noexcept;
void unregister_child(pid_t pid) noexcept;

// On SIGINT/SIGTERM/SIGHUP: kill registered children, unlink registered segments, then die
// of the same signal. Call once from main().
void install_cleanup_handlers();

}  // namespace progressista::bench
