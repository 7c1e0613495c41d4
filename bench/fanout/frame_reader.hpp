// What a client needs from a frame: its kind and seq, and the (task, n) of each bench task it
// carries (upserts of a delta, tasks of a snapshot or of Progressista's {"tasks": {...}}; for
// the compact protocol, v2, the `u` entries of a delta and the `tasks` of a snapshot that carry
// `n`, their handles resolved through a HandleMap; for Nchan, the one event a message is).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <simdjson.h>

namespace fanout {

struct TaskN {
  std::uint32_t task;
  std::uint64_t n;
};

struct FrameContent {
  // kEvent: a Nchan message, the event's JSON as the poster sent it.
  enum class Kind : std::uint8_t { kDelta, kSnapshot, kPlain, kError, kEvent, kOther };
  Kind kind = Kind::kOther;
  std::uint64_t seq = 0;  // kEvent: the event's n, unique and growing in posting order
  bool reset = false;
  std::size_t size = 0;
  std::vector<TaskN> tasks;
  // v2: entries without `id` whose handle nobody has seen (the protocol gives every handle's
  // task id before its first partial update, so in the bench this is a server bug), and the
  // first one's text (cut at 200 bytes) with the frame's seq, for the report.
  std::uint64_t unknown_handles = 0;
  std::string first_unknown;
};

// The kind and seq of a delta or snapshot frame read from its first bytes, as the server
// writes them: {"type":"delta"|"snapshot", then "seq":S within the next few members (v2 puts
// "v":2 before it). kind kOther and seq 0 when the frame does not start that way.
struct FramePeek {
  FrameContent::Kind kind = FrameContent::Kind::kOther;
  std::uint64_t seq = 0;
};
[[nodiscard]] FramePeek peek_frame(std::string_view frame) noexcept;

// The JSON object or array `text` starts with, up to its closing bracket (all of `text` when
// that is further): an entry cut out of a frame for a report.
[[nodiscard]] std::string_view object_text(std::string_view text) noexcept;

// v2 handles are the server's, the same for every client: handle -> bench task index (-1: a
// task that is not the bench's). Filled from snapshot entries and `u` entries with `id`;
// shared by every client and thread.
class HandleMap {
 public:
  struct Entry {
    std::uint64_t handle;
    std::int64_t task;  // with `id`: its index (or -1); without: kNoId
    bool has_n;
    std::uint64_t n;
    std::string_view text;  // the entry's first 200 bytes (and more), only while it is parsed
  };
  static constexpr std::int64_t kNoId = -2;
  // Learns the handles of entries with an id, then fills out.tasks from the entries with n
  // (bench tasks only) and counts the id-less entries whose handle is unknown. One lock.
  void resolve(const std::vector<Entry>& entries, std::uint64_t seq, FrameContent& out);
  [[nodiscard]] std::size_t size() const;
  // How many times a bench task was sent with a handle it had not had before, besides its
  // first (the bench removes none, so the README's "the handle stays the task's until it is
  // removed" says never), and the first one described.
  [[nodiscard]] std::uint64_t rehandled() const;
  [[nodiscard]] std::string first_rehandled() const;

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::uint64_t, std::int64_t> task_of_;
  std::unordered_map<std::int64_t, std::vector<std::uint64_t>> handles_of_;  // bench task -> seen
  std::uint64_t rehandled_ = 0;
  std::string first_rehandled_;
};

// One per thread (a simdjson parser keeps buffers as large as the largest frame it read).
class FrameReader {
 public:
  // `frame` must be followed by simdjson::SIMDJSON_PADDING readable bytes. Tasks outside
  // [0, tasks) are left out. False, with error() set, when the frame is not what the
  // protocol says.
  [[nodiscard]] bool read(std::string_view frame, std::uint32_t tasks, FrameContent& out);
  // The same for a frame of the compact protocol (v2), resolving handles through `handles`.
  [[nodiscard]] bool read_v2(std::string_view frame, std::uint32_t tasks, HandleMap& handles,
                             FrameContent& out);
  // The same for a Nchan message: one posted event, {"task_id":..., "n":..., ...}.
  [[nodiscard]] bool read_event(std::string_view frame, std::uint32_t tasks, FrameContent& out);
  [[nodiscard]] const std::string& error() const noexcept { return error_; }

 private:
  bool fail(std::string_view what, simdjson::error_code e);
  // The root object of `frame` (its document kept in doc_ until the next frame).
  bool open(std::string_view frame, simdjson::ondemand::object& root);
  // The frame's "type" member into out.kind.
  bool read_kind(simdjson::ondemand::field& field, FrameContent& out);
  bool read_tasks(simdjson::ondemand::value& tasks_object, std::uint32_t tasks, FrameContent& out);
  bool read_entries_v2(simdjson::ondemand::value& object, std::uint32_t tasks, bool in_snapshot);

  simdjson::ondemand::parser parser_;
  simdjson::ondemand::document doc_;
  std::string error_;
  std::vector<HandleMap::Entry> entries_;  // read_v2's, reused
  std::string_view frame_;                 // the frame read_v2 reads
};

// A delta (or snapshot) frame is the same bytes for every client of a view: the first client
// to receive seq S parses it and the others reuse the result. Keyed by (kind, seq, size) (a
// snapshot with "reset" is longer than one without); holds the last few. One per protocol.
class DeltaCache {
 public:
  [[nodiscard]] std::shared_ptr<const FrameContent> find(FrameContent::Kind kind, std::uint64_t seq,
                                                         std::size_t size);
  void put(std::shared_ptr<const FrameContent> content);

 private:
  std::mutex mutex_;
  std::array<std::shared_ptr<const FrameContent>, 64> recent_;
  std::size_t next_ = 0;
};

}  // namespace fanout
