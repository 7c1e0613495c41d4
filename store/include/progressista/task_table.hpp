// The task table: slots in the segment holding each task's record in a chain of blocks sized
// to what it holds, an open-addressing index by task_id, lock-free readers (per-copy sequence
// counters), crash-safe writers (robust locks, double-buffered records) and an O(1) eviction
// list of finished tasks.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
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
struct Block;
class BlockPool;
}  // namespace detail

enum class Upsert : std::uint8_t {
  kCreated,
  kUpdated,
  kIgnoredOutOfOrder,  // its timestamp is older than the task's last applied event
  kIgnoredClosed,      // the task is closed or failed and the event is not a `start`
  kTableFull,          // the memory budget is reached and no finished task can be evicted
  kMoved,              // the segment was resized or re-created: re-attach (Store::follow) and retry
  kParentCycle,        // its parent's chain of parents leads back to the task (422)
  kParentTooDeep,      // its parent has limits::kMaxParentDepth ancestors already (422)
};

// What the table holds against its budget, for the 507 message, /health, /metrics, inspect.
struct MemoryUse {
  std::uint32_t tasks = 0;        // live tasks
  std::uint32_t max_tasks = 0;    // slots
  std::uint32_t finished = 0;     // closed or failed tasks, evictable
  std::uint32_t blocks = 0;       // record blocks in the pool
  std::uint32_t free_blocks = 0;
  std::uint64_t budget_bytes = 0; // the whole segment
  std::uint64_t block_bytes = 0;  // bytes of one block
};

class TaskTable {
 public:
  TaskTable(const Segment& seg, ChangeFeed& feed, Counters& counters);
  ~TaskTable();
  TaskTable(const TaskTable&) = delete;
  TaskTable& operator=(const TaskTable&) = delete;

  // Nested progress (README.md, "Nested progress"): a task naming a parent adds its Share to
  // the parent's sums, and every change of the task moves them by the difference, then the
  // parent's own change moves its parent's, up the chain: O(depth) per event, one slot lock
  // at a time, never a scan of the children. A parent nobody posted is created on its first
  // child's event. A task with children is never removed (remove_if, eviction skip it).
  //
  // Applies one event with Progressista's partial-update rules (see event_rules.hpp).
  // `now` is the server's wall clock in Unix seconds. Counts the outcome. Updating an
  // existing task never takes a table-wide lock unless the task starts or stops being
  // finished, or its record needs more blocks than it has and the pool is empty.
  [[nodiscard]] Upsert upsert(const Event& event, double now);

  // Inserts or replaces a whole record (restoring persisted state, migrating a segment).
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

  // Whether a failed child fails its parent (the default) or the parent closes when no
  // child runs; kept in the segment, so every writer derives parents alike.
  void set_parent_fails_with_child(bool on) noexcept;
  [[nodiscard]] bool parent_fails_with_child() const noexcept;
  // Rebuilds every parent's sums from its children's records, after put() restored tasks
  // (put() copies records as they are and moves no sums). O(tasks x depth).
  void recount_families(double now);

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

  // The most tasks the table holds (slots); the memory budget may bind first.
  [[nodiscard]] std::uint32_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] std::uint32_t size() const noexcept;
  [[nodiscard]] MemoryUse memory() const noexcept;
  // The 507 detail: what is full, in tasks and bytes, and what to do.
  [[nodiscard]] std::string full_detail() const;

  // Resize: copies every task into `dest` (a new, empty table) holding this table's
  // structure lock, and each slot's lock while it copies that slot, so no write is lost: a
  // writer that gets a slot after its copy answers kMoved. Unfinished tasks go first, then the
  // finished ones in eviction order. `commit` (renaming the new segment over the old name)
  // runs before this table is marked retired; on failure it says why in its argument.
  // Returns "" on success, else why nothing changed. O(tasks).
  [[nodiscard]] std::string migrate_to(TaskTable& dest, const std::function<bool(std::string&)>& commit);
  // Waits for a resize in progress to end (recovering from a migrator that died); true when
  // this table has been retired.
  [[nodiscard]] bool settle();
  // A migrator that died after naming its successor but before renaming it left this table
  // retired with no new segment under the name: put it back in service.
  void cancel_retirement();

  // Checks index <-> slots <-> free list <-> eviction list <-> block pool. Empty when
  // consistent, else what is wrong. Takes the structure lock; for tests and `inspect --check`.
  [[nodiscard]] std::string check() const;

 private:
  struct Found {
    std::uint32_t slot;
    std::uint32_t pos;  // index position
  };
  enum class Step : std::uint8_t { kDone, kGone, kNeedStructure, kNoSpace };
  [[nodiscard]] bool find(std::uint64_t hash, std::string_view id, Found& out) const;
  [[nodiscard]] bool find_locked(std::uint64_t hash, std::string_view id, Found& out) const;
  [[nodiscard]] bool slot_holds(std::uint32_t slot, std::string_view id) const;
  [[nodiscard]] bool current(std::uint32_t slot, TaskRecord& out) const;  // holder of the slot lock
  [[nodiscard]] bool publish(std::uint32_t slot, const TaskRecord& next);
  [[nodiscard]] bool publish_patch(std::uint32_t slot, const char* cur, std::size_t size, const TaskRecord& next);
  void clear(std::uint32_t slot);
  Step update(std::uint32_t slot, const Event& e, double now, bool structure_held, Upsert& result);
  void index_insert(std::uint64_t hash, std::uint32_t slot);
  void index_erase(std::uint32_t pos);
  void lru_link(std::uint32_t slot);
  void lru_unlink(std::uint32_t slot);
  void track_finished(std::uint32_t slot, bool finished);
  [[nodiscard]] std::uint32_t pop_free_slot();
  void push_free_slot(std::uint32_t slot);
  // A free slot, evicting the least recently finished task when there is none; kNone if not.
  [[nodiscard]] std::uint32_t take_slot_locked();
  // Evicts finished tasks until the pool has `blocks` free; false when it cannot.
  [[nodiscard]] bool make_room_locked(std::uint32_t blocks);
  // Writes `rec` into `slot` under its lock (structure lock held), evicting finished tasks
  // other than `keep` while the pool lacks the blocks. The change's sequence, 0 when no room.
  [[nodiscard]] std::uint64_t write_evicting(std::uint32_t slot, std::uint64_t hash, TaskRecord& rec,
                                             std::uint32_t keep);
  void rebuild_locked();
  bool free_slot_locked(std::uint32_t slot, std::uint32_t pos, const RecordPredicate* only_if = nullptr);
  [[nodiscard]] bool evict_locked(std::uint32_t keep);
  [[nodiscard]] bool active() const noexcept;
  // Nested progress: see upsert.
  [[nodiscard]] Upsert check_lineage(std::string_view task_id, std::string_view parent) const;
  void propagate(std::string_view parent, const Share& change, double now, bool structure_held,
                 bool create, bool live = true);
  [[nodiscard]] bool adjust(std::string_view id, const Share& change, double now,
                            bool structure_held, bool create, bool live, Share& up,
                            std::string& up_parent);
  Step adjust_slot(std::uint32_t slot, std::string_view id, const Share& change, double now,
                   bool structure_held, bool live, Share& up, std::string& up_parent);
  // After a task's change: it gave `before` to `before_parent` and gives `after` to
  // `after_parent` (an empty parent: none; a removed task gives nothing after).
  void moved_share(std::string_view before_parent, const Share& before,
                   std::string_view after_parent, const Share& after, double now,
                   bool structure_held, bool live = true);
  // Sets task `id`'s parent ("" for none), optionally zeroing its sums, and moves its share
  // from the old parent to the new one when `move` (recount_families' two passes).
  void relink(std::string_view id, std::string_view parent, bool clear_sums, bool move, double now);

  detail::Header* h_;
  detail::Slot* slots_;
  std::atomic<std::uint64_t>* index_;
  std::unique_ptr<detail::BlockPool> pool_;
  std::uint32_t capacity_;
  std::uint32_t index_mask_;
  ChangeFeed& feed_;
  Counters& counters_;
};

[[nodiscard]] std::uint64_t hash_task_id(std::string_view id) noexcept;

}  // namespace progressista
