// The store as one object: an attached segment with its table, change feed and bookkeeping.
// Every process (daemons, nginx module, CLI, tests) goes through this.
//
// A segment can be replaced while processes are attached: resized (Store::open with another
// shape migrates every task into a new segment and renames it over the old name) or
// re-created by an operator. follow() notices and re-attaches by name; every accessor then
// returns the new segment's parts. Callers fetch table()/feed() per operation and must not
// keep those references across a follow() for longer than kRetiredGrace.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

#include "progressista/bookkeeping.hpp"
#include "progressista/change_feed.hpp"
#include "progressista/segment.hpp"
#include "progressista/task_table.hpp"

namespace progressista {

class Store {
 public:
  // Creates or attaches (see SegmentOptions); with opt.resize, an existing segment of another
  // shape is migrated into one of the requested shape (every task kept; attached processes
  // follow). Throws StoreError.
  [[nodiscard]] static std::unique_ptr<Store> open(const SegmentOptions& opt);
  ~Store();

  [[nodiscard]] Segment& segment() noexcept { return *now().segment; }
  [[nodiscard]] const Segment& segment() const noexcept { return *now().segment; }
  [[nodiscard]] TaskTable& table() noexcept { return now().table; }
  [[nodiscard]] const TaskTable& table() const noexcept { return now().table; }
  [[nodiscard]] ChangeFeed& feed() noexcept { return now().feed; }
  [[nodiscard]] const ChangeFeed& feed() const noexcept { return now().feed; }
  [[nodiscard]] Counters& counters() noexcept { return now().counters; }
  [[nodiscard]] const Counters& counters() const noexcept { return now().counters; }
  [[nodiscard]] ProcessRegistry& processes() noexcept { return now().processes; }
  [[nodiscard]] const ProcessRegistry& processes() const noexcept { return now().processes; }
  [[nodiscard]] JanitorLease& janitor() noexcept { return now().janitor; }

  // Registers this process (heartbeats, inspect) in the segment, and again in every segment
  // it follows to. False when the segment's process table is full.
  bool enroll(Role role);
  void beat() noexcept;
  void leave() noexcept;

  // TaskTable::upsert and put on the current segment, following it when the table answers
  // kMoved (a resize or re-creation under us) and trying again; kMoved only if it keeps
  // moving. follow() may throw StoreError.
  [[nodiscard]] Upsert upsert(const Event& event, double now);
  [[nodiscard]] Upsert put(const TaskRecord& record);

  // Re-attaches when the segment was resized or re-created (an atomic load, and a stat(2)
  // at most once per kCheckInterval; waits while a resize is copying). True when it
  // re-attached: readers should rescan. Throws StoreError when the name no longer leads to a
  // usable segment (kept attached to the old one).
  bool follow();
  // How many times follow() re-attached.
  [[nodiscard]] std::uint64_t follows() const noexcept { return follows_.load(std::memory_order_relaxed); }

  static constexpr std::chrono::milliseconds kCheckInterval{50};
  static constexpr std::chrono::seconds kRetiredGrace{30};

 private:
  struct Attachment {
    explicit Attachment(std::unique_ptr<Segment> seg);
    std::unique_ptr<Segment> segment;
    ChangeFeed feed;
    Counters counters;
    TaskTable table;
    ProcessRegistry processes;
    JanitorLease janitor;
    std::chrono::steady_clock::time_point retired_at{};
  };
  Store(const SegmentOptions& opt, std::unique_ptr<Segment> seg);
  [[nodiscard]] Attachment& now() const noexcept { return *current_.load(std::memory_order_acquire); }

  SegmentOptions opt_;
  std::atomic<Attachment*> current_{nullptr};
  std::mutex follow_mutex_;
  std::vector<std::unique_ptr<Attachment>> attachments_;  // current last; older ones unmapped after the grace
  std::atomic<std::int64_t> next_check_ns_{0};
  std::atomic<std::uint64_t> follows_{0};
  Role role_ = Role::kNone;
  int entry_ = -1;
};

}  // namespace progressista
