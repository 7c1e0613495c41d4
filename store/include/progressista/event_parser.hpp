// JSON in (simdjson On-Demand): request bodies of progress events, validated field by field.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "progressista/event.hpp"

namespace progressista {

// Bytes that must be readable past the end of every body handed to EventParser
// (simdjson's SIMDJSON_PADDING; checked by a static_assert in event_parser.cpp).
inline constexpr std::size_t kParsePadding = 64;

// A request body with the spare capacity the parser needs; reuse one per connection/thread.
class PaddedBody {
 public:
  void assign(std::string_view bytes) {
    buf_.reserve(bytes.size() + kParsePadding);
    buf_.assign(bytes.data(), bytes.size());
  }
  [[nodiscard]] std::string_view view() const noexcept { return buf_; }
  [[nodiscard]] std::size_t capacity() const noexcept { return buf_.capacity(); }

 private:
  std::string buf_;
};

enum class BodyFormat : std::uint8_t {
  kJson,    // one event object, or an array of event objects
  kNdjson,  // one event object per line (application/x-ndjson); blank lines are skipped
};

enum class BodyError : std::uint8_t {
  kNone,
  kMalformed,  // not JSON at all (HTTP 400): the body yields no item
  kWrongType,  // JSON, but neither an object nor an array of objects (HTTP 422)
  kEmpty,      // no bytes, or only blanks (HTTP 400)
};

struct BodyResult {
  BodyError error = BodyError::kNone;
  bool batch = false;  // array or NDJSON: the answer lists accepted/rejected per index
  std::string detail;  // set when error != kNone
};

// One item of a body, in body order: an event, or why the item at `index` is rejected.
// Its views (the event's strings, the detail) stay valid until the parser's next call.
struct BodyItem {
  std::size_t index = 0;
  const Event* event = nullptr;  // null: the item is rejected
  std::string_view detail;       // why: it fails validation, or its NDJSON line is not JSON
};

// Reads bodies into events, one item at a time:
//   if (parser.open(body, capacity, format).error == BodyError::kNone)
//     while (const auto item = parser.next()) ...
// Not thread-safe: one parser per thread, reused for every body.
class EventParser {
 public:
  EventParser();
  ~EventParser();
  EventParser(const EventParser&) = delete;
  EventParser& operator=(const EventParser&) = delete;

  // Starts on a body. JSON is read through first, so broken syntax anywhere rejects the
  // whole body before any item is handed out; NDJSON is read a line per next(), each line on
  // its own. `capacity` is the number of readable bytes at body.data(); it must be at least
  // body.size() + kParsePadding (PaddedBody guarantees it). The body must outlive the reading.
  [[nodiscard]] BodyResult open(std::string_view body, std::size_t capacity, BodyFormat format);

  // The next item of the body opened last; nullopt after the last one, or when open() failed.
  [[nodiscard]] std::optional<BodyItem> next();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace progressista
