// The bytes of a segment. Everything here lives in shared memory, is mapped at a different
// address in every process (so it holds offsets and indexes, never pointers) and is
// constructed once, by the creator, before `magic` is published. Changing any of it means
// bumping kLayoutVersion.
//
// Layout 2 (store v2): memory follows what tasks hold.
//   header | index (open addressing, 8 B per entry) | slots (88 B each) | blocks (256 B each) | ring
// A task lives in a slot that holds two copies of its record (current and shadow, for crash
// safety). Each copy is a chain of 256-byte blocks holding the record in a compact encoding
// (record_codec.hpp): a typical task fits one block per copy, a task with every field at its
// limit takes about twenty. Blocks come from one pool shared by all slots (block_pool.hpp).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "progressista/bookkeeping.hpp"
#include "progressista/robust_mutex.hpp"
#include "progressista/task.hpp"

namespace progressista::detail {

inline constexpr std::uint64_t kMagic = 0x3156534154535250ULL;  // "PRSTASV1" little-endian
// 3: the record's head carries cadence and acknowledged_at (136 bytes, was 120).
// 4: nested progress: a record may end with its parent's name and its children's sums
//    (record_codec.hpp, kHasParent, kHasFamily); the header holds the parent-status rule.
inline constexpr std::uint32_t kLayoutVersion = 4;
inline constexpr std::size_t kMaxProcesses = 64;

inline constexpr std::uint32_t kNone = 0xffffffffu;  // no block / no slot

inline constexpr std::size_t kBlockSize = 256;
struct Block {
  std::atomic<std::uint32_t> next{kNone};  // next block of the same chain (or of the free list)
  char data[kBlockSize - sizeof(std::atomic<std::uint32_t>)];
};
inline constexpr std::size_t kBlockPayload = sizeof(Block::data);
static_assert(sizeof(Block) == kBlockSize);

// One task. Readers pick copies[version & 1] and validate with that copy's sequence (odd
// while being written); writers hold `lock`, rewrite the other copy and flip `version`, so a
// writer killed mid-update leaves the current copy (the previous version) intact.
struct Slot {
  RobustMutex lock;                         // serialises writers of this slot
  std::atomic<std::uint64_t> version{0};    // copies (version & 1) is current
  std::atomic<std::uint32_t> copy_seq[2]{};
  std::atomic<std::uint32_t> head[2]{kNone, kNone};  // first block of each copy; kNone: no record
  std::uint64_t key_hash = 0;               // hash of the live task_id (structure lock)
  // Structure lock: the list of finished tasks in eviction order (least recently finished
  // first) while `in_lru`; a free slot uses lru_next as its free-list link.
  std::uint32_t lru_prev = kNone;
  std::uint32_t lru_next = kNone;
  std::uint8_t in_lru = 0;
  std::uint8_t reserved[7] = {};
};

enum class ChangeKind : std::uint8_t { kUpsert = 1, kRemove = 2, kIdPart = 3, kSkipped = 4 };

// One change-feed entry. `seq` equals the entry's sequence once committed; kRingBusy while
// a writer fills it; anything smaller means "not written yet for this lap". A removal
// carries the removed task_id: its first kRingIdInline bytes inline, the rest in the
// following entries (kind kIdPart), reserved together with it.
inline constexpr std::uint64_t kRingBusy = ~std::uint64_t{0};
inline constexpr std::size_t kRingIdInline = 48;
struct RingEntry {
  std::atomic<std::uint64_t> seq{0};
  std::uint32_t slot = 0;
  ChangeKind kind = ChangeKind::kUpsert;
  std::uint8_t reserved = 0;
  std::uint16_t id_len = 0;  // removals: the whole task_id's length
  char id[kRingIdInline] = {};
};
static_assert(sizeof(RingEntry) == 64);

struct ProcessEntry {
  std::atomic<std::uint32_t> pid{0};
  std::atomic<std::uint32_t> role{0};
  std::atomic<std::int64_t> started_ns{0};
  std::atomic<std::int64_t> beat_ns{0};
};

// What became of a segment. A resize copies every task into a new segment, renames it over
// this one's name and marks this one retired: its writers stop (under each slot's lock) and
// every attached process re-attaches by name.
enum class SegmentState : std::uint32_t { kActive = 0, kMigrating = 1, kRetired = 2 };

struct Header {
  // The first 16 bytes never change between layout versions, so any build can tell
  // "another layout" apart from "not a Progressista segment".
  std::atomic<std::uint64_t> magic{0};  // published last: 0 while the creator initialises
  std::uint32_t layout_version = 0;
  std::uint32_t header_size = 0;

  std::uint32_t slot_size = 0;
  std::uint32_t block_size = 0;
  std::uint32_t ring_entry_size = 0;
  std::uint32_t capacity = 0;     // slots: the most tasks held
  std::uint32_t blocks = 0;       // blocks in the pool
  std::uint32_t index_size = 0;   // power of two, >= 2 * capacity
  std::uint32_t ring_size = 0;    // power of two
  std::uint32_t creator_pid = 0;
  std::uint64_t total_bytes = 0;  // the memory budget: every byte of the segment
  std::uint64_t generation = 0;   // random per creation; readers compare it to notice re-creation
  double created_at = 0;
  std::uint64_t index_offset = 0;
  std::uint64_t slots_offset = 0;
  std::uint64_t blocks_offset = 0;
  std::uint64_t ring_offset = 0;

  alignas(64) std::atomic<std::uint64_t> head_seq{0};  // last reserved change sequence

  alignas(64) RobustMutex structure_lock;  // insert/remove/evict/finish; never held during I/O
  std::atomic<std::uint64_t> index_version{0};  // odd while the index is being modified
  std::uint32_t free_slot = kNone;              // free slots, linked by lru_next (structure lock)
  std::uint32_t lru_head = kNone;               // finished tasks, oldest first (structure lock)
  std::uint32_t lru_tail = kNone;
  std::atomic<std::uint32_t> live_count{0};
  std::atomic<std::uint32_t> finished_count{0};  // tasks on the eviction list

  alignas(64) RobustMutex block_lock;  // the block pool and every chain's shape
  std::atomic<std::uint32_t> free_block{kNone};  // free blocks, linked by Block::next
  std::atomic<std::uint32_t> free_blocks{0};

  // 1: a parent with a failed child is failed (--parent-fails-with-child, the default);
  // 0: it closes when no child runs. Set by ingest and serve at start.
  std::atomic<std::uint32_t> parent_fails_with_child{1};

  alignas(64) std::atomic<std::uint32_t> state{0};   // SegmentState
  std::atomic<std::uint32_t> migrator_pid{0};        // who is resizing (kMigrating)
  std::atomic<std::uint64_t> successor{0};           // generation of the segment that replaced it

  alignas(64) std::atomic<std::uint64_t> counters[kCounterSlots]{};

  alignas(64) ProcessEntry processes[kMaxProcesses];
  // Janitor lease in one word so taking it over is a single CAS:
  // holder pid << 32 | expiry in milliseconds since created_at (wrap-around compared).
  std::atomic<std::uint64_t> janitor{0};
};

static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(offsetof(Header, magic) == 0 && offsetof(Header, layout_version) == 8);

}  // namespace progressista::detail
