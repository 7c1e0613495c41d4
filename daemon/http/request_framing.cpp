#include "http/request_framing.hpp"

#include <string_view>

#include <fmt/format.h>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>

namespace progressista::daemon {

namespace beast = boost::beast;
namespace http = beast::http;

namespace {

std::string_view view(beast::string_view s) {
  return {s.data(), s.size()};
}

std::string_view trim(std::string_view s) {
  constexpr std::string_view kWhitespace = " \t";  // OWS
  const std::size_t first = s.find_first_not_of(kWhitespace);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(kWhitespace) - first + 1);
}

// A header value as a detail quotes it: long values are cut.
std::string quoted(std::string_view value) {
  constexpr std::size_t kShown = 64;
  if (value.size() <= kShown) return fmt::format("\"{}\"", value);
  return fmt::format("\"{}...\"", value.substr(0, kShown));
}

FramingRefusal ambiguous(std::string detail) {
  return {400, Counter::kRejectedFraming, std::move(detail)};
}

// The transfer codings of every Transfer-Encoding line, in order (a list may be split over
// several lines; empty list elements are allowed and skipped).
struct Codings {
  std::string listed;  // the lines joined with ", ", for details
  std::size_t count = 0;
  std::size_t chunked = 0;
  std::string_view last;
  std::string_view other;  // the first coding that is not chunked
};

Codings codings_of(const http::fields& fields) {
  Codings c;
  const auto [first, end] = fields.equal_range(http::field::transfer_encoding);
  for (auto line = first; line != end; ++line) {
    const std::string_view value = view(line->value());
    if (!c.listed.empty()) c.listed += ", ";
    c.listed += value;
    std::size_t start = 0;
    while (start <= value.size()) {
      std::size_t comma = value.find(',', start);
      if (comma == std::string_view::npos) comma = value.size();
      const std::string_view coding = trim(value.substr(start, comma - start));
      start = comma + 1;
      if (coding.empty()) continue;
      ++c.count;
      c.last = coding;
      if (beast::iequals(coding, "chunked")) {
        ++c.chunked;
      } else if (c.other.empty()) {
        c.other = coding;
      }
    }
  }
  return c;
}

}  // namespace

void limit_request(RequestParser& parser, std::size_t body_limit) {
  parser.header_limit(kHeaderLimit);
  parser.body_limit(body_limit);
}

std::optional<FramingRefusal> check_framing(const RequestParser& parser) {
  const auto& request = parser.get();
  const bool http11 = request.version() >= 11;
  if (request.count(http::field::transfer_encoding) > 0) {
    const Codings c = codings_of(request);
    if (!http11) {
      return ambiguous("Transfer-Encoding in an HTTP/1.0 request: its body cannot be delimited");
    }
    if (request.count(http::field::content_length) > 0) {
      return ambiguous(
          "Transfer-Encoding and Content-Length together: the body's length is ambiguous");
    }
    if (!beast::iequals(c.last, "chunked")) {
      return ambiguous(
          fmt::format("Transfer-Encoding {} does not end in chunked: the body's length is unknown",
                      quoted(c.listed)));
    }
    if (c.chunked > 1) {
      return ambiguous(
          fmt::format("Transfer-Encoding {} applies chunked more than once", quoted(c.listed)));
    }
    if (c.count > 1) {
      return FramingRefusal{
          501, Counter::kRejectedFraming,
          fmt::format("transfer coding {} is not implemented; only chunked is", quoted(c.other))};
    }
    // One coding, chunked: the parser must have seen it so, or it would take the body for empty.
    if (!parser.chunked()) {
      return ambiguous(
          fmt::format("Transfer-Encoding {} could not be read as chunked", quoted(c.listed)));
    }
  }
  if (http11) {
    const std::size_t hosts = request.count(http::field::host);
    if (hosts != 1) {
      return FramingRefusal{
          400, Counter::kRejectedBadRequest,
          hosts == 0 ? "an HTTP/1.1 request needs a Host header" : "more than one Host header"};
    }
  }
  return std::nullopt;
}

std::optional<http::fields> fields_before_body(const RequestParser& parser) {
  if (!parser.chunked()) return std::nullopt;
  return parser.get().base();
}

void drop_trailers(RequestParser& parser, std::optional<http::fields> header) {
  if (header) static_cast<http::fields&>(parser.get()) = std::move(*header);
}

std::optional<FramingRefusal> framing_refusal(const boost::system::error_code& ec) {
  if (ec == http::error::multiple_content_length) {
    return ambiguous("Content-Length values differ: the body's length is ambiguous");
  }
  if (ec == http::error::bad_content_length) {
    return ambiguous(
        "Content-Length is not a number, or comes with Transfer-Encoding: the body's length is "
        "ambiguous");
  }
  if (ec == http::error::bad_transfer_encoding) {
    return ambiguous(
        "Transfer-Encoding after Content-Length, or chunked twice: the body's length is "
        "ambiguous");
  }
  return std::nullopt;
}

}  // namespace progressista::daemon
