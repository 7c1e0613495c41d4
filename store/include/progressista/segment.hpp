// A named shared-memory segment (/dev/shm/<name>) holding the task table, the change feed
// and the bookkeeping header. Attaching is a handshake: magic, layout version, record size
// and capacity are checked, and a mismatch is refused with a message saying what differs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace progressista {

namespace detail {
struct Header;
}

// The default memory budget: a 60 MiB segment, which leaves room in Docker's default 64 MiB
// /dev/shm. A typical task (RemoteTqdm-shaped) costs about 640 bytes of it, all included, so
// it holds about 98,000 such tasks; larger tasks take more of the budget, down to about 5,600
// tasks with every field at its byte limit.
inline constexpr std::uint64_t kDefaultMemory = std::uint64_t{60} << 20;
// Bytes of budget planned per task when only one of --memory and --capacity is given.
inline constexpr std::uint64_t kPlannedTaskBytes = 640;
// The most tasks (slots) of the default budget.
inline constexpr std::uint32_t kDefaultCapacity =
    static_cast<std::uint32_t>(kDefaultMemory / kPlannedTaskBytes);
inline constexpr std::uint32_t kMaxCapacity = 1u << 24;
inline constexpr std::uint64_t kMaxMemory = std::uint64_t{64} << 30;

// Why `name` cannot name a segment (shm_open(3) takes 1-200 characters without '/', and not
// "." or ".."), quoting it: "invalid segment name ...". Empty when it can.
[[nodiscard]] std::string segment_name_problem(std::string_view name);

// The file modes a segment may be created with, for messages: "use <kSegmentModes>".
inline constexpr std::string_view kSegmentModes = "0600 (owner only) or 0660 (owner and group)";

// The file mode `text` names: "0600" or "0660" (the leading 0 optional); nullopt for anything
// else. The owner always keeps read and write, and no one else ever writes.
[[nodiscard]] std::optional<unsigned> parse_segment_mode(std::string_view text) noexcept;

// The shape of a segment: how many tasks (slots) and record blocks, and the bytes in all.
struct Geometry {
  std::uint32_t capacity = 0;   // the most tasks held
  std::uint32_t blocks = 0;     // 256-byte record blocks; a typical task uses two
  std::uint32_t ring_size = 0;  // change-feed entries
  std::uint32_t index_size = 0;
  std::uint64_t total_bytes = 0;
};

struct SegmentOptions {
  std::string name = "progressista";
  // Requested shape: the most tasks, and the memory budget in bytes (the whole segment).
  // Both unset: create with kDefaultMemory, attach to whatever exists. One set: the other
  // follows from kPlannedTaskBytes. An existing segment of another shape is refused
  // (kCapacityMismatch) unless `resize` is set, when Store::open migrates its tasks.
  std::optional<std::uint32_t> capacity;
  std::optional<std::uint64_t> memory;
  bool resize = false;
  unsigned mode = 0600;  // 0660 lets a shared group (nginx workers) attach
  bool create = true;    // false: attach only, fail if missing
  bool read_only = false;
  // Change-feed entries (rounded up to a power of two); 0 chooses capacity / 4 within
  // [16384, 65536].
  std::uint32_t ring_size = 0;
};

class Segment {
 public:
  // Creates or attaches per `opt`; throws StoreError with an actionable message.
  [[nodiscard]] static std::unique_ptr<Segment> open(const SegmentOptions& opt);
  // Removes the name from /dev/shm; attached processes keep their mapping. False if absent.
  static bool remove(const std::string& name) noexcept;
  // Bytes a segment of `capacity` slots (and blocks planned for them) and `ring_size` feed
  // entries occupies.
  [[nodiscard]] static std::size_t bytes_for(std::uint32_t capacity, std::uint32_t ring_size);
  // The shape `opt` asks for; throws StoreError (kCapacityMismatch) for an impossible one.
  [[nodiscard]] static Geometry plan(const SegmentOptions& opt);
  // True when `opt` names a shape (capacity or memory) and it differs from this segment's.
  [[nodiscard]] bool differs_from(const SegmentOptions& opt) const;

  ~Segment();
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] bool created() const noexcept { return created_; }
  [[nodiscard]] bool read_only() const noexcept { return read_only_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::uint32_t capacity() const noexcept;
  [[nodiscard]] std::uint64_t generation() const noexcept;
  [[nodiscard]] std::uint32_t layout_version() const noexcept;
  [[nodiscard]] double created_at() const noexcept;
  [[nodiscard]] std::uint32_t creator_pid() const noexcept;
  // This segment was resized into a new one (or is being): re-attach by name.
  [[nodiscard]] bool retired() const noexcept;

  // True when /dev/shm/<name> no longer is the segment this process mapped (removed, or
  // re-created by another process): the caller should re-attach. One stat(2) per call.
  [[nodiscard]] bool replaced() const noexcept;

  [[nodiscard]] detail::Header& header() const noexcept {
    return *reinterpret_cast<detail::Header*>(base_);
  }
  [[nodiscard]] std::byte* base() const noexcept { return base_; }

 private:
  struct Mapping;  // Boost.Interprocess objects, kept out of this header
  Segment();
  // Attaches to the existing segment `opt.name` once it passes verify(); null when none exists.
  [[nodiscard]] static std::unique_ptr<Segment> attach(const SegmentOptions& opt);
  // Creates, reserves and initialises `opt.name`; null when another process created it first.
  [[nodiscard]] static std::unique_ptr<Segment> create(const SegmentOptions& opt);
  // A handle owning `map`, which maps the file /dev/shm/<opt.name> (created by us or not).
  [[nodiscard]] static std::unique_ptr<Segment> adopt(const SegmentOptions& opt,
                                                      std::unique_ptr<Mapping> map, bool created);
  std::unique_ptr<Mapping> map_;
  std::string name_;
  std::byte* base_ = nullptr;
  std::size_t size_ = 0;
  bool created_ = false;
  bool read_only_ = false;
  std::uint64_t dev_ = 0, ino_ = 0;
};

}  // namespace progressista
