#include "progressista/change_feed.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "layout.hpp"
#include "progressista/segment.hpp"

namespace progressista {

using detail::kRingBusy;
using detail::RingEntry;

ChangeFeed::ChangeFeed(const Segment& seg) noexcept
    : h_(&seg.header()),
      ring_(reinterpret_cast<RingEntry*>(seg.base() + seg.header().ring_offset)),
      ring_size_(seg.header().ring_size) {}

std::uint64_t ChangeFeed::reserve(std::uint32_t n) noexcept {
  return h_->head_seq.fetch_add(n, std::memory_order_acq_rel) + 1;
}

std::uint64_t ChangeFeed::head() const noexcept { return h_->head_seq.load(std::memory_order_acquire); }

std::uint32_t ChangeFeed::entries_for_removal(std::size_t id_size) noexcept {
  if (id_size <= detail::kRingIdInline) return 1;
  return 1 + static_cast<std::uint32_t>((id_size - detail::kRingIdInline + detail::kRingIdInline - 1) /
                                        detail::kRingIdInline);
}

namespace {

// Fills one entry; busy first, so a reader that copies it while we fill it sees `seq` change.
void fill(RingEntry& e, std::uint64_t seq, std::uint32_t slot, detail::ChangeKind kind, std::uint16_t id_len,
          std::string_view part) noexcept {
  e.seq.store(kRingBusy, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  e.slot = slot;
  e.kind = kind;
  e.id_len = id_len;
  if (!part.empty()) std::memcpy(e.id, part.data(), part.size());
  e.seq.store(seq, std::memory_order_release);
}

}  // namespace

void ChangeFeed::commit(std::uint64_t seq, std::uint32_t slot) noexcept {
  fill(ring_[seq & (ring_size_ - 1)], seq, slot, detail::ChangeKind::kUpsert, 0, {});
}

void ChangeFeed::commit_removal(std::uint64_t seq, std::uint32_t slot, std::string_view id) noexcept {
  const auto len = static_cast<std::uint16_t>(std::min<std::size_t>(id.size(), limits::kTaskId));
  id = id.substr(0, len);
  // The continuation entries first, so a reader that sees the removal committed finds them.
  const std::uint32_t n = entries_for_removal(id.size());
  for (std::uint32_t i = 1; i < n; ++i) {
    fill(ring_[(seq + i) & (ring_size_ - 1)], seq + i, slot, detail::ChangeKind::kIdPart, len,
         id.substr(i * detail::kRingIdInline, detail::kRingIdInline));
  }
  fill(ring_[seq & (ring_size_ - 1)], seq, slot, detail::ChangeKind::kRemove, len,
       id.substr(0, detail::kRingIdInline));
}

void ChangeFeed::skip_to(std::uint64_t seq) noexcept {
  const std::uint64_t from = seq > ring_size_ ? seq - ring_size_ + 1 : 1;
  for (std::uint64_t k = from; k <= seq; ++k) {
    fill(ring_[k & (ring_size_ - 1)], k, 0, detail::ChangeKind::kSkipped, 0, {});
  }
  h_->head_seq.store(seq, std::memory_order_release);
}

bool ChangeFeed::committed(std::uint64_t seq) const noexcept {
  return ring_[seq & (ring_size_ - 1)].seq.load(std::memory_order_acquire) == seq;
}

bool ChangeFeed::read(std::uint64_t seq, Change& c, std::uint64_t& next) const noexcept {
  const RingEntry& e = ring_[seq & (ring_size_ - 1)];
  if (e.seq.load(std::memory_order_acquire) != seq) return false;
  c.seq = seq;
  c.slot = e.slot;
  const detail::ChangeKind kind = e.kind;
  c.removed = kind == detail::ChangeKind::kRemove;
  next = seq + 1;
  std::size_t len = 0;
  if (c.removed) {
    len = std::min<std::size_t>(e.id_len, limits::kTaskId);
    std::memcpy(c.task_id.data, e.id, std::min(len, detail::kRingIdInline));
    next = seq + entries_for_removal(len);
  }
  std::atomic_thread_fence(std::memory_order_acquire);
  if (e.seq.load(std::memory_order_relaxed) != seq) return false;  // overwritten while we copied it
  if (kind == detail::ChangeKind::kIdPart || kind == detail::ChangeKind::kSkipped) return false;
  for (std::uint64_t k = seq + 1; k < next; ++k) {
    const RingEntry& p = ring_[k & (ring_size_ - 1)];
    if (p.seq.load(std::memory_order_acquire) != k) return false;
    const std::size_t at = (k - seq) * detail::kRingIdInline;
    std::memcpy(c.task_id.data + at, p.id, std::min(len - at, detail::kRingIdInline));
    std::atomic_thread_fence(std::memory_order_acquire);
    if (p.seq.load(std::memory_order_relaxed) != k) return false;
  }
  c.task_id.len = static_cast<std::uint16_t>(len);
  return true;
}

ChangeFeed::Read ChangeFeed::since(std::uint64_t after, std::vector<Change>& out, std::size_t max) const {
  const std::uint64_t head = this->head();
  if (head < after) return Read::kLapped;  // a cursor from another generation
  if (head - after > ring_size_) return Read::kLapped;
  for (std::uint64_t k = after + 1; k <= head && max > 0;) {
    Change& c = out.emplace_back();
    std::uint64_t next = k + 1;
    if (read(k, c, next)) {
      k = next;
      --max;
      continue;
    }
    out.pop_back();
    const RingEntry& e = ring_[k & (ring_size_ - 1)];
    const std::uint64_t s = e.seq.load(std::memory_order_acquire);
    // The rest of a removal already read, or a sequence a resize skipped: nothing to deliver.
    if (s == k && (e.kind == detail::ChangeKind::kIdPart || e.kind == detail::ChangeKind::kSkipped)) {
      ++k;
      continue;
    }
    // Overwritten by a later lap, or not committed yet (a removal whose parts are still
    // being written counts as not committed).
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
