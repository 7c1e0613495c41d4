#include "progressista/segment.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <new>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <boost/interprocess/exceptions.hpp>
#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>

#include "block_pool.hpp"
#include "layout.hpp"
#include "progressista/error.hpp"
#include "record_codec.hpp"

namespace progressista {

namespace bip = boost::interprocess;
using detail::Header;
using detail::RingEntry;
using detail::Slot;

struct Segment::Mapping {
  bip::shared_memory_object shm;
  bip::mapped_region region;
};

namespace {

constexpr const char* kShmDir = "/dev/shm";
constexpr auto kInitWait = std::chrono::seconds(2);

std::size_t align_up(std::size_t v, std::size_t a) {
  return (v + a - 1) / a * a;
}

constexpr std::uint32_t kMaxChain = detail::blocks_for_bytes(detail::kMaxRecordBytes);
// A segment always has room for a few tasks with every field at its limit.
constexpr std::uint32_t kMinBlocks = 4 * kMaxChain;

std::uint32_t ring_size_for(std::uint32_t capacity, std::uint32_t requested) {
  const std::uint64_t n =
      requested ? requested : std::clamp<std::uint64_t>(capacity / 4, 16384, 65536);
  return static_cast<std::uint32_t>(std::bit_ceil(std::min<std::uint64_t>(n, 1ull << 30)));
}

struct Offsets {
  std::size_t index, slots, blocks, ring, end;
};

Offsets offsets_for(std::uint32_t capacity, std::uint32_t index_size, std::uint32_t blocks,
                    std::uint32_t ring_size) {
  Offsets o{};
  o.index = align_up(sizeof(Header), 64);
  o.slots = align_up(o.index + std::size_t{index_size} * sizeof(std::uint64_t), 64);
  o.blocks = align_up(o.slots + std::size_t{capacity} * sizeof(Slot), 64);
  o.ring = align_up(o.blocks + std::size_t{blocks} * sizeof(detail::Block), 64);
  o.end = o.ring + std::size_t{ring_size} * sizeof(RingEntry);
  return o;
}

std::string path_of(const std::string& name) {
  return fmt::format("{}/{}", kShmDir, name);
}

std::string mib(std::size_t bytes) {
  return fmt::format("{:.1f} MiB", bytes / (1024.0 * 1024.0));
}

std::uint64_t random_generation() {
  std::random_device rd;
  std::uint64_t g =
      (std::uint64_t{rd()} << 32) ^ rd() ^
      static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  return g ? g : 1;
}

int fd_of(const bip::shared_memory_object& shm) {
  return shm.get_mapping_handle().handle;
}

// True when `opt` names a shape (capacity or memory) and it differs from the one `h` heads.
bool differs(const Header& h, const SegmentOptions& opt) {
  if (!opt.capacity && !opt.memory) return false;
  SegmentOptions want = opt;
  want.ring_size = opt.ring_size ? opt.ring_size : h.ring_size;
  const Geometry g = Segment::plan(want);
  return g.capacity != h.capacity || g.blocks != h.blocks;
}

}  // namespace

std::string segment_name_problem(std::string_view name) {
  if (name.empty() || name.size() > 200 || name.find('/') != std::string_view::npos ||
      name == "." || name == "..") {
    return fmt::format("invalid segment name '{}': use 1-200 characters without '/'", name);
  }
  return {};
}

std::optional<unsigned> parse_segment_mode(std::string_view text) noexcept {
  if (text.size() == 4 && text.front() == '0') text.remove_prefix(1);
  if (text == "600") return 0600;
  if (text == "660") return 0660;
  return std::nullopt;
}

Segment::Segment() = default;
Segment::~Segment() = default;  // unmaps; the segment itself persists in /dev/shm

std::size_t Segment::bytes_for(std::uint32_t capacity, std::uint32_t ring_size) {
  SegmentOptions o;
  o.capacity = capacity;
  o.ring_size = ring_size;
  return plan(o).total_bytes;
}

Geometry Segment::plan(const SegmentOptions& opt) {
  if (opt.capacity && (*opt.capacity == 0 || *opt.capacity > kMaxCapacity)) {
    throw StoreError(
        StoreError::Code::kInvalidShape,
        fmt::format("capacity {} is out of range: use 1 to {}", *opt.capacity, kMaxCapacity));
  }
  if (opt.memory && *opt.memory > kMaxMemory) {
    throw StoreError(StoreError::Code::kInvalidShape,
                     fmt::format("memory budget {} bytes is out of range: use at most {} ({})",
                                 *opt.memory, kMaxMemory, mib(kMaxMemory)));
  }
  Geometry g;
  const bool budgeted = opt.memory.has_value() || !opt.capacity.has_value();
  const std::uint64_t memory = opt.memory.value_or(kDefaultMemory);
  g.capacity = opt.capacity.value_or(static_cast<std::uint32_t>(
      std::clamp<std::uint64_t>(memory / kPlannedTaskBytes, 1, kMaxCapacity)));
  g.index_size = static_cast<std::uint32_t>(std::bit_ceil(2ull * g.capacity));
  g.ring_size = ring_size_for(g.capacity, opt.ring_size);
  const std::size_t fixed = offsets_for(g.capacity, g.index_size, 0, g.ring_size).end;
  if (budgeted) {
    const std::uint64_t room = memory > fixed ? (memory - fixed) / sizeof(detail::Block) : 0;
    if (room < kMinBlocks) {
      throw StoreError(
          StoreError::Code::kInvalidShape,
          fmt::format(
              "a memory budget of {} bytes is too small for {} tasks: their slots, index and "
              "change feed alone take {} bytes. Give at least {} bytes, or fewer tasks.",
              memory, g.capacity, fixed, fixed + std::size_t{kMinBlocks} * sizeof(detail::Block)));
    }
    g.blocks = static_cast<std::uint32_t>(std::min<std::uint64_t>(room, 0xfffffff0u));
  } else {
    // Two blocks per task (a typical record, twice) and room for a few of the largest.
    g.blocks = 2 * g.capacity + kMinBlocks;
  }
  g.total_bytes = align_up(offsets_for(g.capacity, g.index_size, g.blocks, g.ring_size).end, 4096);
  return g;
}

bool Segment::differs_from(const SegmentOptions& opt) const {
  return differs(header(), opt);
}

bool Segment::remove(const std::string& name) noexcept {
  return bip::shared_memory_object::remove(name.c_str());
}

std::uint32_t Segment::capacity() const noexcept {
  return header().capacity;
}
std::uint64_t Segment::generation() const noexcept {
  return header().generation;
}
std::uint32_t Segment::layout_version() const noexcept {
  return header().layout_version;
}
double Segment::created_at() const noexcept {
  return header().created_at;
}
std::uint32_t Segment::creator_pid() const noexcept {
  return header().creator_pid;
}
bool Segment::retired() const noexcept {
  return header().state.load(std::memory_order_acquire) !=
         static_cast<std::uint32_t>(detail::SegmentState::kActive);
}

bool Segment::replaced() const noexcept {
  struct stat st {};
  if (::stat(path_of(name_).c_str(), &st) != 0) return true;
  return static_cast<std::uint64_t>(st.st_dev) != dev_ ||
         static_cast<std::uint64_t>(st.st_ino) != ino_;
}

namespace {

// Builds every object of the segment in place; `magic` is published last by the caller.
void initialise(std::byte* base, const Geometry& g) {
  const Offsets o = offsets_for(g.capacity, g.index_size, g.blocks, g.ring_size);
  auto* h = new (base) Header();
  h->layout_version = detail::kLayoutVersion;
  h->header_size = sizeof(Header);
  h->slot_size = sizeof(Slot);
  h->block_size = sizeof(detail::Block);
  h->ring_entry_size = sizeof(RingEntry);
  h->capacity = g.capacity;
  h->blocks = g.blocks;
  h->index_size = g.index_size;
  h->ring_size = g.ring_size;
  h->creator_pid = static_cast<std::uint32_t>(::getpid());
  h->total_bytes = g.total_bytes;
  h->generation = random_generation();
  h->created_at =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  h->index_offset = o.index;
  h->slots_offset = o.slots;
  h->blocks_offset = o.blocks;
  h->ring_offset = o.ring;

  auto* index = reinterpret_cast<std::atomic<std::uint64_t>*>(base + o.index);
  for (std::uint32_t i = 0; i < g.index_size; ++i) new (&index[i]) std::atomic<std::uint64_t>(0);
  // Free slots in order, slot 0 first: a fresh table fills from the front.
  auto* slots = reinterpret_cast<Slot*>(base + o.slots);
  for (std::uint32_t i = 0; i < g.capacity; ++i) {
    new (&slots[i]) Slot();
    slots[i].lru_next = i + 1 < g.capacity ? i + 1 : detail::kNone;
  }
  h->free_slot = 0;
  auto* blocks = reinterpret_cast<detail::Block*>(base + o.blocks);
  for (std::uint32_t i = 0; i < g.blocks; ++i) {
    new (&blocks[i]) detail::Block();
    blocks[i].next.store(i + 1 < g.blocks ? i + 1 : detail::kNone, std::memory_order_relaxed);
  }
  h->free_block.store(0, std::memory_order_relaxed);
  h->free_blocks.store(g.blocks, std::memory_order_relaxed);
  auto* ring = reinterpret_cast<RingEntry*>(base + o.ring);
  for (std::uint32_t i = 0; i < g.ring_size; ++i) new (&ring[i]) RingEntry();
}

// Throws StoreError saying what differs unless `h` heads a finished segment of this build's
// layout and of the shape `opt` asks for, and the file (`file_size` bytes, `mapped` of them
// mapped) holds all of it.
void verify(const Header& h, const SegmentOptions& opt, std::size_t file_size, std::size_t mapped) {
  const std::string path = path_of(opt.name);
  const std::uint64_t magic = h.magic.load(std::memory_order_acquire);
  if (magic == 0) {
    throw StoreError(StoreError::Code::kNotReady,
                     fmt::format("segment '{}' was never finished by its creator (pid {}, {}). "
                                 "Remove it (rm {}) and start again.",
                                 opt.name, h.creator_pid,
                                 process_alive(h.creator_pid) ? "still running" : "dead", path));
  }
  if (magic != detail::kMagic) {
    throw StoreError(StoreError::Code::kLayoutMismatch,
                     fmt::format("{} is not a Progressista segment (magic {:#x}). Choose another "
                                 "name with --segment, or remove it if it is stale.",
                                 path, magic));
  }
  if (h.layout_version != detail::kLayoutVersion || h.header_size != sizeof(Header) ||
      h.slot_size != sizeof(Slot) || h.block_size != sizeof(detail::Block) ||
      h.ring_entry_size != sizeof(RingEntry)) {
    // Only the first 16 bytes are common to every layout: name the sizes only when the
    // version matches (then they are this layout's fields).
    throw StoreError(
        StoreError::Code::kLayoutMismatch,
        h.layout_version == detail::kLayoutVersion
            ? fmt::format(
                  "segment '{}' has layout version {} but header {} B, slot {} B, block {} B, "
                  "feed entry {} B where this build expects {} B, {} B, {} B, {} B. A "
                  "process from another Progressista build created it: stop every process "
                  "attached to it, remove it (rm {}) and start again; tasks are restored "
                  "only from PROGRESSISTA_STORAGE_PATH.",
                  opt.name, h.layout_version, h.header_size, h.slot_size, h.block_size,
                  h.ring_entry_size, sizeof(Header), sizeof(Slot), sizeof(detail::Block),
                  sizeof(RingEntry), path)
            : fmt::format("segment '{}' has layout version {} but this build expects version {}. "
                          "A process from another Progressista build created it: stop every "
                          "process attached to it, remove it (rm {}) and start again; tasks are "
                          "restored only from PROGRESSISTA_STORAGE_PATH.",
                          opt.name, h.layout_version, detail::kLayoutVersion, path));
  }
  if (differs(h, opt)) {
    const Geometry want = Segment::plan(opt);
    throw StoreError(
        StoreError::Code::kCapacityMismatch,
        fmt::format("segment '{}' holds at most {} tasks in {} bytes but {} tasks in {} "
                    "bytes were requested. Start `progressista ingest` or `serve` with "
                    "the new --capacity/--memory to resize it (its tasks are kept), "
                    "or leave both unset to attach as it is.",
                    opt.name, h.capacity, h.total_bytes, want.capacity, want.total_bytes));
  }
  if (file_size < h.total_bytes || mapped < h.total_bytes) {
    throw StoreError(StoreError::Code::kLayoutMismatch,
                     fmt::format("{} is {} bytes but its header says {}: it was truncated. Remove "
                                 "it (rm {}) and start again.",
                                 path, file_size, h.total_bytes, path));
  }
}

}  // namespace

std::unique_ptr<Segment> Segment::attach(const SegmentOptions& opt) {
  const std::string path = path_of(opt.name);
  try {
    bip::shared_memory_object shm(bip::open_only, opt.name.c_str(),
                                  opt.read_only ? bip::read_only : bip::read_write);
    struct stat st {};
    const auto deadline = std::chrono::steady_clock::now() + kInitWait;
    // The creator sizes the file right after creating it; wait out that window.
    while (::fstat(fd_of(shm), &st) == 0 && static_cast<std::size_t>(st.st_size) < sizeof(Header) &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (static_cast<std::size_t>(st.st_size) < sizeof(Header)) {
      throw StoreError(StoreError::Code::kNotReady,
                       fmt::format("{} exists but is only {} bytes: its creator died before sizing "
                                   "it. Remove it (rm {}) and start again.",
                                   path, st.st_size, path));
    }
    bip::mapped_region region(shm, opt.read_only ? bip::read_only : bip::read_write);
    const auto* h = static_cast<const Header*>(region.get_address());
    // ... and publishes the magic once every object is built.
    while (h->magic.load(std::memory_order_acquire) == 0 &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    verify(*h, opt, static_cast<std::size_t>(st.st_size), region.get_size());
    return adopt(opt, std::make_unique<Mapping>(Mapping{std::move(shm), std::move(region)}), false);
  } catch (const bip::interprocess_exception& e) {
    if (e.get_error_code() == bip::not_found_error) return nullptr;
    if (e.get_error_code() == bip::security_error) {
      throw StoreError(StoreError::Code::kPermission,
                       fmt::format("cannot open {}: permission denied. Run as its owner, or "
                                   "re-create it with mode 0660 and a group this user is in.",
                                   path));
    }
    throw StoreError(StoreError::Code::kSystem, fmt::format("cannot open {}: {}", path, e.what()));
  }
}

std::unique_ptr<Segment> Segment::create(const SegmentOptions& opt) {
  const std::string path = path_of(opt.name);
  // Check the space first so a small /dev/shm fails now, not with SIGBUS later.
  const Geometry g = plan(opt);
  const std::size_t total = g.total_bytes;
  struct statvfs vfs {};
  if (::statvfs(kShmDir, &vfs) == 0) {
    const std::size_t avail = static_cast<std::size_t>(vfs.f_bavail) * vfs.f_frsize;
    if (avail < total) {
      throw StoreError(StoreError::Code::kNoSpace,
                       fmt::format("segment '{}' needs {} for {} tasks but {} has only {} free. "
                                   "Lower --memory, or give {} more room (Docker: --shm-size).",
                                   opt.name, mib(total), g.capacity, kShmDir, mib(avail), kShmDir));
    }
  }
  try {
    bip::permissions perms;
    perms.set_permissions(opt.mode);
    bip::shared_memory_object shm(bip::create_only, opt.name.c_str(), bip::read_write, perms);
    // Reserve every page now: tmpfs reports ENOSPC here instead of SIGBUS on first touch.
    if (const int rc = ::posix_fallocate(fd_of(shm), 0, static_cast<off_t>(total)); rc != 0) {
      bip::shared_memory_object::remove(opt.name.c_str());
      throw StoreError(rc == ENOSPC ? StoreError::Code::kNoSpace : StoreError::Code::kSystem,
                       fmt::format("cannot reserve {} in {} for segment '{}': {}. Lower --memory, "
                                   "or give {} more room (Docker: --shm-size).",
                                   mib(total), kShmDir, opt.name, std::strerror(rc), kShmDir));
    }
    bip::mapped_region region(shm, bip::read_write);
    auto* base = static_cast<std::byte*>(region.get_address());
    initialise(base, g);
    reinterpret_cast<Header*>(base)->magic.store(detail::kMagic, std::memory_order_release);
    return adopt(opt, std::make_unique<Mapping>(Mapping{std::move(shm), std::move(region)}), true);
  } catch (const bip::interprocess_exception& e) {
    if (e.get_error_code() == bip::already_exists_error) return nullptr;
    throw StoreError(StoreError::Code::kSystem,
                     fmt::format("cannot create {}: {}", path, e.what()));
  }
}

std::unique_ptr<Segment> Segment::adopt(const SegmentOptions& opt, std::unique_ptr<Mapping> map,
                                        bool created) {
  std::unique_ptr<Segment> seg(new Segment());
  struct stat st {};
  ::fstat(fd_of(map->shm), &st);
  seg->dev_ = st.st_dev;
  seg->ino_ = st.st_ino;
  seg->name_ = opt.name;
  seg->read_only_ = opt.read_only;
  seg->created_ = created;
  seg->base_ = static_cast<std::byte*>(map->region.get_address());
  seg->size_ = map->region.get_size();
  seg->map_ = std::move(map);
  return seg;
}

std::unique_ptr<Segment> Segment::open(const SegmentOptions& opt) {
  if (std::string problem = segment_name_problem(opt.name); !problem.empty()) {
    throw StoreError(StoreError::Code::kSystem, std::move(problem));
  }
  if (opt.capacity || opt.memory) (void)plan(opt);  // an impossible shape fails before anything
  // Attach, else create; a segment appearing or vanishing between the two tries again.
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (auto seg = attach(opt)) return seg;
    if (!opt.create || opt.read_only) {
      throw StoreError(StoreError::Code::kNotFound,
                       fmt::format("no segment '{}' ({} does not exist). Start `progressista "
                                   "ingest` or `progressista serve` with the same --segment first.",
                                   opt.name, path_of(opt.name)));
    }
    if (auto seg = create(opt)) return seg;
  }
  throw StoreError(StoreError::Code::kSystem,
                   fmt::format("cannot open or create {}: it keeps appearing and disappearing",
                               path_of(opt.name)));
}

}  // namespace progressista
