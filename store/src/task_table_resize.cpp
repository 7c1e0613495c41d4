// Resizing: copying a table into a new one without losing a write, and what attached
// processes do around it (TaskTable's part; Store::open renames and Store::follow re-attaches).
#include <unistd.h>

#include <fmt/format.h>

#include "block_pool.hpp"
#include "layout.hpp"
#include "progressista/task_table.hpp"
#include "record_codec.hpp"
#include "slot_access.hpp"

namespace progressista {

using detail::kNone;
using detail::SlotLock;

std::string TaskTable::migrate_to(TaskTable& dest,
                                  const std::function<bool(std::string&)>& commit) {
  RobustLock sl(h_->structure_lock);
  if (sl.owner_died()) rebuild_locked();
  if (!active()) return "it is already being resized, or was replaced";
  // Room first, so a resize that cannot fit changes nothing.
  std::uint64_t blocks = 0;
  std::uint32_t live = 0;
  TaskRecord rec;
  for (std::uint32_t s = 0; s < capacity_; ++s) {
    if (!read(s, rec)) continue;
    ++live;
    blocks += 2 * detail::blocks_for_bytes(detail::encoded_size(rec));
  }
  const MemoryUse room = dest.memory();
  if (live > room.max_tasks || blocks > room.free_blocks) {
    return fmt::format(
        "its {} tasks need {} task slots and {} record blocks, the new shape has {} and {}", live,
        live, blocks, room.max_tasks, room.free_blocks);
  }
  h_->migrator_pid.store(static_cast<std::uint32_t>(::getpid()), std::memory_order_relaxed);
  h_->state.store(static_cast<std::uint32_t>(detail::SegmentState::kMigrating),
                  std::memory_order_seq_cst);
  auto abort = [&](std::string why) {
    h_->state.store(static_cast<std::uint32_t>(detail::SegmentState::kActive),
                    std::memory_order_release);
    return why;
  };
  // Sequence numbers go on from here, past a whole ring, so every cursor of the old feed reads
  // as lapped in the new one.
  dest.feed_.skip_to(feed_.head() + dest.feed_.ring_size() + 1);
  auto copy = [&](std::uint32_t s) {
    SlotLock l(slots_[s], counters_);
    if (!current(s, rec)) return true;
    return dest.put(rec) != Upsert::kTableFull;
  };
  for (std::uint32_t s = 0; s < capacity_; ++s) {
    if (!slots_[s].in_lru && !copy(s)) return abort("the new shape ran out of room while copying");
  }
  for (std::uint32_t s = h_->lru_head; s != kNone; s = slots_[s].lru_next) {
    if (!copy(s)) return abort("the new shape ran out of room while copying");
  }
  for (std::size_t i = 0; i < kCounterSlots; ++i) {
    dest.h_->counters[i].store(h_->counters[i].load(std::memory_order_relaxed),
                               std::memory_order_relaxed);
  }
  std::string why;
  h_->successor.store(dest.h_->generation, std::memory_order_seq_cst);
  if (!commit(why)) {
    h_->successor.store(0, std::memory_order_relaxed);
    return abort(why);
  }
  h_->state.store(static_cast<std::uint32_t>(detail::SegmentState::kRetired),
                  std::memory_order_release);
  return {};
}

bool TaskTable::settle() {
  RobustLock sl(h_->structure_lock);
  if (sl.owner_died()) rebuild_locked();
  return h_->state.load(std::memory_order_acquire) ==
         static_cast<std::uint32_t>(detail::SegmentState::kRetired);
}

void TaskTable::cancel_retirement() {
  RobustLock sl(h_->structure_lock);
  if (sl.owner_died()) rebuild_locked();
  std::uint32_t retired = static_cast<std::uint32_t>(detail::SegmentState::kRetired);
  if (h_->state.compare_exchange_strong(
          retired, static_cast<std::uint32_t>(detail::SegmentState::kActive))) {
    h_->successor.store(0, std::memory_order_relaxed);
  }
}

}  // namespace progressista
