// How a request's body is delimited, checked once its header is parsed and before any byte of
// its body is read (RFC 9112 section 6; Host, section 3.2): the guard against request
// smuggling. The session (http_session.cpp) and the fuzz harness
// (tests/fuzz/fuzz_http_request.cpp) read requests with the same limits and the same check.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "progressista/bookkeeping.hpp"

namespace progressista::daemon {

using RequestParser = boost::beast::http::request_parser<boost::beast::http::string_body>;

inline constexpr std::size_t kHeaderLimit = 16 * 1024;

// Sets the limits every request is read with: the header block and `body_limit`.
void limit_request(RequestParser& parser, std::size_t body_limit);

// A request refused before its body is read: the answer's status (400, or 501 for a transfer
// coding we do not implement), the counter it is counted in and the {"detail": ...} text. The
// connection is closed after the answer: where this request ends is unknown.
struct FramingRefusal {
  int status;
  Counter counter;
  std::string detail;
};

// For a parsed header: nothing when its body is delimited one way only (no body, one
// Content-Length, or a Transfer-Encoding whose one coding is chunked, read as chunked by the
// parser too) and an HTTP/1.1 request has exactly one Host; else why not. O(header size).
[[nodiscard]] std::optional<FramingRefusal> check_framing(const RequestParser& parser);

// A chunked request's header fields, copied before its body is read (nothing for other
// requests: only a chunked body has trailer fields).
[[nodiscard]] std::optional<boost::beast::http::fields> fields_before_body(
    const RequestParser& parser);
// Once the body is read, its trailer fields, which the parser adds among the header's, are
// dropped by restoring `header`: after the checks they could stand in for Host, Content-Type
// or Authorization (RFC 9110 section 6.5.1: a trailer is merged only where its field allows).
void drop_trailers(RequestParser& parser, std::optional<boost::beast::http::fields> header);

// The same refusal for the framing errors the parser raises itself while reading the header
// or a chunked body's trailer (differing or malformed Content-Length, Content-Length with
// chunked, chunked twice); nothing for any other error.
[[nodiscard]] std::optional<FramingRefusal> framing_refusal(const boost::system::error_code& ec);

}  // namespace progressista::daemon
