// The compact form of a TaskRecord as stored in a slot's block chain: a fixed head (flags,
// numbers, string lengths) followed by the strings' bytes back to back. A typical task
// (id ~30 B, desc ~20, unit, meta ~60) encodes in about 230 bytes, one block.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "progressista/event.hpp"
#include "progressista/task.hpp"

namespace progressista::detail {

inline constexpr std::size_t kStringFields = 8;

struct RecordHead {
  std::uint32_t fields;
  Status status;
  std::uint8_t live;
  std::uint16_t reserved;
  std::uint64_t change_seq;
  double n, total, timestamp, created_at, updated_at, done_at, stale_at, recovered_at, rate, rate_n,
      rate_t, cadence, acknowledged_at;
  std::uint16_t len[kStringFields];  // task_id, desc, unit, project, phase, message, error, meta
};
static_assert(sizeof(RecordHead) == 136);

// Nested progress, after the eight strings and only when the head's fields say so: the
// parent's bytes (kHasParent; its length in the head's `reserved`), then the children's sums
// (kHasFamily: kid_n, kid_total, then four int32 counts).
inline constexpr std::size_t kFamilyBytes = 2 * sizeof(double) + 4 * sizeof(std::int32_t);
[[nodiscard]] inline std::size_t tail_size(const RecordHead& head) noexcept {
  return ((head.fields & kHasParent) ? std::min<std::size_t>(head.reserved, limits::kTaskId) : 0) +
         ((head.fields & kHasFamily) ? kFamilyBytes : 0);
}

// The largest encoding: every string at its byte limit.
inline constexpr std::size_t kMaxRecordBytes =
    sizeof(RecordHead) + limits::kTaskId + limits::kDesc + limits::kUnit + limits::kProject +
    limits::kPhase + limits::kMessage + limits::kError + limits::kMeta + limits::kTaskId +
    kFamilyBytes;

// Bytes `rec` encodes to.
[[nodiscard]] std::size_t encoded_size(const TaskRecord& rec) noexcept;
// Writes the encoding into `out` (encoded_size(rec) bytes).
void encode(const TaskRecord& rec, char* out) noexcept;
// Reads an encoding of `size` bytes. Lengths are clamped to the field limits and to `size`,
// so garbage (a copy the seqlock will discard) never reads out of bounds.
void decode(const char* in, std::size_t size, TaskRecord& rec) noexcept;
// Bytes of the numbers at the start of both a TaskRecord and a RecordHead (same order).
inline constexpr std::size_t kNumbersSize = offsetof(TaskRecord, task_id);
// Size of the encoding at `enc` (from its head; at most `limit`).
[[nodiscard]] std::size_t stored_size(const char* enc, std::size_t limit) noexcept;
// True when every string `e` carries equals the one stored in the encoding at `enc` (`size`
// bytes): applying `e` then changes only the numbers and flags, which a writer can patch.
[[nodiscard]] bool same_strings(const char* enc, std::size_t size, const Event& e) noexcept;

// Bytes of the encoding that holds the head and the task_id.
[[nodiscard]] std::size_t id_prefix_size(const RecordHead& head) noexcept;

}  // namespace progressista::detail
