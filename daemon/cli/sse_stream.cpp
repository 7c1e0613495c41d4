#include "cli/sse_stream.hpp"

#include <algorithm>
#include <array>

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

namespace progressista::daemon {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kErrorBodyLimit = 64 << 10;

}  // namespace

bool SseParser::feed(std::string_view bytes, const std::function<void(const SseEvent&)>& on_event) {
  std::size_t start = 0;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const char c = bytes[i];
    if (c != '\n' && c != '\r') {
      after_cr_ = false;
      continue;
    }
    if (c == '\n' && after_cr_ && i == start && partial_.empty()) {  // the '\n' of a "\r\n"
      after_cr_ = false;
      start = i + 1;
      continue;
    }
    after_cr_ = c == '\r';
    if (partial_.empty()) {
      line(bytes.substr(start, i - start), on_event);
    } else {
      partial_.append(bytes.substr(start, i - start));
      line(partial_, on_event);
      partial_.clear();
    }
    start = i + 1;
  }
  partial_.append(bytes.substr(start));
  return partial_.size() <= max_line_;
}

void SseParser::line(std::string_view text, const std::function<void(const SseEvent&)>& on_event) {
  if (text.empty()) {
    if (has_data_) on_event(SseEvent{id_, event_, data_});
    event_.clear();
    data_.clear();
    has_data_ = false;
    return;
  }
  if (text.front() == ':') return;  // a comment: keeps proxies from timing out
  const std::size_t colon = text.find(':');
  const std::string_view field = text.substr(0, colon);
  std::string_view value = colon == std::string_view::npos ? std::string_view{} : text.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (field == "data") {
    if (has_data_) data_.push_back('\n');
    data_.append(value);
    has_data_ = true;
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) id_ = value;
  } else if (field == "event") {
    event_ = value;
  }
}

// GCC 12 at -O2 inlines Asio's frame allocator (aligned_new, thread-local recycling) into this
// coroutine and then reports the frame's sized operator delete as mismatched with it: a false
// positive of -Wmismatched-new-delete with Asio coroutines (the pair is Asio's own and matches).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
asio::awaitable<SseEnd> stream_sse(const Url& url, const HttpHeaders& headers,
                                   std::chrono::milliseconds connect_timeout,
                                   std::chrono::milliseconds idle,
                                   std::function<void(const SseEvent&)> on_event) {
  SseEnd end;
  const auto ex = co_await asio::this_coro::executor;
  tcp::resolver resolver(ex);
  beast::tcp_stream stream(ex);

  stream.expires_after(connect_timeout);
  auto [rec, endpoints] =
      co_await resolver.async_resolve(url.host, std::to_string(url.port), kTuple);
  if (rec) {
    end.error = fmt::format("cannot resolve {}: {}", url.host, rec.message());
    co_return end;
  }
  auto [cec, ep] = co_await stream.async_connect(endpoints, kTuple);
  (void)ep;
  if (cec) {
    end.error = cec == beast::error::timeout
                    ? fmt::format("no connection to {} within the timeout", url.authority())
                    : fmt::format("cannot connect to {}: {}", url.authority(), cec.message());
    co_return end;
  }

  http::request<http::empty_body> req{http::verb::get, url.target(), 11};
  req.set(http::field::host, url.authority());
  req.set(http::field::user_agent, "progressista-watch");
  req.set(http::field::accept, "text/event-stream");
  req.set(http::field::cache_control, "no-cache");
  for (const auto& [name, value] : headers) req.set(name, value);
  auto [wec, wn] = co_await http::async_write(stream, req, kTuple);
  (void)wn;
  if (wec) {
    end.error = fmt::format("the request to {} failed: {}", url.authority(), wec.message());
    co_return end;
  }

  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);  // a stream has no end; SseParser bounds its lines
  auto [hec, hn] = co_await http::async_read_header(stream, buffer, parser, kTuple);
  (void)hn;
  if (hec) {
    end.error = hec == beast::error::timeout
                    ? fmt::format("{} did not answer within the timeout", url.authority())
                    : fmt::format("no answer from {}: {}", url.authority(), hec.message());
    co_return end;
  }
  end.status = static_cast<int>(parser.get().result_int());
  const bool event_stream =
      parser.get()[http::field::content_type].starts_with("text/event-stream");

  SseParser sse;
  std::array<char, 16 << 10> chunk{};
  while (!parser.is_done()) {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    stream.expires_after(end.status == 200 && event_stream ? idle : connect_timeout);
    // read_some: whatever has arrived is handed on at once (a full read would wait for the
    // buffer to fill, holding events back).
    auto [ec, n] = co_await http::async_read_some(stream, buffer, parser, kTuple);
    (void)n;
    const std::size_t got = chunk.size() - parser.get().body().size;
    const std::string_view bytes(chunk.data(), got);
    if (end.status != 200 || !event_stream) {
      end.body.append(bytes.substr(0, kErrorBodyLimit - std::min(end.body.size(), kErrorBodyLimit)));
    } else {
      end.opened = true;
      if (!sse.feed(bytes, on_event)) {
        end.error = "the server sent a line too long to be an event";
        co_return end;
      }
    }
    if (ec == http::error::need_buffer) continue;
    if (ec == http::error::end_of_stream || ec == asio::error::eof || (!ec && parser.is_done())) {
      if (end.status == 200 && event_stream) end.error = "the server ended the stream";
      break;
    }
    if (ec) {
      end.error = ec == beast::error::timeout
                      ? fmt::format("nothing from {} for {} s", url.authority(),
                                    std::chrono::duration_cast<std::chrono::seconds>(idle).count())
                      : fmt::format("the stream from {} broke: {}", url.authority(), ec.message());
      break;
    }
  }
  if (end.status == 200 && !event_stream && end.error.empty())
    end.error = "the answer is not an event stream (text/event-stream)";
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  co_return end;
}
#pragma GCC diagnostic pop

}  // namespace progressista::daemon
