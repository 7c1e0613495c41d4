// JSON in (simdjson On-Demand): request bodies of progress events, validated field by field.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
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

// Receives events in body order. Views in `Event` are valid only during the call.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void on_event(std::size_t index, const Event& event) = 0;
  // The event at `index` failed validation (or, in NDJSON, its line is not valid JSON).
  virtual void on_invalid(std::size_t index, std::string_view detail) = 0;
};

enum class BodyError : std::uint8_t {
  kNone,
  kMalformed,  // not JSON at all (HTTP 400): nothing was delivered to the sink
  kWrongType,  // JSON, but neither an object nor an array of objects (HTTP 422)
  kEmpty,      // no bytes, or an NDJSON body of blank lines only (HTTP 400)
};

struct BodyResult {
  BodyError error = BodyError::kNone;
  bool batch = false;     // array or NDJSON: the answer lists accepted/rejected per index
  std::size_t count = 0;  // events delivered (valid + invalid)
  std::string detail;     // set when error != kNone
};

// Parses bodies into events. Not thread-safe: one parser per thread, reused for every body.
class EventParser {
 public:
  EventParser();
  ~EventParser();
  EventParser(const EventParser&) = delete;
  EventParser& operator=(const EventParser&) = delete;

  // `capacity` is the number of readable bytes at body.data(); it must be at least
  // body.size() + kParsePadding (PaddedBody guarantees it).
  [[nodiscard]] BodyResult parse(std::string_view body, std::size_t capacity, BodyFormat format,
                                 EventSink& sink);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace progressista
