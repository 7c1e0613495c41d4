// A client's side of Server-Sent Events: the parser of the text/event-stream format (WHATWG
// HTML, "Server-sent events", 9.2.6) and one streamed GET on Asio, for `progressista watch`.
// Beast stays inside sse_stream.cpp.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "cli/http_client.hpp"

namespace progressista::daemon {

struct SseEvent {
  std::string id;     // the last `id:` seen in the stream (kept across events, as browsers do)
  std::string event;  // `event:`, empty for the default "message"
  std::string data;   // the `data:` lines joined by '\n'
};

// Splits bytes into events, whatever the chunks: lines end with "\n", "\r\n" or "\r"; a blank
// line dispatches (an event with no data is not dispatched); ':' lines are comments; a field's
// value loses one leading space; unknown fields (and `retry:`) are ignored. A line longer than
// `max_line` bytes is a stream error (feed returns false), so a broken server cannot make it grow.
class SseParser {
 public:
  explicit SseParser(std::size_t max_line = 64 << 20) : max_line_(max_line) {}
  [[nodiscard]] bool feed(std::string_view bytes, const std::function<void(const SseEvent&)>& on_event);
  [[nodiscard]] const std::string& last_id() const noexcept { return id_; }

 private:
  void line(std::string_view text, const std::function<void(const SseEvent&)>& on_event);

  std::size_t max_line_;
  std::string partial_;   // the unfinished line
  bool after_cr_ = false;  // the last byte was '\r': a '\n' right after it ends nothing
  std::string id_, event_, data_;
  bool has_data_ = false;
};

// How a stream ended.
struct SseEnd {
  int status = 0;      // the HTTP status, 0 when none came (not resolved, refused, timed out)
  std::string error;   // why it ended: a connection error, "closed by the server", a bad line...
  std::string body;    // an answer other than 200: its body (the server's detail)
  bool opened = false; // 200 with text/event-stream: events may have been delivered
};

// GETs `url` with Accept: text/event-stream and `headers`, then hands every event to
// `on_event` until the server ends the stream, it fails, or nothing (not even a comment)
// arrives for `idle`. `connect_timeout` bounds connecting and the answer's header.
[[nodiscard]] boost::asio::awaitable<SseEnd> stream_sse(
    const Url& url, const HttpHeaders& headers, std::chrono::milliseconds connect_timeout,
    std::chrono::milliseconds idle, std::function<void(const SseEvent&)> on_event);

}  // namespace progressista::daemon
