// The task table: fixed-capacity slots in the segment, an open-addressing index by task_id,
// lock-free readers (per-copy sequence counters) and crash-safe writers (robust locks and
// double-buffered records).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "progressista/bookkeeping.hpp"
#include "progressista/change_feed.hpp"
#include "progressista/event.hpp"
#include "progressista/task.hpp"

namespace progressista {

class Segment;
namespace detail {
struct Header;
struct Slot;
}  // namespace detail

enum class Upsert : std::uint8_t {
  kCreated,
  kUpdated,
  kIgnoredOutOfOrder,  // its timestamp is older than the task's last applied event
  kIgnoredClosed,      // the task is closed or failed and the event is not a `start`
  kTableFull,          // new task, no free slot and no closed task to evict
};

class TaskTable {
 public:
  TaskTable(const Segment& seg, ChangeFeed& feed, Counters& counters) noexcept;

  // Applies one event with Progressista's partial-update rules (see event_rules.hpp).
  // `now` is the server's wall clock in Unix seconds. Counts the outcome.
  [[nodiscard]] Upsert upsert(const Event& event, double now);

  // Inserts or replaces a whole record (restoring persisted state). kTableFull or kCreated/kUpdated.
  [[nodiscard]] Upsert put(const TaskRecord& record);

  using RecordPredicate = std::function<bool(const TaskRecord&)>;
  using RecordChange = std::function<bool(TaskRecord&)>;

  // Removes a task; false when there was none. Recorded in the change feed.
  bool remove(std::string_view task_id);
  // Removes the task only if `only_if` holds for it at that instant (checked under the
  // task's lock, so a concurrent update cannot slip in between); null removes unconditionally.
  bool remove_if(std::string_view task_id, const RecordPredicate& only_if);
  // Changes a task in place (the janitor's stale marking): `change` gets a copy of the
  // current record under the task's lock and returns false to leave it untouched. The
  // task_id and liveness cannot be changed. False when there is no such task or no change.
  bool modify(std::string_view task_id, const RecordChange& change);

  // Reader side: never blocks writers, never returns a torn record.
  [[nodiscard]] bool lookup(std::string_view task_id, TaskRecord& out) const;
  // Copies slot `slot`; false when the slot is free.
  [[nodiscard]] bool read(std::uint32_t slot, TaskRecord& out) const;

  // Calls f(const TaskRecord&) for every live task (a consistent copy of each, one at a time).
  template <class F>
  void for_each(F&& f) const {
    TaskRecord rec;
    for (std::uint32_t i = 0; i < capacity_; ++i) {
      if (read(i, rec)) f(rec);
    }
  }

  [[nodiscard]] std::uint32_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] std::uint32_t size() const noexcept;

  // Checks index <-> slots <-> free list. Empty when consistent, else what is wrong.
  // Takes the structure lock; for tests and `inspect --check`.
  [[nodiscard]] std::string check() const;

 private:
  struct Found {
    std::uint32_t slot;
    std::uint32_t pos;  // index position
  };
  [[nodiscard]] bool find(std::uint64_t hash, std::string_view id, Found& out) const;
  [[nodiscard]] bool find_locked(std::uint64_t hash, std::string_view id, Found& out) const;
  [[nodiscard]] bool slot_holds(std::uint32_t slot, std::string_view id) const;
  void index_insert(std::uint64_t hash, std::uint32_t slot);
  void index_erase(std::uint32_t pos);
  void rebuild_locked();
  bool free_slot_locked(std::uint32_t slot, std::uint32_t pos, const RecordPredicate* only_if = nullptr);
  [[nodiscard]] bool evict_locked();
  template <class Fill>
  void publish(std::uint32_t slot, Fill&& fill);

  detail::Header* h_;
  detail::Slot* slots_;
  std::atomic<std::uint64_t>* index_;  // tag << 32 | (slot + 1); 0 = empty
  std::uint32_t* free_stack_;
  std::uint32_t capacity_;
  std::uint32_t index_mask_;
  ChangeFeed& feed_;
  Counters& counters_;
};

[[nodiscard]] std::uint64_t hash_task_id(std::string_view id) noexcept;

}  // namespace progressista
