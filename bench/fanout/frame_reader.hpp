// What a client needs from a frame: its kind and seq, and the (task, n) of each bench task it
// carries (upserts of a delta, tasks of a snapshot or of Progressista's {"tasks": {...}}).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

namespace fanout {

struct TaskN {
  std::uint32_t task;
  std::uint64_t n;
};

struct FrameContent {
  enum class Kind : std::uint8_t { kDelta, kSnapshot, kPlain, kError, kOther };
  Kind kind = Kind::kOther;
  std::uint64_t seq = 0;
  bool reset = false;
  std::size_t size = 0;
  std::vector<TaskN> tasks;
};

// The seq of a delta frame read from its first bytes, as the server writes them
// ({"type":"delta","seq":S,...}); 0 when the frame does not start that way.
[[nodiscard]] std::uint64_t peek_delta_seq(std::string_view frame) noexcept;

// One per thread (a simdjson parser keeps buffers as large as the largest frame it read).
class FrameReader {
 public:
  // `frame` must be followed by simdjson::SIMDJSON_PADDING readable bytes. Tasks outside
  // [0, tasks) are left out. False, with error() set, when the frame is not what the
  // protocol says.
  [[nodiscard]] bool read(std::string_view frame, std::uint32_t tasks, FrameContent& out);
  [[nodiscard]] const std::string& error() const noexcept { return error_; }

 private:
  bool fail(std::string_view what, simdjson::error_code e);
  bool read_tasks(simdjson::ondemand::value& tasks_object, std::uint32_t tasks, FrameContent& out);

  simdjson::ondemand::parser parser_;
  std::string error_;
};

// A delta frame is the same bytes for every client of a view: the first client to receive
// seq S parses it and the others reuse the result. Keyed by (seq, size); holds the last few.
class DeltaCache {
 public:
  [[nodiscard]] std::shared_ptr<const FrameContent> find(std::uint64_t seq, std::size_t size);
  void put(std::shared_ptr<const FrameContent> content);

 private:
  std::mutex mutex_;
  std::array<std::shared_ptr<const FrameContent>, 64> recent_;
  std::size_t next_ = 0;
};

}  // namespace fanout
