// Applying a request body to the table and writing the HTTP answer: one implementation for
// the ingest daemon, `serve` and the nginx module, so all three answer byte for byte alike.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "progressista/event_parser.hpp"
#include "progressista/store.hpp"
#include "progressista/task_json.hpp"
#include "progressista/tokens.hpp"

namespace progressista {

// Per-thread: owns the parser and its buffers. Answers in Progressista's shapes:
//   single event  -> 200 {"ok":true}            | 422/400 {"detail":...} | 507 table full
//   array/NDJSON  -> 200 {"ok":true,"accepted":N,"ignored":M,"rejected":[{"index":i,"detail":...}]}
// Events ignored by the ordering rules are acknowledged (the client did nothing wrong) and
// counted in the segment; every rejection increments its counter there too.
// Who is writing. With tokens configured, a request that presented no valid token in its
// header or query string may still authenticate event by event with `meta._token`.
struct Access {
  const TokenSet* tokens = nullptr;  // null or empty: the API is open
  bool authenticated = false;        // a valid Authorization: Bearer or ?token= was presented
  [[nodiscard]] bool open() const noexcept {
    return authenticated || tokens == nullptr || tokens->empty();
  }
  // A request's access from its Authorization header value and raw query string: the one
  // token check of every route, in the daemons and the module (TokenSet::admits).
  [[nodiscard]] static Access of(const TokenSet* tokens, std::string_view authorization,
                                 std::string_view query) {
    return Access{tokens, tokens != nullptr && tokens->admits(authorization, query)};
  }
};

// What a POST of events carries besides its body.
struct PostRequest {
  std::string_view content_type;  // empty: parsed as JSON, as FastAPI does
  Access access;
};

class Ingestor {
 public:
  explicit Ingestor(Store& store) : store_(store) {}

  // `capacity` readable bytes at body.data() (>= size + kParsePadding); `now` in Unix seconds.
  // Returns the HTTP status and leaves the JSON answer in `out` (cleared first). Without
  // access, a single event answers 401 {"detail":"Invalid API token"}; in a batch each such
  // event is rejected, and a batch in which no event authenticated answers 401.
  [[nodiscard]] int apply(std::string_view body, std::size_t capacity, BodyFormat format,
                          double now, fmt::memory_buffer& out, const Access& access = {});

  // POST /progress as a whole: 415 (counted) for a declared media type other than JSON or
  // NDJSON, else apply() with the request's access. The caller adds `WWW-Authenticate: Bearer`
  // to a 401.
  [[nodiscard]] int post(const PostRequest& request, std::string_view body, std::size_t capacity,
                         double now, fmt::memory_buffer& out);

 private:
  Store& store_;
  EventParser parser_;
};

// Appends {"detail":"..."}: FastAPI's (and so Progressista's) error body.
void append_detail(fmt::memory_buffer& out, std::string_view detail);

// The 413 detail for a body over `limit` bytes (the daemons' HTTP server and the module).
[[nodiscard]] std::string body_too_large_detail(std::size_t limit);

}  // namespace progressista
