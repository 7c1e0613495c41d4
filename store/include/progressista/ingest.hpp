// Applying a request body to the table and writing the HTTP answer: one implementation for
// the ingest daemon, `serve` and the nginx module, so all three answer byte for byte alike.
#pragma once

#include <cstddef>
#include <string_view>

#include <fmt/format.h>

#include "progressista/codec.hpp"
#include "progressista/store.hpp"

namespace progressista {

// Per-thread: owns the parser and its buffers. Answers in Progressista's shapes:
//   single event  -> 200 {"ok":true}            | 422/400 {"detail":...} | 507 table full
//   array/NDJSON  -> 200 {"ok":true,"accepted":N,"ignored":M,"rejected":[{"index":i,"detail":...}]}
// Events ignored by the ordering rules are acknowledged (the client did nothing wrong) and
// counted in the segment; every rejection increments its counter there too.
class Ingestor {
 public:
  explicit Ingestor(Store& store) : store_(store) {}

  // `capacity` readable bytes at body.data() (>= size + kParsePadding); `now` in Unix seconds.
  // Returns the HTTP status and leaves the JSON answer in `out` (cleared first).
  [[nodiscard]] int apply(std::string_view body, std::size_t capacity, BodyFormat format, double now,
                          fmt::memory_buffer& out);

 private:
  Store& store_;
  EventParser parser_;
};

// Appends {"detail":"..."}: FastAPI's (and so Progressista's) error body.
void append_detail(fmt::memory_buffer& out, std::string_view detail);

}  // namespace progressista
