// The change feed: a global sequence, a ring of recent changes (upserts and removals) and
// the reader-side cursor logic ("what changed since S", or "lapped: rescan").
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>
#include <vector>

#include "progressista/task.hpp"

namespace progressista {

class Segment;
namespace detail {
struct Header;
struct RingEntry;
enum class ChangeKind : std::uint8_t;
}  // namespace detail

struct Change {
  std::uint64_t seq = 0;
  std::uint32_t slot = 0;
  bool removed = false;
  FixedString<limits::kTaskId> task_id;  // set for removals; read the slot for upserts
};

class ChangeFeed {
 public:
  explicit ChangeFeed(const Segment& seg) noexcept;

  // Writer side. reserve(n) hands out the next n sequences (the first is returned); commit()
  // fills an upsert's entry, commit_removal() a removal's entries (it needs
  // entries_for_removal(id size) of them: long ids continue in the following entries). A
  // writer that dies in between leaves a hole, which readers treat as "lapped".
  [[nodiscard]] std::uint64_t reserve(std::uint32_t n = 1) noexcept;
  void commit(std::uint64_t seq, std::uint32_t slot) noexcept;
  void commit_removal(std::uint64_t seq, std::uint32_t slot, std::string_view task_id) noexcept;
  [[nodiscard]] static std::uint32_t entries_for_removal(std::size_t id_size) noexcept;
  // For a new segment that continues an old one's sequence (a resize): moves the head to `seq`
  // and commits the ring's entries below it as "nothing happened", so no reader mistakes the
  // skipped sequences for holes. O(ring size), once.
  void skip_to(std::uint64_t seq) noexcept;

  [[nodiscard]] std::uint64_t head() const noexcept;
  [[nodiscard]] std::uint32_t ring_size() const noexcept { return ring_size_; }

  enum class Read {
    kOk,       // `out` holds every committed change after `after`, in order
    kPending,  // stopped at an entry reserved but not yet committed; `out` holds those before it
    kLapped,   // the ring no longer covers `after`: rescan the table
  };
  // Appends the changes with sequence in (after, head] to `out` (at most `max`), stopping at
  // the first uncommitted entry. O(changes).
  [[nodiscard]] Read since(std::uint64_t after, std::vector<Change>& out, std::size_t max) const;
  // True when the entry for `seq` is committed (and not yet overwritten).
  [[nodiscard]] bool committed(std::uint64_t seq) const noexcept;
  // Copies the committed change that starts at `seq` into `out`; false if it is not
  // committed (or was overwritten meanwhile), or `seq` continues a removal's id. `next` is the
  // sequence after the change's last entry.
  [[nodiscard]] bool read(std::uint64_t seq, Change& out, std::uint64_t& next) const noexcept;
  [[nodiscard]] bool read(std::uint64_t seq, Change& out) const noexcept {
    std::uint64_t next = 0;
    return read(seq, out, next);
  }

 private:
  detail::Header* h_;
  detail::RingEntry* ring_;
  std::uint32_t ring_size_;
};

// A reader's position in the feed, with the policy for holes and snapshots.
class FeedReader {
 public:
  // An entry that stays uncommitted this long is a hole left by a dead writer.
  static constexpr std::chrono::milliseconds kHoleTimeout{500};
  static constexpr std::size_t kMaxHoles = 64;

  explicit FeedReader(const ChangeFeed& feed) noexcept : feed_(feed) {}

  // Call right before scanning the table for a full snapshot. Sets the cursor so that every
  // change the scan might miss (reserved before the scan but published after it) is
  // delivered again by poll(); duplicates are harmless because upserts are re-read.
  std::uint64_t start_snapshot();

  enum class Poll { kOk, kLapped };
  // Appends new changes to `out` and advances the cursor. kLapped: the ring was overrun or a
  // hole was found; call start_snapshot() and rescan. A "hole" whose writer was merely slow
  // and commits later is still delivered (it is remembered and re-checked on every poll).
  [[nodiscard]] Poll poll(std::vector<Change>& out, std::size_t max = 1u << 16);

  [[nodiscard]] std::uint64_t cursor() const noexcept { return cursor_; }
  void seek(std::uint64_t seq) noexcept { cursor_ = seq; pending_since_ = {}; }

 private:
  const ChangeFeed& feed_;
  std::uint64_t cursor_ = 0;
  std::uint64_t pending_seq_ = 0;
  std::chrono::steady_clock::time_point pending_since_{};
  std::vector<std::uint64_t> holes_;  // declared holes, oldest first (bounded)
};

}  // namespace progressista
