#include "block_pool.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "record_codec.hpp"

namespace progressista::detail {

namespace {
constexpr std::uint32_t kMaxChain = blocks_for_bytes(kMaxRecordBytes);
constexpr auto kRelaxed = std::memory_order_relaxed;
}  // namespace

std::uint32_t BlockPool::free_blocks() const noexcept {
  return h_.free_blocks.load(kRelaxed);
}

std::uint32_t BlockPool::length(const Slot& slot, unsigned k) const noexcept {
  std::uint32_t n = 0;
  for (std::uint32_t b = slot.head[k].load(kRelaxed); valid(b) && n < kMaxChain;
       b = blocks_[b].next.load(kRelaxed)) {
    ++n;
  }
  return n;
}

bool BlockPool::reshape(Slot& slot, unsigned k, std::uint32_t n) {
  // The usual case, a record that keeps its size: no lock. Only the holder of the slot's lock
  // changes its chains, so the length cannot change under us.
  if (length(slot, k) == n) return true;
  RobustLock l(h_.block_lock);
  if (l.owner_died()) {
    counters_.add(Counter::kLockRecoveries);
    sweep_locked();
  }
  // Walk to the last block to keep (or find the chain shorter than n).
  std::atomic<std::uint32_t>* link = &slot.head[k];
  std::uint32_t have = 0;
  while (have < n && valid(link->load(kRelaxed))) {
    link = &blocks_[link->load(kRelaxed)].next;
    ++have;
  }
  if (have == n) {
    // Too long (or exact): cut after the n-th block, then free the tail block by block.
    // Killed in between, the cut-off blocks are unreachable and the next sweep returns them.
    std::uint32_t b = link->load(kRelaxed);
    if (!valid(b)) return true;
    link->store(kNone, std::memory_order_release);
    std::uint32_t freed = 0;
    while (valid(b) && freed < kMaxChain) {
      const std::uint32_t next = blocks_[b].next.load(kRelaxed);
      blocks_[b].next.store(h_.free_block.load(kRelaxed), kRelaxed);
      h_.free_block.store(b, std::memory_order_release);
      ++freed;
      b = next;
    }
    h_.free_blocks.fetch_add(freed, kRelaxed);
    return true;
  }
  const std::uint32_t need = n - have;
  if (h_.free_blocks.load(kRelaxed) < need) return false;
  // Too short: move blocks from the free list to the chain's end one at a time. Each block is
  // unlinked from the free list before it is linked to the chain, so a kill in between leaks
  // it rather than sharing it.
  for (std::uint32_t i = 0; i < need; ++i) {
    const std::uint32_t b = h_.free_block.load(kRelaxed);
    if (!valid(b)) {  // the count and the list disagree: only a bug can do this; repair
      sweep_locked();
      return false;
    }
    h_.free_block.store(blocks_[b].next.load(kRelaxed), kRelaxed);
    blocks_[b].next.store(kNone, kRelaxed);
    link->store(b, std::memory_order_release);
    link = &blocks_[b].next;
    h_.free_blocks.fetch_sub(1, kRelaxed);
  }
  return true;
}

void BlockPool::write(const Slot& slot, unsigned k, const char* bytes, std::size_t size) noexcept {
  std::uint32_t b = slot.head[k].load(kRelaxed);
  while (size > 0 && valid(b)) {
    const std::size_t n = std::min(size, kBlockPayload);
    std::memcpy(blocks_[b].data, bytes, n);
    bytes += n;
    size -= n;
    b = blocks_[b].next.load(kRelaxed);
  }
}

std::size_t BlockPool::read(const Slot& slot, unsigned k, char* out,
                            std::size_t max) const noexcept {
  std::size_t got = 0;
  std::uint32_t b = slot.head[k].load(std::memory_order_acquire);
  while (got < max && valid(b)) {
    const std::size_t n = std::min(max - got, kBlockPayload);
    std::memcpy(out + got, blocks_[b].data, n);
    got += n;
    b = blocks_[b].next.load(std::memory_order_acquire);
  }
  return got;
}

void BlockPool::sweep_locked() {
  std::vector<char> reachable(h_.blocks, 0);
  // Chains: their shape only changes under this lock, which we hold.
  for (std::uint32_t s = 0; s < h_.capacity; ++s) {
    for (unsigned k = 0; k < 2; ++k) {
      std::uint32_t hops = 0;
      for (std::uint32_t b = slots_[s].head[k].load(kRelaxed); valid(b) && hops < kMaxChain;
           b = blocks_[b].next.load(kRelaxed), ++hops) {
        reachable[b] = 1;
      }
    }
  }
  // Rebuild the free list from everything else (it also drops anything a dead holder left
  // half-linked there).
  std::uint32_t head = kNone;
  std::uint32_t count = 0;
  for (std::uint32_t b = h_.blocks; b-- > 0;) {
    if (reachable[b]) continue;
    blocks_[b].next.store(head, kRelaxed);
    head = b;
    ++count;
  }
  h_.free_block.store(head, std::memory_order_release);
  h_.free_blocks.store(count, kRelaxed);
}

std::string BlockPool::check() {
  RobustLock l(h_.block_lock);
  if (l.owner_died()) {
    counters_.add(Counter::kLockRecoveries);
    sweep_locked();
  }
  std::string problems;
  std::vector<std::uint32_t> owner(h_.blocks, kNone);  // slot * 2 + copy, or kNone - 1 for free
  auto claim = [&](std::uint32_t b, std::uint32_t who) {
    if (owner[b] != kNone) {
      problems += fmt::format("block {} is on two lists; ", b);
      return false;
    }
    owner[b] = who;
    return true;
  };
  for (std::uint32_t s = 0; s < h_.capacity; ++s) {
    for (unsigned k = 0; k < 2; ++k) {
      std::uint32_t hops = 0;
      for (std::uint32_t b = slots_[s].head[k].load(kRelaxed); b != kNone;
           b = blocks_[b].next.load(kRelaxed)) {
        if (!valid(b)) {
          problems += fmt::format("slot {} copy {} links to block {} (out of range); ", s, k, b);
          break;
        }
        if (!claim(b, s * 2 + k) || ++hops > kMaxChain) break;
      }
    }
  }
  std::uint32_t free = 0;
  for (std::uint32_t b = h_.free_block.load(kRelaxed); b != kNone;
       b = blocks_[b].next.load(kRelaxed)) {
    if (!valid(b)) {
      problems += fmt::format("free list links to block {} (out of range); ", b);
      break;
    }
    if (!claim(b, kNone - 1)) break;
    ++free;
  }
  if (free != h_.free_blocks.load(kRelaxed)) {
    problems += fmt::format("free block count says {} but the free list holds {}; ",
                            h_.free_blocks.load(kRelaxed), free);
  }
  const auto lost = static_cast<std::size_t>(std::count(owner.begin(), owner.end(), kNone));
  if (lost > 0) problems += fmt::format("{} blocks are on no list (leaked); ", lost);
  return problems;
}

}  // namespace progressista::detail
