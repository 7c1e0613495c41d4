// An entry of the task index: the top 32 bits of the task_id's hash (a tag that rules out
// most mismatches without touching the slot) and the slot number plus one (0: empty).
#pragma once

#include <cstdint>

namespace progressista::detail {

inline std::uint64_t entry_of(std::uint64_t hash, std::uint32_t slot) {
  return (hash & 0xffffffff00000000ULL) | (std::uint64_t{slot} + 1);
}
inline std::uint32_t slot_of(std::uint64_t entry) { return static_cast<std::uint32_t>(entry) - 1; }
inline bool tag_matches(std::uint64_t entry, std::uint64_t hash) { return (entry >> 32) == (hash >> 32); }

}  // namespace progressista::detail
