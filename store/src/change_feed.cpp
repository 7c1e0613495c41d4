#include "progressista/change_feed.hpp"

#include <algorithm>
#include <atomic>

#include "layout.hpp"
#include "progressista/segment.hpp"

namespace progressista {

using detail::kRingBusy;
using detail::RingEntry;

ChangeFeed::ChangeFeed(const Segment& seg) noexcept
    : h_(&seg.header()),
      ring_(reinterpret_cast<RingEntry*>(seg.base() + seg.header().ring_offset)),
      ring_size_(seg.header().ring_size) {}

std::uint64_t ChangeFeed::reserve() noexcept {
  return h_->head_seq.fetch_add(1, std::memory_order_acq_rel) + 1;
}

std::uint64_t ChangeFeed::head() const noexcept { return h_->head_seq.load(std::memory_order_acquire); }

void ChangeFeed::commit(std::uint64_t seq, std::uint32_t slot, bool removed,
                        std::string_view task_id) noexcept {
  RingEntry& e = ring_[seq & (ring_size_ - 1)];
  // Busy first, so a reader that copies this entry while we fill it sees `seq` change.
  e.seq.store(kRingBusy, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  e.slot = slot;
  e.kind = removed ? detail::ChangeKind::kRemove : detail::ChangeKind::kUpsert;
  if (removed) {
    e.task_id.assign(task_id);
  } else {
    e.task_id.len = 0;
  }
  e.seq.store(seq, std::memory_order_release);
}

bool ChangeFeed::committed(std::uint64_t seq) const noexcept {
  return ring_[seq & (ring_size_ - 1)].seq.load(std::memory_order_acquire) == seq;
}

bool ChangeFeed::read(std::uint64_t seq, Change& c) const noexcept {
  const RingEntry& e = ring_[seq & (ring_size_ - 1)];
  if (e.seq.load(std::memory_order_acquire) != seq) return false;
  c.seq = seq;
  c.slot = e.slot;
  c.removed = e.kind == detail::ChangeKind::kRemove;
  if (c.removed) {
    c.task_id.copy_from(e.task_id);
  } else {
    c.task_id.len = 0;
  }
  std::atomic_thread_fence(std::memory_order_acquire);
  return e.seq.load(std::memory_order_relaxed) == seq;  // not overwritten while we copied it
}

ChangeFeed::Read ChangeFeed::since(std::uint64_t after, std::vector<Change>& out, std::size_t max) const {
  const std::uint64_t head = this->head();
  if (head < after) return Read::kLapped;  // a cursor from another generation
  if (head - after > ring_size_) return Read::kLapped;
  for (std::uint64_t k = after + 1; k <= head && max > 0; ++k, --max) {
    Change& c = out.emplace_back();
    if (read(k, c)) continue;
    out.pop_back();
    const std::uint64_t s = ring_[k & (ring_size_ - 1)].seq.load(std::memory_order_acquire);
    // Overwritten by a later lap, or not committed yet.
    if ((s != kRingBusy && s > k) || this->head() - k >= ring_size_) return Read::kLapped;
    return Read::kPending;
  }
  return Read::kOk;
}

std::uint64_t FeedReader::start_snapshot() {
  // Writers reserve a sequence, publish the slot, then commit the entry. Any entry near the
  // head that is not committed yet may belong to a write the scan will not see, so resume
  // just before the oldest such entry. Beyond this window a writer would have had to stall
  // for more than `window` other changes; such an entry is handled as a hole by poll().
  const std::uint64_t head = feed_.head();
  const std::uint64_t window = std::min<std::uint64_t>({head, feed_.ring_size(), 4096});
  std::uint64_t cursor = head;
  for (std::uint64_t k = head - window + 1; k <= head && window > 0; ++k) {
    const bool known_hole = std::find(holes_.begin(), holes_.end(), k) != holes_.end();
    if (!known_hole && !feed_.committed(k)) {
      cursor = k - 1;
      break;
    }
  }
  seek(cursor);
  return cursor_;
}

FeedReader::Poll FeedReader::poll(std::vector<Change>& out, std::size_t max) {
  // Late commits of declared holes: deliver them now; forget those the ring has overrun.
  const std::uint64_t head = feed_.head();
  std::erase_if(holes_, [&](std::uint64_t k) {
    Change c;
    if (feed_.read(k, c)) {
      out.push_back(c);
      return true;
    }
    return head - k >= feed_.ring_size();
  });
  for (;;) {
    const std::size_t before = out.size();
    const ChangeFeed::Read r = feed_.since(cursor_, out, max);
    if (out.size() > before) {
      cursor_ = out.back().seq;
      pending_since_ = {};
    }
    if (r == ChangeFeed::Read::kOk) return Poll::kOk;
    if (r == ChangeFeed::Read::kLapped) return Poll::kLapped;
    const std::uint64_t waiting_for = cursor_ + 1;
    if (std::find(holes_.begin(), holes_.end(), waiting_for) != holes_.end()) {
      cursor_ = waiting_for;  // a known hole: step over it, it is watched above
      continue;
    }
    const auto now = std::chrono::steady_clock::now();
    if (pending_since_ == std::chrono::steady_clock::time_point{} || pending_seq_ != waiting_for) {
      pending_seq_ = waiting_for;
      pending_since_ = now;
      return Poll::kOk;
    }
    if (now - pending_since_ < kHoleTimeout) return Poll::kOk;
    // The same entry stayed uncommitted too long: its writer probably died. Rescan, and keep
    // an eye on the entry in case the writer was only slow.
    if (holes_.size() >= kMaxHoles) holes_.erase(holes_.begin());
    holes_.push_back(waiting_for);
    pending_since_ = {};
    return Poll::kLapped;
  }
}

}  // namespace progressista
