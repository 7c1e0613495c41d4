// The bytes of a segment. Everything here lives in shared memory, is mapped at a different
// address in every process (so it holds offsets, never pointers) and is constructed once,
// by the creator, before `magic` is published. Changing any of it means bumping kLayoutVersion.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "progressista/bookkeeping.hpp"
#include "progressista/robust_mutex.hpp"
#include "progressista/task.hpp"

namespace progressista::detail {

inline constexpr std::uint64_t kMagic = 0x3156534154535250ULL;  // "PRSTASV1" little-endian
inline constexpr std::uint32_t kLayoutVersion = 1;
inline constexpr std::size_t kMaxProcesses = 64;

// Two copies of the task: writers fill the one that is not current and then flip `version`,
// so a writer killed mid-update leaves the current copy (the previous version) intact.
// Each copy has its own sequence counter (odd while being written) so readers can detect a
// copy rewritten under them.
struct alignas(64) Slot {
  RobustMutex lock;                        // serialises writers of this slot
  std::atomic<std::uint64_t> version{0};   // copies[version & 1] is current
  std::atomic<std::uint64_t> copy_seq[2]{};
  std::uint64_t key_hash = 0;              // hash of the live task_id (structure lock)
  TaskRecord copies[2];
};

enum class ChangeKind : std::uint8_t { kUpsert = 1, kRemove = 2 };

// One change-feed entry. `seq` equals the entry's sequence once committed; kRingBusy while
// a writer fills it; anything smaller means "not written yet for this lap".
inline constexpr std::uint64_t kRingBusy = ~std::uint64_t{0};
struct RingEntry {
  std::atomic<std::uint64_t> seq{0};
  std::uint32_t slot = 0;
  ChangeKind kind = ChangeKind::kUpsert;
  FixedString<limits::kTaskId> task_id;  // filled for removals only
};

struct ProcessEntry {
  std::atomic<std::uint32_t> pid{0};
  std::atomic<std::uint32_t> role{0};
  std::atomic<std::int64_t> started_ns{0};
  std::atomic<std::int64_t> beat_ns{0};
};

struct Header {
  // The first 16 bytes never change between layout versions, so any build can tell
  // "another layout" apart from "not a Progressista segment".
  std::atomic<std::uint64_t> magic{0};  // published last: 0 while the creator initialises
  std::uint32_t layout_version = 0;
  std::uint32_t header_size = 0;

  std::uint32_t record_size = 0;
  std::uint32_t slot_size = 0;
  std::uint32_t ring_entry_size = 0;
  std::uint32_t capacity = 0;
  std::uint32_t index_size = 0;  // power of two, >= 2 * capacity
  std::uint32_t ring_size = 0;   // power of two
  std::uint32_t creator_pid = 0;
  std::uint32_t reserved0 = 0;
  std::uint64_t total_bytes = 0;
  std::uint64_t generation = 0;  // random per creation; readers compare it to notice re-creation
  double created_at = 0;
  std::uint64_t index_offset = 0;
  std::uint64_t free_offset = 0;
  std::uint64_t slots_offset = 0;
  std::uint64_t ring_offset = 0;

  alignas(64) std::atomic<std::uint64_t> head_seq{0};  // last reserved change sequence

  alignas(64) RobustMutex structure_lock;  // insert/remove/evict; never held during I/O
  std::atomic<std::uint64_t> index_version{0};  // odd while the index is being modified
  std::uint32_t free_top = 0;                   // free slots on the stack (structure lock)
  std::atomic<std::uint32_t> live_count{0};

  alignas(64) std::atomic<std::uint64_t> counters[kCounterSlots]{};

  alignas(64) ProcessEntry processes[kMaxProcesses];
  // Janitor lease in one word so taking it over is a single CAS:
  // holder pid << 32 | expiry in milliseconds since created_at (wrap-around compared).
  std::atomic<std::uint64_t> janitor{0};
};

static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(offsetof(Header, magic) == 0 && offsetof(Header, layout_version) == 8);

}  // namespace progressista::detail
