// The store as one object: an attached segment with its table, change feed and bookkeeping.
// Every process (daemons, nginx module, CLI, tests) goes through this.
#pragma once

#include <memory>

#include "progressista/bookkeeping.hpp"
#include "progressista/change_feed.hpp"
#include "progressista/segment.hpp"
#include "progressista/task_table.hpp"

namespace progressista {

class Store {
 public:
  // Creates or attaches (see SegmentOptions); throws StoreError.
  [[nodiscard]] static std::unique_ptr<Store> open(const SegmentOptions& opt);

  [[nodiscard]] Segment& segment() noexcept { return *segment_; }
  [[nodiscard]] const Segment& segment() const noexcept { return *segment_; }
  [[nodiscard]] TaskTable& table() noexcept { return table_; }
  [[nodiscard]] const TaskTable& table() const noexcept { return table_; }
  [[nodiscard]] ChangeFeed& feed() noexcept { return feed_; }
  [[nodiscard]] const ChangeFeed& feed() const noexcept { return feed_; }
  [[nodiscard]] Counters& counters() noexcept { return counters_; }
  [[nodiscard]] const Counters& counters() const noexcept { return counters_; }
  [[nodiscard]] ProcessRegistry& processes() noexcept { return processes_; }
  [[nodiscard]] const ProcessRegistry& processes() const noexcept { return processes_; }
  [[nodiscard]] JanitorLease& janitor() noexcept { return janitor_; }

 private:
  explicit Store(std::unique_ptr<Segment> seg);
  std::unique_ptr<Segment> segment_;
  ChangeFeed feed_;
  Counters counters_;
  TaskTable table_;
  ProcessRegistry processes_;
  JanitorLease janitor_;
};

}  // namespace progressista
