#include "progressista/task_table.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "event_rules.hpp"
#include "progressista/segment.hpp"
#include "slot_access.hpp"

namespace progressista {

using detail::BlockPool;
using detail::kNone;
using detail::read_consistent;
using detail::read_stable;
using detail::RecordHead;
using detail::Scratch;
using detail::scratch;
using detail::Slot;
using detail::SlotLock;
using detail::Want;

namespace {

// What an event that ends a task counts: completions and failures (GET /summary's rates).
Counter ending_counter(Status s) noexcept {
  return s == Status::kError ? Counter::kTasksFailed : Counter::kTasksClosed;
}

inline std::uint64_t rotl(std::uint64_t x, int r) {
  return (x << r) | (x >> (64 - r));
}

inline std::uint64_t fmix64(std::uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

}  // namespace

std::uint64_t hash_task_id(std::string_view id) noexcept {
  constexpr std::uint64_t c1 = 0x87c37b91114253d5ULL, c2 = 0x4cf5ad432745937fULL;
  std::uint64_t h = 0x9e3779b97f4a7c15ULL ^ (id.size() * c2);
  const char* p = id.data();
  std::size_t n = id.size();
  for (; n >= 8; n -= 8, p += 8) {
    std::uint64_t k;
    std::memcpy(&k, p, 8);
    h ^= rotl(k * c1, 31) * c2;
    h = rotl(h, 27) * 5 + 0x52dce729;
  }
  std::uint64_t k = 0;
  std::memcpy(&k, p, n);
  h ^= rotl(k * c1, 31) * c2;
  return fmix64(h);
}

TaskTable::TaskTable(const Segment& seg, ChangeFeed& feed, Counters& counters)
    : h_(&seg.header()),
      slots_(reinterpret_cast<Slot*>(seg.base() + seg.header().slots_offset)),
      index_(reinterpret_cast<std::atomic<std::uint64_t>*>(seg.base() + seg.header().index_offset)),
      pool_(std::make_unique<BlockPool>(
          seg.header(), slots_,
          reinterpret_cast<detail::Block*>(seg.base() + seg.header().blocks_offset), counters)),
      capacity_(seg.header().capacity),
      index_mask_(seg.header().index_size - 1),
      feed_(feed),
      counters_(counters) {}

TaskTable::~TaskTable() = default;

std::uint32_t TaskTable::size() const noexcept {
  return h_->live_count.load(std::memory_order_relaxed);
}

bool TaskTable::active() const noexcept {
  return h_->state.load(std::memory_order_acquire) ==
         static_cast<std::uint32_t>(detail::SegmentState::kActive);
}

MemoryUse TaskTable::memory() const noexcept {
  MemoryUse m;
  m.tasks = size();
  m.max_tasks = capacity_;
  m.finished = h_->finished_count.load(std::memory_order_relaxed);
  m.blocks = pool_->total_blocks();
  m.free_blocks = pool_->free_blocks();
  m.budget_bytes = h_->total_bytes;
  m.block_bytes = detail::kBlockSize;
  return m;
}

std::string TaskTable::full_detail() const {
  const MemoryUse m = memory();
  const bool slots_full = m.tasks >= m.max_tasks;
  return fmt::format(
      "memory budget reached: the segment's {} bytes hold {} tasks ({}; at most {} tasks) and none "
      "is finished, so none can be evicted. Close or delete tasks, or restart ingest with a larger "
      "--memory or --capacity (the tasks are kept).",
      m.budget_bytes, m.tasks,
      slots_full ? "every task slot is taken"
                 : fmt::format("{} of {} record blocks of {} bytes free", m.free_blocks, m.blocks,
                               m.block_bytes),
      m.max_tasks);
}

bool TaskTable::slot_holds(std::uint32_t slot, std::string_view id) const {
  const Slot& s = slots_[slot];
  if (sizeof(RecordHead) + id.size() <= detail::kBlockPayload) {
    // Compared in place, in the first block, under the copy's sequence: no copy at all.
    return read_stable(s, [&](unsigned k) {
      const char* data = pool_->first(s, k);
      if (data == nullptr) return false;
      std::uint16_t len = 0;
      std::memcpy(&len, data + offsetof(RecordHead, len), sizeof len);
      return data[offsetof(RecordHead, live)] != 0 && len == id.size() &&
             (id.empty() || std::memcmp(data + sizeof(RecordHead), id.data(), id.size()) == 0);
    });
  }
  char buf[sizeof(RecordHead) + limits::kTaskId + detail::kBlockPayload];
  const std::size_t n = read_consistent(s, *pool_, buf, Want::kId);
  if (n < sizeof(RecordHead)) return false;
  RecordHead head;
  std::memcpy(&head, buf, sizeof head);
  return head.live != 0 && head.len[0] == id.size() && n >= sizeof head + id.size() &&
         (id.empty() || std::memcmp(buf + sizeof head, id.data(), id.size()) == 0);
}

bool TaskTable::read(std::uint32_t slot, TaskRecord& out) const {
  if (slot >= capacity_) return false;
  char buf[detail::kMaxRecordBytes + detail::kBlockPayload];
  const std::size_t n = read_consistent(slots_[slot], *pool_, buf, Want::kRecord);
  if (n < sizeof(RecordHead)) {
    out.live = 0;
    return false;
  }
  detail::decode(buf, n, out);
  return out.live != 0;
}

bool TaskTable::current(std::uint32_t slot, TaskRecord& out) const {
  // The slot lock is held, so the current copy cannot change: no validation needed.
  const Slot& s = slots_[slot];
  const unsigned k = s.version.load(std::memory_order_relaxed) & 1;
  if (pool_->length(s, k) == 1) {  // the usual case: decoded straight from its block
    detail::decode(pool_->first(s, k), detail::kBlockPayload, out);
    return out.live != 0;
  }
  char* buf = scratch().bytes;
  const std::size_t n = pool_->read(s, k, buf, detail::kMaxRecordBytes);
  if (n < sizeof(RecordHead)) {
    out.live = 0;
    return false;
  }
  detail::decode(buf, n, out);
  return out.live != 0;
}

// Writes `next` into the copy that is not current, then makes it current. A writer killed
// before the flip leaves the current copy untouched; the next writer rewrites the shadow.
// False, changing nothing, when the pool lacks the blocks the record needs.
bool TaskTable::publish(std::uint32_t slot, const TaskRecord& next) {
  Slot& s = slots_[slot];
  const std::size_t size = detail::encoded_size(next);
  const std::uint64_t v = s.version.load(std::memory_order_relaxed);
  const unsigned k = (v + 1) & 1;
  const std::uint32_t c = s.copy_seq[k].load(std::memory_order_relaxed);
  const std::uint32_t begin = (c & 1) ? c + 2 : c + 1;  // odd: being written
  s.copy_seq[k].store(begin, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  if (!pool_->reshape(s, k, detail::blocks_for_bytes(size))) {
    s.copy_seq[k].store(begin + 1, std::memory_order_release);
    return false;
  }
  if (size <= detail::kBlockPayload) {
    detail::encode(next, pool_->first(s, k));  // straight into its one block
  } else {
    char* buf = scratch().bytes;
    detail::encode(next, buf);
    pool_->write(s, k, buf, size);
  }
  s.copy_seq[k].store(begin + 1, std::memory_order_release);
  s.version.store(v + 1, std::memory_order_release);
  // The new shadow (the old copy) gets the same length, so the next update of the same size
  // allocates nothing and cannot be refused for room; shrinking here returns blocks at once.
  // Best effort: readers of the old copy now fail their version check, whatever we do to it.
  (void)pool_->reshape(s, v & 1, detail::blocks_for_bytes(size));
  return true;
}

// publish() for a one-block record whose strings stay: the shadow (one block already, as
// both copies have the same length) gets the current bytes with `next`'s numbers.
bool TaskTable::publish_patch(std::uint32_t slot, const char* cur, std::size_t size,
                              const TaskRecord& next) {
  Slot& s = slots_[slot];
  const std::uint64_t v = s.version.load(std::memory_order_relaxed);
  const unsigned k = (v + 1) & 1;
  const std::uint32_t c = s.copy_seq[k].load(std::memory_order_relaxed);
  const std::uint32_t begin = (c & 1) ? c + 2 : c + 1;
  s.copy_seq[k].store(begin, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  if (!pool_->reshape(s, k, 1)) {  // only when an earlier best-effort reshape found no room
    s.copy_seq[k].store(begin + 1, std::memory_order_release);
    return false;
  }
  char* dst = pool_->first(s, k);
  std::memcpy(dst, cur, size);
  std::memcpy(dst, static_cast<const void*>(&next), detail::kNumbersSize);
  s.copy_seq[k].store(begin + 1, std::memory_order_release);
  s.version.store(v + 1, std::memory_order_release);
  return true;
}

// Empties a slot (slot lock held): first an empty current copy, then the old one's blocks go
// back to the pool. Readers see either the old record or no record.
void TaskTable::clear(std::uint32_t slot) {
  Slot& s = slots_[slot];
  const std::uint64_t v = s.version.load(std::memory_order_relaxed);
  for (unsigned k : {static_cast<unsigned>((v + 1) & 1), static_cast<unsigned>(v & 1)}) {
    const std::uint32_t c = s.copy_seq[k].load(std::memory_order_relaxed);
    const std::uint32_t begin = (c & 1) ? c + 2 : c + 1;
    s.copy_seq[k].store(begin, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    if (s.head[k].load(std::memory_order_relaxed) != kNone)
      (void)pool_->reshape(s, k, 0);  // never fails
    s.copy_seq[k].store(begin + 1, std::memory_order_release);
    if (k == ((v + 1) & 1)) s.version.store(v + 1, std::memory_order_release);
  }
}

std::uint64_t TaskTable::write_evicting(std::uint32_t slot, std::uint64_t hash, TaskRecord& rec,
                                        std::uint32_t keep) {
  for (;;) {
    {
      SlotLock l(slots_[slot], counters_);
      slots_[slot].key_hash = hash;
      const std::uint64_t seq = feed_.reserve();
      rec.change_seq = seq;
      if (publish(slot, rec)) return seq;
      feed_.commit(seq, slot);  // a harmless repeat: readers see the slot as it was
    }
    if (!evict_locked(keep)) return 0;
  }
}

// Applies `e` to the task in `slot` if it still holds it. kGone: it no longer does.
// kNeedStructure: the event starts or ends the task, which moves it on or off the eviction
// list: call again holding the structure lock. kNoSpace: the record needs blocks the pool
// lacks. kDone: `result` says what happened.
TaskTable::Step TaskTable::update(std::uint32_t slot, const Event& e, double now,
                                  bool structure_held, Upsert& result) {
  Scratch& sc = scratch();
  std::uint64_t seq = 0;
  bool ended = false;  // the event closed or failed the task
  detail::Lineage before, after;
  {
    SlotLock l(slots_[slot], counters_);
    // Checked under the slot lock: a resize copies each slot under its lock, so a write that
    // gets the lock after the copy must not land in the old segment.
    if (!active()) {
      result = Upsert::kMoved;
      return Step::kDone;
    }
    // The usual update: a one-block record whose strings the event leaves as they are. Only
    // the numbers are decoded, and the shadow is the current block with new numbers.
    Slot& s = slots_[slot];
    const unsigned k = s.version.load(std::memory_order_relaxed) & 1;
    const char* patch_from = nullptr;
    std::size_t patch_size = 0;
    if (pool_->length(s, k) == 1) {
      const char* cur = pool_->first(s, k);
      patch_size = detail::stored_size(cur, detail::kBlockPayload);
      if (detail::same_strings(cur, patch_size, e)) {
        patch_from = cur;
        std::memcpy(static_cast<void*>(&sc.next), cur, detail::kNumbersSize);
        // A child or a parent needs its whole record (its parent's name, its derivation).
        if (sc.next.has(kHasParent) || sc.next.has(kHasFamily)) patch_from = nullptr;
        sc.next.parent.len = 0;  // the patch's record has no parent and no sums: not stale ones
        sc.next.clear_family();
        std::uint16_t id_len = 0;
        std::memcpy(&id_len, cur + offsetof(RecordHead, len), sizeof id_len);
        if (patch_from != nullptr &&
            (!sc.next.live || id_len != e.task_id.size() ||
             std::memcmp(cur + sizeof(RecordHead), e.task_id.data(), id_len) != 0)) {
          return Step::kGone;
        }
      }
    }
    if (patch_from == nullptr && (!current(slot, sc.next) || sc.next.task_id.view() != e.task_id)) {
      return Step::kGone;
    }
    switch (detail::judge(sc.next, e)) {
      case detail::Verdict::kIgnoredOutOfOrder:
        counters_.add(Counter::kEventsIgnoredOutOfOrder);
        result = Upsert::kIgnoredOutOfOrder;
        return Step::kDone;
      case detail::Verdict::kIgnoredClosed:
        counters_.add(Counter::kEventsIgnoredClosed);
        result = Upsert::kIgnoredClosed;
        return Step::kDone;
      case detail::Verdict::kApply:
        break;
    }
    if (e.parent && !e.parent->empty() && *e.parent != sc.next.parent_id()) {
      const Upsert refused = check_lineage(e.task_id, *e.parent);
      if (refused != Upsert::kUpdated) {
        result = refused;
        return Step::kDone;
      }
    }
    const bool was = is_terminal(sc.next.status);
    before = detail::Lineage::of(sc.next);
    detail::apply_event(sc.next, e, now);
    detail::derive_family(sc.next, now, parent_fails_with_child(), true);
    const bool is = is_terminal(sc.next.status);
    if (was != is && !structure_held) return Step::kNeedStructure;
    after = detail::Lineage::of(sc.next);
    seq = feed_.reserve();
    sc.next.change_seq = seq;
    bool written = false;
    if (patch_from != nullptr) {
      written = publish_patch(slot, patch_from, patch_size, sc.next);
      if (!written) {
        // The whole record then: its strings as stored (the event changed none), new numbers.
        (void)current(slot, sc.cur);
        std::memcpy(static_cast<void*>(&sc.cur), &sc.next, detail::kNumbersSize);
        written = publish(slot, sc.cur);
      }
    } else {
      written = publish(slot, sc.next);
    }
    if (!written) {
      feed_.commit(seq, slot);  // a harmless repeat of the unchanged task, never a hole
      return Step::kNoSpace;
    }
    if (was != is) track_finished(slot, is);
    ended = !was && is;
  }
  feed_.commit(seq, slot);
  counters_.add(Counter::kEventsApplied);
  if (ended) counters_.add(ending_counter(sc.next.status));
  moved_share(before.parent, before.share, after.parent, after.share, now, structure_held);
  result = Upsert::kUpdated;
  return Step::kDone;
}

Upsert TaskTable::upsert(const Event& e, double now) {
  const std::uint64_t hash = hash_task_id(e.task_id);
  Upsert result = Upsert::kUpdated;

  // An existing task: only its own lock.
  Found f{};
  if (find(hash, e.task_id, f) && update(f.slot, e, now, false, result) == Step::kDone)
    return result;

  RobustLock sl(h_->structure_lock);
  if (sl.owner_died()) rebuild_locked();
  if (!active()) return Upsert::kMoved;
  for (int attempt = 0; attempt < 64; ++attempt) {
    if (!find_locked(hash, e.task_id, f)) break;
    switch (update(f.slot, e, now, true, result)) {
      case Step::kDone:
        return result;
      case Step::kGone:
      case Step::kNeedStructure:
        continue;
      case Step::kNoSpace:
        if (!evict_locked(f.slot)) {
          counters_.add(Counter::kRejectedTableFull);
          return Upsert::kTableFull;
        }
        continue;
    }
  }

  // A new task.
  if (e.parent && !e.parent->empty()) {
    const Upsert refused = check_lineage(e.task_id, *e.parent);
    if (refused != Upsert::kUpdated) return refused;
  }
  const std::uint32_t slot = take_slot_locked();
  if (slot == kNone) {
    counters_.add(Counter::kRejectedTableFull);
    return Upsert::kTableFull;
  }
  Scratch& sc = scratch();
  detail::init_record(sc.next, e.task_id, now);
  detail::apply_event(sc.next, e, now);
  // Room for both copies up front: an existing task's same-size updates never wait for room.
  const std::uint64_t seq =
      make_room_locked(2 * detail::blocks_for_bytes(detail::encoded_size(sc.next)))
          ? write_evicting(slot, hash, sc.next, kNone)
          : 0;
  if (seq == 0) {
    push_free_slot(slot);
    counters_.add(Counter::kRejectedTableFull);
    return Upsert::kTableFull;
  }
  index_insert(hash, slot);
  h_->live_count.fetch_add(1, std::memory_order_relaxed);
  if (is_terminal(sc.next.status)) lru_link(slot);
  feed_.commit(seq, slot);
  counters_.add(Counter::kTasksCreated);
  counters_.add(Counter::kEventsApplied);
  if (is_terminal(sc.next.status)) counters_.add(ending_counter(sc.next.status));
  if (sc.next.has(kHasParent)) {
    const detail::Lineage after = detail::Lineage::of(sc.next);
    moved_share({}, Share{}, after.parent, after.share, now, true);
  }
  return Upsert::kCreated;
}

Upsert TaskTable::put(const TaskRecord& record) {
  const std::string_view id = record.task_id.view();
  const std::uint64_t hash = hash_task_id(id);
  RobustLock sl(h_->structure_lock);
  if (sl.owner_died()) rebuild_locked();
  if (!active()) return Upsert::kMoved;
  Found f{};
  const bool exists = find_locked(hash, id, f);
  const std::uint32_t slot = exists ? f.slot : take_slot_locked();
  if (slot == kNone) {
    counters_.add(Counter::kRejectedTableFull);
    return Upsert::kTableFull;
  }
  Scratch& sc = scratch();
  sc.next.copy_from(record);
  sc.next.live = 1;
  const std::uint64_t seq =
      exists || make_room_locked(2 * detail::blocks_for_bytes(detail::encoded_size(sc.next)))
          ? write_evicting(slot, hash, sc.next, slot)
          : 0;
  if (seq == 0) {
    if (!exists) push_free_slot(slot);
    counters_.add(Counter::kRejectedTableFull);
    return Upsert::kTableFull;
  }
  if (!exists) {
    index_insert(hash, slot);
    h_->live_count.fetch_add(1, std::memory_order_relaxed);
    counters_.add(Counter::kTasksCreated);
  }
  track_finished(slot, is_terminal(sc.next.status));
  feed_.commit(seq, slot);
  return exists ? Upsert::kUpdated : Upsert::kCreated;
}

bool TaskTable::remove(std::string_view task_id) {
  return remove_if(task_id, nullptr);
}

bool TaskTable::remove_if(std::string_view task_id, const RecordPredicate& only_if) {
  const std::uint64_t hash = hash_task_id(task_id);
  RobustLock sl(h_->structure_lock);
  if (sl.owner_died()) rebuild_locked();
  if (!active()) return false;
  Found f{};
  if (!find_locked(hash, task_id, f)) return false;
  if (!free_slot_locked(f.slot, f.pos, only_if ? &only_if : nullptr)) return false;
  counters_.add(Counter::kTasksRemoved);
  const detail::Lineage gone = detail::Lineage::of(scratch().cur);  // the removed record
  moved_share(gone.parent, gone.share, {}, Share{}, now_seconds(), true);
  return true;
}

bool TaskTable::modify(std::string_view task_id, const RecordChange& change) {
  // Rare (the janitor's stale marking), so it always holds the structure lock: a change may
  // move the task on or off the eviction list.
  RobustLock sl(h_->structure_lock);
  if (sl.owner_died()) rebuild_locked();
  if (!active()) return false;
  Found f{};
  if (!find_locked(hash_task_id(task_id), task_id, f)) return false;
  Scratch& sc = scratch();
  std::uint64_t seq = 0;
  detail::Lineage before, after;
  {
    SlotLock l(slots_[f.slot], counters_);
    if (!current(f.slot, sc.cur) || sc.cur.task_id.view() != task_id) return false;
    sc.next.copy_from(sc.cur);
    if (!change(sc.next)) return false;
    sc.next.live = 1;
    sc.next.task_id.copy_from(sc.cur.task_id);
    // The family fields are the table's: a change cannot move a task or its sums.
    sc.next.parent.copy_from(sc.cur.parent);
    sc.next.set(kHasParent, sc.cur.has(kHasParent));
    before = detail::Lineage::of(sc.cur);
    after = detail::Lineage::of(sc.next);
    seq = feed_.reserve();
    sc.next.change_seq = seq;
    if (!publish(f.slot, sc.next)) {
      feed_.commit(seq, f.slot);
      return false;
    }
    track_finished(f.slot, is_terminal(sc.next.status));
  }
  feed_.commit(seq, f.slot);
  moved_share(before.parent, before.share, after.parent, after.share, now_seconds(), true);
  return true;
}

bool TaskTable::lookup(std::string_view task_id, TaskRecord& out) const {
  const std::uint64_t hash = hash_task_id(task_id);
  Found f{};
  // The slot can be freed or reused between the probe and the copy; the copy says which.
  for (int attempt = 0; attempt < 4; ++attempt) {
    if (!find(hash, task_id, f)) break;
    if (read(f.slot, out) && out.task_id.view() == task_id) return true;
  }
  // Index busy or changing under us: an O(capacity) scan gives the definitive answer.
  for (std::uint32_t s = 0; s < capacity_; ++s) {
    if (slot_holds(s, task_id) && read(s, out) && out.task_id.view() == task_id) return true;
  }
  return false;
}

}  // namespace progressista
