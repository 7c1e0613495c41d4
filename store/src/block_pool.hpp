// The pool of 256-byte blocks that hold the tasks' records, shared by every slot.
//
// Every change to the shape of a chain (a copy's list of blocks) or of the free list happens
// under one robust lock, with single-word stores in an order that leaves, at any instant, each
// block either reachable (from a slot's copy or from the free list) or unreachable. A process
// killed in the middle can therefore only leak blocks, never hand one out twice, and the
// next process to take the lock (it gets EOWNERDEAD) sweeps the unreachable blocks back.
// Writers take the lock only when a copy needs a different number of blocks than it has: a
// task whose size stays in one block updates without it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "layout.hpp"
#include "progressista/bookkeeping.hpp"

namespace progressista::detail {

[[nodiscard]] constexpr std::uint32_t blocks_for_bytes(std::size_t bytes) noexcept {
  return static_cast<std::uint32_t>((bytes + kBlockPayload - 1) / kBlockPayload);
}

class BlockPool {
 public:
  BlockPool(Header& h, Slot* slots, Block* blocks, Counters& counters) noexcept
      : h_(h), slots_(slots), blocks_(blocks), counters_(counters) {}

  // Makes copy `k` of `slot` a chain of exactly `n` blocks, keeping the blocks it has (their
  // contents are not preserved). False, with the chain unchanged, when the pool lacks the
  // blocks. The caller holds the slot's lock and the copy is not the current one.
  [[nodiscard]] bool reshape(Slot& slot, unsigned k, std::uint32_t n);

  // Number of blocks in copy `k`'s chain (caller holds the slot's lock).
  [[nodiscard]] std::uint32_t length(const Slot& slot, unsigned k) const noexcept;

  // Writes `size` bytes into copy `k`'s chain, which reshape() sized for them.
  void write(const Slot& slot, unsigned k, const char* bytes, std::size_t size) noexcept;
  // Copies up to `max` bytes of copy `k` into `out`, following at most blocks_for_bytes(max)
  // links; returns the bytes copied. Safe against a chain changing underneath (indexes are
  // range-checked): the caller's seqlock decides whether the bytes are good.
  [[nodiscard]] std::size_t read(const Slot& slot, unsigned k, char* out,
                                 std::size_t max) const noexcept;

  // The payload of copy `k`'s first block, or null when it has none (writers holding the
  // slot's lock, and readers under their seqlock, for records that fit one block).
  [[nodiscard]] char* first(const Slot& slot, unsigned k) const noexcept {
    const std::uint32_t b = slot.head[k].load(std::memory_order_acquire);
    return valid(b) ? blocks_[b].data : nullptr;
  }

  [[nodiscard]] std::uint32_t free_blocks() const noexcept;
  [[nodiscard]] std::uint32_t total_blocks() const noexcept { return h_.blocks; }

  // Checks that every block is on exactly one chain or the free list. Empty when consistent.
  [[nodiscard]] std::string check();

 private:
  void sweep_locked();  // after a holder died: return unreachable blocks, recount
  [[nodiscard]] bool valid(std::uint32_t b) const noexcept { return b < h_.blocks; }

  Header& h_;
  Slot* slots_;
  Block* blocks_;
  Counters& counters_;
};

}  // namespace progressista::detail
