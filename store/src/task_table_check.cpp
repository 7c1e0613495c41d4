// TaskTable::check: the consistency audit for tests and `inspect --check`.
#include <vector>

#include <fmt/format.h>

#include "block_pool.hpp"
#include "index_entry.hpp"
#include "layout.hpp"
#include "progressista/task_table.hpp"

namespace progressista {

using detail::kNone;
using detail::slot_of;

std::string TaskTable::check() const {
  auto* self = const_cast<TaskTable*>(this);
  RobustLock sl(h_->structure_lock);
  if (sl.owner_died()) self->rebuild_locked();
  std::string problems;
  std::vector<char> seen_free(capacity_, 0);
  std::uint32_t hops = 0;
  for (std::uint32_t s = h_->free_slot; s != kNone; s = slots_[s].lru_next) {
    if (s >= capacity_) {
      problems += fmt::format("free-slot list links to slot {} (out of range); ", s);
      break;
    }
    if (seen_free[s]++) {
      problems += fmt::format("slot {} is on the free-slot list twice; ", s);
      break;
    }
    if (++hops > capacity_) break;
  }
  std::uint32_t live = 0;
  std::uint32_t finished = 0;
  TaskRecord rec;
  for (std::uint32_t s = 0; s < capacity_; ++s) {
    const bool is_live = read(s, rec);
    if (is_live) {
      ++live;
      Found f{};
      if (seen_free[s]) problems += fmt::format("live slot {} is on the free-slot list; ", s);
      if (!find_locked(hash_task_id(rec.task_id.view()), rec.task_id.view(), f) || f.slot != s) {
        problems += fmt::format("task '{}' in slot {} is not reachable through the index; ",
                                rec.task_id.view(), s);
      }
      if (is_terminal(rec.status) != (slots_[s].in_lru != 0)) {
        problems += fmt::format("task '{}' is {} but {} the eviction list; ", rec.task_id.view(),
                                status_name(rec.status), slots_[s].in_lru ? "on" : "not on");
      }
      finished += slots_[s].in_lru;
    } else {
      if (!seen_free[s]) problems += fmt::format("free slot {} is missing from the free-slot list; ", s);
      if (slots_[s].head[0].load() != kNone || slots_[s].head[1].load() != kNone) {
        problems += fmt::format("free slot {} still holds blocks; ", s);
      }
    }
  }
  std::uint32_t listed = 0;
  hops = 0;
  for (std::uint32_t s = h_->lru_head, prev = kNone; s != kNone; prev = s, s = slots_[s].lru_next) {
    if (s >= capacity_ || slots_[s].lru_prev != prev || ++hops > capacity_) {
      problems += "the eviction list is broken; ";
      break;
    }
    ++listed;
  }
  if (listed != finished || listed != h_->finished_count.load()) {
    problems += fmt::format("eviction list holds {} tasks, {} are marked, count says {}; ", listed,
                            finished, h_->finished_count.load());
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
  problems += pool_->check();
  return problems;
}

}  // namespace progressista
