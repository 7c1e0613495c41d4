#include "progressista/store.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "progressista/error.hpp"

namespace progressista {

namespace {

std::string shm_path(const std::string& name) { return fmt::format("/dev/shm/{}", name); }

// Migrates the segment named opt.name into a new one of the shape `opt` asks for, renamed over
// the old name; returns the new segment attached by name. Processes attached to the old one
// follow (Store::follow).
std::unique_ptr<Segment> resize(const SegmentOptions& opt) {
  SegmentOptions attach = opt;
  attach.capacity.reset();
  attach.memory.reset();
  attach.create = false;
  attach.resize = false;
  auto old_seg = Segment::open(attach);
  if (!old_seg->differs_from(opt)) return old_seg;  // another process resized it meanwhile

  // Leftovers of migrators that were killed: their half-built segments.
  std::error_code ec;
  const std::string prefix = opt.name + ".resize-";
  for (const auto& entry : std::filesystem::directory_iterator("/dev/shm", ec)) {
    const std::string file = entry.path().filename().string();
    if (!file.starts_with(prefix)) continue;
    const std::string pid = file.substr(prefix.size());
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    if (!process_alive(static_cast<std::uint32_t>(std::stoul(pid)))) Segment::remove(file);
  }
  const std::string tmp = fmt::format("{}{}", prefix, ::getpid());
  SegmentOptions make = opt;
  make.name = tmp;
  make.create = true;
  make.resize = false;
  Segment::remove(tmp);
  std::unique_ptr<Segment> new_seg = Segment::open(make);
  struct stat old_st {};
  if (::stat(shm_path(opt.name).c_str(), &old_st) == 0) {
    // Keep the owner and group, so processes that could attach before still can.
    [[maybe_unused]] const int rc = ::chown(shm_path(tmp).c_str(), old_st.st_uid, old_st.st_gid);
  }
  std::string why;
  {
    ChangeFeed old_feed(*old_seg), new_feed(*new_seg);
    Counters old_counters(old_seg->header()), new_counters(new_seg->header());
    TaskTable old_table(*old_seg, old_feed, old_counters);
    TaskTable new_table(*new_seg, new_feed, new_counters);
    why = old_table.migrate_to(new_table, [&](std::string& err) {
      if (::rename(shm_path(tmp).c_str(), shm_path(opt.name).c_str()) == 0) return true;
      err = fmt::format("cannot rename {} to {}: {}", shm_path(tmp), shm_path(opt.name), std::strerror(errno));
      return false;
    });
  }
  if (!why.empty()) {
    Segment::remove(tmp);
    throw StoreError(StoreError::Code::kInvalidShape,
                     fmt::format("cannot resize segment '{}' ({} tasks at most, {} bytes): {}. It is "
                                 "left as it was.",
                                 opt.name, old_seg->capacity(), old_seg->size(), why));
  }
  return Segment::open(attach);
}

}  // namespace

Store::Attachment::Attachment(std::unique_ptr<Segment> seg)
    : segment(std::move(seg)),
      feed(*segment),
      counters(segment->header()),
      table(*segment, feed, counters),
      processes(segment->header()),
      janitor(segment->header()) {}

Store::Store(const SegmentOptions& opt, std::unique_ptr<Segment> seg) : opt_(opt) {
  opt_.resize = false;
  attachments_.push_back(std::make_unique<Attachment>(std::move(seg)));
  current_.store(attachments_.back().get(), std::memory_order_release);
}

Store::~Store() = default;

std::unique_ptr<Store> Store::open(const SegmentOptions& opt) {
  std::unique_ptr<Segment> seg;
  try {
    seg = Segment::open(opt);
  } catch (const StoreError& e) {
    if (!opt.resize || e.code() != StoreError::Code::kCapacityMismatch) throw;
    seg = resize(opt);
  }
  return std::unique_ptr<Store>(new Store(opt, std::move(seg)));
}

namespace {
// Each try either applies or follows one step (a finished resize, or a cancelled one).
constexpr int kMoveTries = 16;
}  // namespace

Upsert Store::upsert(const Event& event, double now) {
  Upsert u = table().upsert(event, now);
  for (int i = 0; u == Upsert::kMoved && i < kMoveTries; ++i) {
    (void)follow();
    u = table().upsert(event, now);
  }
  return u;
}

Upsert Store::put(const TaskRecord& record) {
  Upsert u = table().put(record);
  for (int i = 0; u == Upsert::kMoved && i < kMoveTries; ++i) {
    (void)follow();
    u = table().put(record);
  }
  return u;
}

bool Store::enroll(Role role) {
  std::lock_guard lock(follow_mutex_);
  role_ = role;
  entry_ = now().processes.enroll(role);
  return entry_ >= 0;
}

void Store::beat() noexcept {
  if (entry_ >= 0) now().processes.beat(entry_);
}

void Store::leave() noexcept {
  std::lock_guard lock(follow_mutex_);
  if (entry_ >= 0) now().processes.leave(entry_);
  entry_ = -1;
  role_ = Role::kNone;
}

bool Store::follow() {
  Attachment& cur = now();
  if (!cur.segment->retired()) {
    const std::int64_t t = now_ns();
    if (t < next_check_ns_.load(std::memory_order_relaxed)) return false;
    next_check_ns_.store(t + std::chrono::nanoseconds(kCheckInterval).count(), std::memory_order_relaxed);
    if (!cur.segment->replaced()) return false;
  }
  std::lock_guard lock(follow_mutex_);
  if (&now() != &cur) return true;  // another thread has followed already
  // A resize in progress: wait for it to end; an aborted one leaves us where we are.
  if (cur.segment->retired() && !cur.table.settle() && !cur.segment->replaced()) return false;

  SegmentOptions o = opt_;
  std::unique_ptr<Segment> next;
  try {
    next = Segment::open(o);
  } catch (const StoreError& e) {
    if (e.code() != StoreError::Code::kCapacityMismatch) throw;
    o.capacity.reset();  // attach to the shape it has now
    o.memory.reset();
    next = Segment::open(o);
  }
  if (next->generation() == cur.segment->generation()) {
    // Retired, yet the name still leads here: its migrator died before renaming.
    if (cur.segment->retired()) cur.table.cancel_retirement();
    return false;
  }

  const auto now_time = std::chrono::steady_clock::now();
  auto att = std::make_unique<Attachment>(std::move(next));
  if (entry_ >= 0) cur.processes.leave(entry_);
  if (role_ != Role::kNone) entry_ = att->processes.enroll(role_);
  cur.retired_at = now_time;
  attachments_.push_back(std::move(att));
  current_.store(attachments_.back().get(), std::memory_order_release);
  // Older mappings go once nobody can still be inside an operation on them.
  std::erase_if(attachments_, [&](const std::unique_ptr<Attachment>& a) {
    return a.get() != current_.load(std::memory_order_relaxed) &&
           a->retired_at != std::chrono::steady_clock::time_point{} && now_time - a->retired_at > kRetiredGrace;
  });
  follows_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

}  // namespace progressista
