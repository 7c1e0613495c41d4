#include "progressista/task_table.hpp"

#include <cstring>
#include <optional>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "event_rules.hpp"
#include "layout.hpp"
#include "progressista/segment.hpp"

namespace progressista {

using detail::Slot;

namespace {

inline void cpu_relax(unsigned& spins) {
  if (++spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  } else {
    std::this_thread::yield();
  }
}

inline std::uint64_t rotl(std::uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

inline std::uint64_t fmix64(std::uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

inline std::uint64_t entry_of(std::uint64_t hash, std::uint32_t slot) {
  return (hash & 0xffffffff00000000ULL) | (std::uint64_t{slot} + 1);
}
inline std::uint32_t slot_of(std::uint64_t entry) { return static_cast<std::uint32_t>(entry) - 1; }
inline bool tag_matches(std::uint64_t entry, std::uint64_t hash) {
  return (entry >> 32) == (hash >> 32);
}

// Copies from the current copy of `s` with `copy(const TaskRecord&)` until the copy is
// known to be untorn and still current. Lock-free; retries while a writer is busy.
template <class Copy>
void read_consistent(const Slot& s, Copy&& copy) {
  unsigned spins = 0;
  for (;;) {
    const std::uint64_t v = s.version.load(std::memory_order_acquire);
    const unsigned k = v & 1;
    const std::uint64_t c1 = s.copy_seq[k].load(std::memory_order_acquire);
    if ((c1 & 1) == 0) {
      copy(s.copies[k]);
      std::atomic_thread_fence(std::memory_order_acquire);
      if (s.copy_seq[k].load(std::memory_order_relaxed) == c1 &&
          s.version.load(std::memory_order_relaxed) == v) {
        return;
      }
    }
    cpu_relax(spins);
  }
}

// The current copy, for a writer that holds the slot lock (nobody else can change it).
inline const TaskRecord& current(const Slot& s) {
  return s.copies[s.version.load(std::memory_order_relaxed) & 1];
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

TaskTable::TaskTable(const Segment& seg, ChangeFeed& feed, Counters& counters) noexcept
    : h_(&seg.header()),
      slots_(reinterpret_cast<Slot*>(seg.base() + seg.header().slots_offset)),
      index_(reinterpret_cast<std::atomic<std::uint64_t>*>(seg.base() + seg.header().index_offset)),
      free_stack_(reinterpret_cast<std::uint32_t*>(seg.base() + seg.header().free_offset)),
      capacity_(seg.header().capacity),
      index_mask_(seg.header().index_size - 1),
      feed_(feed),
      counters_(counters) {}

std::uint32_t TaskTable::size() const noexcept { return h_->live_count.load(std::memory_order_relaxed); }

// Fills the copy that is not current, then makes it current. A writer killed inside `fill`
// leaves the current copy untouched; the next writer simply rewrites the shadow.
template <class Fill>
void TaskTable::publish(std::uint32_t slot, Fill&& fill) {
  Slot& s = slots_[slot];
  const std::uint64_t v = s.version.load(std::memory_order_relaxed);
  const unsigned k = (v + 1) & 1;
  const std::uint64_t c = s.copy_seq[k].load(std::memory_order_relaxed);
  const std::uint64_t begin = (c & 1) ? c + 2 : c + 1;  // odd: being written
  s.copy_seq[k].store(begin, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  fill(s.copies[k], s.copies[v & 1]);
  s.copy_seq[k].store(begin + 1, std::memory_order_release);
  s.version.store(v + 1, std::memory_order_release);
}

bool TaskTable::slot_holds(std::uint32_t slot, std::string_view id) const {
  bool holds = false;
  read_consistent(slots_[slot], [&](const TaskRecord& r) {
    holds = r.live != 0 && r.task_id.view() == id;
  });
  return holds;
}

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
    if (tag_matches(e, hash) && slot_holds(slot_of(e), id)) {
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
    const std::uint32_t home = static_cast<std::uint32_t>(slots_[slot_of(e)].key_hash) & index_mask_;
    // The entry at j may move into the hole unless its home lies cyclically in (hole, j].
    const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
    if (stays) continue;
    index_[hole].store(e, std::memory_order_release);
    hole = j;
  }
  index_[hole].store(0, std::memory_order_release);
  h_->index_version.fetch_add(1, std::memory_order_acq_rel);
}

// After a writer died holding the structure lock the index, the free stack and the live
// count may disagree with the slots. The slots' current copies are the truth (they are
// always consistent), so everything else is rebuilt from them. O(capacity), once per crash.
void TaskTable::rebuild_locked() {
  counters_.add(Counter::kLockRecoveries);
  const std::uint64_t iv = h_->index_version.load(std::memory_order_relaxed);
  h_->index_version.store(iv | 1, std::memory_order_release);
  for (std::uint32_t i = 0; i <= index_mask_; ++i) index_[i].store(0, std::memory_order_relaxed);
  std::uint32_t live = 0;
  std::uint32_t free_top = 0;
  TaskRecord rec;
  for (std::uint32_t s = capacity_; s-- > 0;) {
    bool is_live = false;
    read_consistent(slots_[s], [&](const TaskRecord& r) {
      is_live = r.live != 0;
      rec.task_id.copy_from(r.task_id);
    });
    const std::uint64_t hash = is_live ? hash_task_id(rec.task_id.view()) : 0;
    Found dup{};
    if (is_live && find_locked(hash, rec.task_id.view(), dup)) {
      is_live = false;  // cannot happen by construction; keep one copy if it ever does
      RobustLock l(slots_[s].lock);
      publish(s, [](TaskRecord& shadow, const TaskRecord& cur) {
        shadow.copy_from(cur);
        shadow.live = 0;
      });
    }
    if (is_live) {
      slots_[s].key_hash = hash;
      std::uint32_t pos = static_cast<std::uint32_t>(hash) & index_mask_;
      while (index_[pos].load(std::memory_order_relaxed) != 0) pos = (pos + 1) & index_mask_;
      index_[pos].store(entry_of(hash, s), std::memory_order_relaxed);
      ++live;
    } else {
      free_stack_[free_top++] = s;
    }
  }
  h_->free_top = free_top;
  h_->live_count.store(live, std::memory_order_relaxed);
  h_->index_version.store((iv | 1) + 1, std::memory_order_release);
}

bool TaskTable::free_slot_locked(std::uint32_t slot, std::uint32_t pos, const RecordPredicate* only_if) {
  FixedString<limits::kTaskId> id;
  std::uint64_t seq = 0;
  {
    RobustLock l(slots_[slot].lock);
    if (l.owner_died()) counters_.add(Counter::kLockRecoveries);
    if (only_if && !(*only_if)(current(slots_[slot]))) return false;
    id.copy_from(current(slots_[slot]).task_id);
    seq = feed_.reserve();
    publish(slot, [&](TaskRecord& shadow, const TaskRecord& cur) {
      shadow.copy_from(cur);
      shadow.live = 0;
      shadow.change_seq = seq;
    });
  }
  index_erase(pos);
  free_stack_[h_->free_top++] = slot;
  h_->live_count.fetch_sub(1, std::memory_order_relaxed);
  feed_.commit(seq, slot, true, id.view());
  return true;
}

bool TaskTable::evict_locked() {
  // Least recently updated closed task. O(capacity), only when the table is full.
  std::uint32_t victim = capacity_;
  double oldest = 0;
  TaskRecord head;
  for (std::uint32_t s = 0; s < capacity_; ++s) {
    read_consistent(slots_[s], [&](const TaskRecord& r) {
      std::memcpy(static_cast<void*>(&head), &r, offsetof(TaskRecord, task_id));
    });
    if (head.live && head.status == Status::kClose && (victim == capacity_ || head.updated_at < oldest)) {
      victim = s;
      oldest = head.updated_at;
    }
  }
  if (victim == capacity_) return false;
  read_consistent(slots_[victim], [&](const TaskRecord& r) { head.task_id.copy_from(r.task_id); });
  Found f{};
  if (!find_locked(slots_[victim].key_hash, head.task_id.view(), f)) return false;
  free_slot_locked(victim, f.pos);
  counters_.add(Counter::kEvictions);
  return true;
}

Upsert TaskTable::upsert(const Event& e, double now) {
  const std::uint64_t hash = hash_task_id(e.task_id);

  // Applies to an existing slot; nullopt when the slot no longer holds this task.
  auto update = [&](std::uint32_t slot) -> std::optional<Upsert> {
    std::uint64_t seq = 0;
    {
      RobustLock l(slots_[slot].lock);
      if (l.owner_died()) counters_.add(Counter::kLockRecoveries);
      const TaskRecord& cur = current(slots_[slot]);
      if (!cur.live || cur.task_id.view() != e.task_id) return std::nullopt;
      switch (detail::judge(cur, e)) {
        case detail::Verdict::kIgnoredOutOfOrder:
          counters_.add(Counter::kEventsIgnoredOutOfOrder);
          return Upsert::kIgnoredOutOfOrder;
        case detail::Verdict::kIgnoredClosed:
          counters_.add(Counter::kEventsIgnoredClosed);
          return Upsert::kIgnoredClosed;
        case detail::Verdict::kApply:
          break;
      }
      seq = feed_.reserve();
      publish(slot, [&](TaskRecord& shadow, const TaskRecord& c) {
        shadow.copy_from(c);
        detail::apply_event(shadow, e, now);
        shadow.change_seq = seq;
      });
    }
    feed_.commit(seq, slot, false, {});
    counters_.add(Counter::kEventsApplied);
    return Upsert::kUpdated;
  };

  Found f{};
  if (find(hash, e.task_id, f)) {
    if (auto r = update(f.slot)) return *r;
  }

  RobustLock sl(h_->structure_lock);
  if (sl.owner_died()) rebuild_locked();
  if (find_locked(hash, e.task_id, f)) {
    if (auto r = update(f.slot)) return *r;
  }
  if (h_->free_top == 0 && !evict_locked()) {
    counters_.add(Counter::kRejectedTableFull);
    return Upsert::kTableFull;
  }
  const std::uint32_t slot = free_stack_[--h_->free_top];
  std::uint64_t seq = 0;
  {
    RobustLock l(slots_[slot].lock);
    if (l.owner_died()) counters_.add(Counter::kLockRecoveries);
    slots_[slot].key_hash = hash;
    seq = feed_.reserve();
    publish(slot, [&](TaskRecord& shadow, const TaskRecord&) {
      detail::init_record(shadow, e.task_id, now);
      detail::apply_event(shadow, e, now);
      shadow.change_seq = seq;
    });
  }
  index_insert(hash, slot);
  h_->live_count.fetch_add(1, std::memory_order_relaxed);
  feed_.commit(seq, slot, false, {});
  counters_.add(Counter::kTasksCreated);
  counters_.add(Counter::kEventsApplied);
  return Upsert::kCreated;
}

Upsert TaskTable::put(const TaskRecord& record) {
  const std::string_view id = record.task_id.view();
  const std::uint64_t hash = hash_task_id(id);
  RobustLock sl(h_->structure_lock);
  if (sl.owner_died()) rebuild_locked();
  Found f{};
  const bool exists = find_locked(hash, id, f);
  if (!exists && h_->free_top == 0 && !evict_locked()) {
    counters_.add(Counter::kRejectedTableFull);
    return Upsert::kTableFull;
  }
  const std::uint32_t slot = exists ? f.slot : free_stack_[--h_->free_top];
  std::uint64_t seq = 0;
  {
    RobustLock l(slots_[slot].lock);
    if (l.owner_died()) counters_.add(Counter::kLockRecoveries);
    slots_[slot].key_hash = hash;
    seq = feed_.reserve();
    publish(slot, [&](TaskRecord& shadow, const TaskRecord&) {
      shadow.copy_from(record);
      shadow.live = 1;
      shadow.change_seq = seq;
    });
  }
  if (!exists) {
    index_insert(hash, slot);
    h_->live_count.fetch_add(1, std::memory_order_relaxed);
    counters_.add(Counter::kTasksCreated);
  }
  feed_.commit(seq, slot, false, {});
  return exists ? Upsert::kUpdated : Upsert::kCreated;
}

bool TaskTable::remove(std::string_view task_id) { return remove_if(task_id, nullptr); }

bool TaskTable::remove_if(std::string_view task_id, const RecordPredicate& only_if) {
  const std::uint64_t hash = hash_task_id(task_id);
  RobustLock sl(h_->structure_lock);
  if (sl.owner_died()) rebuild_locked();
  Found f{};
  if (!find_locked(hash, task_id, f)) return false;
  if (!free_slot_locked(f.slot, f.pos, only_if ? &only_if : nullptr)) return false;
  counters_.add(Counter::kTasksRemoved);
  return true;
}

bool TaskTable::modify(std::string_view task_id, const RecordChange& change) {
  Found f{};
  if (!find(hash_task_id(task_id), task_id, f)) return false;
  std::uint64_t seq = 0;
  {
    RobustLock l(slots_[f.slot].lock);
    if (l.owner_died()) counters_.add(Counter::kLockRecoveries);
    const TaskRecord& cur = current(slots_[f.slot]);
    if (!cur.live || cur.task_id.view() != task_id) return false;  // removed meanwhile
    TaskRecord next;
    next.copy_from(cur);
    if (!change(next)) return false;
    seq = feed_.reserve();
    publish(f.slot, [&](TaskRecord& shadow, const TaskRecord&) {
      shadow.copy_from(next);
      shadow.live = 1;
      shadow.task_id.copy_from(cur.task_id);
      shadow.change_seq = seq;
    });
  }
  feed_.commit(seq, f.slot, false, {});
  return true;
}

bool TaskTable::read(std::uint32_t slot, TaskRecord& out) const {
  if (slot >= capacity_) return false;
  read_consistent(slots_[slot], [&](const TaskRecord& r) { out.copy_from(r); });
  return out.live != 0;
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

std::string TaskTable::check() const {
  auto* self = const_cast<TaskTable*>(this);
  RobustLock sl(h_->structure_lock);
  if (sl.owner_died()) self->rebuild_locked();
  std::string problems;
  std::vector<char> seen_free(capacity_, 0);
  for (std::uint32_t i = 0; i < h_->free_top; ++i) {
    const std::uint32_t s = free_stack_[i];
    if (s >= capacity_) {
      problems += fmt::format("free stack entry {} is slot {} (out of range); ", i, s);
    } else if (seen_free[s]++) {
      problems += fmt::format("slot {} is on the free stack twice; ", s);
    }
  }
  std::uint32_t live = 0;
  TaskRecord rec;
  for (std::uint32_t s = 0; s < capacity_; ++s) {
    const bool is_live = read(s, rec);
    if (is_live) {
      ++live;
      Found f{};
      if (seen_free[s]) problems += fmt::format("live slot {} is on the free stack; ", s);
      if (!find_locked(hash_task_id(rec.task_id.view()), rec.task_id.view(), f) || f.slot != s) {
        problems += fmt::format("task '{}' in slot {} is not reachable through the index; ",
                                rec.task_id.view(), s);
      }
    } else if (!seen_free[s]) {
      problems += fmt::format("free slot {} is missing from the free stack; ", s);
    }
  }
  std::uint32_t entries = 0;
  for (std::uint32_t i = 0; i <= index_mask_; ++i) {
    const std::uint64_t e = index_[i].load(std::memory_order_relaxed);
    if (e == 0) continue;
    ++entries;
    if (slot_of(e) >= capacity_ || !read(slot_of(e), rec)) {
      problems += fmt::format("index position {} points to a free or invalid slot; ", i);
    }
  }
  if (entries != live) problems += fmt::format("index has {} entries for {} live tasks; ", entries, live);
  if (live != size()) problems += fmt::format("live count says {} but {} slots are live; ", size(), live);
  if (h_->index_version.load() & 1) problems += "index version is odd outside a change; ";
  return problems;
}

}  // namespace progressista
