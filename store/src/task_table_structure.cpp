// What the structure lock guards: the task index, the free slots and the eviction list;
// eviction, and the rebuild after a writer died holding the lock (TaskTable's part).
#include <algorithm>
#include <cstring>
#include <vector>

#include "index_entry.hpp"
#include "progressista/task_table.hpp"
#include "slot_access.hpp"

namespace progressista {

using detail::cpu_relax;
using detail::entry_of;
using detail::kNone;
using detail::read_consistent;
using detail::RecordHead;
using detail::scratch;
using detail::Slot;
using detail::slot_of;
using detail::SlotLock;
using detail::tag_matches;
using detail::Want;

bool TaskTable::find(std::uint64_t hash, std::string_view id, Found& out) const {
  // The index changes only under the structure lock, which makes index_version odd while
  // it works; a miss during a change is retried, a hit is always verified against the slot.
  unsigned spins = 0;
  for (int attempt = 0; attempt < 32; ++attempt) {
    const std::uint64_t iv = h_->index_version.load(std::memory_order_acquire);
    if ((iv & 1) == 0) {
      std::uint32_t pos = static_cast<std::uint32_t>(hash) & index_mask_;
      for (std::uint32_t step = 0; step <= index_mask_; ++step, pos = (pos + 1) & index_mask_) {
        const std::uint64_t e = index_[pos].load(std::memory_order_acquire);
        if (e == 0) break;
        if (tag_matches(e, hash) && slot_of(e) < capacity_ && slot_holds(slot_of(e), id)) {
          out = {slot_of(e), pos};
          return true;
        }
      }
      if (h_->index_version.load(std::memory_order_acquire) == iv) return false;
    }
    cpu_relax(spins);
  }
  return false;  // the index is busy (or its writer died): callers fall back
}

bool TaskTable::find_locked(std::uint64_t hash, std::string_view id, Found& out) const {
  std::uint32_t pos = static_cast<std::uint32_t>(hash) & index_mask_;
  for (std::uint32_t step = 0; step <= index_mask_; ++step, pos = (pos + 1) & index_mask_) {
    const std::uint64_t e = index_[pos].load(std::memory_order_relaxed);
    if (e == 0) return false;
    if (tag_matches(e, hash) && slot_of(e) < capacity_ && slot_holds(slot_of(e), id)) {
      out = {slot_of(e), pos};
      return true;
    }
  }
  return false;
}

void TaskTable::index_insert(std::uint64_t hash, std::uint32_t slot) {
  h_->index_version.fetch_add(1, std::memory_order_acq_rel);
  std::uint32_t pos = static_cast<std::uint32_t>(hash) & index_mask_;
  while (index_[pos].load(std::memory_order_relaxed) != 0) pos = (pos + 1) & index_mask_;
  index_[pos].store(entry_of(hash, slot), std::memory_order_release);
  h_->index_version.fetch_add(1, std::memory_order_acq_rel);
}

// Backward-shift deletion: linear probing without tombstones, so probes stay short under
// churn.
void TaskTable::index_erase(std::uint32_t pos) {
  h_->index_version.fetch_add(1, std::memory_order_acq_rel);
  std::uint32_t hole = pos;
  std::uint32_t j = pos;
  for (;;) {
    j = (j + 1) & index_mask_;
    const std::uint64_t e = index_[j].load(std::memory_order_relaxed);
    if (e == 0) break;
    const std::uint32_t home =
        static_cast<std::uint32_t>(slots_[slot_of(e)].key_hash) & index_mask_;
    // The entry at j may move into the hole unless its home lies cyclically in (hole, j].
    const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
    if (stays) continue;
    index_[hole].store(e, std::memory_order_release);
    hole = j;
  }
  index_[hole].store(0, std::memory_order_release);
  h_->index_version.fetch_add(1, std::memory_order_acq_rel);
}

// ---- the eviction list and the free slots (structure lock) ----------------------------------

void TaskTable::lru_link(std::uint32_t slot) {
  Slot& s = slots_[slot];
  if (s.in_lru) return;
  s.lru_prev = h_->lru_tail;
  s.lru_next = kNone;
  if (h_->lru_tail != kNone) {
    slots_[h_->lru_tail].lru_next = slot;
  } else {
    h_->lru_head = slot;
  }
  h_->lru_tail = slot;
  s.in_lru = 1;
  h_->finished_count.fetch_add(1, std::memory_order_relaxed);
}

void TaskTable::lru_unlink(std::uint32_t slot) {
  Slot& s = slots_[slot];
  if (!s.in_lru) return;
  if (s.lru_prev != kNone) {
    slots_[s.lru_prev].lru_next = s.lru_next;
  } else {
    h_->lru_head = s.lru_next;
  }
  if (s.lru_next != kNone) {
    slots_[s.lru_next].lru_prev = s.lru_prev;
  } else {
    h_->lru_tail = s.lru_prev;
  }
  s.lru_prev = s.lru_next = kNone;
  s.in_lru = 0;
  h_->finished_count.fetch_sub(1, std::memory_order_relaxed);
}

void TaskTable::track_finished(std::uint32_t slot, bool finished) {
  if (finished) {
    lru_link(slot);
  } else {
    lru_unlink(slot);
  }
}

std::uint32_t TaskTable::pop_free_slot() {
  const std::uint32_t slot = h_->free_slot;
  if (slot == kNone) return kNone;
  h_->free_slot = slots_[slot].lru_next;
  slots_[slot].lru_next = kNone;
  return slot;
}

std::uint32_t TaskTable::take_slot_locked() {
  const std::uint32_t slot = pop_free_slot();
  if (slot != kNone || !evict_locked(kNone)) return slot;
  return pop_free_slot();
}

void TaskTable::push_free_slot(std::uint32_t slot) {
  slots_[slot].lru_next = h_->free_slot;
  h_->free_slot = slot;
}

bool TaskTable::make_room_locked(std::uint32_t blocks) {
  while (pool_->free_blocks() < blocks) {
    if (!evict_locked(kNone)) return false;
  }
  return true;
}

// After a writer died holding the structure lock the index, the free-slot list, the
// eviction list and the counts may disagree with the slots. The slots' current copies are the
// truth (they are always consistent), so everything else is rebuilt from them.
// O(capacity), once per crash.
void TaskTable::rebuild_locked() {
  counters_.add(Counter::kLockRecoveries);
  const std::uint64_t iv = h_->index_version.load(std::memory_order_relaxed);
  h_->index_version.store(iv | 1, std::memory_order_release);
  for (std::uint32_t i = 0; i <= index_mask_; ++i) index_[i].store(0, std::memory_order_relaxed);
  std::uint32_t live = 0;
  std::uint32_t free_head = kNone;
  struct Finished {
    double at;
    std::uint32_t slot;
  };
  std::vector<Finished> finished;
  TaskRecord& rec = scratch().cur;
  for (std::uint32_t s = capacity_; s-- > 0;) {
    Slot& slot = slots_[s];
    slot.in_lru = 0;
    slot.lru_prev = slot.lru_next = kNone;
    bool is_live = read(s, rec);
    const std::uint64_t hash = is_live ? hash_task_id(rec.task_id.view()) : 0;
    Found dup{};
    if (is_live && find_locked(hash, rec.task_id.view(), dup)) is_live = false;  // keep one copy
    if (is_live) {
      slot.key_hash = hash;
      std::uint32_t pos = static_cast<std::uint32_t>(hash) & index_mask_;
      while (index_[pos].load(std::memory_order_relaxed) != 0) pos = (pos + 1) & index_mask_;
      index_[pos].store(entry_of(hash, s), std::memory_order_relaxed);
      ++live;
      if (is_terminal(rec.status)) finished.push_back({rec.updated_at, s});
    } else {
      // A free slot holds no blocks (a writer may have died between emptying its copies).
      RobustLock l(slot.lock);
      clear(s);
      slot.lru_next = free_head;
      free_head = s;
    }
  }
  h_->free_slot = free_head;
  h_->lru_head = h_->lru_tail = kNone;
  h_->finished_count.store(0, std::memory_order_relaxed);
  std::sort(finished.begin(), finished.end(),
            [](const Finished& a, const Finished& b) { return a.at < b.at; });
  for (const Finished& f : finished) lru_link(f.slot);
  h_->live_count.store(live, std::memory_order_relaxed);
  h_->index_version.store((iv | 1) + 1, std::memory_order_release);
  // A resize whose migrator died (we hold its lock now): before it named its successor, the
  // old segment stays in service.
  // With a successor named, it may have renamed the new segment already: retire this one, and
  // followers that find no new segment by name bring it back (cancel_retirement()).
  std::uint32_t migrating = static_cast<std::uint32_t>(detail::SegmentState::kMigrating);
  h_->state.compare_exchange_strong(
      migrating, static_cast<std::uint32_t>(h_->successor.load(std::memory_order_relaxed) != 0
                                                ? detail::SegmentState::kRetired
                                                : detail::SegmentState::kActive));
}

bool TaskTable::free_slot_locked(std::uint32_t slot, std::uint32_t pos,
                                 const RecordPredicate* only_if) {
  TaskRecord& rec = scratch().cur;
  std::uint64_t seq = 0;
  {
    SlotLock l(slots_[slot], counters_);
    if (!current(slot, rec)) return false;
    if (rec.kids > 0) return false;  // a parent's sums would be lost: never removed
    if (only_if && !(*only_if)(rec)) return false;
    seq = feed_.reserve(ChangeFeed::entries_for_removal(rec.task_id.size()));
    clear(slot);
  }
  lru_unlink(slot);
  index_erase(pos);
  push_free_slot(slot);
  h_->live_count.fetch_sub(1, std::memory_order_relaxed);
  feed_.commit_removal(seq, slot, rec.task_id.view());
  return true;
}

// Finished parents an eviction passes over (moving them to the back) before it gives up.
constexpr int kMaxParentsSkipped = 8;

bool TaskTable::evict_locked(std::uint32_t keep) {
  // The least recently finished task, O(1): the head of the eviction list (or the next one
  // when the head is the task asking for room).
  int parents_skipped = 0;
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::uint32_t victim = h_->lru_head;
    if (victim == keep && victim != kNone) victim = slots_[victim].lru_next;
    if (victim == kNone) return false;
    char buf[sizeof(RecordHead) + limits::kTaskId + detail::kBlockPayload];
    const std::size_t n = read_consistent(slots_[victim], *pool_, buf, Want::kId);
    if (n >= sizeof(RecordHead)) {
      RecordHead head;
      std::memcpy(&head, buf, sizeof head);
      TaskRecord& probe = detail::family_scratch().probe;
      if ((head.fields & kHasFamily) && read(victim, probe) && probe.kids > 0) {
        // A finished parent still has children: to the back of the list, a few times at most.
        if (++parents_skipped > kMaxParentsSkipped || h_->lru_head == h_->lru_tail) return false;
        lru_unlink(victim);
        lru_link(victim);
        --attempt;
        continue;
      }
      const std::string_view id(buf + sizeof head,
                                std::min<std::size_t>(head.len[0], n - sizeof head));
      Found f{};
      if (find_locked(slots_[victim].key_hash, id, f) && f.slot == victim &&
          free_slot_locked(victim, f.pos)) {
        counters_.add(Counter::kEvictions);
        const detail::Lineage gone = detail::Lineage::of(scratch().cur);  // the evicted record
        moved_share(gone.parent, gone.share, {}, Share{}, now_seconds(), true);
        return true;
      }
    }
    // The list and the slots disagree (cannot happen by construction): repair, try again.
    rebuild_locked();
  }
  return false;
}

}  // namespace progressista
