// How task_table*.cpp get at a slot: its lock (SlotLock), a stable copy of its record without
// the lock (read_stable, read_consistent), and a writer's scratch records. Internal.
#pragma once

#include <cstddef>
#include <cstring>
#include <string>
#include <thread>

#include "block_pool.hpp"
#include "layout.hpp"
#include "progressista/bookkeeping.hpp"
#include "progressista/robust_mutex.hpp"
#include "progressista/task.hpp"
#include "record_codec.hpp"

namespace progressista::detail {

// Holds a slot's lock. A lock left by a writer that died is counted (lock_recoveries) and
// needs no other repair: the slot's current copy is always whole.
class SlotLock {
 public:
  SlotLock(Slot& slot, Counters& counters) : lock_(slot.lock) {
    if (lock_.owner_died()) counters.add(Counter::kLockRecoveries);
  }

 private:
  RobustLock lock_;
};

inline void cpu_relax(unsigned& spins) {
  if (++spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  } else {
    std::this_thread::yield();
  }
}

// Bytes of an encoding to copy: the whole record, or just the head and the task_id.
enum class Want { kRecord, kId };

// Runs read(k) on the current copy k of `s` until it ran on a copy that was untorn and still
// current throughout, and returns its result. Lock-free; retries while a writer is busy.
template <class Read>
auto read_stable(const Slot& s, Read&& read) {
  unsigned spins = 0;
  for (;;) {
    const std::uint64_t v = s.version.load(std::memory_order_acquire);
    const unsigned k = v & 1;
    const std::uint32_t c1 = s.copy_seq[k].load(std::memory_order_acquire);
    if ((c1 & 1) == 0) {
      auto result = read(k);
      std::atomic_thread_fence(std::memory_order_acquire);
      if (s.copy_seq[k].load(std::memory_order_relaxed) == c1 &&
          s.version.load(std::memory_order_relaxed) == v) {
        return result;
      }
    }
    cpu_relax(spins);
  }
}

// Copies the current copy of `s` into `buf`: its size in bytes, 0 when the slot holds no record.
inline std::size_t read_consistent(const Slot& s, const BlockPool& pool, char* buf, Want want) {
  return read_stable(s, [&](unsigned k) -> std::size_t {
    if (s.head[k].load(std::memory_order_acquire) == kNone) return 0;
    std::size_t size = pool.read(s, k, buf, detail::kBlockPayload);
    if (size < sizeof(RecordHead)) return 0;
    RecordHead head;
    std::memcpy(&head, buf, sizeof head);
    std::size_t need = sizeof head;
    if (want == Want::kId) {
      need = detail::id_prefix_size(head);
    } else {
      for (std::uint16_t n : head.len) need += n;
      need += detail::tail_size(head);
    }
    need = std::min(need, detail::kMaxRecordBytes);
    if (need > size) size = pool.read(s, k, buf, need);
    return std::min(size, need);
  });
}

// A writer's scratch records: a TaskRecord is ~4.7 KB, too large to build on every call.
struct Scratch {
  TaskRecord cur;
  TaskRecord next;
  char bytes[detail::kMaxRecordBytes];
};
inline Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// Nested progress's own records (a parent being adjusted, an ancestor looked up), apart from
// scratch(): a removal's or an eviction's propagation runs while a writer's scratch is in use.
struct FamilyScratch {
  TaskRecord cur;
  TaskRecord next;
  TaskRecord probe;
};
inline FamilyScratch& family_scratch() {
  thread_local FamilyScratch s;
  return s;
}

// What a task gives its parent, kept across the change of its record.
struct Lineage {
  std::string parent;  // empty: no parent
  Share share;
  static Lineage of(const TaskRecord& t) {
    Lineage l;
    if (t.live && t.has(kHasParent) && t.parent.size() > 0) {
      l.parent.assign(t.parent.view());
      l.share = Share::of(t);
    }
    return l;
  }
};

}  // namespace progressista::detail
