// Housekeeping, run by exactly one attached process at a time (the janitor lease):
// retention of closed tasks (never failed ones), stale marking, maximum age, and debounced persistence.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "progressista/store.hpp"

namespace progressista::daemon {

struct JanitorOptions {
  double cleanup_interval = 5.0;   // seconds between sweeps
  double retention_seconds = 86400;  // closed tasks idle longer are removed (0: never);
                                     // failed (error) tasks are kept, as Progressista 0.2.1
  double stale_seconds = 0;        // active tasks idle longer become `stale` (0: never)
  double max_task_age = 0;         // any task idle longer is removed (0: never)
  std::string storage_path;        // empty: no persistence
  double save_debounce = 1.0;      // at most one save per this many seconds
  // False under federation (--redis): the holder of the lease in Redis decides sweeps for
  // every node and writes them to the log; this janitor then only saves.
  bool sweeps = true;
};

class Janitor {
 public:
  Janitor(Store& store, JanitorOptions options);
  ~Janitor();
  Janitor(const Janitor&) = delete;
  Janitor& operator=(const Janitor&) = delete;

  void start();
  // Stops the thread; the holder saves a last time and releases the lease.
  void stop();

  struct Sweep {
    std::size_t removed_closed = 0;
    std::size_t removed_old = 0;
    std::size_t marked_stale = 0;
  };
  // One pass over the table at `now` (Unix seconds); callers must hold the lease.
  Sweep sweep(double now);
  // Whether sweep(now) would change anything (a read-only pass over the table).
  [[nodiscard]] bool due(double now) const;
  // Saves when something changed since the last save; throws like save_tasks.
  bool save_if_changed();

 private:
  void loop();
  // Re-attaches when the segment was resized or re-created (before each run).
  void follow();

  Store& store_;
  JanitorOptions opt_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool holder_ = false;
  std::uint64_t saved_head_ = ~std::uint64_t{0};
  std::uint64_t generation_ = 0;
};

}  // namespace progressista::daemon
