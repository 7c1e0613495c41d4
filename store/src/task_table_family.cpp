// Nested progress: a parent's sums follow its children's changes, one ancestor at a time.
// Every function here takes at most one slot lock at a time (plus the structure lock when a
// parent starts or stops being finished, or is created), so two children's writers never
// wait on each other's locks in a cycle; sums commute, so their order does not matter.
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "event_rules.hpp"
#include "progressista/segment.hpp"
#include "progressista/task_table.hpp"
#include "slot_access.hpp"

namespace progressista {

using detail::kNone;
using detail::Slot;
using detail::SlotLock;

void TaskTable::set_parent_fails_with_child(bool on) noexcept {
  h_->parent_fails_with_child.store(on ? 1 : 0, std::memory_order_relaxed);
}

bool TaskTable::parent_fails_with_child() const noexcept {
  return h_->parent_fails_with_child.load(std::memory_order_relaxed) != 0;
}

// Walks `parent`'s chain of parents with lock-free reads: O(depth). A concurrent re-parenting
// elsewhere can still close a cycle this walk did not see; propagate() stops after
// kMaxParentDepth steps whatever the chain, so such a cycle costs bounded work, never a hang.
Upsert TaskTable::check_lineage(std::string_view task_id, std::string_view parent) const {
  TaskRecord& probe = detail::family_scratch().probe;
  std::string at(parent);
  for (int depth = 1;; ++depth) {
    if (at == task_id) {
      counters_.add(Counter::kRejectedParentCycle);
      return Upsert::kParentCycle;
    }
    if (depth > limits::kMaxParentDepth) {
      counters_.add(Counter::kRejectedParentDepth);
      return Upsert::kParentTooDeep;
    }
    if (!lookup(at, probe) || !probe.has(kHasParent) || probe.parent.size() == 0)
      return Upsert::kUpdated;
    at.assign(probe.parent.view());
  }
}

void TaskTable::moved_share(std::string_view before_parent, const Share& before,
                            std::string_view after_parent, const Share& after, double now,
                            bool structure_held, bool live) {
  if (before_parent == after_parent) {
    if (!after_parent.empty())
      propagate(after_parent, after.minus(before), now, structure_held, true, live);
    return;
  }
  if (!before_parent.empty())
    propagate(before_parent, Share{}.minus(before), now, structure_held, false, live);
  if (!after_parent.empty()) propagate(after_parent, after, now, structure_held, true, live);
}

void TaskTable::propagate(std::string_view parent, const Share& change, double now,
                          bool structure_held, bool create, bool live) {
  std::string id(parent);  // `parent` may point into a record the next step reuses
  std::string next_id;
  Share d = change;
  for (int depth = 0; depth < limits::kMaxParentDepth && !id.empty() && !d.zero(); ++depth) {
    Share up;
    next_id.clear();
    if (!adjust(id, d, now, structure_held, create, live, up, next_id)) return;
    id.swap(next_id);
    d = up;
  }
}

// Adds `change` to the sums of task `id` and re-derives it. `up` and `up_parent`: what its
// own parent's sums must move by. False when there is no such task and `create` is false, or
// no room to create it.
bool TaskTable::adjust(std::string_view id, const Share& change, double now, bool structure_held,
                       bool create, bool live, Share& up, std::string& up_parent) {
  const std::uint64_t hash = hash_task_id(id);
  Found f{};
  if (!structure_held && find(hash, id, f) &&
      adjust_slot(f.slot, id, change, now, false, live, up, up_parent) == Step::kDone) {
    return true;
  }
  std::optional<RobustLock> sl;
  if (!structure_held) {
    sl.emplace(h_->structure_lock);
    if (sl->owner_died()) rebuild_locked();
  }
  if (!active()) return false;
  for (int attempt = 0; attempt < 64; ++attempt) {
    if (!find_locked(hash, id, f)) break;
    switch (adjust_slot(f.slot, id, change, now, true, live, up, up_parent)) {
      case Step::kDone:
        return true;
      case Step::kGone:
      case Step::kNeedStructure:
        continue;
      case Step::kNoSpace:
        if (!create || !evict_locked(f.slot)) return false;
        continue;
    }
  }
  if (!create) return false;
  // A parent nobody posted: created by its first child's share. Room first, then the record
  // (an eviction's own propagation reuses the family scratch).
  const std::uint32_t slot = take_slot_locked();
  if (slot == kNone) return false;
  const std::size_t size = sizeof(detail::RecordHead) + id.size();
  if (!make_room_locked(2 * detail::blocks_for_bytes(size))) {
    push_free_slot(slot);
    return false;
  }
  auto rec = std::make_unique<TaskRecord>();
  detail::init_record(*rec, id, now);
  change.add_to(*rec);
  detail::derive_family(*rec, now, parent_fails_with_child(), live);
  const std::uint64_t seq = write_evicting(slot, hash, *rec, kNone);
  if (seq == 0) {
    push_free_slot(slot);
    return false;
  }
  index_insert(hash, slot);
  h_->live_count.fetch_add(1, std::memory_order_relaxed);
  if (is_terminal(rec->status)) lru_link(slot);
  feed_.commit(seq, slot);
  counters_.add(Counter::kTasksCreated);
  up = Share{};  // a new task has no parent yet
  up_parent.clear();
  return true;
}

TaskTable::Step TaskTable::adjust_slot(std::uint32_t slot, std::string_view id,
                                       const Share& change, double now, bool structure_held,
                                       bool live, Share& up, std::string& up_parent) {
  detail::FamilyScratch& fs = detail::family_scratch();
  std::uint64_t seq = 0;
  bool ended = false;
  {
    SlotLock l(slots_[slot], counters_);
    if (!active()) return Step::kDone;  // the resize copied it already; the sums go with it
    if (!current(slot, fs.cur) || fs.cur.task_id.view() != id) return Step::kGone;
    fs.next.copy_from(fs.cur);
    change.add_to(fs.next);
    detail::derive_family(fs.next, now, parent_fails_with_child(), live);
    const bool was = is_terminal(fs.cur.status);
    const bool is = is_terminal(fs.next.status);
    if (was != is && !structure_held) return Step::kNeedStructure;
    seq = feed_.reserve();
    fs.next.change_seq = seq;
    if (!publish(slot, fs.next)) {
      feed_.commit(seq, slot);
      return Step::kNoSpace;
    }
    if (was != is) track_finished(slot, is);
    ended = !was && is;
    const detail::Lineage before = detail::Lineage::of(fs.cur);
    const detail::Lineage after = detail::Lineage::of(fs.next);
    up = after.share.minus(before.share);
    up_parent = after.parent;
  }
  feed_.commit(seq, slot);
  if (ended && live) {
    counters_.add(fs.next.status == Status::kError ? Counter::kTasksFailed : Counter::kTasksClosed);
  }
  return Step::kDone;
}

void TaskTable::relink(std::string_view id, std::string_view parent, bool clear_sums, bool move,
                       double now) {
  RobustLock sl(h_->structure_lock);
  if (sl.owner_died()) rebuild_locked();
  if (!active()) return;
  Found f{};
  if (!find_locked(hash_task_id(id), id, f)) return;
  detail::FamilyScratch& fs = detail::family_scratch();
  std::uint64_t seq = 0;
  detail::Lineage before, after;
  {
    SlotLock l(slots_[f.slot], counters_);
    if (!current(f.slot, fs.cur) || fs.cur.task_id.view() != id) return;
    fs.next.copy_from(fs.cur);
    if (clear_sums) {
      fs.next.kid_n = fs.next.kid_total = 0;
      fs.next.kids = fs.next.kids_closed = fs.next.kids_failed = fs.next.kids_untotalled = 0;
    }
    fs.next.parent.len = 0;
    if (!parent.empty()) fs.next.parent.assign(parent);  // never memcpy from an empty view's null
    fs.next.set(kHasParent, !parent.empty());
    before = detail::Lineage::of(fs.cur);
    after = detail::Lineage::of(fs.next);
    seq = feed_.reserve();
    fs.next.change_seq = seq;
    if (!publish(f.slot, fs.next)) {
      feed_.commit(seq, f.slot);
      return;
    }
  }
  feed_.commit(seq, f.slot);
  if (move) moved_share(before.parent, before.share, after.parent, after.share, now, true, false);
}

void TaskTable::recount_families(double now) {
  // Restored records carry their parents and saved n but no sums. First every task is
  // detached with its sums zeroed (no parent counts anything: consistent), then attached
  // again one by one, each moving its share at that moment up the links attached so far: the
  // sums hold the children's shares after every step, whatever the order.
  std::vector<std::pair<std::string, std::string>> links;
  TaskRecord& rec = detail::family_scratch().probe;
  for (std::uint32_t i = 0; i < capacity_; ++i) {
    if (!read(i, rec) || (!rec.has(kHasParent) && rec.kids == 0)) continue;
    if (rec.has(kHasParent) && rec.parent.size() > 0)
      links.emplace_back(std::string(rec.task_id.view()), std::string(rec.parent.view()));
    relink(rec.task_id.view(), {}, true, false, now);
  }
  for (const auto& [id, parent] : links) relink(id, parent, false, true, now);
}

}  // namespace progressista
