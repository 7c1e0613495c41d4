// A named shared-memory segment (/dev/shm/<name>) holding the task table, the change feed
// and the bookkeeping header. Attaching is a handshake: magic, layout version, record size
// and capacity are checked, and a mismatch is refused with a message saying what differs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace progressista {

namespace detail {
struct Header;
}

// Default slots: 4096 tasks need about 36 MiB, so the segment fits a 64 MiB /dev/shm
// (Docker's default). Raise it with --capacity / PROGRESSISTA_CAPACITY.
inline constexpr std::uint32_t kDefaultCapacity = 4096;
inline constexpr std::uint32_t kMaxCapacity = 1u << 24;

struct SegmentOptions {
  std::string name = "progressista";
  // Requested capacity. Unset: create with kDefaultCapacity, attach to whatever exists.
  std::optional<std::uint32_t> capacity;
  unsigned mode = 0600;  // 0660 lets a shared group (nginx workers) attach
  bool create = true;    // false: attach only, fail if missing
  bool read_only = false;
  // Change-feed entries (rounded up to a power of two); 0 chooses max(4 * capacity, 16384).
  std::uint32_t ring_size = 0;
};

class Segment {
 public:
  // Creates or attaches per `opt`; throws StoreError with an actionable message.
  [[nodiscard]] static std::unique_ptr<Segment> open(const SegmentOptions& opt);
  // Removes the name from /dev/shm; attached processes keep their mapping. False if absent.
  static bool remove(const std::string& name) noexcept;
  // Bytes a segment of `capacity` slots and `ring_size` feed entries occupies.
  [[nodiscard]] static std::size_t bytes_for(std::uint32_t capacity, std::uint32_t ring_size);

  ~Segment();
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] bool created() const noexcept { return created_; }
  [[nodiscard]] bool read_only() const noexcept { return read_only_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::uint32_t capacity() const noexcept;
  [[nodiscard]] std::uint64_t generation() const noexcept;

  // True when /dev/shm/<name> no longer is the segment this process mapped (removed, or
  // re-created by another process): the caller should re-attach. One stat(2) per call.
  [[nodiscard]] bool replaced() const noexcept;

  [[nodiscard]] detail::Header& header() const noexcept { return *reinterpret_cast<detail::Header*>(base_); }
  [[nodiscard]] std::byte* base() const noexcept { return base_; }

 private:
  struct Mapping;  // Boost.Interprocess objects, kept out of this header
  Segment();
  std::unique_ptr<Mapping> map_;
  std::string name_;
  std::byte* base_ = nullptr;
  std::size_t size_ = 0;
  bool created_ = false;
  bool read_only_ = false;
  std::uint64_t dev_ = 0, ino_ = 0;
};

}  // namespace progressista
